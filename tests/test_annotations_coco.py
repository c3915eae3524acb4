"""COCO keypoints reader (MMPose / CL-Detection style)."""
import json
from pathlib import Path

import pytest

from cephmark.annotations import AnnotationError, read_annotations, read_coco
from conftest import SHARED as SHARED_ROOT

SHARED = SHARED_ROOT / "data" / "isbi2015"
IMAGES = SHARED / "images"
FIXTURE = Path(__file__).parent / "fixtures" / "annotations" / "coco_isbi_2.json"
needs_shared = pytest.mark.skipif(not IMAGES.is_dir(), reason="shared ISBI 2015 data not available")


def _write(tmp_path: Path, data: dict) -> Path:
    p = tmp_path / "coco.json"
    p.write_text(json.dumps(data))
    return p


@needs_shared
def test_fixture_matches_reference():
    ann = read_annotations(FIXTURE, image_dir=IMAGES)
    ref = json.loads((SHARED / "landmarks.json").read_text())[:2]
    assert [im.image_path for im in ann.images] == [(IMAGES / n).resolve() for n in ("001.jpg", "002.jpg")]
    assert ann.landmark_names == list(ref[0]["landmarks"])  # categories[0].keypoints order
    for im, r in zip(ann.images, ref):
        assert (im.width, im.height, im.spacing_mm) == (1935, 2400, 0.1)
        expected = {k: tuple(v) for k, v in r["landmarks"].items()}
        if im.image_path.name == "002.jpg":
            del expected["porion"]  # v = 0 on 002: not labelled
        assert im.points == expected


@needs_shared
def test_malformed(tmp_path):
    data = json.loads(FIXTURE.read_text())
    data["annotations"][0]["keypoints"] = data["annotations"][0]["keypoints"][:-3]
    data["annotations"].append({"id": 7, "image_id": 42, "keypoints": []})
    data["annotations"].append(dict(data["annotations"][1], id=8))
    data["images"].append(dict(data["images"][0], id=3, file_name="003.jpg"))
    data["images"][1]["pixel_spacing"] = data["images"][1].pop("spacing") * -1
    with pytest.raises(AnnotationError) as e:
        read_coco(_write(tmp_path, data), IMAGES)
    msg = str(e.value)
    assert "image '001.jpg' (id 1): keypoints has length 54, expected 3 x 19 = 57" in msg
    assert "annotation 7 refers to unknown image_id 42" in msg
    assert "image '002.jpg' (id 2): the same image is annotated twice" in msg
    assert "image '002.jpg' (id 2): invalid pixel spacing -0.1" in msg
    assert "image '003.jpg' (id 3) has no annotation" in msg
    assert len(e.value.problems) == 5, msg


@needs_shared
def test_size_and_bounds(tmp_path):
    data = json.loads(FIXTURE.read_text())
    data["images"][0]["width"] = 1000
    data["annotations"][1]["keypoints"][0:2] = [1934.6, -0.5]  # x > w - 0.5
    with pytest.raises(AnnotationError) as e:
        read_coco(_write(tmp_path, data), IMAGES)
    assert "image '001.jpg' (id 1): annotated for size 1000x2400 but the file is 1935x2400" in str(e.value)
    assert "landmark 'sella' at (1934.600, -0.500) is outside the 1935x2400 image" in str(e.value)
    data["images"][0]["width"] = 1935
    data["annotations"][1]["keypoints"][0:2] = [1934.5, -0.5]  # edges of the image are inside
    assert read_coco(_write(tmp_path, data), IMAGES).images[1].points["sella"] == (1934.5, -0.5)


def test_not_coco(tmp_path):
    with pytest.raises(AnnotationError, match="not a COCO keypoint file"):
        read_coco(_write(tmp_path, {"images": []}))
    with pytest.raises(AnnotationError, match="no list of keypoint names"):
        read_coco(_write(tmp_path, {"images": [], "annotations": [], "categories": [{"id": 1}]}))
