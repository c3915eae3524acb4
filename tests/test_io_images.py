"""Ordinary image input (PNG, JPEG, BMP, TIFF), reference parity, errors, list_images."""
from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from PIL import Image

from cephmark.io import CephImage, ImageReadError, image_size, is_dicom, list_images, read_image
from cephmark.io.intensity import minmax_to_uint8, range_to_uint8
from conftest import ISBI_001, REFERENCE

GREY_PNG = REFERENCE / "tiny_j2_384" / "input_150_gray.png"

# a 2x3 RGB image with distinct channels: channel order mistakes cannot pass
RGB = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255]],
                [[10, 20, 30], [200, 100, 50], [0, 0, 0]]], dtype=np.uint8)


def check_contract(img: CephImage) -> None:
    assert isinstance(img, CephImage)
    p = img.pixels
    assert p.dtype == np.uint8 and p.ndim == 3 and p.shape[2] == 3 and p.flags.c_contiguous
    assert (img.width, img.height) == (p.shape[1], p.shape[0])
    assert img.spacing_xy_mm is None and img.spacing_source is None and img.spacing_mm is None


def cv2_reference(path: Path) -> np.ndarray:
    """How the reference implementation read images."""
    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


@pytest.mark.parametrize("path", [ISBI_001, GREY_PNG], ids=["isbi_jpg", "grey_png"])
def test_reference_parity(path):
    if not path.exists():
        pytest.skip(f"{path} not available")
    img = read_image(path)
    check_contract(img)
    assert np.array_equal(img.pixels, cv2_reference(path))
    assert image_size(path) == (img.width, img.height)
    assert img.path == str(path)


def test_grey_png_three_equal_channels():
    if not GREY_PNG.exists():
        pytest.skip(f"{GREY_PNG} not available")
    px = read_image(GREY_PNG).pixels
    assert np.array_equal(px[..., 0], px[..., 1]) and np.array_equal(px[..., 0], px[..., 2])
    assert np.array_equal(px[..., 0], cv2.imread(str(GREY_PNG), cv2.IMREAD_GRAYSCALE))


@pytest.mark.parametrize("ext", [".png", ".bmp", ".tif"])
def test_rgb_channel_order(tmp_path, ext):
    p = tmp_path / f"rgb{ext}"
    Image.fromarray(RGB, "RGB").save(p)  # PIL writes RGB as RGB
    img = read_image(p)
    check_contract(img)
    assert np.array_equal(img.pixels, RGB)
    assert image_size(p) == (3, 2)


def test_rgba_png_drops_alpha(tmp_path):
    p = tmp_path / "rgba.png"
    alpha = np.array([[0, 128, 255], [255, 7, 0]], np.uint8)
    Image.fromarray(np.dstack([RGB, alpha]), "RGBA").save(p)
    img = read_image(p)
    check_contract(img)
    assert np.array_equal(img.pixels, RGB)  # colour kept as stored, not blended with alpha


def test_grey_and_grey_alpha_png(tmp_path):
    g = np.array([[0, 1, 2], [100, 200, 255]], np.uint8)
    Image.fromarray(g, "L").save(tmp_path / "l.png")
    Image.fromarray(np.dstack([g, 255 - g]), "LA").save(tmp_path / "la.png")
    for name in ("l.png", "la.png"):
        img = read_image(tmp_path / name)
        check_contract(img)
        assert np.array_equal(img.pixels, np.dstack([g, g, g])), name


def test_jpeg_parity_grey_and_colour(tmp_path):
    rng = np.random.default_rng(0)
    colour = rng.integers(0, 256, (16, 24, 3), dtype=np.uint8)
    grey_img = rng.integers(0, 256, (16, 24), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "c.jpg"), colour)
    cv2.imwrite(str(tmp_path / "g.jpeg"), grey_img)
    for name in ("c.jpg", "g.jpeg"):
        img = read_image(tmp_path / name)
        check_contract(img)
        assert np.array_equal(img.pixels, cv2_reference(tmp_path / name)), name


def test_jpeg_exif_orientation_matches_cv2_and_image_size(tmp_path):
    p = tmp_path / "rot.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees: OpenCV's IMREAD_COLOR applies it
    Image.fromarray(np.zeros((10, 30, 3), np.uint8)).save(p, exif=exif)
    img = read_image(p)
    assert img.pixels.shape == (30, 10, 3)
    assert np.array_equal(img.pixels, cv2_reference(p))
    assert image_size(p) == (10, 30)


def test_png16_grey_minmax(tmp_path):
    # min 1000, max 1000 + 100 * 255: out = (v - 1000) / 100, rounded
    k = np.array([[0, 1, 2, 128], [255, 0.4, 1.6, 254.6]])
    values = (1000 + 100 * k).round().astype(np.uint16)
    p = tmp_path / "g16.png"
    assert cv2.imwrite(str(p), values)
    img = read_image(p)
    check_contract(img)
    assert np.array_equal(img.pixels[..., 0], [[0, 1, 2, 128], [255, 0, 2, 255]])
    assert np.array_equal(img.pixels[..., 0], img.pixels[..., 2])


def test_png16_rgb_joint_stretch_and_order(tmp_path):
    rgb16 = np.array([[[257 * 10, 257 * 200, 257 * 255], [0, 0, 0]]], np.uint16)  # R, G, B
    p = tmp_path / "c16.png"
    assert cv2.imwrite(str(p), rgb16[..., ::-1].copy())  # cv2 writes BGR
    img = read_image(p)
    check_contract(img)
    assert img.pixels.tolist() == [[[10, 200, 255], [0, 0, 0]]]  # one min/max for all channels


def test_tiff16_and_float_tiff(tmp_path):
    k = np.array([[0, 17, 34], [85, 170, 255]])
    tifffile.imwrite(tmp_path / "g16.tiff", (257 * k).astype(np.uint16))
    tifffile.imwrite(tmp_path / "f32.tif", (k / 255.0 * 3.5 - 1.0).astype(np.float32))
    for name in ("g16.tiff", "f32.tif"):
        img = read_image(tmp_path / name)
        check_contract(img)
        assert np.array_equal(img.pixels, np.dstack([k, k, k])), name
        assert image_size(tmp_path / name) == (3, 2)


def test_multipage_tiff_rejected(tmp_path):
    p = tmp_path / "two.tif"
    with tifffile.TiffWriter(p) as tw:
        tw.write(np.zeros((4, 5), np.uint8))
        tw.write(np.ones((4, 5), np.uint8))
    with pytest.raises(ImageReadError, match="multi-page TIFF is not supported") as info:
        read_image(p)
    assert str(info.value).startswith(f"{p}: ")


def test_dispatch_on_content_not_name(tmp_path):
    p = tmp_path / "really_a_png.dcm"
    Image.fromarray(RGB, "RGB").save(p, format="PNG")
    assert not is_dicom(p)
    assert np.array_equal(read_image(p).pixels, RGB)
    assert image_size(p) == (3, 2)


def test_non_ascii_path(tmp_path):
    p = tmp_path / "Schädel_頭部 x.png"
    Image.fromarray(RGB, "RGB").save(p)
    assert np.array_equal(read_image(p).pixels, RGB)
    assert read_image(str(p)).path == str(p)


def _raises(path: Path, *words: str) -> None:
    with pytest.raises(ImageReadError) as info:
        read_image(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: "), msg
    assert isinstance(info.value, ValueError)
    for w in words:
        assert w in msg, msg


def test_corrupt_png(tmp_path):
    good = io.BytesIO()
    Image.fromarray((np.arange(64 * 64) % 251).reshape(64, 64).astype(np.uint8)).save(good, "PNG")
    data = good.getvalue()
    p = tmp_path / "corrupt.png"
    p.write_bytes(data[:40] + bytes(200) + data[240:])  # header kept, image data zeroed
    _raises(p)
    p2 = tmp_path / "truncated.png"
    p2.write_bytes(data[:60])
    _raises(p2)


def test_text_and_empty_and_missing(tmp_path):
    txt = tmp_path / "x.png"
    txt.write_text("this is not an image\n" * 20)
    _raises(txt, "not a readable image")
    assert not is_dicom(txt)
    other = tmp_path / "notes.xyz"
    other.write_text("hello")
    _raises(other, "not a readable image")
    empty = tmp_path / "e.jpg"
    empty.write_bytes(b"")
    _raises(empty, "empty")
    _raises(tmp_path / "missing.png", "not found")
    _raises(tmp_path, "directory")


def test_intensity_rule():
    assert range_to_uint8(np.array([0.0, 0.5, 1.5, 2.5, 10.0]), 0.0, 10.0).tolist() == [0, 13, 38, 64, 255]
    assert range_to_uint8(np.array([-5.0, 15.0]), 0.0, 10.0).tolist() == [0, 255]
    assert range_to_uint8(np.array([0.0, 5.0, 10.0]), 10.0, 0.0).tolist() == [255, 128, 0]  # inverted
    assert range_to_uint8(np.array([1.0, 2.0]), 3.0, 3.0).tolist() == [0, 0]
    assert minmax_to_uint8(np.full((2, 2), 7.0)).tolist() == [[0, 0], [0, 0]]
    assert minmax_to_uint8(np.array([np.nan, 1.0, 3.0, np.inf])).tolist() == [0, 0, 255, 255]


def write_small_dicom(path: Path) -> None:
    """A 2x3 8-bit MONOCHROME2 DX file."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.PhotometricInterpretation = 2, 3, 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = bytes([0, 1, 2, 3, 4, 5])
    ds.is_little_endian, ds.is_implicit_VR = True, False
    ds.save_as(str(path), write_like_original=False)


def test_list_images(tmp_path):
    root = tmp_path / "data"
    (root / "b").mkdir(parents=True)
    (root / "a" / "deep").mkdir(parents=True)
    (root / "c").mkdir()
    Image.fromarray(RGB).save(root / "b" / "2.png")
    Image.fromarray(RGB).save(root / "a" / "1.JPG")
    Image.fromarray(RGB).save(root / "a" / "deep" / "0.tiff")
    (root / "a" / "notes.txt").write_text("x")
    (root / "c" / "README").write_text("not dicom")
    write_small_dicom(root / "c" / "IM0001")  # extensionless DICOM
    write_small_dicom(root / "c" / "1.2.840.99")  # UID-named DICOM
    write_small_dicom(root / "z.DCM")
    got = list_images([root])
    assert got == [root / "a" / "1.JPG", root / "a" / "deep" / "0.tiff", root / "b" / "2.png",
                   root / "c" / "1.2.840.99", root / "c" / "IM0001", root / "z.DCM"]
    # files are kept as given, in the order given, whatever their extension
    notes = root / "a" / "notes.txt"
    assert list_images([str(notes), root / "b"]) == [notes, root / "b" / "2.png"]
    with pytest.raises(FileNotFoundError, match="nothere"):
        list_images([root, tmp_path / "nothere"])
    for f in got:
        check_img = read_image(f)
        assert check_img.pixels.shape[2] == 3
