"""Input integrity: cut files are errors (not grey-filled images), the pixel limit is checked
from the header before decoding, and the hostile files are made here."""
from __future__ import annotations

import struct
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from PIL import Image

from cephmark.io import ImageReadError, read_image
from cephmark.io.integrity import header_size, truncation_problem

rng = np.random.default_rng(0)
NOISE = (rng.random((240, 320)) * 255).astype(np.uint8)


def _cut(path: Path, fraction: float) -> Path:
    data = path.read_bytes()
    out = path.with_name(f"cut_{path.name}")
    out.write_bytes(data[:int(len(data) * fraction)])
    return out


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_header_only(path: Path, width: int, height: int) -> Path:
    """A structurally complete 8-bit grey PNG claiming width x height whose data (one row) is
    far too short: the decoder would need width x height bytes."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(bytes(width + 1), 1)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat)
                     + _png_chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("fraction", [0.5, 0.9, 0.995])
@pytest.mark.parametrize("progressive", [False, True], ids=["baseline", "progressive"])
def test_cut_jpeg_is_an_error(tmp_path, fraction, progressive):
    p = tmp_path / "ceph.jpg"
    Image.fromarray(NOISE).save(p, quality=90, progressive=progressive)
    assert read_image(p).pixels.shape == (240, 320, 3)  # the whole file reads
    cut = _cut(p, fraction)
    if not progressive:  # OpenCV alone decodes it, the missing part grey
        assert cv2.imdecode(np.fromfile(cut, np.uint8), cv2.IMREAD_COLOR) is not None
    with pytest.raises(ImageReadError, match=r"cut_ceph\.jpg: truncated JPEG"):
        read_image(cut)


def test_jpeg_with_exif_thumbnail_and_trailing_bytes(tmp_path):
    """The thumbnail's own end marker does not make a cut main image pass; bytes after the
    end marker (some devices append data) are accepted."""
    thumb = tmp_path / "thumb.jpg"
    Image.fromarray(NOISE[:40, :40]).save(thumb)
    exif = Image.Exif()
    exif[0x010F] = "cephmark test"
    p = tmp_path / "exif.jpg"
    Image.fromarray(NOISE).save(p, exif=exif.tobytes())
    data = p.read_bytes()
    # splice an APP1-like segment holding a complete JPEG (as an EXIF thumbnail does)
    t = thumb.read_bytes()
    seg = b"\xff\xe1" + struct.pack(">H", len(t) + 2) + t
    spliced = data[:2] + seg + data[2:]
    p.write_bytes(spliced)
    assert read_image(p).width == 320
    p.write_bytes(spliced[:len(spliced) * 3 // 4])
    with pytest.raises(ImageReadError, match="truncated JPEG"):
        read_image(p)
    p.write_bytes(spliced + b"\x00" * 64 + b"vendor trailer")
    assert read_image(p).width == 320


@pytest.mark.parametrize("fraction", [0.3, 0.99])
def test_cut_png_bmp_tiff_are_errors(tmp_path, fraction):
    cv2.imwrite(str(tmp_path / "a.png"), NOISE)
    cv2.imwrite(str(tmp_path / "a.bmp"), NOISE)
    cv2.imwrite(str(tmp_path / "a.tif"), NOISE)  # directory after the pixel data
    tifffile.imwrite(tmp_path / "b.tif", NOISE)  # directory before the pixel data
    for name, kind in [("a.png", "PNG"), ("a.bmp", "BMP"), ("a.tif", "TIFF"), ("b.tif", "TIFF")]:
        with pytest.raises(ImageReadError, match=rf"cut_{name}: truncated {kind}"):
            read_image(_cut(tmp_path / name, fraction))


def test_png_without_iend(tmp_path):
    p = tmp_path / "a.png"
    cv2.imwrite(str(p), NOISE)
    data = p.read_bytes()
    assert data[-8:-4] == b"IEND"
    p.write_bytes(data[:-12])
    with pytest.raises(ImageReadError, match="no IEND"):
        read_image(p)


def test_complete_files_have_no_problem(tmp_path):
    for ext in (".png", ".jpg", ".bmp", ".tif"):
        p = tmp_path / f"ok{ext}"
        cv2.imwrite(str(p), NOISE)
        assert truncation_problem(p.read_bytes()) is None
        assert header_size(p.read_bytes()) == (320, 240)


def test_pixel_limit_from_the_header_before_decoding(tmp_path):
    """875 KB PNG that decodes to 30000 x 30000 took 52 s at 6.5 GB: refused in milliseconds."""
    p = _png_header_only(tmp_path / "bomb.png", 30000, 30000)
    assert p.stat().st_size < 10_000
    t0 = time.perf_counter()
    with pytest.raises(ImageReadError, match=r"bomb\.png: image too large: 30000 x 30000 = 900\.0 megapixels"):
        read_image(p)
    assert time.perf_counter() - t0 < 2.0  # header only: a decode would take tens of seconds


def test_pixel_limit_is_configurable(tmp_path):
    p = tmp_path / "big.png"
    cv2.imwrite(str(p), np.zeros((2000, 1500), np.uint8))
    with pytest.raises(ImageReadError, match=r"1500 x 2000 = 3\.0 megapixels, limit 1 megapixels"):
        read_image(p, max_pixels=1_000_000)
    assert read_image(p, max_pixels=3_000_000).width == 1500
    assert read_image(p, max_pixels=0).width == 1500  # 0 / None: no limit


def test_pixel_limit_dicom(tmp_path):
    from test_cli_predict import write_dicom

    p = write_dicom(tmp_path / "a.dcm", np.zeros((1200, 1000), np.uint8))
    with pytest.raises(ImageReadError, match=r"a\.dcm: image too large: 1000 x 1200"):
        read_image(p, max_pixels=1_000_000)
    assert read_image(p).width == 1000


def test_cut_dicom_is_an_error(tmp_path):
    from test_cli_predict import write_dicom

    p = write_dicom(tmp_path / "a.dcm", NOISE)
    with pytest.raises(ImageReadError, match=r"cut_a\.dcm: cannot decode pixel data"):
        read_image(_cut(p, 0.8))


def test_dangling_symlinks_are_listed_and_fail_by_name(tmp_path):
    from cephmark.io import list_images

    cv2.imwrite(str(tmp_path / "a.png"), NOISE)
    (tmp_path / "b.png").symlink_to(tmp_path / "gone.png")
    (tmp_path / "notes.txt").symlink_to(tmp_path / "gone.txt")  # not an image name: not listed
    assert [p.name for p in list_images([tmp_path])] == ["a.png", "b.png"]
    with pytest.raises(ImageReadError, match=r"b\.png: broken symbolic link \(its target .*gone\.png"):
        read_image(tmp_path / "b.png")
