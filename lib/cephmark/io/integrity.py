"""Checks made on an image file's bytes before (and instead of trusting) the decoder.

* :func:`truncation_problem`: is the file complete? OpenCV's JPEG decoder fills a cut file with
  grey and says nothing, so the structure is checked: JPEG: an EOI marker after the last scan
  (SOS); PNG: the chunk chain reaches IEND; TIFF: every strip/tile lies inside the file; BMP:
  the pixel array (uncompressed) lies inside the file.
* :func:`header_size` / :func:`check_pixel_limit`: the image's width and height from its header
  (nothing decoded) against a limit, so a small file that decodes to gigabytes is refused
  before it is decoded.
"""
from __future__ import annotations

import io
import struct

import numpy as np

__all__ = ["DEFAULT_MAX_PIXELS", "truncation_problem", "header_size", "check_pixel_limit"]

# 64 megapixels (e.g. 8000 x 8000): 14 x an ISBI cephalogram (1935 x 2400 = 4.6 MP), 29 x the
# second unit's (1340 x 1671); an RGB copy at this size is 192 MB
DEFAULT_MAX_PIXELS = 64_000_000

_PNG, _JPEG, _BMP = b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"BM"
_TIFF = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")  # classic and BigTIFF


def _jpeg_problem(buf: bytes) -> str | None:
    # inside entropy-coded data 0xFF is always followed by 0x00 or a restart marker, so an
    # FF D9 after the last FF DA (start of scan) is the real end of image
    sos = buf.rfind(b"\xff\xda")
    if sos < 0:
        return "truncated JPEG (no image data: start-of-scan marker missing)"
    if buf.find(b"\xff\xd9", sos + 2) < 0:
        return "truncated JPEG (end-of-image marker missing after the last scan)"
    return None


def _png_problem(buf: bytes) -> str | None:
    pos, n = 8, len(buf)
    while pos + 8 <= n:
        length, kind = struct.unpack(">I4s", buf[pos:pos + 8])
        if not kind.isalpha() or (pos == 8 and kind != b"IHDR"):
            return None  # garbage, not a cut file: the decoder reports it
        end = pos + 12 + length  # length, type, data, CRC
        if end > n:
            return f"truncated PNG (chunk {kind.decode('latin-1')!r} runs past the end of the file)"
        if kind == b"IEND":
            return None
        pos = end
    return "truncated PNG (no IEND chunk)"


def _tiff_problem(buf: bytes) -> str | None:
    import tifffile

    if buf[2:4] in (b"*\x00", b"\x00*"):  # classic TIFF: where the first directory lies
        first = struct.unpack("<I" if buf[:2] == b"II" else ">I", buf[4:8])[0]
        if first + 2 > len(buf):
            return f"truncated TIFF (first image directory at byte {first}, file has {len(buf)})"
    with tifffile.TiffFile(io.BytesIO(buf)) as tif:
        for page in tif.pages:
            ends = [int(o) + int(c) for o, c in zip(page.dataoffsets, page.databytecounts)]
            if ends and max(ends) > len(buf):
                return f"truncated TIFF (image data ends at byte {max(ends)}, file has {len(buf)})"
    return None


def _bmp_problem(buf: bytes) -> str | None:
    if len(buf) < 34:
        return "truncated BMP (header incomplete)"
    offset = struct.unpack("<I", buf[10:14])[0]
    width, height, _, bpp, compression = struct.unpack("<iiHHI", buf[18:34])
    if compression not in (0, 3):  # RLE and embedded JPEG/PNG: the decoder checks
        return None
    need = offset + ((abs(width) * bpp + 31) // 32) * 4 * abs(height)
    if need > len(buf):
        return f"truncated BMP (pixel data needs {need} bytes, file has {len(buf)})"
    return None


def truncation_problem(data: bytes | np.ndarray) -> str | None:
    """A short description if the PNG/JPEG/TIFF/BMP bytes are incomplete, else None."""
    buf = data.tobytes() if isinstance(data, np.ndarray) else bytes(data)
    if buf.startswith(_JPEG):
        return _jpeg_problem(buf)
    if buf.startswith(_PNG):
        return _png_problem(buf)
    if buf.startswith(_TIFF):
        return _tiff_problem(buf)
    if buf.startswith(_BMP):
        return _bmp_problem(buf)
    return None


def _jpeg_size(buf: bytes) -> tuple[int, int] | None:
    pos = 2
    while pos + 9 <= len(buf):
        if buf[pos] != 0xFF:
            return None
        marker = buf[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        length = struct.unpack(">H", buf[pos + 2:pos + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # start of frame
            height, width = struct.unpack(">HH", buf[pos + 5:pos + 9])
            return width, height
        pos += 2 + length
    return None


def _tiff_size(buf: bytes) -> tuple[int, int] | None:
    import tifffile

    with tifffile.TiffFile(io.BytesIO(buf)) as tif:
        page = tif.pages[0]
        return int(page.imagewidth), int(page.imagelength)


def header_size(data: bytes | np.ndarray) -> tuple[int, int] | None:
    """(width, height) read from a PNG/JPEG/BMP/TIFF header (nothing decoded); None if unknown."""
    buf = data.tobytes() if isinstance(data, np.ndarray) else bytes(data)
    try:
        if buf.startswith(_PNG) and buf[12:16] == b"IHDR":
            return struct.unpack(">II", buf[16:24])
        if buf.startswith(_JPEG):
            return _jpeg_size(buf)
        if buf.startswith(_BMP):
            width, height = struct.unpack("<ii", buf[18:26])
            return abs(width), abs(height)
        if buf.startswith(_TIFF):
            return _tiff_size(buf)
    except Exception:  # malformed header: the decoder reports it
        return None
    return None


def check_pixel_limit(width: int, height: int, max_pixels: int | None) -> str | None:
    """A description if ``width * height`` exceeds ``max_pixels`` (None/<= 0: no limit)."""
    if max_pixels and max_pixels > 0 and width * height > max_pixels:
        return (f"image too large: {width} x {height} = {width * height / 1e6:.1f} megapixels, "
                f"limit {max_pixels / 1e6:g} megapixels (infer.max_pixels / --max-pixels)")
    return None
