"""Landmarks as a label map: one small disc per landmark, value = landmark index + 1.

Viewers (3D Slicer, OHIF) show and edit a label map as segments, one per value; the map is
written on the image's own grid and geometry (see :mod:`cephmark.app.geometry`), so the discs
sit on the landmarks. Reading a label map back gives each value's centroid, mapped through
the label's and the image's geometry when they differ, which is how a label edited in a viewer
becomes a training target.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from cephmark.app.geometry import ImageGeometry

__all__ = ["label_names", "default_disc_radius", "render_discs", "write_label_map",
           "read_label_map_points", "names_by_value", "LABEL_SUFFIXES"]

logger = logging.getLogger(__name__)

LABEL_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".seg.nrrd", ".nhdr", ".mha", ".mhd", ".png", ".tif", ".tiff")


def label_names(names: Sequence[str]) -> dict[str, int]:
    """``{landmark name: label value}`` with value = index + 1 (0 is background)."""
    return {name: i + 1 for i, name in enumerate(names)}


def default_disc_radius(width: int, height: int) -> float:
    """About 0.25 % of the longer side, at least 2 px (6 px on a 1935 x 2400 cephalogram)."""
    return float(max(2, round(0.0025 * max(width, height))))


def render_discs(points: Sequence[tuple[float, float] | None], width: int, height: int,
                 radius: float | None = None, dtype: Any = None) -> np.ndarray:
    """(H, W) map with the pixels within ``radius`` of point k set to k + 1.

    ``None`` points (not found) and points whose disc lies outside the image get no pixels; a
    later landmark overwrites an earlier one where discs overlap.
    """
    r = float(radius) if radius and radius > 0 else default_disc_radius(width, height)
    if dtype is None:
        dtype = np.uint8 if len(points) < 256 else np.uint16
    out = np.zeros((int(height), int(width)), dtype=dtype)
    for k, p in enumerate(points):
        if p is None or p[0] is None or p[1] is None:
            continue
        x, y = float(p[0]), float(p[1])
        if not (math.isfinite(x) and math.isfinite(y)):
            continue
        x0, x1 = max(0, math.floor(x - r)), min(int(width) - 1, math.ceil(x + r))
        y0, y1 = max(0, math.floor(y - r)), min(int(height) - 1, math.ceil(y + r))
        if x0 > x1 or y0 > y1:
            continue
        yy, xx = np.mgrid[y0:y1 + 1, x0:x1 + 1]
        mask = (xx - x) ** 2 + (yy - y) ** 2 <= r * r
        out[y0:y1 + 1, x0:x1 + 1][mask] = k + 1
    return out


def write_label_map(label: np.ndarray, geometry: ImageGeometry, path: str | Path,
                    compress: bool = True) -> Path:
    """Write an (H, W) map with the image's geometry (a one-slice volume if the image is 3D).

    The format follows the suffix (.nii.gz, .nrrd, .png, ...); PNG keeps no geometry.
    """
    import SimpleITK as sitk

    path = Path(path)
    arr = np.ascontiguousarray(label)
    if (arr.shape[1], arr.shape[0]) != (geometry.width, geometry.height):
        raise ValueError(f"label map {arr.shape[::-1]} does not match the image size "
                         f"{geometry.width} x {geometry.height}")
    is_2d_format = path.name.lower().endswith((".png", ".jpg", ".jpeg", ".bmp"))
    if geometry.dimension == 3 and not is_2d_format:
        arr = arr[None]
    img = sitk.GetImageFromArray(arr)
    if not is_2d_format:
        d = img.GetDimension()
        img.SetSpacing(geometry.spacing[:d])
        img.SetOrigin(geometry.origin[:d])
        direction = np.asarray(geometry.direction, dtype=np.float64).reshape(geometry.dimension,
                                                                              geometry.dimension)
        img.SetDirection(tuple(direction[:d, :d].ravel()))
    sitk.WriteImage(img, str(path), bool(compress))
    return path


def names_by_value(label_info: Any, default_names: Sequence[str]) -> dict[int, str]:
    """Label value -> landmark name.

    ``label_info`` is what a viewer sends with a saved label: a list of ``{"name", "idx"}``
    (3D Slicer; also ``value``/``labelID``/``id``; entries without one count 1, 2, ... in order)
    or a ``{name: value}`` mapping (``label_names``). Without it, value k + 1 is
    ``default_names[k]``.
    """
    if isinstance(label_info, Mapping) and label_info:
        if all(isinstance(v, (int, float)) for v in label_info.values()):
            return {int(v): str(k) for k, v in label_info.items()}
    if isinstance(label_info, (list, tuple)) and label_info:
        out: dict[int, str] = {}
        for pos, item in enumerate(label_info, start=1):
            if not isinstance(item, Mapping) or not item.get("name"):
                continue
            value = next((item[k] for k in ("idx", "value", "labelID", "id") if item.get(k) is not None), pos)
            try:
                out[int(value)] = str(item["name"])
            except (TypeError, ValueError):
                out[pos] = str(item["name"])
        if out:
            return out
    return {i + 1: str(n) for i, n in enumerate(default_names)}


def read_label_map_points(path: str | Path, image_geometry: ImageGeometry,
                          value_names: Mapping[int, str]) -> dict[str, tuple[float, float]]:
    """``{name: (x, y)}``: centroid of each named value, in the image's pixel coordinates."""
    import SimpleITK as sitk

    try:
        img = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise ValueError(f"{path}: cannot read label map ({str(exc).strip().splitlines()[-1]})") from exc
    geom = ImageGeometry.from_sitk(img)
    arr = np.asarray(sitk.GetArrayViewFromImage(img))
    if img.GetNumberOfComponentsPerPixel() > 1:
        arr = arr[..., 0]
    if arr.ndim == 2:
        arr = arr[None]
    elif arr.ndim != 3:
        raise ValueError(f"{path}: label map of {arr.ndim} dimensions; 2D expected")
    if arr.shape[0] != 1:
        raise ValueError(f"{path}: label map with {arr.shape[0]} slices; one 2D slice expected")
    direct = geom.same_grid(image_geometry) or (
        geom.is_trivial() and (geom.width, geom.height) == (image_geometry.width, image_geometry.height))
    points: dict[str, tuple[float, float]] = {}
    values = [int(v) for v in np.unique(arr) if v != 0]
    for value in values:
        name = value_names.get(value)
        if name is None:
            logger.warning("%s: label value %d has no landmark name; ignored", path, value)
            continue
        zz, yy, xx = np.nonzero(arr == value)
        cx, cy, cz = float(xx.mean()), float(yy.mean()), float(zz.mean())
        if direct:
            points[name] = (cx, cy)
        else:
            x, y, _ = image_geometry.lps_to_index(geom.index_to_lps(cx, cy, cz))
            points[name] = (x, y)
    return points
