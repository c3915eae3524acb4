"""The app's cephalometric infer JSON carries ``calibration`` (from the calibration model's p1/p2,
else the DICOM spacing), ``orientation`` and ``measurements`` (MONAI Label's own app, in-process)."""
from __future__ import annotations

import shutil

import pytest

from cephmark.analysis.pipeline import analyze_points, result_from_points

from monailabel_helpers import APP_DIR, tiny_cephmark_checkpoint, tiny_checkpoint
from test_monailabel_specs import _load_app, settings  # noqa: F401  (fixture)

SAMPLE_DCM = APP_DIR.parent / "samples" / "isbi_153_half.dcm"
ANALYSES = {"isbi2015", "steiner", "tweed", "wits", "face_height", "bjork"}


@pytest.fixture
def app_parts(tmp_path):
    studies = tmp_path / "studies"
    studies.mkdir()
    shutil.copy(SAMPLE_DCM, studies / "153.dcm")
    model = tiny_checkpoint(tmp_path / "tiny38.pth", seed=0)
    ruler = tiny_cephmark_checkpoint(tmp_path / "ruler.pth", ["p1", "p2"], seed=4)
    return studies, model, ruler


def test_cephalometric_json_has_calibration_and_measurements(tmp_path, monkeypatch, settings, app_parts):  # noqa: F811
    studies, model, ruler = app_parts
    main = _load_app(APP_DIR, monkeypatch)
    conf = {"models": "all", "cldetection_model": str(model), "calibration_model": str(ruler),
            "image_size": "64", "model_dir": str(tmp_path / "published")}
    app = main.CephMarkApp(str(APP_DIR), str(studies), conf)
    params = app.infer({"model": "cephalometric", "image": "153"})["params"]
    cal = params["calibration"]
    assert set(cal) >= {"mm_per_px", "source", "ruler", "dicom_spacing_mm", "dicom_tag", "ruler_vs_dicom",
                        "status", "reasons"}
    assert cal["dicom_spacing_mm"] == pytest.approx(0.2) and cal["dicom_tag"] == "PixelSpacing"
    assert set(params["measurements"]) == ANALYSES and params["orientation"]["face"] in ("left", "right")
    # the landmarks keep the image's own (viewer) geometry
    assert params["mm_per_px"] == pytest.approx(0.2) and params["mm_per_px_source"] == "PixelSpacing"

    # the same ruler marks as the calibration task's, and the same numbers as cephmark analyze's code
    marks = app.infer({"model": "calibration", "image": "153"})["params"]["landmarks"]
    if cal["ruler"] is not None:
        assert cal["ruler"]["p1"] == pytest.approx([marks[0]["x"], marks[0]["y"]], abs=0.01)
    else:
        assert any("not found" in r for r in cal["reasons"])
    lms = result_from_points("153", {lm["name"]: (lm["x"], lm["y"]) if lm["found"] else None
                                     for lm in params["landmarks"]}, spacing_mm=0.2, spacing_source="PixelSpacing")
    ruler = result_from_points("153", {m["name"]: (m["x"], m["y"]) if m["found"] else None for m in marks})
    for m, lm in zip(marks, ruler.landmarks):
        lm.score = m["score"]
    again = analyze_points(lms, ruler, ruler_model=True).to_dict()
    assert again["calibration"]["mm_per_px"] == pytest.approx(cal["mm_per_px"])
    assert again["calibration"]["status"] == cal["status"]
    for analysis, table in again["measurements"].items():
        for name, entry in table.items():
            got = params["measurements"][analysis][name]["value"]
            assert (got is None) == (entry["value"] is None), (analysis, name)
            if got is not None:
                assert got == pytest.approx(entry["value"], abs=1e-3), (analysis, name)

    only = app.infer({"model": "cephalometric", "image": "153", "analysis": "isbi2015"})["params"]
    assert set(only["measurements"]) == {"isbi2015"}


def test_without_a_calibration_model_the_dicom_spacing_is_used(tmp_path, monkeypatch, settings, app_parts):  # noqa: F811
    studies, model, _ = app_parts
    main = _load_app(APP_DIR, monkeypatch)
    app = main.CephMarkApp(str(APP_DIR), str(studies), {"models": "cephalometric", "cldetection_model": str(model),
                                                        "image_size": "64", "model_dir": str(tmp_path / "m")})
    cal = app.infer({"model": "cephalometric", "image": "153"})["params"]["calibration"]
    assert cal["source"] == "dicom" and cal["mm_per_px"] == pytest.approx(0.2) and cal["ruler"] is None
    assert any("no calibration model" in n for n in cal["notes"])
