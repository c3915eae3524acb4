"""cephmark.app (label maps, markups, geometry, uncertainty, options) and the app's option and
id checks, without a server: fast."""
from __future__ import annotations

import json
import math
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from monailabel_helpers import ISBI_IMAGES, tiny_checkpoint, write_dicom

from cephmark.app import (ImageGeometry, label_names, load_app_image, names_by_value, predict_with_uncertainty,
                          read_label_map_points, read_markups_points, render_discs, to_markups, write_label_map)
from cephmark.app.options import config_updates
from cephmark.inference.results import ImageResult, LandmarkResult

sitk = pytest.importorskip("SimpleITK")

ROTATED = ImageGeometry(size=(40, 30, 1), spacing=(0.5, 0.25, 1.0), origin=(10.0, -20.0, 5.0),
                        direction=(0.0, -1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0))


def _result(points, width=40, height=30):
    lms = [LandmarkResult(name=f"l{k}", x=None if p is None else p[0], y=None if p is None else p[1],
                          score=0.5, found=p is not None) for k, p in enumerate(points)]
    return ImageResult(image="x", width=width, height=height, spacing_mm=None, spacing_source=None, landmarks=lms)


def test_index_to_lps_matches_itk_and_inverts():
    img = sitk.Image(list(ROTATED.size), sitk.sitkUInt8)
    img.SetSpacing(ROTATED.spacing)
    img.SetOrigin(ROTATED.origin)
    img.SetDirection(ROTATED.direction)
    for x, y in ((0, 0), (3.25, 7.5), (39, 29)):
        p = ROTATED.index_to_lps(x, y)
        assert np.allclose(p, img.TransformContinuousIndexToPhysicalPoint((x, y, 0.0)))
        assert np.allclose(ROTATED.lps_to_index(p)[:2], (x, y))
    flat = ImageGeometry.identity(40, 30)
    assert flat.index_to_lps(3.5, 2.25) == (3.5, 2.25, 0.0) and flat.is_trivial()


def test_discs_round_trip_through_files(tmp_path):
    pts = [(5.3, 6.7), None, (30.2, 20.9), (-50.0, 3.0)]
    arr = render_discs(pts, 40, 30, radius=3)
    assert arr.dtype == np.uint8 and set(np.unique(arr)) == {0, 1, 3}
    names = {1: "a", 2: "b", 3: "c", 4: "d"}
    for suffix, geom in ((".nii.gz", ROTATED), (".nrrd", ROTATED), (".png", ImageGeometry.identity(40, 30)),
                         (".nii.gz", ImageGeometry.identity(40, 30))):
        path = write_label_map(arr, geom, tmp_path / f"label{suffix}")
        got = read_label_map_points(path, geom, names)
        assert set(got) == {"a", "c"}
        # a binary disc of radius 3 puts its centroid within 0.25 px of a sub-pixel centre
        assert got["a"] == pytest.approx(pts[0], abs=0.25) and got["c"] == pytest.approx(pts[2], abs=0.25)
        if suffix != ".png":
            img = sitk.ReadImage(str(path))
            assert np.allclose(img.GetOrigin(), geom.origin) and np.allclose(img.GetDirection(), geom.direction)


def test_label_on_other_grid_maps_through_physical_space(tmp_path):
    # the same physical image stored with its rows reversed (as another writer might)
    arr = render_discs([(10.0, 4.0)], 40, 30, radius=2)
    flipped = ImageGeometry(size=(40, 30, 1), spacing=ROTATED.spacing,
                            origin=ROTATED.index_to_lps(0, 29),
                            direction=(0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0))
    path = write_label_map(arr[::-1], flipped, tmp_path / "flipped.nrrd")
    got = read_label_map_points(path, ROTATED, {1: "a"})
    assert got["a"] == pytest.approx((10.0, 4.0), abs=1e-6)


def test_names_by_value_from_viewer_label_info():
    names = ["sella", "nasion", "orbitale"]
    assert names_by_value(None, names) == {1: "sella", 2: "nasion", 3: "orbitale"}
    assert names_by_value([{"name": "nasion", "idx": 5}, {"name": "sella", "idx": 2}], names) == {5: "nasion", 2: "sella"}
    assert names_by_value([{"name": "p1"}, {"name": "p2"}], names) == {1: "p1", 2: "p2"}
    assert names_by_value({"p1": 7, "p2": 9}, names) == {7: "p1", 9: "p2"}
    assert label_names(names) == {"sella": 1, "nasion": 2, "orbitale": 3}


def test_markups_round_trip_lps_and_ras():
    res = _result([(3.0, 4.5), None, (20.25, 11.0)])
    doc = to_markups(res, ROTATED)
    cps = doc["markups"][0]["controlPoints"]
    assert [c["positionStatus"] for c in cps] == ["defined", "undefined", "defined"]
    assert cps[0]["position"] == pytest.approx(list(ROTATED.index_to_lps(3.0, 4.5)))
    back = read_markups_points(doc, ROTATED)
    assert set(back) == {"l0", "l2"} and back["l2"] == pytest.approx((20.25, 11.0), abs=1e-9)
    ras = json.loads(json.dumps(doc))
    ras["markups"][0]["coordinateSystem"] = "RAS"
    for c in ras["markups"][0]["controlPoints"]:
        c["position"] = [-c["position"][0], -c["position"][1], c["position"][2]]
    assert read_markups_points(ras, ROTATED)["l0"] == pytest.approx((3.0, 4.5), abs=1e-9)
    with pytest.raises(ValueError, match="not a Slicer markups"):
        read_markups_points({"points": []}, ROTATED)


@pytest.mark.skipif(not (ISBI_IMAGES / "001.jpg").is_file(), reason="shared ISBI images absent")
def test_load_app_image_dicom_folder_and_volume(tmp_path):
    dcm_dir = tmp_path / "series"
    dcm_dir.mkdir()
    write_dicom(ISBI_IMAGES / "001.jpg", dcm_dir / "a.dcm", spacing=0.1, position=(1, 2, 3))
    from_dir = load_app_image(dcm_dir)
    assert from_dir.ceph.spacing_xy_mm == (0.1, 0.1) and from_dir.geometry.origin == (1.0, 2.0, 3.0)
    # MONAI Label's DICOMweb cache: <series>.nii.gz beside the folder <series>/
    from monailabel.datastore.utils.convert import dicom_to_nifti

    nii = tmp_path / "series.nii.gz"
    shutil.move(dicom_to_nifti(str(dcm_dir)), nii)
    cached = load_app_image(nii)
    assert cached.pixel_source.endswith("a.dcm") and cached.ceph.spacing_xy_mm == (0.1, 0.1)
    assert np.array_equal(cached.ceph.pixels, from_dir.ceph.pixels)
    assert cached.geometry.size == (1935, 2400, 1)
    alone = tmp_path / "alone.nii.gz"
    shutil.copy(nii, alone)
    vol = load_app_image(alone)
    assert vol.pixel_source == str(alone) and vol.ceph.spacing_source == "image header"
    assert vol.ceph.pixels.shape == (2400, 1935, 3)
    write_dicom(ISBI_IMAGES / "002.jpg", dcm_dir / "b.dcm")
    with pytest.raises(ValueError, match="2 DICOM instances"):
        load_app_image(dcm_dir)


@pytest.mark.skipif(not (ISBI_IMAGES / "001.jpg").is_file(), reason="shared ISBI images absent")
def test_uncertainty_prediction_equals_predictor(tmp_path):
    from cephmark.config import CephConfig
    from cephmark.inference import LandmarkPredictor

    ckpt = tiny_checkpoint(tmp_path / "tiny.pth", seed=3)
    image = ISBI_IMAGES / "001.jpg"
    for flip in (True, False):
        pred = LandmarkPredictor(str(ckpt), CephConfig(), {"preprocess.image_size": 128, "preprocess.flip_test": flip})
        ref = pred.predict([image])[0]
        got, unc = predict_with_uncertainty(pred, image)
        for a, b in zip(got.landmarks, ref.landmarks):
            assert a.found == b.found and (not a.found or (a.x == pytest.approx(b.x, abs=1e-6)
                                                            and a.y == pytest.approx(b.y, abs=1e-6)))
        assert unc.value >= 0 and len(unc.per_landmark_px) == 38
        finite = [d for d in unc.per_landmark_px if d is not None]
        assert unc.value == pytest.approx((sum(finite) + unc.missing * math.hypot(got.width, got.height))
                                          / len(unc.per_landmark_px) / max(unc.score_mean, 0.01))
        assert unc.flip_px is None or math.isfinite(unc.flip_px)


def test_options_from_strings():
    updates, unknown = config_updates({"epochs": "3", "image_size": "256", "landmarks": "p1,p2", "lr": "1e-4",
                                       "unfreeze_after": "none", "flip_test": "false", "max_epochs": 7,
                                       "train.init_from": "sella,fresh", "bogus": 1})
    assert unknown == ["bogus"]
    assert updates == {"train.epochs": 7, "preprocess.image_size": 256, "train.landmarks": ["p1", "p2"],
                       "train.lr": 1e-4, "preprocess.flip_test": False, "train.init_from": ["sella", "fresh"],
                       "train.unfreeze_after": None}
    with pytest.raises(ValueError, match="train.epochs"):
        config_updates({"epochs": "many"})


def test_app_options_and_id_checks(app_lib, tmp_path):
    from fastapi import HTTPException

    opts = app_lib.options.AppOptions.from_conf(tmp_path, {"models": "cephalometric", "image_size": "256",
                                                          "train.epochs": "5", "model_dir": str(tmp_path / "m")})
    assert opts.models == ["cephalometric"] and opts.model_dir == tmp_path / "m"
    assert opts.infer_overrides() == {"preprocess.image_size": 256}
    cfg = opts.base_config()
    assert cfg.train.epochs == 5 and cfg.preprocess.image_size == 256
    assert app_lib.options.AppOptions.from_conf(tmp_path, {}).models == ["cephalometric", "calibration"]
    with pytest.raises(ValueError, match="unknown model"):
        app_lib.options.AppOptions.from_conf(tmp_path, {"models": "segmentation"})
    with pytest.raises(ValueError, match="unknown --conf option"):
        app_lib.options.AppOptions.from_conf(tmp_path, {"epochz": "3"})
    with pytest.raises(ValueError, match="model file not found"):
        app_lib.options.AppOptions.from_conf(tmp_path, {"cldetection_model": str(tmp_path / "none.pth")})
    check = app_lib.datastore.check_id
    for ok in ("001", "1.2.840.10008.5", "img_01.v2"):
        assert check(ok) == ok
    for bad in ("../x", "a/b", "..", "", "a\\b", "x\x00"):
        with pytest.raises(HTTPException) as err:
            check(bad)
        assert err.value.status_code == 400
