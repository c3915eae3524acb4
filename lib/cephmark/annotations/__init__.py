"""Landmark annotation readers: Label Studio, Aariz, COCO keypoints, CSV and DICOM SR (see `read_annotations`)."""
from cephmark.annotations.aariz import read_aariz
from cephmark.annotations.coco import read_coco
from cephmark.annotations.csv_points import read_csv_points
from cephmark.annotations.dicom_sr import read_dicom_sr
from cephmark.annotations.label_studio import read_label_studio
from cephmark.annotations.read import FORMATS, detect_format, read_annotations
from cephmark.annotations.split import split_train_val
from cephmark.annotations.types import AnnotatedImage, AnnotationError, AnnotationSet

__all__ = [
    "AnnotatedImage", "AnnotationError", "AnnotationSet", "FORMATS", "detect_format", "read_aariz",
    "read_annotations", "read_coco", "read_csv_points", "read_dicom_sr", "read_label_studio", "split_train_val",
]
