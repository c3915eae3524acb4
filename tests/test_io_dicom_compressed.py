"""Compressed and colour DICOM: pydicom's bundled test files and a DX compressed with dcmtk.

The DX fixture is a 12-bit crop of the bundled sample written with pydicom; dcmtk (Debian
package dcmtk, scripts/install_pacs_tools.sh) re-encodes it in each transfer syntax, and a
lossless syntax must read back to exactly the pixels of the uncompressed file.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_io_dicom import grey, write_dicom  # noqa: E402

from cephmark.io import ImageReadError, read_image  # noqa: E402

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "isbi_153_half.dcm"


def _bundled(name: str) -> str:
    path = get_testdata_file(name)
    assert path, f"{name} is not in pydicom's bundled test files"
    return path


def _luma(rgb: np.ndarray) -> np.ndarray:
    return np.rint(rgb.astype(np.float64) @ [0.299, 0.587, 0.114]).astype(int)


# pydicom's own files, one per syntax; the lossless ones must equal their uncompressed twin
@pytest.mark.parametrize("name, twin, ts", [
    ("MR_small_implicit.dcm", "MR_small.dcm", "1.2.840.10008.1.2"),
    ("MR_small_bigendian.dcm", "MR_small.dcm", "1.2.840.10008.1.2.2"),
    ("MR_small_jpeg_ls_lossless.dcm", "MR_small.dcm", "1.2.840.10008.1.2.4.80"),
    ("MR_small_jp2klossless.dcm", "MR_small.dcm", "1.2.840.10008.1.2.4.90"),
    ("MR_small_RLE.dcm", "MR_small.dcm", "1.2.840.10008.1.2.5"),
    ("JPGExtended.dcm", None, "1.2.840.10008.1.2.4.51"),  # 12-bit JPEG Extended
    ("JPEG2000.dcm", None, "1.2.840.10008.1.2.4.91"),
    ("image_dfl.dcm", None, "1.2.840.10008.1.2.1.99"),  # deflate
])
def test_pydicom_bundled_grey(name, twin, ts):
    path = _bundled(name)
    assert pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID == ts
    img = read_image(path)
    g = grey(img)
    assert g.std() > 10  # a picture, not a constant
    if twin:
        assert np.array_equal(g, grey(read_image(_bundled(twin))))


# colour: every file shows the same test card; its luma must match the RGB original's
@pytest.mark.parametrize("name, tol", [
    ("SC_rgb_jpeg_gdcm.dcm", 0),  # JPEG Lossless SV1, RGB
    ("SC_rgb_gdcm_KY.dcm", 0),  # JPEG 2000, RGB
    ("SC_ybr_full_422_uncompressed.dcm", 1),  # YBR_FULL_422: the Y component
    ("SC_rgb_dcmtk_+eb+cy+s2.dcm", 2),  # JPEG baseline, YBR_FULL_422 (lossy)
    ("SC_rgb_dcmtk_+eb+cr.dcm", 2),  # JPEG baseline, RGB (lossy)
    ("GDCMJ2K_TextGBR.dcm", None),  # JPEG 2000 YBR_RCT (another picture)
])
def test_pydicom_bundled_colour_to_luma(name, tol):
    ref = pydicom.dcmread(_bundled("SC_rgb_rle.dcm")).pixel_array  # RLE, RGB, uncompressed twin
    img = read_image(_bundled(name))
    g = grey(img)
    if tol is None:
        assert g.std() > 0
        return
    assert np.abs(g - _luma(ref)).max() <= tol
    assert g[5, 50] == pytest.approx(76, abs=tol)  # pure red: 0.299 * 255


def test_unsupported_colour_space_named(tmp_path):
    p = write_dicom(tmp_path / "p.dcm", np.zeros((4, 6, 3), np.uint8), bits_allocated=8,
                    photometric="YBR_PARTIAL_420", samples=3)
    with pytest.raises(ImageReadError, match=r"p\.dcm: colour DICOM is not supported .*YBR_PARTIAL_420"):
        read_image(p)


def test_corrupt_codestream_names_file_and_syntax(tmp_path):
    from pydicom.encaps import decode_data_sequence, encapsulate

    src = pydicom.dcmread(_bundled("JPGExtended.dcm"))
    src.PixelData = encapsulate([decode_data_sequence(src.PixelData)[0][:20]])  # cut in the header
    p = tmp_path / "broken.dcm"
    src.save_as(str(p))
    with pytest.raises(ImageReadError, match=r"broken\.dcm: cannot decode pixel data \(JPEG Extended"):
        read_image(p)


# ---- a DX compressed with dcmtk ----------------------------------------------------------------

needs_dcmtk = pytest.mark.skipif(shutil.which("dcmcjpeg") is None,
                                 reason="dcmtk is not installed (scripts/install_pacs_tools.sh)")


@pytest.fixture(scope="module")
def dx12(tmp_path_factory) -> Path:
    """A 12-bit DX (MONOCHROME2, PixelSpacing 0.2 mm) cropped from the bundled sample."""
    sample = read_image(SAMPLE)
    crop = sample.pixels[300:556, 200:520, 0].astype(np.uint16) * 16 + 7  # 256 x 320, 7..4087
    return write_dicom(tmp_path_factory.mktemp("dx") / "dx12.dcm", crop, bits_stored=12,
                       PixelSpacing=[0.2, 0.2], StudyInstanceUID=pydicom.uid.generate_uid(),
                       SeriesInstanceUID=pydicom.uid.generate_uid())


def _dcmtk(args: list[str], src: Path, dst: Path) -> Path:
    subprocess.run([*args, str(src), str(dst)], check=True, capture_output=True, text=True)
    return dst


@needs_dcmtk
@pytest.mark.parametrize("tool, ts", [
    (["dcmcjpeg", "+e1"], "1.2.840.10008.1.2.4.70"),  # JPEG Lossless, process 14, SV1
    (["dcmcjpeg", "+el", "+sv", "6"], "1.2.840.10008.1.2.4.57"),  # JPEG Lossless, process 14
    (["dcmcjpls", "+el"], "1.2.840.10008.1.2.4.80"),  # JPEG-LS lossless
    (["dcmcrle"], "1.2.840.10008.1.2.5"),  # RLE
    (["dcmconv", "+td"], "1.2.840.10008.1.2.1.99"),  # deflate
])
def test_dcmtk_lossless_dx_reads_identical(dx12, tmp_path, tool, ts):
    out = _dcmtk(tool, dx12, tmp_path / "c.dcm")
    assert str(pydicom.dcmread(out, stop_before_pixels=True).file_meta.TransferSyntaxUID) == ts
    ref, img = read_image(dx12), read_image(out)
    assert np.array_equal(img.pixels, ref.pixels)
    assert img.spacing_xy_mm == (0.2, 0.2)


@needs_dcmtk
def test_dcmtk_jpeg_extended_12bit_dx(dx12, tmp_path):
    out = _dcmtk(["dcmcjpeg", "+ee", "+q", "95"], dx12, tmp_path / "e.dcm")
    ds = pydicom.dcmread(out, stop_before_pixels=True)
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.51" and ds.BitsStored == 12
    diff = np.abs(grey(read_image(out)) - grey(read_image(dx12)))
    assert diff.mean() < 1.0 and diff.max() <= 12  # lossy, but the same picture


def test_jpeg2000_dx_via_openjpeg(dx12, tmp_path):
    """JPEG 2000 lossless written with pylibjpeg-openjpeg's encoder (dcmtk has no J2K codec)."""
    from openjpeg import encode_pixel_data
    from pydicom.encaps import encapsulate

    ds = pydicom.dcmread(dx12)
    code = encode_pixel_data(ds.PixelData, rows=ds.Rows, columns=ds.Columns, samples_per_pixel=1,
                             bits_stored=12, pixel_representation=0, photometric_interpretation="MONOCHROME2")
    ds.PixelData = encapsulate([code])
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.90"
    ds["PixelData"].is_undefined_length = True
    ds.is_implicit_VR, ds.is_little_endian = False, True
    out = tmp_path / "j2k.dcm"
    ds.save_as(str(out))
    assert np.array_equal(read_image(out).pixels, read_image(dx12).pixels)
