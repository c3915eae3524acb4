"""`read_annotations`: one entry point for every annotation format, with auto-detection."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from cephmark.annotations.aariz import is_aariz, read_aariz
from cephmark.annotations.coco import read_coco
from cephmark.annotations.csv_points import read_csv_points
from cephmark.annotations.label_studio import read_label_studio
from cephmark.annotations.types import AnnotationError, AnnotationSet, load_json

FORMATS = ("label_studio", "aariz", "coco", "csv")


def detect_format(path: str | Path) -> str:
    """Guess the format: a directory is Aariz, `.csv` is CSV, a JSON list is Label Studio, a JSON
    object with `images`/`annotations` is COCO."""
    path = Path(path)
    if not path.exists():
        raise AnnotationError(f"{path}: no such file or directory")
    if path.is_dir():
        if is_aariz(path):
            return "aariz"
        raise AnnotationError(f"{path}: directory is not an Aariz tree (no {'cephalogram_machine_mappings.csv'} "
                              "and no split with an Annotations folder)")
    if path.suffix.lower() == ".csv":
        return "csv"
    data = load_json(path)
    if isinstance(data, list):
        return "label_studio"
    if isinstance(data, dict) and "images" in data and "annotations" in data:
        return "coco"
    raise AnnotationError(f"{path}: unrecognised annotation format (expected a Label Studio JSON export, "
                          "COCO keypoints JSON, landmark CSV or an Aariz directory)")


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
    readers = {"label_studio": read_label_studio, "coco": read_coco, "csv": read_csv_points}
    if fmt not in readers:
        raise AnnotationError(f"unknown annotation format {fmt!r} (choose auto, {', '.join(FORMATS)})")
    if not path.is_file():
        raise AnnotationError(f"{path}: no such file")
    return readers[fmt](path, image_dir)
