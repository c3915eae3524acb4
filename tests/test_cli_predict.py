"""``cephmark predict``: output formats, names, folders with bad files, DICOM spacing, overlays.

These run the command in-process (``cephmark.cli.main.main``) on tiny random-weight models at
a small input size; the subprocess runs against the reference vectors are in
``test_reference_parity.py``.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from cephmark.cli.main import main
from cephmark.codecs import HeatmapCodec
from cephmark.config import CephConfig
from cephmark.inference import LandmarkPredictor
from cephmark.inference.results import CSV_COLUMNS
from cephmark.landmarks import CLDETECTION_38
from cephmark.transforms import Box

from conftest import save_reference_container
from parity import assert_points_match, observed_heat_tol

pytestmark = pytest.mark.usefixtures("torch_threads")

IMAGE_KEYS = {"image", "width", "height", "spacing_mm", "spacing_source", "landmarks", "status", "reasons"}
LANDMARK_KEYS = {"name", "x", "y", "score", "found", "x_mm", "y_mm", "status", "reasons"}
N = "64"  # network input size for the random-weight models: fast, still a real run


def cli(capsys, *args) -> tuple[int, str, str]:
    rc = main(["predict", *map(str, args), "--device", "cpu"])
    out, err = capsys.readouterr()
    return rc, out, err


def write_dicom(path: Path, grey: np.ndarray, spacing: tuple[float, float] = (0.2, 0.2)) -> Path:
    """An 8-bit DX DICOM (explicit VR little endian) with PixelSpacing [row, column]."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"  # DX, for presentation
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality = "DX"
    ds.Rows, ds.Columns = grey.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.PixelSpacing = [f"{spacing[0]:g}", f"{spacing[1]:g}"]
    ds.PixelData = np.ascontiguousarray(grey, dtype=np.uint8).tobytes()
    ds.is_little_endian, ds.is_implicit_VR = True, False
    ds.save_as(str(path), write_like_original=False)
    return path


@pytest.fixture(scope="module")
def ckpt38(tmp_path_factory, tiny_model_factory) -> Path:
    """A 38-output model in the reference container (no names in its metadata)."""
    path = tmp_path_factory.mktemp("ckpt") / "tiny38.pth"
    return save_reference_container(tiny_model_factory(38, seed=1), path)


@pytest.fixture(scope="module")
def ckpt3(tmp_path_factory, tiny_model_factory) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "tiny3.pth"
    return save_reference_container(tiny_model_factory(3, seed=2), path)


@pytest.fixture(scope="module")
def ceph_dicom(tmp_path_factory, small_ceph_png) -> Path:
    grey = cv2.imread(str(small_ceph_png), cv2.IMREAD_GRAYSCALE)
    return write_dicom(tmp_path_factory.mktemp("dicom") / "ceph.dcm", grey)


def check_schema(data: dict) -> None:
    assert set(data) == {"images"}
    for image in data["images"]:
        assert set(image) == IMAGE_KEYS
        assert isinstance(image["image"], str)
        assert isinstance(image["width"], int) and isinstance(image["height"], int)
        assert image["spacing_mm"] is None or isinstance(image["spacing_mm"], float)
        assert image["spacing_source"] is None or isinstance(image["spacing_source"], str)
        for lm in image["landmarks"]:
            assert set(lm) == LANDMARK_KEYS
            assert isinstance(lm["name"], str) and isinstance(lm["found"], bool)
            assert isinstance(lm["score"], float)
            assert lm["status"] in ("ok", "check", "not_found") and isinstance(lm["reasons"], list)
            assert lm["found"] == (lm["status"] != "not_found")
            outside = not lm["found"] and "outside the" in " ".join(lm["reasons"])
            for key in ("x", "y"):
                assert isinstance(lm[key], float) if lm["found"] or outside else lm[key] is None
            for key in ("x_mm", "y_mm"):
                assert lm[key] is None or isinstance(lm[key], float)


def test_json_schema_and_default_names(capsys, tmp_path, ckpt38, small_ceph_png):
    out = tmp_path / "x.json"
    rc, stdout, err = cli(capsys, small_ceph_png, "--checkpoint", ckpt38, "--image-size", N, "--out", out)
    assert rc == 0, err
    data = json.loads(out.read_text())
    check_schema(data)
    (image,) = data["images"]
    assert image["image"] == str(small_ceph_png)
    assert (image["width"], image["height"]) == (322, 400)
    assert image["spacing_mm"] is None and image["spacing_source"] is None
    assert [lm["name"] for lm in image["landmarks"]] == CLDETECTION_38
    assert any(lm["found"] for lm in image["landmarks"])
    for lm in image["landmarks"]:
        assert lm["x_mm"] is None and lm["y_mm"] is None
    # without --out the same document goes to stdout
    rc, stdout, err = cli(capsys, small_ceph_png, "--checkpoint", ckpt38, "--image-size", N)
    assert rc == 0, err
    assert json.loads(stdout) == data


def test_csv_output_matches_json(capsys, tmp_path, ckpt3, small_ceph_png):
    js, cs = tmp_path / "r.json", tmp_path / "r.csv"
    for out in (js, cs):
        rc, _, err = cli(capsys, small_ceph_png, "--checkpoint", ckpt3, "--image-size", N, "--out", out)
        assert rc == 0, err
    image = json.loads(js.read_text())["images"][0]
    with cs.open(newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == CSV_COLUMNS == ["image", "width", "height", "spacing_mm", "spacing_source",
                                      "name", "x", "y", "score", "found", "x_mm", "y_mm",
                                      "status", "reasons", "image_status"]
    assert len(rows) == 1 + 3
    for row, lm in zip(rows[1:], image["landmarks"]):
        rec = dict(zip(rows[0], row))
        assert rec["image"] == image["image"]
        assert int(rec["width"]) == 322 and int(rec["height"]) == 400
        assert rec["spacing_mm"] == "" and rec["x_mm"] == ""
        assert rec["name"] == lm["name"] and rec["found"] == str(lm["found"])
        assert float(rec["score"]) == pytest.approx(lm["score"], abs=1e-12)
        assert rec["status"] == lm["status"] and rec["reasons"] == "; ".join(lm["reasons"])
        assert rec["image_status"] == image["status"]
        if lm["x"] is not None:  # found, or decoded outside the image
            assert float(rec["x"]) == pytest.approx(lm["x"], abs=1e-9)
            assert float(rec["y"]) == pytest.approx(lm["y"], abs=1e-9)
        else:
            assert rec["x"] == rec["y"] == ""


def test_names_option(capsys, tmp_path, ckpt3, small_ceph_png):
    out = tmp_path / "n.json"
    rc, _, err = cli(capsys, small_ceph_png, "--checkpoint", ckpt3, "--image-size", N,
                     "--names", "a, b,c", "--out", out)
    assert rc == 0, err
    names = [lm["name"] for lm in json.loads(out.read_text())["images"][0]["landmarks"]]
    assert names == ["a", "b", "c"]
    # without --names: indices
    rc, stdout, err = cli(capsys, small_ceph_png, "--checkpoint", ckpt3, "--image-size", N)
    assert [lm["name"] for lm in json.loads(stdout)["images"][0]["landmarks"]] == ["0", "1", "2"]


def test_names_count_mismatch_is_an_error(capsys, ckpt3, small_ceph_png):
    rc, stdout, err = cli(capsys, small_ceph_png, "--checkpoint", ckpt3, "--image-size", N,
                          "--names", "a,b")
    assert rc != 0
    assert "2 landmark names" in err and "3 outputs" in err, err


def test_folder_with_corrupt_file(capsys, tmp_path, ckpt3, small_ceph_png, ceph_dicom):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a_good.png").write_bytes(small_ceph_png.read_bytes())
    (folder / "b_broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
    (folder / "c_scan.dcm").write_bytes(ceph_dicom.read_bytes())
    out = tmp_path / "r.json"
    rc, _, err = cli(capsys, folder, "--checkpoint", ckpt3, "--image-size", N, "--out", out)
    assert rc != 0
    assert "b_broken.png" in err, err
    assert "a_good.png" not in err and "c_scan.dcm" not in err
    data = json.loads(out.read_text())
    check_schema(data)
    assert [Path(im["image"]).name for im in data["images"]] == ["a_good.png", "c_scan.dcm"]
    # the good images' results are those of a run without the bad file
    (folder / "b_broken.png").unlink()
    rc, stdout, err = cli(capsys, folder, "--checkpoint", ckpt3, "--image-size", N)
    assert rc == 0, err
    assert json.loads(stdout) == data


def test_dicom_spacing(capsys, tmp_path, ckpt38, ceph_dicom):
    out = tmp_path / "d.json"
    rc, _, err = cli(capsys, ceph_dicom, "--checkpoint", ckpt38, "--image-size", N, "--out", out)
    assert rc == 0, err
    data = json.loads(out.read_text())
    check_schema(data)
    (image,) = data["images"]
    assert (image["width"], image["height"]) == (322, 400)
    assert image["spacing_mm"] == pytest.approx(0.2)
    assert image["spacing_source"] == "PixelSpacing"
    found = [lm for lm in image["landmarks"] if lm["found"]]
    assert found
    for lm in found:
        assert lm["x_mm"] == pytest.approx(lm["x"] * 0.2, rel=1e-12)
        assert lm["y_mm"] == pytest.approx(lm["y"] * 0.2, rel=1e-12)
    for lm in image["landmarks"]:
        if lm["x"] is None:  # not found (one decoded outside the image keeps its position)
            assert lm["x_mm"] is None and lm["y_mm"] is None


def test_dicom_and_png_of_same_pixels_agree(capsys, ckpt3, ceph_dicom, small_ceph_png):
    _, a, _ = cli(capsys, small_ceph_png, "--checkpoint", ckpt3, "--image-size", N)
    _, b, _ = cli(capsys, ceph_dicom, "--checkpoint", ckpt3, "--image-size", N)
    la, lb = json.loads(a)["images"][0]["landmarks"], json.loads(b)["images"][0]["landmarks"]
    assert [(p["x"], p["y"], p["score"]) for p in la] == [(p["x"], p["y"], p["score"]) for p in lb]


def test_overlay_pngs(capsys, tmp_path, isbi_image, tiny_reference_dirs, small_ceph_png):
    ref = tiny_reference_dirs["tiny_j3_256"]
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "one.png").write_bytes(small_ceph_png.read_bytes())
    (folder / "two.jpg").write_bytes(isbi_image.read_bytes())
    overlays = tmp_path / "overlays"
    rc, stdout, err = cli(capsys, folder, "--checkpoint", ref.checkpoint, "--image-size", "256",
                          "--overlay", overlays)
    assert rc == 0, err
    results = {Path(im["image"]).stem: im for im in json.loads(stdout)["images"]}
    written = sorted(p.name for p in overlays.iterdir())
    assert written == ["one_landmarks.png", "two_landmarks.png"]
    for stem, src in (("one", folder / "one.png"), ("two", folder / "two.jpg")):
        img = cv2.imread(str(overlays / f"{stem}_landmarks.png"), cv2.IMREAD_COLOR)
        orig = cv2.imread(str(src), cv2.IMREAD_COLOR)
        assert img is not None and img.shape == orig.shape
        assert (img != orig).any()  # something was drawn
        lm = next(p for p in results[stem]["landmarks"]
                  if p["found"] and 0 <= p["x"] < orig.shape[1] and 0 <= p["y"] < orig.shape[0])
        x, y = int(round(lm["x"])), int(round(lm["y"]))
        b, g, r = (int(v) for v in img[y, x])
        assert r > 200 and g < 100 and b < 100  # a red dot on the predicted point


def test_no_flip_is_the_single_pass(capsys, tmp_path, tiny_reference_dirs):
    """--no-flip decodes the single-pass heatmaps; flip test decodes the averaged ones."""
    ref = tiny_reference_dirs["tiny_j3_256"]
    arrays = ref.arrays()
    common = [ref.image, "--checkpoint", ref.checkpoint, "--image-size", ref.image_size]
    rc, flip_out, err = cli(capsys, *common)
    assert rc == 0, err
    rc, single_out, err = cli(capsys, *common, "--no-flip")
    assert rc == 0, err
    flip = json.loads(flip_out)["images"][0]["landmarks"]
    single = json.loads(single_out)["images"][0]["landmarks"]
    xy_flip = np.array([[p["x"], p["y"]] for p in flip])
    xy_single = np.array([[p["x"], p["y"]] for p in single])
    assert np.abs(xy_flip - xy_single).max() > 1.0  # the option changes the result

    # heatmaps compared tightly; points within what the heatmap difference allows for each
    # peak (a nearly flat peak moves 1e-3 px with the thread count; see tests/parity.py)
    pred = LandmarkPredictor(str(ref.checkpoint), _config(ref.image_size))
    x = torch.from_numpy(arrays["network_input"])[None]
    scale = 1.25 * 2400 / ref.image_size  # image px per heatmap px
    for flip, xy, key in ((False, xy_single, "heatmaps_single_pass"), (True, xy_flip, "heatmaps_flip_averaged")):
        heat_tol = observed_heat_tol(pred.heatmaps(x, flip_test=flip)[0].numpy(), arrays[key])
        dec = HeatmapCodec().decode(arrays[key])
        expected = Box.whole_image(1935, 2400).to_image(dec.xy, ref.image_size)
        assert_points_match(xy, expected, arrays[key], scale, heat_tol)
    assert np.abs(np.array([p["score"] for p in single]) - dec_scores(arrays["heatmaps_single_pass"])).max() <= 1e-5


def _config(n: int) -> CephConfig:
    cfg = CephConfig()
    cfg.preprocess.image_size = n
    cfg.infer.device = "cpu"
    return cfg


def dec_scores(heatmaps: np.ndarray) -> np.ndarray:
    return HeatmapCodec().decode(heatmaps).scores


def test_missing_input_and_empty_folder(capsys, tmp_path, ckpt3):
    rc, _, err = cli(capsys, tmp_path / "nope.png", "--checkpoint", ckpt3, "--image-size", N)
    assert rc != 0 and "nope.png" in err
    (tmp_path / "empty").mkdir()
    rc, _, err = cli(capsys, tmp_path / "empty", "--checkpoint", ckpt3, "--image-size", N)
    assert rc != 0 and "no image files" in err


def test_bad_checkpoint_is_reported(capsys, tmp_path, small_ceph_png):
    bad = tmp_path / "broken.pth"
    bad.write_bytes(b"\x00" * 10)
    rc, _, err = cli(capsys, small_ceph_png, "--checkpoint", bad)
    assert rc != 0 and "broken.pth" in err and "Traceback" not in err


def test_sr_dir_for_dicom_inputs(capsys, tmp_path, ckpt38, ceph_dicom, small_ceph_png):
    """--sr DIR: one SR per DICOM input holding the reported points; a PNG is named as having
    none; an image whose header cannot carry an SR (no Study Instance UID) fails by name."""
    from cephmark.io.sr import read_sr_landmarks

    import pydicom
    from pydicom.uid import generate_uid

    dcm = tmp_path / "with_uids.dcm"
    ds = pydicom.dcmread(ceph_dicom)
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.save_as(str(dcm))
    out, srs = tmp_path / "r.json", tmp_path / "sr"
    rc, _, err = cli(capsys, dcm, small_ceph_png, ceph_dicom, "--checkpoint", ckpt38, "--image-size", N,
                     "--out", out, "--sr", srs)
    assert rc == 1, err  # ceph.dcm (written without UIDs) has no SR
    assert f"{small_ceph_png}: no SR written (not a DICOM file)" in err
    assert f"{ceph_dicom}: SR not written: the source image has no StudyInstanceUID" in err
    assert sorted(p.name for p in srs.iterdir()) == ["with_uids.sr.dcm"]
    (entry,) = [e for e in json.loads(out.read_text())["images"] if e["image"] == str(dcm)]
    got = read_sr_landmarks(srs / "with_uids.sr.dcm")
    assert got.referenced_sop_instance_uid == str(ds.SOPInstanceUID)
    for lm in entry["landmarks"]:
        if lm["found"]:
            assert got.points[lm["name"]] == pytest.approx((lm["x"], lm["y"]), abs=1e-3)
