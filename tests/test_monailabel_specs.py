"""The app's models are declared one per file (lib/configs/<task>.py); adding a model = adding a file.

The app runs in-process here (MONAI Label's own MONAILabelApp with a local datastore): no server.
"""
from __future__ import annotations

import ast
import importlib.util
import json
import shutil
import sys
import textwrap
from pathlib import Path

import pytest

from monailabel_helpers import APP_DIR, tiny_cephmark_checkpoint

REPO = APP_DIR.parent
SAMPLE = REPO / "samples" / "isbi_151_half.jpg"

INCISORS_SPEC = '''
"""Incisor tips (a test model)."""
from lib.spec import ModelSpec, image_spacing


def incisor_gap(result, out):
    a, b = result.point("ui"), result.point("li")
    out["incisor_gap_px"] = ((a.x - b.x) ** 2 + (a.y - b.y) ** 2) ** 0.5 if a.found and b.found else None


SPEC = ModelSpec(name="incisors", description="Incisor tips", checkpoint_option="incisors_model",
                 landmarks=("ui", "li"), postprocess=(image_spacing, incisor_gap), order=50)
'''


def _load_app(app_dir: Path, monkeypatch):
    """Import ``app_dir``'s ``lib`` package and ``main`` module afresh (the app's own imports)."""
    monkeypatch.syspath_prepend(str(app_dir))
    for name in [m for m in sys.modules if m == "lib" or m.startswith("lib.")]:
        monkeypatch.delitem(sys.modules, name)
    spec = importlib.util.spec_from_file_location("cephmark_app_main", app_dir / "main.py")
    main = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(main)
    return main


@pytest.fixture
def settings(monkeypatch, tmp_path):
    from monailabel.config import settings as s

    monkeypatch.setattr(s, "MONAI_LABEL_SESSION_PATH", str(tmp_path / "sessions"))
    monkeypatch.setattr(s, "MONAI_LABEL_AUTO_UPDATE_SCORING", False)
    monkeypatch.setattr(s, "MONAI_LABEL_DATASTORE_AUTO_RELOAD", False)
    monkeypatch.setattr(s, "MONAI_LABEL_TRACKING_ENABLED", False)
    return s


def test_shipped_specs(monkeypatch):
    main = _load_app(APP_DIR, monkeypatch)
    specs = main.collect_specs()
    assert [s.name for s in specs] == ["cephalometric", "calibration"]
    ceph, cal = specs
    assert ceph.bundled_fallback and ceph.landmarks == () and ceph.checkpoint_option == "cldetection_model"
    assert cal.landmarks == ("p1", "p2") and cal.refiner_option == "calibration_refiner"
    assert cal.bundled_fallback and cal.bundled == "ruler" and cal.base_option == "cldetection_model"
    assert cal.train_recipe == "p1p2_few_labels.yaml"  # the cascade recipe
    for path in (APP_DIR / "lib" / "configs").glob("*.py"):  # each spec file says how to add a model
        assert "to add a model" in (ast.get_docstring(ast.parse(path.read_text())) or "").lower(), path


def test_adding_a_model_is_one_file(tmp_path, monkeypatch, settings):
    app_dir = tmp_path / "app"
    shutil.copytree(APP_DIR, app_dir, ignore=shutil.ignore_patterns("model", "logs", "__pycache__"))
    (app_dir / "lib" / "configs" / "incisors.py").write_text(textwrap.dedent(INCISORS_SPEC))
    studies = tmp_path / "studies"
    studies.mkdir()
    shutil.copy(SAMPLE, studies / "151.jpg")
    ckpt = tiny_cephmark_checkpoint(tmp_path / "incisors.pth", ["ui", "li"], seed=1)

    main = _load_app(app_dir, monkeypatch)
    assert [s.name for s in main.collect_specs()] == ["cephalometric", "calibration", "incisors"]
    conf = {"models": "incisors", "incisors_model": str(ckpt), "image_size": "64",
            "model_dir": str(tmp_path / "published")}
    app = main.CephMarkApp(str(app_dir), str(studies), conf)
    info = app.info()
    assert set(info["models"]) == {"incisors"} and info["models"]["incisors"]["labels"] == {"ui": 1, "li": 2}
    assert info["models"]["incisors"]["description"] == "Incisor tips"
    assert info["trainers"]["incisors"]["config"]["landmarks"] == "ui,li"
    assert info["cephmark"]["models"]["incisors"] == {"path": str(ckpt), "origin": "configured"}

    result = app.infer({"model": "incisors", "image": "151", "markups": "true"})
    params = result["params"]
    assert params["model"] == "incisors" and params["model_origin"] == "configured"
    assert [lm["name"] for lm in params["landmarks"]] == ["ui", "li"]
    pts = {lm["name"]: lm for lm in params["landmarks"]}
    if pts["ui"]["found"] and pts["li"]["found"]:
        gap = ((pts["ui"]["x"] - pts["li"]["x"]) ** 2 + (pts["ui"]["y"] - pts["li"]["y"]) ** 2) ** 0.5
        assert params["incisor_gap_px"] == pytest.approx(gap)
    else:
        assert params["incisor_gap_px"] is None
    assert params["mm_per_px"] is None and params["mm_per_px_source"] is None  # a JPEG has no spacing
    assert [p["label"] for p in json.loads(Path(result["file"]).read_text())["markups"][0]["controlPoints"]] \
        == ["ui", "li"]

    # the spec's fixed landmarks are checked: a model without them is refused with a clear message
    wrong = tiny_cephmark_checkpoint(tmp_path / "wrong.pth", ["sella", "nasion"], seed=2)
    app2 = main.CephMarkApp(str(app_dir), str(studies), {**conf, "incisors_model": str(wrong)})
    with pytest.raises(Exception, match="the incisors model .* has no ui/li landmarks"):
        app2.infer({"model": "incisors", "image": "151"})

    with pytest.raises(ValueError, match="unknown model.*known: cephalometric, calibration, incisors"):
        main.CephMarkApp(str(app_dir), str(studies), {"models": "molars"})


def test_a_spec_given_directly(tmp_path, monkeypatch, settings):
    """Specs may also be handed to the app (e.g. by another app built on this one)."""
    main = _load_app(APP_DIR, monkeypatch)
    from lib.spec import ModelSpec

    spec = ModelSpec(name="tips", description="two tips", checkpoint_option="tips_model", landmarks=("a", "b"))
    studies = tmp_path / "studies"
    studies.mkdir()
    app = main.CephMarkApp(str(APP_DIR), str(studies), {"model_dir": str(tmp_path / "m")}, specs=[spec])
    info = app.info()
    assert set(info["trainers"]) == {"tips"} and info["trainers"]["tips"]["config"]["landmarks"] == "a,b"
    # no --conf tips_model and no bundled fallback: MONAI Label lists no infer task until one is trained
    assert info["models"] == {} and info["cephmark"]["models"]["tips"] is None
    with pytest.raises(Exception, match="no tips model: train the 'tips' task"):
        app.sources["tips"].get()
