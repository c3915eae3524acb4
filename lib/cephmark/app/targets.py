"""Saved labels -> training targets (landmark points) and the CSV the training code reads.

A label saved from a viewer is either a disc label map (NIfTI, NRRD, PNG, ...: each landmark at
its disc's centroid), a markups point list (``.json`` / ``.mrk.json``) or a DICOM SR (ours, or
saved by OHIF; see :mod:`cephmark.io.sr`).
"""
from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from cephmark.app.geometry import ImageGeometry
from cephmark.app.labelmap import names_by_value, read_label_map_points
from cephmark.app.markups import is_markups, read_markups_points
from cephmark.util import atomic_write_text

__all__ = ["TrainingImage", "label_points", "write_points_csv"]


@dataclass
class TrainingImage:
    image: str  # a file cephmark.io.read_image reads
    points: dict[str, tuple[float, float]]
    spacing_mm: float | None = None
    image_id: str = ""


def label_points(label_path: str | Path, image_geometry: ImageGeometry, label_info: Any = None,
                 default_names: Sequence[str] = ()) -> dict[str, tuple[float, float]]:
    """``{landmark: (x, y)}`` from a saved label file, in the image's pixel coordinates."""
    if is_markups(label_path):
        return read_markups_points(label_path, image_geometry)
    from cephmark.annotations.dicom_sr import is_dicom_sr

    if is_dicom_sr(label_path):
        from cephmark.io.sr import read_sr_landmarks

        return dict(read_sr_landmarks(label_path).points)
    return read_label_map_points(label_path, image_geometry, names_by_value(label_info, default_names))


def write_points_csv(items: Iterable[TrainingImage], path: str | Path,
                     landmarks: Sequence[str] | None = None) -> Path:
    """``image,landmark,x,y,spacing_mm`` (absolute image paths), atomically."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["image", "landmark", "x", "y", "spacing_mm"])
    keep = set(landmarks) if landmarks else None
    for item in items:
        for name, (x, y) in item.points.items():
            if keep is None or name in keep:
                w.writerow([os.path.abspath(item.image), name, repr(float(x)), repr(float(y)),
                            "" if item.spacing_mm is None else repr(float(item.spacing_mm))])
    return atomic_write_text(path, buf.getvalue())
