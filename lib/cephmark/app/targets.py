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

__all__ = ["TrainingImage", "label_points", "write_points_csv", "LabelRejected", "check_label",
           "MAX_LABEL_BYTES"]

# a disc label map of a 3000 x 3600 image stored uncompressed as 16-bit is 21 MB
MAX_LABEL_BYTES = 32 * 2**20


class LabelRejected(ValueError):
    """An uploaded label that cannot serve as training data; ``too_large`` for the size limit."""

    def __init__(self, message: str, too_large: bool = False) -> None:
        super().__init__(message)
        self.too_large = too_large


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


def check_label(label_path: str | Path, image_geometry: ImageGeometry, label_info: Any = None,
                max_bytes: int = MAX_LABEL_BYTES) -> dict[str, tuple[float, float]]:
    """The label's landmarks inside the image, or :class:`LabelRejected` saying why not: over
    ``max_bytes``, unreadable, or not a label map / markups / SR holding at least one landmark."""
    size = os.path.getsize(label_path)
    if size > max_bytes:
        raise LabelRejected(f"label file of {size / 2**20:.1f} MB is over the {max_bytes / 2**20:g} MB limit",
                            too_large=True)
    # any non-zero value of a label map counts here (names are matched at training time)
    generic = [f"value {v}" for v in range(1, 2**16)]
    try:
        points = label_points(label_path, image_geometry, label_info, generic)
    except Exception as exc:  # readers raise many types on garbage
        raise LabelRejected(f"not a readable label map, markups (.mrk.json) or DICOM SR "
                            f"({type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''})") from exc
    w, h = image_geometry.width, image_geometry.height
    inside = {n: (x, y) for n, (x, y) in points.items() if -0.5 <= x <= w - 0.5 and -0.5 <= y <= h - 0.5}
    if not inside:
        raise LabelRejected(f"the label holds no landmark inside the {w} x {h} image "
                            f"({len(points)} outside)" if points else "the label holds no landmark")
    return inside


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
