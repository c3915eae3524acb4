"""Results never lost: outputs checked before inference, results streamed, per-image failures
of any kind reported while the batch goes on, SIGINT/SIGTERM keep what was computed, strict
JSON (no NaN), files 0644."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from cephmark.cli.main import main
from cephmark.inference.results import ImageResult, LandmarkResult, ResultStream

from test_io_integrity import _png_header_only

pytestmark = pytest.mark.usefixtures("torch_threads")
N = "64"
ROOT = Path(__file__).resolve().parents[1]


def strict_json(text: str):
    def bad(token):
        raise ValueError(f"not JSON: {token}")
    return json.loads(text, parse_constant=bad)


def cli(capsys, *args):
    rc = main(["predict", *map(str, args), "--device", "cpu", "--image-size", N])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture(scope="module")
def ckpt3(tmp_path_factory, tiny_model_factory):
    from conftest import save_reference_container

    return save_reference_container(tiny_model_factory(3, seed=2), tmp_path_factory.mktemp("c") / "t3.pth")


def test_bad_output_locations_fail_before_inference(capsys, tmp_path, ckpt3, small_ceph_png, monkeypatch):
    import cephmark.inference.predictor as pred

    def no_inference(*a, **k):
        raise AssertionError("inference ran before the output was checked")
    monkeypatch.setattr(pred.LandmarkPredictor, "iter_predictions", no_inference)
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    folder = tmp_path / "folder"
    folder.mkdir()
    for args, expect in [(["--out", folder], "is a folder"),
                         (["--out", a_file / "r.json"], "cannot write results here"),
                         (["--overlay", a_file / "ov"], "cannot write overlays here")]:
        rc, _, err = cli(capsys, small_ceph_png, "--checkpoint", ckpt3, *args)
        assert rc == 2, err
        assert expect in err and "Traceback" not in err, err
    assert list(folder.iterdir()) == []


def test_every_kind_of_image_failure_is_reported_and_the_batch_goes_on(
        capsys, tmp_path, ckpt3, small_ceph_png, monkeypatch):
    import cephmark.inference.predictor as pred

    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a_good.png").write_bytes(small_ceph_png.read_bytes())
    jpg = cv2.imencode(".jpg", cv2.imread(str(small_ceph_png)))[1].tobytes()
    (folder / "b_cut.jpg").write_bytes(jpg[:len(jpg) // 2])
    _png_header_only(folder / "c_bomb.png", 30000, 30000)
    (folder / "d_oom.png").write_bytes(small_ceph_png.read_bytes())
    (folder / "e_good.png").write_bytes(small_ceph_png.read_bytes())
    real = pred.read_image

    def read(path, **kw):  # a MemoryError while decoding one image
        if Path(path).name == "d_oom.png":
            raise MemoryError()
        return real(path, **kw)
    monkeypatch.setattr(pred, "read_image", read)
    out = tmp_path / "r.json"
    rc, _, err = cli(capsys, folder, "--checkpoint", ckpt3, "--out", out, "--batch-size", "2")
    assert rc == 1, err
    assert "b_cut.jpg: truncated JPEG" in err
    assert "c_bomb.png: image too large: 30000 x 30000" in err
    assert "d_oom.png: out of memory" in err
    assert "3 of 5 images failed" in err and "Traceback" not in err
    data = strict_json(out.read_text())
    assert [Path(im["image"]).name for im in data["images"]] == ["a_good.png", "e_good.png"]
    assert not out.with_name("r.json.partial").exists()


def test_forward_failure_is_reported_per_image(capsys, tmp_path, ckpt3, small_ceph_png, monkeypatch):
    """A failing batch (e.g. out of memory in the network) is retried image by image."""
    import cephmark.inference.predictor as pred

    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.png", "b.png", "c.png"):
        (folder / name).write_bytes(small_ceph_png.read_bytes())
    real = pred.LandmarkPredictor.decode

    def decode(self, heat, meta):
        if Path(meta["path"]).name == "b.png":
            raise RuntimeError("CUDA out of memory (simulated)")
        return real(self, heat, meta)
    monkeypatch.setattr(pred.LandmarkPredictor, "decode", decode)
    rc, out, err = cli(capsys, folder, "--checkpoint", ckpt3, "--batch-size", "3")
    assert rc == 1 and "b.png: CUDA out of memory" in err
    assert [Path(im["image"]).name for im in strict_json(out)["images"]] == ["a.png", "c.png"]


@pytest.mark.parametrize("ext", [".json", ".csv", ".jsonl"])
def test_results_are_0644_and_strict(capsys, tmp_path, ckpt3, small_ceph_png, ext):
    old = os.umask(0o022)
    try:
        out = tmp_path / f"r{ext}"
        rc, _, err = cli(capsys, small_ceph_png, "--checkpoint", ckpt3, "--out", out)
    finally:
        os.umask(old)
    assert rc == 0, err
    assert out.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temporary file left
    if ext == ".jsonl":
        (rec,) = [strict_json(line) for line in out.read_text().splitlines()]
        assert rec["image"] == str(small_ceph_png)


def test_json_never_holds_nan(tmp_path):
    lm = LandmarkResult(name="S", x=None, y=None, score=float("nan"), found=False)
    res = ImageResult(image="a.png", width=10, height=10, spacing_mm=float("inf"),
                      spacing_source=None, landmarks=[lm])
    for ext in (".json", ".jsonl", ".csv"):
        stream = ResultStream(tmp_path / f"r{ext}")
        stream.write(res)
        stream.close()
        text = (tmp_path / f"r{ext}").read_text()
        assert "NaN" not in text and "nan" not in text and "Infinity" not in text and "inf" not in text
    data = strict_json((tmp_path / "r.json").read_text())
    assert data["images"][0]["landmarks"][0]["score"] is None
    assert data["images"][0]["spacing_mm"] is None


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_keeps_what_was_computed(tmp_path, ckpt3, small_ceph_png, sig):
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(400):
        os.link(small_ceph_png, folder / f"img{i:03d}.png")
    out = tmp_path / "r.json"
    partial = tmp_path / "r.json.partial"
    env = dict(os.environ, PYTHONPATH=str(ROOT / "lib"), OMP_NUM_THREADS="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "cephmark", "predict", str(folder), "--checkpoint", str(ckpt3),
         "--image-size", "128", "--device", "cpu", "--batch-size", "1", "--out", str(out)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if partial.exists() and partial.read_text().count('"image"') >= 2:
            break
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + int(sig), err
    assert "Traceback" not in err and "interrupted" in err, err
    assert not out.exists()
    data = strict_json(partial.read_text())  # a complete document with the images done so far
    assert 2 <= len(data["images"]) < 400
    assert f"{len(data['images'])} of 400 images written to {partial}" in err
