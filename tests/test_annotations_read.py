"""read_annotations auto-detection, shared validation, AnnotationSet.subset and split_train_val."""
import json
import sys
from pathlib import Path

import pytest
from PIL import Image

from cephmark.annotations import (
    AnnotatedImage, AnnotationError, AnnotationSet, detect_format, read_annotations, split_train_val,
)
from cephmark.annotations.types import image_size
from conftest import SHARED as SHARED_ROOT

FIXTURES = Path(__file__).parent / "fixtures" / "annotations"
SHARED = SHARED_ROOT / "data" / "isbi2015"


def test_detect_format(tmp_path):
    assert detect_format(FIXTURES / "coco_isbi_2.json") == "coco"
    assert detect_format(FIXTURES / "label_studio_two_annotations.json") == "label_studio"
    assert detect_format(FIXTURES / "points_isbi_2.csv") == "csv"
    (tmp_path / "cephalogram_machine_mappings.csv").write_text("cephalogram_id,machine,pixel_size\n")
    assert detect_format(tmp_path) == "aariz"
    (tmp_path / "other.json").write_text(json.dumps({"foo": 1}))
    with pytest.raises(AnnotationError, match="unrecognised annotation format"):
        read_annotations(tmp_path / "other.json")
    with pytest.raises(AnnotationError, match="no such file"):
        read_annotations(tmp_path / "missing.json")
    with pytest.raises(AnnotationError, match="unknown annotation format 'xml'"):
        read_annotations(FIXTURES / "points_isbi_2.csv", fmt="xml")


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared ISBI 2015 data not available")
def test_explicit_format_and_default_image_dir(tmp_path):
    ann = read_annotations(FIXTURES / "points_isbi_2.csv", SHARED / "images", fmt="csv")
    assert len(ann.images) == 2
    with pytest.raises(AnnotationError) as e:  # default image_dir: the file's folder
        read_annotations(FIXTURES / "coco_isbi_2.json")
    assert len(e.value.problems) == 2 and f"not found in {FIXTURES}" in str(e.value)


def _dicom(path: Path, w: int, h: int) -> None:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.is_little_endian, ds.is_implicit_VR = True, False
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality = "DX"
    ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.PhotometricInterpretation = h, w, 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = bytes(w * h)
    ds.save_as(str(path), write_like_original=False)


@pytest.mark.parametrize("own_reader", [False, True])
def test_image_size_dicom_and_png(tmp_path, monkeypatch, own_reader):
    pytest.importorskip("pydicom")
    if own_reader:  # without cephmark.io: PIL / pydicom header reads
        monkeypatch.setitem(sys.modules, "cephmark.io", None)
    _dicom(tmp_path / "x.dcm", 40, 30)
    Image.new("L", (7, 5)).save(tmp_path / "y.png")
    assert image_size(tmp_path / "x.dcm") == (40, 30)
    assert image_size(tmp_path / "y.png") == (7, 5)
    (tmp_path / "z.png").write_bytes(b"garbage")
    with pytest.raises((ValueError, OSError)):
        image_size(tmp_path / "z.png")
    p = tmp_path / "pts.csv"
    p.write_text("image,landmark,x,y\nx.dcm,S,39.5,0\nz.png,S,1,1\n")
    with pytest.raises(AnnotationError) as e:
        read_annotations(p)
    assert len(e.value.problems) == 1 and "image 'z.png': cannot read image" in str(e.value)


def _set(n: int = 5) -> AnnotationSet:
    images = [AnnotatedImage(Path(f"/im/{i:02d}.png"), {"A": (1.0, 2.0), **({"B": (3.0, 4.0)} if i % 2 else {})})
              for i in range(n)]
    return AnnotationSet(images, ["A", "B"], "mem")


def test_subset():
    s = _set().subset(["B", "A"])
    assert s.landmark_names == ["B", "A"] and s.images[1].points == {"B": (3.0, 4.0), "A": (1.0, 2.0)}
    only_b = _set().subset(["B"])
    assert len(only_b.images) == 5 and only_b.images[0].points == {}
    assert _set().images[1].points.keys() == {"A", "B"}  # the original is untouched
    with pytest.raises(AnnotationError, match=r"landmark 'C' never occurs \(available: A, B\)"):
        _set().subset(["A", "C"])


def test_split_train_val():
    ann = _set(10)
    tr, va = split_train_val(ann, 0.2, seed=3)
    assert len(tr.images) == 8 and len(va.images) == 2
    assert {im.image_path for im in tr.images + va.images} == {im.image_path for im in ann.images}
    assert tr.landmark_names == va.landmark_names == ["A", "B"]
    # deterministic, independent of input order
    shuffled = AnnotationSet(list(reversed(ann.images)), ann.landmark_names, ann.source)
    assert [im.image_path for im in split_train_val(shuffled, 0.2, 3)[1].images] == [im.image_path for im in va.images]
    assert len(split_train_val(_set(2), 0.01, 0)[1].images) == 1  # at least one validation image
    assert len(split_train_val(_set(3), 0.0, 0)[1].images) == 0
    assert len(split_train_val(_set(3), 0.9, 0)[0].images) == 1  # at least one training image
    with pytest.raises(ValueError, match="at least 2 images"):
        split_train_val(_set(1), 0.5, 0)
