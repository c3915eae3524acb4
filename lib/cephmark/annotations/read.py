"""`read_annotations`: one entry point for every annotation format, with auto-detection."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from cephmark.annotations.aariz import is_aariz, read_aariz
from cephmark.annotations.coco import read_coco
from cephmark.annotations.csv_points import read_csv_points
from cephmark.annotations.dicom_sr import find_sr_files, is_dicom_sr, read_dicom_sr
from cephmark.annotations.label_studio import read_label_studio
from cephmark.annotations.types import AnnotationError, AnnotationSet, load_json

FORMATS = ("label_studio", "aariz", "coco", "csv", "dicom_sr")


def detect_format(path: str | Path) -> str:
    """Guess the format: a directory is Aariz or else a folder of DICOM SR files, `.csv` is CSV,
    a DICOM SR file is DICOM SR, a JSON list is Label Studio, a JSON object with
    `images`/`annotations` is COCO."""
    path = Path(path)
    if not path.exists():
        raise AnnotationError(f"{path}: no such file or directory")
    if path.is_dir():
        if is_aariz(path):
            return "aariz"
        if find_sr_files(path):
            return "dicom_sr"
        raise AnnotationError(f"{path}: directory is not an Aariz tree (no {'cephalogram_machine_mappings.csv'} "
                              "and no split with an Annotations folder) and holds no DICOM SR file")
    if path.suffix.lower() == ".csv":
        return "csv"
    if is_dicom_sr(path):
        return "dicom_sr"
    data = load_json(path)
    if isinstance(data, list):
        return "label_studio"
    if isinstance(data, dict) and "images" in data and "annotations" in data:
        return "coco"
    raise AnnotationError(f"{path}: unrecognised annotation format (expected a Label Studio JSON export, "
                          "COCO keypoints JSON, landmark CSV, DICOM SR or an Aariz directory)")


def read_annotations(path: str | Path, image_dir: str | Path | None = None, fmt: str = "auto",
                     observer: str = "mean", split: str | Sequence[str] | None = None) -> AnnotationSet:
    """Read annotations in any supported format (`fmt`: "auto" or one of FORMATS).

    `image_dir` (default: the annotation file's folder) applies to the file formats; `observer`
    and `split` to Aariz. Raises AnnotationError listing every problem found.
    """
    path = Path(path)
    if fmt == "auto":
        fmt = detect_format(path)
    if fmt == "aariz":
        return read_aariz(path, observer=observer, split=split)
    if fmt == "dicom_sr":
        return read_dicom_sr(path, image_dir)
    readers = {"label_studio": read_label_studio, "coco": read_coco, "csv": read_csv_points}
    if fmt not in readers:
        raise AnnotationError(f"unknown annotation format {fmt!r} (choose auto, {', '.join(FORMATS)})")
    if not path.is_file():
        raise AnnotationError(f"{path}: no such file")
    return readers[fmt](path, image_dir)
