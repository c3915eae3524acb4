"""``cephmark analyze``: JSON / CSV / report from a landmark model and a ruler model (tiny random
weights, so the points are arbitrary but real), one image read per image, DICOM spacing, bad
files, and ``--landmarks`` on given points."""
from __future__ import annotations

import csv
import json
import math

import cv2
import numpy as np
import pytest
import torch

from cephmark.cli.main import main
from cephmark.landmarks import CLDETECTION_38
from cephmark.models.checkpoint import make_checkpoint

from test_analysis_measurements import BY_HAND
from test_cli_predict import write_dicom

pytestmark = pytest.mark.usefixtures("torch_threads")


@pytest.fixture(scope="module")
def models(tmp_path_factory, tiny_model_factory):
    d = tmp_path_factory.mktemp("analyze_models")
    lm, ruler = d / "landmarks38.pth", d / "ruler.pth"
    torch.save(make_checkpoint(tiny_model_factory(38), CLDETECTION_38, preprocess={"image_size": 64}), lm)
    torch.save(make_checkpoint(tiny_model_factory(2, seed=1), ["p1", "p2"], preprocess={"image_size": 64}), ruler)
    return lm, ruler


@pytest.fixture(scope="module")
def images(tmp_path_factory, small_ceph_png):
    d = tmp_path_factory.mktemp("analyze_images")
    grey = cv2.imread(str(small_ceph_png), cv2.IMREAD_GRAYSCALE)
    cv2.imwrite(str(d / "a.png"), grey)
    write_dicom(d / "b.dcm", grey, spacing=(0.5, 0.5))
    return d


def run(capsys, *args):
    rc = main(["analyze", *map(str, args), "--device", "cpu"])
    return rc, *capsys.readouterr()


def test_json_has_calibration_orientation_and_measurements(capsys, tmp_path, models, images, monkeypatch):
    import cephmark.io as cio
    from cephmark.inference.predictor import LandmarkPredictor

    reads, prepares = [], []
    real_read, real_prepare = cio.read_image, LandmarkPredictor.prepare
    monkeypatch.setattr(cio, "read_image", lambda p, **kw: reads.append(p) or real_read(p, **kw))
    monkeypatch.setattr(LandmarkPredictor, "prepare", lambda self, im: prepares.append(im) or real_prepare(self, im))
    out = tmp_path / "out.json"
    rc, _, err = run(capsys, images, "--checkpoint", models[0], "--calibration", models[1], "--out", out)
    assert rc == 0, err
    assert len(reads) == 2  # one read per image
    assert len(prepares) == 4 and all(not isinstance(p, (str, bytes)) for p in prepares)  # once per model
    data = json.loads(out.read_text())["images"]
    assert [im["image"].rsplit("/", 1)[-1] for im in data] == ["a.png", "b.dcm"]
    for im in data:
        cal = im["calibration"]
        assert set(cal) >= {"mm_per_px", "source", "ruler", "dicom_spacing_mm", "dicom_tag", "ruler_vs_dicom",
                            "status", "reasons"}
        assert cal["status"] in ("ok", "check") and (cal["status"] == "ok") == (not cal["reasons"])
        assert {"isbi2015", "steiner", "tweed", "wits", "face_height", "bjork"} == set(im["measurements"])
        sna = im["measurements"]["steiner"]["SNA"]
        assert set(sna) >= {"value", "unit", "norm", "deviation_sd", "class", "reason"}
        assert im["orientation"]["face"] in ("left", "right")
        mmpx = cal["mm_per_px"]
        for lm in im["landmarks"]:
            if lm["found"] and mmpx is not None:
                assert lm["x_mm"] == pytest.approx(lm["x"] * mmpx)
    dcm = data[1]["calibration"]
    assert dcm["dicom_spacing_mm"] == 0.5 and dcm["dicom_tag"] == "PixelSpacing"
    assert data[0]["calibration"]["dicom_spacing_mm"] is None


def test_dicom_spacing_without_ruler_and_csv(capsys, tmp_path, models, images):
    out = tmp_path / "out.csv"
    rc, _, err = run(capsys, images / "b.dcm", "--checkpoint", models[0], "--calibration", "none",
                     "--analysis", "isbi2015,tweed", "--out", out)
    assert rc == 0, err
    rows = list(csv.DictReader(out.open()))
    assert [r["name"] for r in rows] == ["ANB", "SNB", "SNA", "ODI", "APDI", "FHI", "FMA", "MW", "FMA", "IMPA", "FMIA"]
    assert {r["calibration_source"] for r in rows} == {"dicom"} and {r["mm_per_px"] for r in rows} == {"0.5"}
    assert rows[0]["unit"] == "deg" and rows[7]["unit"] == "mm"


def test_report_pages_and_bad_files(capsys, tmp_path, models, images):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.png").write_bytes((images / "a.png").read_bytes())
    (folder / "broken.png").write_bytes(b"not an image")
    rc, _, err = run(capsys, folder, "--checkpoint", models[0], "--calibration", "none",
                     "--out", tmp_path / "o.json", "--report", tmp_path / "rep")
    assert rc == 1 and "broken.png" in err
    assert len(json.loads((tmp_path / "o.json").read_text())["images"]) == 1
    png, pdf = tmp_path / "rep" / "a_report.png", tmp_path / "rep" / "a_report.pdf"
    h, w = cv2.imread(str(png)).shape[:2]
    assert w > 1500 and w / h == pytest.approx(297 / 210, rel=0.01)  # A4 landscape
    assert pdf.read_bytes()[:4] == b"%PDF"


def test_unknown_analysis_and_bad_out(capsys, tmp_path, images):
    assert run(capsys, images, "--analysis", "downs", "--out", tmp_path / "x.json")[0] == 2
    rc, _, err = run(capsys, images, "--out", tmp_path / "x.txt")
    assert rc == 2 and ".json or .csv" in err


def test_given_points_from_annotations_match_the_hand_values(capsys, tmp_path):
    """``--landmarks`` with a landmark CSV (manual tracing): the same code, the same numbers."""
    image = tmp_path / "151.png"
    cv2.imwrite(str(image), np.zeros((2400, 1935), np.uint8))
    pts, sna, snb, anb, fma = BY_HAND["images/151.jpg"]
    table = tmp_path / "tracing.csv"
    with table.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["image", "landmark", "x", "y", "spacing_mm"])
        w.writerows([image.name, n, x, y, 0.1] for n, (x, y) in pts.items())
    out = tmp_path / "m.json"
    rc, _, err = run(capsys, "--landmarks", table, "--analysis", "steiner,tweed", "--out", out)
    assert rc == 0, err
    im = json.loads(out.read_text())["images"][0]
    assert im["measurements"]["steiner"]["SNA"]["value"] == pytest.approx(sna, abs=1e-3)
    assert im["measurements"]["steiner"]["ANB"]["value"] == pytest.approx(anb, abs=1e-3)
    assert im["measurements"]["tweed"]["FMA"]["value"] == pytest.approx(fma, abs=1e-3)
    assert im["calibration"]["source"] == "annotation" and im["calibration"]["mm_per_px"] == 0.1
    l1 = im["measurements"]["steiner"]["L1-NB"]
    assert l1["value"] is None and "lower_incisal_incision" in l1["reason"]


def test_given_points_from_a_predict_json_mirrored(capsys, tmp_path):
    pts = BY_HAND["images/152.jpg"][0]
    entry = {"image": "152.jpg", "width": 1935, "height": 2400, "spacing_mm": None, "spacing_source": None,
             "landmarks": [{"name": n, "x": 1935 - x, "y": y, "score": 0.9, "found": True} for n, (x, y) in pts.items()]
             + [{"name": "p1", "x": 100.0, "y": 1040.0, "score": 0.9, "found": True},
                {"name": "p2", "x": 100.0, "y": 940.0, "score": 0.9, "found": True}]}
    src = tmp_path / "pred.json"
    src.write_text(json.dumps({"images": [entry]}))
    out = tmp_path / "m.json"
    rc, _, err = run(capsys, "--landmarks", src, "--analysis", "steiner", "--out", out)
    assert rc == 0, err
    im = json.loads(out.read_text())["images"][0]
    assert im["orientation"]["mirrored"] is True and "mirrored" in im["orientation"]["note"]
    assert im["measurements"]["steiner"]["SNB"]["value"] == pytest.approx(BY_HAND["images/152.jpg"][2], abs=1e-3)
    assert im["calibration"]["source"] == "ruler" and im["calibration"]["mm_per_px"] == pytest.approx(0.1)
    assert math.isclose(im["landmarks"][0]["x_mm"], (1935 - pts["sella"][0]) * 0.1)


def test_given_points_with_a_ruler_model_on_their_images(capsys, tmp_path, models, images):
    pts = BY_HAND["images/151.jpg"][0]
    entry = {"image": str(images / "a.png"), "width": 322, "height": 400, "spacing_mm": None,
             "spacing_source": None,
             "landmarks": [{"name": n, "x": x / 6, "y": y / 6, "found": True} for n, (x, y) in pts.items()]}
    src = tmp_path / "pred.json"
    src.write_text(json.dumps({"images": [entry]}))
    out = tmp_path / "m.json"
    rc, _, err = run(capsys, "--landmarks", src, "--calibration", models[1], "--analysis", "steiner",
                     "--out", out, "--report", tmp_path / "rep")
    assert rc == 0, err
    cal = json.loads(out.read_text())["images"][0]["calibration"]
    assert "no ruler model ran" not in " ".join(cal["notes"])
    assert cal["ruler"] is not None or any("not found" in r for r in cal["reasons"])
    assert (tmp_path / "rep" / "a_report.png").is_file()
    rc, _, err = run(capsys, images / "a.png", "--landmarks", src, "--out", out)
    assert rc == 2 and "give no INPUT" in err
