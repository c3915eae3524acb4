"""Image geometry as ITK (and so MONAI Label, 3D Slicer and OHIF) sees it, and image loading.

Viewers place an image in physical space (LPS, mm) with ITK's rule: the centre of pixel
``(i, j[, k])`` lies at ``origin + direction @ (i * sx, j * sy[, k * sz])``. A label map or point
list shows up on the right pixels only when it is written with the same origin, spacing and
direction as the image the viewer loaded, so the app reads that geometry from the file itself
(``SimpleITK.ImageFileReader.ReadImageInformation``, no pixel decoding):

* PNG / JPEG / BMP / TIFF: 2D, origin 0, identity direction, spacing 1 unless the file
  declares a resolution that ITK turns into spacing;
* DICOM: GDCM's geometry (ImagePositionPatient, ImageOrientationPatient, pixel spacing);
  a single DX/CR/SC frame usually reads as a ``(W, H, 1)`` volume;
* NIfTI / NRRD / MHA (e.g. MONAI Label's DICOMweb cache, ``<series>.nii.gz``): as stored.

Pixels for the model always come from :func:`cephmark.io.read_image` where the file is one it
reads (so results equal ``cephmark predict``), else from the ITK volume (z dropped, min-max to
uint8). Pixel coordinates follow OpenCV/ITK alike: integer = pixel centre, x = column, y = row.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from cephmark.io import CephImage, ImageReadError, is_dicom, read_image
from cephmark.io.intensity import grey_to_rgb, minmax_to_uint8

__all__ = ["ImageGeometry", "AppImage", "read_geometry", "load_app_image", "VOLUME_SUFFIXES",
           "strip_volume_suffix", "dicom_files_in"]

VOLUME_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")


@dataclass(frozen=True)
class ImageGeometry:
    """ITK geometry of a 2D image or a one-slice volume (sizes in ITK order: W, H[, D])."""

    size: tuple[int, ...]
    spacing: tuple[float, ...]
    origin: tuple[float, ...]
    direction: tuple[float, ...]  # row-major, dimension x dimension

    @property
    def dimension(self) -> int:
        return len(self.size)

    @property
    def width(self) -> int:
        return int(self.size[0])

    @property
    def height(self) -> int:
        return int(self.size[1])

    # -- construction ----------------------------------------------------------------
    @classmethod
    def identity(cls, width: int, height: int) -> "ImageGeometry":
        """What ITK gives a PNG/JPEG without resolution tags: spacing 1, origin 0."""
        return cls((int(width), int(height)), (1.0, 1.0), (0.0, 0.0), (1.0, 0.0, 0.0, 1.0))

    @classmethod
    def from_sitk(cls, obj) -> "ImageGeometry":
        """From a ``SimpleITK.Image`` or an ``ImageFileReader`` after ReadImageInformation."""
        return cls(tuple(int(v) for v in obj.GetSize()), tuple(float(v) for v in obj.GetSpacing()),
                   tuple(float(v) for v in obj.GetOrigin()),
                   tuple(float(v) for v in obj.GetDirection()))

    def to_dict(self) -> dict:
        return {"size": list(self.size), "spacing": list(self.spacing), "origin": list(self.origin),
                "direction": list(self.direction)}

    # -- 3D view: 2D geometry padded with z = 0, spacing 1, identity ---------------------
    def _padded(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        d = self.dimension
        origin = np.zeros(3)
        spacing = np.ones(3)
        direction = np.eye(3)
        origin[:d] = self.origin[:3]
        spacing[:d] = self.spacing[:3]
        direction[:d, :d] = np.asarray(self.direction, dtype=np.float64).reshape(d, d)[:3, :3]
        return origin, spacing, direction

    def index_to_lps(self, x: float, y: float, z: float = 0.0) -> tuple[float, float, float]:
        """Physical (LPS, mm) position of continuous pixel index (x, y[, z])."""
        origin, spacing, direction = self._padded()
        p = origin + direction @ (np.array([x, y, z], dtype=np.float64) * spacing)
        return float(p[0]), float(p[1]), float(p[2])

    def lps_to_index(self, point: Sequence[float]) -> tuple[float, float, float]:
        """Continuous pixel index (x, y, z) of an LPS position (inverse of `index_to_lps`)."""
        origin, spacing, direction = self._padded()
        p = np.zeros(3)
        p[:min(3, len(point))] = np.asarray(point, dtype=np.float64)[:3]
        idx = np.linalg.solve(direction, p - origin) / spacing
        return float(idx[0]), float(idx[1]), float(idx[2])

    def same_grid(self, other: "ImageGeometry", tol: float = 1e-4) -> bool:
        """Same in-plane size and the same physical placement (2D vs one-slice 3D allowed)."""
        if (self.width, self.height) != (other.width, other.height):
            return False
        a, b = self._padded(), other._padded()
        return all(np.allclose(u, v, atol=tol, rtol=tol) for u, v in zip(a, b))

    def is_trivial(self) -> bool:
        """Origin 0, spacing 1, identity direction: a plain image file without geometry."""
        origin, spacing, direction = self._padded()
        return bool(np.allclose(origin, 0) and np.allclose(spacing, 1) and np.allclose(direction, np.eye(3)))


@dataclass
class AppImage:
    """An image as the app serves it: model input pixels plus the geometry viewers use."""

    ceph: CephImage
    geometry: ImageGeometry
    pixel_source: str  # file the pixels were read from


def strip_volume_suffix(path: str) -> str | None:
    low = path.lower()
    for s in VOLUME_SUFFIXES:
        if low.endswith(s):
            return path[: -len(s)]
    return None


def dicom_files_in(folder: str | Path) -> list[Path]:
    folder = Path(folder)
    return sorted(p for p in folder.iterdir() if p.is_file() and is_dicom(p))


def read_geometry(path: str | Path) -> ImageGeometry:
    """Geometry of an image file as ITK reads it (header only)."""
    import SimpleITK as sitk

    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.ReadImageInformation()
    return ImageGeometry.from_sitk(reader)


def _single_dicom(folder: Path) -> Path:
    files = dicom_files_in(folder)
    if len(files) != 1:
        raise ImageReadError(f"{folder}: a series of {len(files)} DICOM instances; one 2D image "
                             "(DX, CR or SC frame) is expected")
    return files[0]


def _volume_pixels(path: str) -> tuple[CephImage, ImageGeometry]:
    import SimpleITK as sitk

    try:
        img = sitk.ReadImage(path)
    except RuntimeError as exc:
        raise ImageReadError(f"{path}: cannot read image volume ({str(exc).strip().splitlines()[-1]})") from exc
    geom = ImageGeometry.from_sitk(img)
    arr = sitk.GetArrayViewFromImage(img)  # (z, y, x[, c]) or (y, x[, c])
    comps = img.GetNumberOfComponentsPerPixel()
    spatial = arr.shape[:-1] if comps > 1 else arr.shape
    if len(spatial) == 3:
        if spatial[0] != 1:
            raise ImageReadError(f"{path}: a 3D volume with {spatial[0]} slices; one 2D image is expected")
        arr = arr[0]
    elif len(spatial) != 2:
        raise ImageReadError(f"{path}: {len(spatial)}D image; a 2D image is expected")
    arr = np.asarray(arr)
    if comps > 1:
        arr = arr[..., :3] if comps >= 3 else arr[..., :1].repeat(3, axis=-1)
        rgb = arr if arr.dtype == np.uint8 else minmax_to_uint8(arr)
    else:
        grey = arr if arr.dtype == np.uint8 else minmax_to_uint8(arr)
        rgb = grey_to_rgb(grey)
    spacing = (geom.spacing[0], geom.spacing[1])
    ceph = CephImage(pixels=np.ascontiguousarray(rgb, dtype=np.uint8), path=path,
                     spacing_xy_mm=spacing if all(math.isfinite(s) and s > 0 for s in spacing) else None,
                     spacing_source="image header")
    return ceph, geom


def load_app_image(path: str | Path) -> AppImage:
    """Read a datastore image: pixels as ``cephmark predict`` sees them plus ITK geometry.

    ``path`` may be an image file, a DICOM file, a folder holding one DICOM instance, or a
    volume file (NIfTI, NRRD, ...). A volume ``<id>.nii.gz`` next to a folder ``<id>/`` with one
    DICOM instance (MONAI Label's DICOMweb cache) takes its pixels and spacing from that DICOM
    file and its geometry from the volume.
    """
    path = str(path)
    if os.path.isdir(path):
        dcm = _single_dicom(Path(path))
        ceph = read_image(dcm)
        return AppImage(ceph, _geometry_or_identity(dcm, ceph), str(dcm))
    stem = strip_volume_suffix(path)
    if stem is not None:
        if not os.path.exists(path):
            raise ImageReadError(f"{path}: file not found")
        ceph, geom = _volume_pixels(path)
        if os.path.isdir(stem):
            files = dicom_files_in(stem)
            if len(files) == 1:
                dicom = read_image(files[0])
                if (dicom.width, dicom.height) == (geom.width, geom.height):
                    return AppImage(dicom, geom, str(files[0]))
        return AppImage(ceph, geom, path)
    ceph = read_image(path)
    return AppImage(ceph, _geometry_or_identity(path, ceph), path)


def _geometry_or_identity(path: str | Path, ceph: CephImage) -> ImageGeometry:
    try:
        geom = read_geometry(path)
    except RuntimeError:
        return ImageGeometry.identity(ceph.width, ceph.height)
    if (geom.width, geom.height) != (ceph.width, ceph.height) or (geom.dimension == 3 and geom.size[2] != 1):
        # e.g. an EXIF rotation OpenCV applies and ITK does not: fall back to plain pixels
        return ImageGeometry.identity(ceph.width, ceph.height)
    return geom
