"""Image input: :class:`CephImage`, ordinary image files, :func:`read_image` dispatch, :func:`list_images`.

Ordinary files (PNG, JPEG, BMP, TIFF; grey, grey+alpha, RGB, RGBA) are decoded with OpenCV from
bytes read by numpy, so non-ASCII paths work:

* 8-bit: exactly ``cv2.imread(path, cv2.IMREAD_COLOR)`` then BGR->RGB, the reference
  implementation's reading (alpha dropped, grey replicated, EXIF orientation applied).
* deeper (16-bit, float): ``IMREAD_COLOR | IMREAD_ANYDEPTH`` (same geometry and channel handling)
  then the min-max rule of :mod:`cephmark.io.intensity`.
* multi-page TIFF is rejected (not silently reduced to its first page).
* spacing is always None: PNG pHYs / TIFF resolution tags are not trusted as detector spacing.
* incomplete files (a JPEG without its end marker, a PNG without IEND, a TIFF or BMP whose pixel
  data lies past the end) and images over ``max_pixels`` (from the header, before decoding) are
  rejected: see :mod:`cephmark.io.integrity`.

DICOM goes to :mod:`cephmark.io.dicom`. Every failure to read raises :class:`ImageReadError`
(a ValueError) whose message starts with ``f"{path}: "``.
"""
from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from cephmark.io.integrity import (_BMP, _JPEG, _PNG, _TIFF, DEFAULT_MAX_PIXELS, check_pixel_limit,
                                   header_size, truncation_problem)
from cephmark.io.intensity import minmax_to_uint8
from cephmark.io.types import CephImage, ImageReadError
from cephmark.util import DICOM_EXTENSIONS, IMAGE_EXTENSIONS

__all__ = ["CephImage", "ImageReadError", "read_image", "image_size", "is_dicom", "list_images",
           "IMAGE_EXTENSIONS", "DICOM_EXTENSIONS"]

_MAGIC = (_PNG, _JPEG, _BMP) + _TIFF


def _head(path: Path, n: int = 132) -> bytes:
    with open(path, "rb") as f:
        return f.read(n)


def is_dicom(path: str | Path) -> bool:
    """True for 'DICM' at byte 128, else False for a PNG/JPEG/BMP/TIFF signature, else True for a
    .dcm/.dicom name or a (preamble-less) file pydicom parses into DICOM image attributes."""
    p = Path(path)
    if not p.is_file():
        return False
    try:
        head = _head(p)
    except OSError:
        return False
    if head[128:132] == b"DICM":
        return True
    if head.startswith(_MAGIC):
        return False
    if p.suffix.lower() in DICOM_EXTENSIONS:
        return True  # even if unparsable: read_image then reports a DICOM error
    if len(head) < 8:
        return False
    from cephmark.io.dicom import read_dataset  # pydicom only when needed

    try:
        read_dataset(p, stop_before_pixels=True)
    except ImageReadError:
        return False
    return True


def _tiff_pages(data: np.ndarray) -> int:
    import tifffile

    with tifffile.TiffFile(io.BytesIO(data.tobytes())) as tif:
        return len(tif.pages)


def _deep_bgr(data: np.ndarray, probe: np.ndarray) -> np.ndarray:
    """3-channel BGR at native depth: IMREAD_COLOR | IMREAD_ANYDEPTH (as the 8-bit path), or,
    where OpenCV refuses that (e.g. float TIFF), the same channel rules applied to `probe`."""
    if probe.dtype.kind != "f":  # OpenCV cannot convert float TIFF channels itself
        try:
            bgr = cv2.imdecode(data, cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH)
        except cv2.error:
            bgr = None
        if bgr is not None:
            return bgr
    if probe.ndim == 2:
        probe = probe[:, :, None]
    if probe.shape[2] <= 2:  # grey, grey + alpha
        return np.repeat(probe[:, :, :1], 3, axis=2)
    return probe[:, :, :3]  # BGR, BGRA


def _check_bytes(path: Path, data: np.ndarray, max_pixels: int | None) -> None:
    """Completeness, then the pixel limit from the header (ImageReadError naming the problem)."""
    try:
        problem = truncation_problem(data)
    except Exception:  # a malformed structure: reported below by the TIFF reader or decoder
        problem = None
    size = None if problem else header_size(data)
    problem = problem or (check_pixel_limit(*size, max_pixels) if size else None)
    if problem:
        raise ImageReadError(f"{path}: {problem}")


def _read_ordinary(path: Path, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except FileNotFoundError:
        raise ImageReadError(f"{path}: file not found") from None
    except OSError as exc:
        raise ImageReadError(f"{path}: cannot read file ({exc})") from exc
    if data.size == 0:
        raise ImageReadError(f"{path}: empty file")
    _check_bytes(path, data, max_pixels)
    head = data[:8].tobytes()
    if head.startswith(_TIFF):
        try:
            pages = _tiff_pages(data)
        except Exception as exc:
            raise ImageReadError(f"{path}: corrupt or unsupported TIFF ({exc})") from exc
        if pages > 1:
            raise ImageReadError(f"{path}: multi-page TIFF is not supported ({pages} pages)")
    try:
        probe = None
        eight_bit = head.startswith((_JPEG, _BMP)) or (head.startswith(_PNG) and data.size > 24 and data[24] < 16)
        if not eight_bit:  # TIFF, 16-bit PNG, anything else: decode once to learn the depth
            probe = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
            if probe is None:
                raise ImageReadError(f"{path}: not a readable image (PNG, JPEG, BMP, TIFF) or DICOM file")
        if probe is None or probe.dtype == np.uint8:
            bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)
        else:
            bgr = _deep_bgr(data, probe)
    except cv2.error as exc:
        raise ImageReadError(f"{path}: cannot decode image ({exc})") from exc
    if bgr is None:
        raise ImageReadError(f"{path}: not a readable image (PNG, JPEG, BMP, TIFF) or DICOM file")
    if bgr.size == 0:
        raise ImageReadError(f"{path}: zero-size image")
    if bgr.dtype != np.uint8:
        bgr = minmax_to_uint8(bgr)
    return np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


def read_image(path: str | Path, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> CephImage:
    """Read a DICOM or ordinary image file as a :class:`CephImage` (ImageReadError on failure).

    ``max_pixels``: refuse images with more pixels (width x height, from the header) before
    decoding them; None or 0 = no limit.
    """
    p = Path(path)
    if not p.exists():
        if p.is_symlink():
            raise ImageReadError(f"{path}: broken symbolic link (its target {os.readlink(p)} does not exist)")
        raise ImageReadError(f"{path}: file not found")
    if p.is_dir():
        raise ImageReadError(f"{path}: is a directory, not an image file")
    if is_dicom(p):
        from cephmark.io.dicom import read_dicom

        return read_dicom(path, max_pixels=max_pixels)
    return CephImage(pixels=_read_ordinary(p, max_pixels), path=str(path))


def _exif_swaps(path: Path, img: "object") -> bool:
    """True if EXIF orientation (applied by OpenCV) transposes the image (values 5-8)."""
    if getattr(img, "format", None) == "PNG" and b"eXIf" not in path.read_bytes():
        return False  # PIL would decode the whole PNG looking for a late eXIf chunk
    try:
        return img.getexif().get(0x0112) in (5, 6, 7, 8)  # type: ignore[attr-defined]
    except Exception:
        return False


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) as :func:`read_image` would return, without decoding pixels if possible."""
    p = Path(path)
    if not p.is_file():
        raise ImageReadError(f"{path}: file not found")
    if is_dicom(p):
        from cephmark.io.dicom import dicom_size

        return dicom_size(path)
    try:
        from PIL import Image

        with Image.open(p) as img:
            w, h = img.size
            swap = _exif_swaps(p, img)
        if w > 0 and h > 0:
            return (h, w) if swap else (w, h)
    except Exception:
        pass  # PIL cannot tell: fall back to a full read (which raises a clear error if needed)
    im = read_image(path)
    return im.width, im.height


def _is_candidate(path: Path) -> bool:
    suffix = path.suffix.lower()
    if suffix in IMAGE_EXTENSIONS:
        return True
    # no extension, or a numeric one as in UID-named DICOM files ("1.2.840.113619.2.55.3")
    return (suffix == "" or suffix[1:].isdigit()) and is_dicom(path)


def list_images(inputs: Sequence[str | Path]) -> list[Path]:
    """Files as given, folders expanded recursively (sorted) to image/DICOM files.

    Missing inputs raise FileNotFoundError naming the path. Broken symbolic links with an image
    extension are listed (reading them fails, naming the link), not skipped silently.
    """
    if isinstance(inputs, (str, Path)):
        inputs = [inputs]
    out: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = [Path(root) / name for root, _, names in os.walk(p) for name in names]
            out.extend(f for f in sorted(found) if (f.is_file() and _is_candidate(f))
                       or (f.is_symlink() and not f.exists() and f.suffix.lower() in IMAGE_EXTENSIONS))
        elif p.exists():
            out.append(p)
        else:
            raise FileNotFoundError(f"{item}: no such file or directory")
    return out
