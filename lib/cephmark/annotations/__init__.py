"""Landmark annotation readers: Label Studio, Aariz, COCO keypoints, CSV and DICOM SR (see `read_annotations`)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from cephmark.util import lazy_exports

if TYPE_CHECKING:  # the real imports happen on first use (see cephmark.util.lazy_exports)
    from cephmark.annotations.aariz import read_aariz
    from cephmark.annotations.coco import read_coco
    from cephmark.annotations.csv_points import read_csv_points
    from cephmark.annotations.dicom_sr import read_dicom_sr
    from cephmark.annotations.label_studio import read_label_studio
    from cephmark.annotations.read import FORMATS, detect_format, read_annotations
    from cephmark.annotations.split import split_train_val
    from cephmark.annotations.types import AnnotatedImage, AnnotationError, AnnotationSet

_EXPORTS = {
    "read_aariz": "cephmark.annotations.aariz",
    "read_coco": "cephmark.annotations.coco",
    "read_csv_points": "cephmark.annotations.csv_points",
    "read_dicom_sr": "cephmark.annotations.dicom_sr",
    "read_label_studio": "cephmark.annotations.label_studio",
    "FORMATS": "cephmark.annotations.read",
    "detect_format": "cephmark.annotations.read",
    "read_annotations": "cephmark.annotations.read",
    "split_train_val": "cephmark.annotations.split",
    "AnnotatedImage": "cephmark.annotations.types",
    "AnnotationError": "cephmark.annotations.types",
    "AnnotationSet": "cephmark.annotations.types",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = ["AnnotatedImage", "AnnotationError", "AnnotationSet", "FORMATS", "detect_format", "read_aariz", "read_annotations", "read_coco", "read_csv_points", "read_dicom_sr", "read_label_studio", "split_train_val"]
