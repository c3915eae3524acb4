"""DICOM SR files as training labels: ours and OHIF-saved, matched to images by SOP Instance UID."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_io_dicom import write_dicom  # noqa: E402
from test_io_sr import ohif_saved_sr  # noqa: E402

from cephmark.annotations import AnnotationError, detect_format, read_annotations  # noqa: E402
from cephmark.io.sr import write_sr  # noqa: E402


def _dx(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_dicom(path, np.arange(30 * 40, dtype=np.uint16).reshape(30, 40), bits_stored=12,
                       StudyInstanceUID=generate_uid(), SeriesInstanceUID=generate_uid(), PatientID="P")


@pytest.fixture
def study(tmp_path):
    images, labels = tmp_path / "images", tmp_path / "labels"
    a, b = _dx(images / "a.dcm"), _dx(images / "sub" / "b.dcm")
    ours_old = write_sr(a, [{"name": "sella", "x": 1.0, "y": 2.0, "score": 0.9, "found": True},
                            {"name": "nasion", "x": 3.0, "y": 4.0, "score": 0.8, "found": True}], labels / "a_ours.dcm")
    ds = pydicom.dcmread(ours_old)
    ds.ContentDate, ds.ContentTime = "20260101", "100000"
    ds.save_as(str(ours_old))
    labels.mkdir(exist_ok=True)
    ohif = ohif_saved_sr(a, labels / "a_ohif.dcm", {"sella": (11.5, 12.5, 30.0, 20.0), "nasion": (3.5, 4.5, 9.0, 9.0)})
    ds = pydicom.dcmread(ohif)
    ds.ContentDate, ds.ContentTime = "20260102", "090000"  # newer: the user's correction
    ds.save_as(str(ohif))
    write_sr(b, [{"name": "sella", "x": 5.0, "y": 6.0, "score": 0.7, "found": True},
                 {"name": "nasion", "x": None, "y": None, "score": 0.0, "found": False}], labels / "b.dcm")
    return {"images": images, "labels": labels, "a": a, "b": b}


def test_folder_of_srs_newest_per_image(study):
    assert detect_format(study["labels"]) == "dicom_sr"
    assert detect_format(study["labels"] / "b.dcm") == "dicom_sr"
    with pytest.warns(UserWarning, match=r"a\.dcm: 2 SRs label this image; using the newest, .*a_ohif\.dcm"):
        ann = read_annotations(study["labels"], study["images"])
    by_image = {im.image_path.name: im for im in ann.images}
    assert by_image["a.dcm"].points == {"sella": (11.0, 12.0), "nasion": (3.0, 4.0)}  # OHIF's tips
    assert by_image["b.dcm"].points == {"sella": (5.0, 6.0)}  # nasion was not found
    assert (by_image["a.dcm"].width, by_image["a.dcm"].height) == (40, 30)
    assert ann.landmark_names == ["sella", "nasion"]


def test_missing_image_is_named(study, tmp_path):
    os.remove(study["b"])
    with pytest.raises(AnnotationError, match=r"b\.dcm: the referenced image \(SOP Instance UID .*\) is not among"):
        read_annotations(study["labels"] / "b.dcm", study["images"])


def test_app_label_points_from_sr(study):
    from cephmark.app.geometry import ImageGeometry
    from cephmark.app.targets import label_points

    assert label_points(study["labels"] / "b.dcm", ImageGeometry((40, 30), (1.0, 1.0), (0.0, 0.0), (1.0, 0.0, 0.0, 1.0))) == {"sella": (5.0, 6.0)}


def test_finetune_on_sr_labels(tmp_path):
    """``cephmark finetune`` trains from a folder of SR labels (ours and OHIF-shaped)."""
    from test_training_helpers import N, finetune_cmd, make_tiny_reference, run_cli

    images, labels = tmp_path / "images", tmp_path / "labels"
    labels.mkdir()
    rng = np.random.default_rng(0)
    for k in range(4):
        dx = _dx(images / f"{k}.dcm")
        pixels = (rng.random((30, 40)) * 4000).astype(np.uint16)
        ds = pydicom.dcmread(dx)
        ds.PixelData = pixels.tobytes()
        ds.save_as(str(dx))
        if k % 2:
            ohif_saved_sr(dx, labels / f"{k}.dcm", {"sella": (10.5 + k, 8.5, 20.0, 20.0), "nasion": (30.5, 6.5 + k, 35.0, 9.0)})
        else:
            write_sr(dx, [{"name": "sella", "x": 10.0 + k, "y": 8.0, "score": 1.0, "found": True},
                          {"name": "nasion", "x": 30.0, "y": 6.0 + k, "score": 1.0, "found": True}], labels / f"{k}.dcm")
    config = tmp_path / "ft.yaml"
    config.write_text("train:\n  warmup_iters: 1\n  lr_schedule: constant\n")
    proc = run_cli(finetune_cmd(
        "--cldetection-model", make_tiny_reference(tmp_path / "tiny.pth"), "--annotations", labels,
        "--image-dir", images, "--image-size", N, "--batch-size", 2, "--epochs", 1, "--landmarks", "sella,nasion",
        "--val-fraction", "0.25", "--seed", 1, "--workers", 0, "--output", tmp_path / "out", "--config", config))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert list((tmp_path / "out").rglob("*.pth"))
