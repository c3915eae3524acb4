"""Landmark annotation readers: Label Studio, Aariz, COCO keypoints, CSV and DICOM SR (see `read_annotations`)."""
from cephmark.util import lazy_exports

# module -> public names, imported on first use (a light module of this package needs no MONAI)
__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "cephmark.annotations.aariz": ["read_aariz"],
    "cephmark.annotations.coco": ["read_coco"],
    "cephmark.annotations.csv_points": ["read_csv_points"],
    "cephmark.annotations.dicom_sr": ["read_dicom_sr"],
    "cephmark.annotations.label_studio": ["read_label_studio"],
    "cephmark.annotations.read": ["FORMATS", "detect_format", "read_annotations"],
    "cephmark.annotations.split": ["split_train_val"],
    "cephmark.annotations.types": ["AnnotatedImage", "AnnotationError", "AnnotationSet"],
})
