"""DICOM input: pixel pipeline (bits, rescale, window, MONOCHROME1), spacing tags, rejections.

Every file is written by the test with pydicom; expected uint8 values are worked out by hand.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from cephmark.io import CephImage, ImageReadError, image_size, is_dicom, list_images, read_image

DX = "1.2.840.10008.5.1.4.1.1.1.1"  # Digital X-Ray Image Storage - For Presentation

# 4x5 8-bit ramp; min 20, max 105 -> min-max gives (v - 20) * 3 exactly
RAMP8 = np.array([[20, 21, 22, 23, 24], [30, 40, 50, 60, 70], [80, 90, 100, 104, 105], [25, 26, 27, 28, 29]])
RAMP8_OUT = np.array([[0, 3, 6, 9, 12], [30, 60, 90, 120, 150], [180, 210, 240, 252, 255], [15, 18, 21, 24, 27]])
# 4x5 12-bit ramp: 273 * k, min 0, max 4095 = 273 * 15 -> 17 * k, and a few values that round
K12 = np.array([[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [10, 11, 12, 13, 14], [15, 15, 15, 15, 15]])
RAMP12 = 273 * K12
RAMP12[3, 1:4] = [1000, 2048, 100]  # 1000*255/4095 = 62.27 -> 62; 2048 -> 127.53 -> 128; 100 -> 6.23 -> 6
RAMP12_OUT = 17 * K12
RAMP12_OUT[3, 1:4] = [62, 128, 6]


def write_dicom(path: Path, pixels: np.ndarray, *, bits_allocated: int = 16, bits_stored: int | None = None,
                photometric: str = "MONOCHROME2", signed: bool = False, samples: int = 1,
                preamble: bool = True, **tags) -> Path:
    """Write a DX DICOM file (explicit VR little endian) holding `pixels` as stored values."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = tags.pop("SOPClassUID", DX)
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "DX"
    ds.PatientName = "Test^Ceph"
    if pixels is not None:
        ds.Rows, ds.Columns = pixels.shape[-3:-1] if samples > 1 else pixels.shape[-2:]
        ds.SamplesPerPixel = samples
        ds.PhotometricInterpretation = photometric
        ds.BitsAllocated = bits_allocated
        ds.BitsStored = bits_stored or bits_allocated
        ds.HighBit = ds.BitsStored - 1
        ds.PixelRepresentation = int(signed)
        if samples > 1:
            ds.PlanarConfiguration = 0
        dtype = {8: np.uint8, 16: np.uint16}[bits_allocated]
        if signed:
            dtype = {8: np.int8, 16: np.int16}[bits_allocated]
        ds.PixelData = np.ascontiguousarray(pixels.astype(dtype)).tobytes()
    for key, value in tags.items():
        setattr(ds, key, value)
    ds.is_little_endian, ds.is_implicit_VR = True, False
    ds.save_as(str(path), write_like_original=False)
    if not preamble:  # strip the 128-byte preamble and 'DICM'
        path.write_bytes(path.read_bytes()[132:])
    return path


def grey(img: CephImage) -> np.ndarray:
    """The single grey channel, after checking the RGB contract."""
    assert img.pixels.dtype == np.uint8 and img.pixels.ndim == 3 and img.pixels.shape[2] == 3
    assert img.pixels.flags.c_contiguous
    assert np.array_equal(img.pixels[..., 0], img.pixels[..., 1])
    assert np.array_equal(img.pixels[..., 0], img.pixels[..., 2])
    return img.pixels[..., 0].astype(int)


@pytest.mark.parametrize("photometric", ["MONOCHROME2", "MONOCHROME1"])
def test_8bit_minmax(tmp_path, photometric):
    p = write_dicom(tmp_path / "a.dcm", RAMP8, bits_allocated=8, photometric=photometric)
    img = read_image(p)
    expected = RAMP8_OUT if photometric == "MONOCHROME2" else 255 - RAMP8_OUT
    assert np.array_equal(grey(img), expected)
    assert (img.width, img.height) == (5, 4) == image_size(p)
    assert img.path == str(p) and img.spacing_xy_mm is None and img.spacing_source is None


@pytest.mark.parametrize("photometric", ["MONOCHROME2", "MONOCHROME1"])
def test_16bit_stored16_minmax(tmp_path, photometric):
    k = np.array([[0, 1, 2, 3, 4], [10, 20, 30, 40, 50], [100, 128, 200, 254, 255], [7, 7, 7, 7, 7]])
    p = write_dicom(tmp_path / "b.dcm", 257 * k, bits_stored=16, photometric=photometric)
    expected = k if photometric == "MONOCHROME2" else 255 - k
    assert np.array_equal(grey(read_image(p)), expected)


def test_16bit_stored12_masks_high_bits(tmp_path):
    stored = RAMP12.copy()
    stored[0, :3] |= 0xF000  # garbage above BitsStored must be ignored (else min-max is ruined)
    p = write_dicom(tmp_path / "c.dcm", stored, bits_stored=12)
    assert np.array_equal(grey(read_image(p)), RAMP12_OUT)


def test_16bit_signed_stored12(tmp_path):
    # signed 12-bit, sign-extended correctly in the file for some pixels and not for others
    values = np.array([[-2048, -1, 0], [2047, 100, -100]])
    stored = values.copy()
    stored[0, 0] = -2048 & 0x0FFF  # 0x800: the same 12-bit pattern without sign extension
    p = write_dicom(tmp_path / "s.dcm", stored, bits_stored=12, signed=True)
    # min -2048, max 2047: (v + 2048) * 255 / 4095
    expected = [[0, 127, 128], [255, 134, 121]]  # 127.47, 127.53, 133.76, 121.30
    assert np.array_equal(grey(read_image(p)), expected)


def test_rescale_negative_slope_inverts(tmp_path):
    # min-max is unchanged by a positive slope, and reversed by a negative one
    p1 = write_dicom(tmp_path / "pos.dcm", RAMP12, bits_stored=12, RescaleSlope=2, RescaleIntercept=-1000)
    p2 = write_dicom(tmp_path / "neg.dcm", RAMP12, bits_stored=12, RescaleSlope=-1, RescaleIntercept=4095)
    assert np.array_equal(grey(read_image(p1)), RAMP12_OUT)
    assert np.array_equal(grey(read_image(p2)), 255 - RAMP12_OUT)


@pytest.mark.parametrize("photometric", ["MONOCHROME2", "MONOCHROME1"])
def test_window_without_rescale(tmp_path, photometric):
    # LINEAR window c=2048, w=4096 over 16-bit output range 0..65535: out = x * 255 / 4095,
    # NOT a min-max of the actual values (which span 273*3 .. 273*12 only)
    k = np.array([[3, 4, 5, 6, 7], [8, 9, 10, 11, 12], [3, 3, 3, 3, 3], [12, 12, 12, 12, 12]])
    p = write_dicom(tmp_path / "w.dcm", 273 * k, bits_stored=16, photometric=photometric,
                    WindowCenter=2048, WindowWidth=4096)
    expected = 17 * k if photometric == "MONOCHROME2" else 255 - 17 * k
    assert np.array_equal(grey(read_image(p)), expected)


def test_window_after_rescale(tmp_path):
    # m = 2x - 1000; window c=1000.5, w=1021 (in rescaled units): out = (m - 1000) / 4 + 127.5,
    # 0 for m <= 490, 255 for m > 1510
    x = np.array([[0, 745, 751, 1001, 1101], [1251, 1255, 1300, 4095, 747]])
    p = write_dicom(tmp_path / "wr.dcm", x, bits_stored=12, RescaleSlope=2, RescaleIntercept=-1000,
                    WindowCenter=1000.5, WindowWidth=1021)
    # m:  -1000, 490, 502, 1002, 1202 | 1502, 1510, 1600, 7190, 494
    assert np.array_equal(grey(read_image(p)), [[0, 0, 3, 128, 178], [253, 255, 255, 255, 1]])


def test_multiple_windows_first_used(tmp_path):
    k = np.array([[0, 5, 10, 15]])
    p = write_dicom(tmp_path / "w2.dcm", 273 * k, bits_stored=12,
                    WindowCenter=[2048, 100], WindowWidth=[4096, 50])
    # first window over the 12-bit range 0..4095: ((x - 2047.5) / 4095 + 0.5) * 255 = x * 255 / 4095
    assert np.array_equal(grey(read_image(p)), 17 * k)


def test_voi_lut_sequence(tmp_path):
    item = Dataset()
    item.add_new(0x00283002, "US", [4, 0, 12])  # LUTDescriptor: 4 entries, first 0, 12 bits
    item.add_new(0x00283006, "US", [0, 1365, 2730, 4095])  # LUTData
    p = write_dicom(tmp_path / "lut.dcm", np.array([[0, 1, 2, 3, 9]]), bits_stored=12)
    ds = pydicom.dcmread(p)
    ds.VOILUTSequence = [item]
    ds.save_as(str(p))
    # 12-bit LUT output 0..4095 -> 0..255; 9 is past the table -> last entry
    assert np.array_equal(grey(read_image(p)), [[0, 85, 170, 255, 255]])


def test_constant_image_is_zero(tmp_path):
    p = write_dicom(tmp_path / "k.dcm", np.full((3, 4), 1234), bits_stored=16)
    assert np.array_equal(grey(read_image(p)), np.zeros((3, 4)))


BOTH = [0.1, 0.2]  # DICOM order: row (y) spacing, column (x) spacing


@pytest.mark.parametrize("tags, expected, source", [
    ({"PixelSpacing": BOTH, "ImagerPixelSpacing": [0.3, 0.3], "NominalScannedPixelSpacing": [0.5, 0.5]},
     (0.2, 0.1), "PixelSpacing"),
    ({"ImagerPixelSpacing": BOTH, "NominalScannedPixelSpacing": [0.5, 0.5]}, (0.2, 0.1), "ImagerPixelSpacing"),
    ({"NominalScannedPixelSpacing": BOTH}, (0.2, 0.1), "NominalScannedPixelSpacing"),
    ({}, None, None),
    ({"PixelSpacing": [0, 0.1], "ImagerPixelSpacing": [0.15, 0.15]}, (0.15, 0.15), "ImagerPixelSpacing"),
    ({"PixelSpacing": [-0.1, -0.1]}, None, None),
])
def test_spacing_tags(tmp_path, tags, expected, source):
    p = write_dicom(tmp_path / "sp.dcm", RAMP8, bits_allocated=8, **tags)
    img = read_image(p)
    assert img.spacing_xy_mm == pytest.approx(expected) if expected else img.spacing_xy_mm is None
    assert img.spacing_source == source
    assert img.spacing_mm == (pytest.approx(sum(expected) / 2) if expected else None)


def test_non_numeric_spacing_is_absent(tmp_path):
    p = write_dicom(tmp_path / "bad.dcm", RAMP8, bits_allocated=8, PixelSpacing=[9.9, 9.9],
                    ImagerPixelSpacing=[0.125, 0.125])
    raw = p.read_bytes()
    assert raw.count(b"9.9\\9.9") == 1
    p.write_bytes(raw.replace(b"9.9\\9.9", b"abc\\x.y"))
    img = read_image(p)
    assert img.spacing_xy_mm == (0.125, 0.125) and img.spacing_source == "ImagerPixelSpacing"


def test_preambleless_extensionless_dicom(tmp_path):
    p = write_dicom(tmp_path / "IM0001", RAMP8, bits_allocated=8, preamble=False, PixelSpacing=BOTH)
    assert p.read_bytes()[128:132] != b"DICM"
    assert is_dicom(p)
    img = read_image(p)
    assert np.array_equal(grey(img), RAMP8_OUT) and img.spacing_source == "PixelSpacing"
    assert image_size(p) == (5, 4)
    assert list_images([tmp_path]) == [p]


def _raises(path: Path, *words: str) -> str:
    with pytest.raises(ImageReadError) as info:
        read_image(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: "), msg
    for w in words:
        assert w in msg, msg
    return msg


def test_truncated_dicom(tmp_path):
    p = write_dicom(tmp_path / "t.dcm", RAMP12, bits_stored=12)
    p.write_bytes(p.read_bytes()[:-17])  # cut into the pixel data
    _raises(p)


@pytest.mark.parametrize("name", ["g.dcm", "g"])
def test_garbage_bytes(tmp_path, name):
    p = tmp_path / name
    p.write_bytes(bytes(range(256)) * 3)
    _raises(p)


def test_multiframe_rejected(tmp_path):
    p = write_dicom(tmp_path / "mf.dcm", np.stack([RAMP8, RAMP8]), bits_allocated=8, NumberOfFrames=2)
    _raises(p, "multi-frame DICOM is not supported")


def test_rgb_read_as_bt601_luma(tmp_path):
    rgb = np.zeros((4, 5, 3), np.uint8)
    rgb[0, 0], rgb[0, 1], rgb[0, 2], rgb[1, 0], rgb[1, 1] = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255,) * 3, (10, 20, 30)
    p = write_dicom(tmp_path / "rgb.dcm", rgb, bits_allocated=8, photometric="RGB", samples=3)
    g = grey(read_image(p))
    # 0.299 R + 0.587 G + 0.114 B, rounded: 76.245, 149.685, 29.07, 255, 18.15
    assert [g[0, 0], g[0, 1], g[0, 2], g[1, 0], g[1, 1], g[3, 4]] == [76, 150, 29, 255, 18, 0]


def test_colour_with_one_sample_rejected(tmp_path):
    p = write_dicom(tmp_path / "rgb1.dcm", RAMP8, bits_allocated=8, photometric="RGB")
    _raises(p, "colour DICOM is not supported", "RGB", "SamplesPerPixel=1")


def test_no_pixel_data_rejected(tmp_path):
    p = write_dicom(tmp_path / "sr.dcm", None, SOPClassUID="1.2.840.10008.5.1.4.1.1.88.11")
    _raises(p, "no image data (SOP class 1.2.840.10008.5.1.4.1.1.88.11")


def test_zero_size_rejected(tmp_path):
    p = write_dicom(tmp_path / "z.dcm", np.zeros((0, 5)), bits_allocated=8)
    _raises(p, "zero-size")
