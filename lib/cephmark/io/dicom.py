"""DICOM input (pydicom): one greyscale frame -> :class:`~cephmark.io.image.CephImage`.

Pixel pipeline, in this order:

1. stored values, with bits above BitsStored masked off (unsigned) or sign-extended (signed);
2. Modality LUT (RescaleSlope/Intercept or Modality LUT Sequence, ``apply_modality_lut``);
3. VOI: if a VOI LUT Sequence or WindowCenter+WindowWidth is present, ``apply_voi_lut`` with the
   first window/LUT (the LUT is preferred when both exist), then the VOI output range is mapped
   to 0..255 (:func:`~cephmark.io.intensity.range_to_uint8`). That range is, as in pydicom and
   PS3.3 C.11.2: for a window, ``[y_min, y_max]`` = the stored-value range (``0..2**BitsStored-1``
   or its signed counterpart) passed through RescaleSlope/Intercept; for a VOI LUT,
   ``0..2**bits-1`` with bits from its LUTDescriptor. A window pydicom rejects (e.g. width < 1,
   unknown VOILUTFunction) is ignored with a warning. Without VOI: min-max stretch;
4. MONOCHROME1 is inverted (``255 - v``) so that bone is always bright.

Colour (RGB, YBR_FULL, YBR_FULL_422, YBR_RCT, YBR_ICT, PALETTE COLOR; e.g. a scanned film saved
as secondary capture) becomes grey the way the model's training data is: the CL-Detection images
are greyscale radiographs stored as three identical channels, so a colour frame is reduced to its
ITU-R BT.601 luma ``Y = 0.299 R + 0.587 G + 0.114 B`` (the weights of OpenCV's
``COLOR_RGB2GRAY``; for YBR_FULL* it is the stored Y component itself, which is that luma) and
replicated into three channels. 8-bit luma is used as is (rounded); deeper colour goes through
the min-max rule. No modality/VOI LUT applies to colour data (PS3.3 C.11).

Compressed transfer syntaxes are decoded by pydicom's handlers with pylibjpeg and its plugins
(libjpeg: JPEG baseline/extended 12-bit/lossless process 14 and SV1/JPEG-LS; openjpeg: JPEG 2000;
rle: RLE Lossless); deflate is pydicom's own. The table of syntaxes read is in the README.

Rejected with :class:`ImageReadError`: unparsable files, no pixel data, multi-frame, colour
spaces other than the above (YBR_PARTIAL_*), zero-size, undecodable pixel data (corrupt
codestream, or a transfer syntax without a decoder).

Spacing: PixelSpacing, else ImagerPixelSpacing, else NominalScannedPixelSpacing; a tag whose
value is not two finite numbers > 0 counts as absent. DICOM stores ``[row, column]`` spacing,
returned here as ``(x, y) = (column, row)``.
"""
from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.pixel_data_handlers.util import apply_color_lut, apply_modality_lut, apply_voi_lut

from cephmark.io.types import CephImage, ImageReadError
from cephmark.io.integrity import DEFAULT_MAX_PIXELS, check_pixel_limit
from cephmark.io.intensity import grey_to_rgb, minmax_to_uint8, range_to_uint8

__all__ = ["SPACING_TAGS", "transfer_syntax_name", "read_dicom", "dicom_size", "read_dataset", "dicom_spacing"]

SPACING_TAGS = ("PixelSpacing", "ImagerPixelSpacing", "NominalScannedPixelSpacing")
GREY_PHOTOMETRIC = ("MONOCHROME1", "MONOCHROME2")
# colour spaces read (as luma); the YBR_FULL* data stay YBR after decoding, RCT/ICT come out RGB
COLOUR_PHOTOMETRIC = ("RGB", "YBR_FULL", "YBR_FULL_422", "YBR_RCT", "YBR_ICT", "PALETTE COLOR")
_LUMA = np.array([0.299, 0.587, 0.114])  # ITU-R BT.601, as cv2.COLOR_RGB2GRAY
_PIXEL_TAGS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")


def _error(path: str | Path, reason: str) -> ImageReadError:
    return ImageReadError(f"{path}: {reason}")


def read_dataset(path: str | Path, stop_before_pixels: bool = False) -> Dataset:
    """Parse a DICOM file (preamble optional); ImageReadError if it is not DICOM at all."""
    try:
        ds = pydicom.dcmread(str(path), force=True, stop_before_pixels=stop_before_pixels)
    except FileNotFoundError:
        raise _error(path, "file not found") from None
    except Exception as exc:  # pydicom raises many types on corrupt input
        raise _error(path, f"not a readable DICOM file ({type(exc).__name__}: {exc})") from exc
    if not any(k in ds for k in ("SOPClassUID", "Rows", "Columns", *_PIXEL_TAGS)):
        raise _error(path, "not a readable DICOM file (no DICOM header or image attributes found)")
    return ds


def _sop_class(ds: Dataset) -> str:
    uid = ds.get("SOPClassUID") or getattr(getattr(ds, "file_meta", None), "MediaStorageSOPClassUID", None)
    if not uid:
        return "unknown"
    name = getattr(uid, "name", "")
    return f"{uid} {name}".strip() if name and name != str(uid) else str(uid)


def _check_geometry(path: str | Path, ds: Dataset, need_pixels: bool = True) -> tuple[int, int]:
    """Validate the attributes that decide whether this is one greyscale frame; return (W, H)."""
    if need_pixels and not any(k in ds for k in _PIXEL_TAGS):
        raise _error(path, f"no image data (SOP class {_sop_class(ds)})")
    try:
        frames = int(ds.get("NumberOfFrames") or 1)
    except (TypeError, ValueError):
        frames = 1
    if frames > 1:
        raise _error(path, f"multi-frame DICOM is not supported (NumberOfFrames={frames})")
    spp = int(ds.get("SamplesPerPixel") or 1)
    photo = str(ds.get("PhotometricInterpretation", "")).strip().upper()
    expected = 1 if photo in GREY_PHOTOMETRIC + ("PALETTE COLOR",) else 3
    if photo not in GREY_PHOTOMETRIC + COLOUR_PHOTOMETRIC or spp != expected:
        raise _error(
            path,
            f"colour DICOM is not supported (PhotometricInterpretation={photo or 'missing'}, "
            f"SamplesPerPixel={spp}); supported: {', '.join(GREY_PHOTOMETRIC + COLOUR_PHOTOMETRIC)}",
        )
    rows, cols = int(ds.get("Rows") or 0), int(ds.get("Columns") or 0)
    if rows <= 0 or cols <= 0:
        raise _error(path, f"zero-size image (Rows={rows}, Columns={cols})")
    return cols, rows


def dicom_spacing(ds: Dataset) -> tuple[tuple[float, float] | None, str | None]:
    """((x, y) mm per pixel, tag name) from the first valid spacing tag, else (None, None)."""
    for tag in SPACING_TAGS:
        try:
            value = ds.get(tag)
            if value is None:
                continue
            vals = [float(v) for v in value]
        except Exception:  # non-numeric, single value, malformed
            continue
        if len(vals) == 2 and all(math.isfinite(v) and v > 0 for v in vals):
            return (vals[1], vals[0]), tag
    return None, None


def _stored_values(ds: Dataset, arr: np.ndarray) -> np.ndarray:
    """Drop bits above BitsStored (sign-extending signed data) for integer pixel data."""
    if not np.issubdtype(arr.dtype, np.integer):
        return arr
    stored = int(ds.get("BitsStored") or arr.dtype.itemsize * 8)
    if stored >= arr.dtype.itemsize * 8:
        return arr
    v = arr.astype(np.int64) & ((1 << stored) - 1)
    if int(ds.get("PixelRepresentation") or 0) == 1:
        v = np.where(v >= 1 << (stored - 1), v - (1 << stored), v)
    return v


def _voi_range(ds: Dataset, use_lut: bool) -> tuple[float, float]:
    """Output range of the VOI step, as pydicom's apply_voi / apply_windowing produce it."""
    if use_lut:
        return 0.0, float(2 ** int(ds.VOILUTSequence[0].LUTDescriptor[2]) - 1)
    stored = int(ds.BitsStored)
    if ds.get("ModalityLUTSequence"):
        lo, hi = 0.0, float(2 ** int(ds.ModalityLUTSequence[0].LUTDescriptor[2]) - 1)
    elif int(ds.get("PixelRepresentation") or 0) == 0:
        lo, hi = 0.0, float(2**stored - 1)
    else:
        lo, hi = float(-(2 ** (stored - 1))), float(2 ** (stored - 1) - 1)
    slope, intercept = ds.get("RescaleSlope"), ds.get("RescaleIntercept")
    if slope is not None and intercept is not None:
        lo, hi = lo * float(slope) + float(intercept), hi * float(slope) + float(intercept)
    return lo, hi


def _to_uint8(path: str | Path, ds: Dataset, arr: np.ndarray) -> np.ndarray:
    values = apply_modality_lut(_stored_values(ds, arr), ds)
    lut = ds.get("VOILUTSequence")
    use_lut = bool(lut) and "LUTDescriptor" in lut[0] and "LUTData" in lut[0]
    window = ds.get("WindowCenter") is not None and ds.get("WindowWidth") is not None
    if use_lut or window:
        try:
            if use_lut and values.dtype.kind == "f":
                values = np.rint(values).astype(np.int64)
            lo, hi = _voi_range(ds, use_lut)
            return range_to_uint8(apply_voi_lut(values, ds, index=0, prefer_lut=True), lo, hi)
        except Exception as exc:
            warnings.warn(f"{path}: VOI LUT / window ignored, min-max stretch used ({exc})", stacklevel=3)
    return minmax_to_uint8(values)


def _colour_to_grey(ds: Dataset, arr: np.ndarray, photo: str) -> np.ndarray:
    """BT.601 luma of a decoded colour frame as uint8 (see the module docstring)."""
    if photo == "PALETTE COLOR":
        arr = apply_color_lut(arr, ds)
    if photo.startswith("YBR_FULL"):
        luma = arr[..., 0].astype(np.float64)
    else:
        luma = arr[..., :3].astype(np.float64) @ _LUMA
    if arr.dtype == np.uint8:
        return np.rint(np.clip(luma, 0, 255)).astype(np.uint8)
    return minmax_to_uint8(luma)


def transfer_syntax_name(ds: Dataset) -> str:
    """Transfer syntax name (or UID) of a dataset read from a file, for messages."""
    ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    return str(getattr(ts, "name", ts) or "unknown transfer syntax")


def read_dicom(path: str | Path, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> CephImage:
    """Read a single-frame greyscale or colour DICOM file as an 8-bit RGB :class:`CephImage`
    (Rows x Columns over ``max_pixels`` is refused before the pixel data is decoded)."""
    ds = read_dataset(path)
    problem = check_pixel_limit(*_check_geometry(path, ds), max_pixels)
    if problem:
        raise _error(path, problem)
    try:
        arr = ds.pixel_array
    except Exception as exc:
        raise _error(path, f"cannot decode pixel data ({transfer_syntax_name(ds)}): "
                           f"{type(exc).__name__}: {exc}") from exc
    photo = str(ds.PhotometricInterpretation).strip().upper()  # a decoder may have changed it
    colour = photo not in GREY_PHOTOMETRIC
    if arr.ndim != (3 if colour and photo != "PALETTE COLOR" else 2) or arr.size == 0:
        raise _error(path, f"expected one frame ({photo}), got pixel array of shape {arr.shape}")
    if colour:
        grey = _colour_to_grey(ds, arr, photo)
    else:
        grey = _to_uint8(path, ds, arr)
    if photo == "MONOCHROME1":
        grey = 255 - grey
    spacing, source = dicom_spacing(ds)
    return CephImage(pixels=grey_to_rgb(grey), path=str(path), spacing_xy_mm=spacing, spacing_source=source)


def dicom_size(path: str | Path) -> tuple[int, int]:
    """(width, height) from Rows/Columns, without reading the pixel data."""
    return _check_geometry(path, read_dataset(path, stop_before_pixels=True), need_pixels=False)
