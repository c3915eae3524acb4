"""Label Studio JSON export reader."""
import copy
import json
from pathlib import Path

import pytest
from PIL import Image

from cephmark.annotations import AnnotationError, read_annotations, read_label_studio
from conftest import SHARED as SHARED_ROOT

SHARED = SHARED_ROOT / "data" / "isbi2015"
EXPORT = SHARED / "annotations_p1_p2.json"
IMAGES = SHARED / "images"
FIXTURES = Path(__file__).parent / "fixtures" / "annotations"
needs_shared = pytest.mark.skipif(not EXPORT.is_file(), reason="shared ISBI 2015 data not available")


def _tasks() -> list:
    return json.loads(EXPORT.read_text())


def _write(tmp_path: Path, tasks) -> Path:
    p = tmp_path / "export.json"
    p.write_text(json.dumps(tasks))
    return p


@needs_shared
def test_shared_export():
    ann = read_annotations(EXPORT, image_dir=IMAGES)
    assert len(ann.images) == 298
    assert ann.landmark_names == ["p1", "p2"]
    assert ann.source == str(EXPORT)
    by_name = {im.image_path.name: im for im in ann.images}
    for task in (_tasks()[i] for i in (0, 100, 297)):
        name = task["file_upload"][9:]
        im = by_name[name]
        assert im.image_path == (IMAGES / name).resolve()
        assert (im.width, im.height) == Image.open(IMAGES / name).size
        assert im.spacing_mm is None
        for r in task["annotations"][0]["result"]:
            v = r["value"]
            x, y = im.points[v["keypointlabels"][0]]
            assert abs(x - v["x"] / 100 * r["original_width"]) < 1e-6
            assert abs(y - v["y"] / 100 * r["original_height"]) < 1e-6


@needs_shared
def test_latest_not_cancelled_annotation_counts():
    ann = read_label_studio(FIXTURES / "label_studio_two_annotations.json", IMAGES)
    tasks = json.loads((FIXTURES / "label_studio_two_annotations.json").read_text())
    (a1, a2) = ann.images
    # task 1: the newer annotation is cancelled -> the older one (id 1) is used
    old = next(a for a in tasks[0]["annotations"] if not a["was_cancelled"])
    for r in old["result"]:
        assert abs(a1.points[r["value"]["keypointlabels"][0]][0] - r["value"]["x"] / 100 * 1935) < 1e-6
    # task 2: the newer annotation (by updated_at) is used, though listed first with a higher id
    new = max(tasks[1]["annotations"], key=lambda a: a["updated_at"])
    for r in new["result"]:
        assert abs(a2.points[r["value"]["keypointlabels"][0]][1] - r["value"]["y"] / 100 * 2400) < 1e-6


@needs_shared
def test_latest_by_id_without_times(tmp_path):
    task = _tasks()[0]
    newer = copy.deepcopy(task["annotations"][0])
    newer["id"] = 50
    for r in newer["result"]:
        r["value"]["x"] = 50.0
    task["annotations"] = [newer, task["annotations"][0]]
    ann = read_label_studio(_write(tmp_path, [task]), IMAGES)
    assert ann.images[0].points["p1"][0] == pytest.approx(0.5 * 1935)


def test_bad_json(tmp_path):
    p = tmp_path / "export.json"
    p.write_text('[{"id": 1, "annotations": [}')
    with pytest.raises(AnnotationError, match="invalid JSON"):
        read_annotations(p, image_dir=tmp_path)


@needs_shared
def test_all_problems_reported_together(tmp_path):
    tasks = _tasks()[:4]
    del tasks[0]["annotations"][0]["result"][0]["value"]  # missing value
    tasks[1]["annotations"][0]["result"][1]["value"]["x"] = 120.0  # outside the image
    tasks[2]["file_upload"] = "0123abcd-999.jpg"  # no such image
    tasks[2]["data"]["image"] = "/data/upload/0123abcd-999.jpg"
    tasks[3]["annotations"][0]["result"][1]["value"]["keypointlabels"] = ["p1"]  # duplicate label
    with pytest.raises(AnnotationError) as e:
        read_label_studio(_write(tmp_path, tasks), IMAGES)
    msg = str(e.value)
    assert len(e.value.problems) == 4, msg
    assert "task 1 (001.jpg)" in msg and "no value" in msg
    assert "task 2 (002.jpg)" in msg and "'p2'" in msg and "outside the 1935x2400 image" in msg
    assert "999.jpg" in msg and f"not found in {IMAGES}" in msg
    assert "duplicate label 'p1'" in msg


@needs_shared
def test_non_numeric_and_cancelled_only(tmp_path):
    tasks = _tasks()[:2]
    tasks[0]["annotations"][0]["result"][0]["value"]["y"] = "abc"
    tasks[1]["annotations"][0]["was_cancelled"] = True
    with pytest.raises(AnnotationError) as e:
        read_label_studio(_write(tmp_path, tasks), IMAGES)
    assert "non-numeric" in str(e.value) and "'abc'" in str(e.value)
    assert "task 2 (002.jpg): no annotation that is not cancelled" in str(e.value)


def test_name_fallbacks_and_size_mismatch(tmp_path):
    Image.new("L", (40, 30)).save(tmp_path / "img 1.png")
    Image.new("L", (40, 30)).save(tmp_path / "deadbeef-kept.png")
    res = [{"type": "keypointlabels", "original_width": 40, "original_height": 30,
            "value": {"x": 50.0, "y": 0.0, "keypointlabels": ["A"]}}]
    tasks = [
        {"id": 1, "data": {"image": "/data/local-files/?d=sub%2Fimg%201.png"}, "annotations": [{"id": 1, "result": res}]},
        {"id": 2, "file_upload": "deadbeef-kept.png", "annotations": [{"id": 2, "result": res}]},  # name as is
        {"id": 3, "data": {"image": "/data/upload/1/abcdef01-img 1.png"}, "annotations": [{"id": 3, "result": res}]},
    ]
    with pytest.raises(AnnotationError) as e:  # task 3 is the same image as task 1
        read_label_studio(_write(tmp_path, tasks))
    assert e.value.problems == [f"{tmp_path / 'export.json'}: task 3 (img 1.png): the same image is annotated "
                                f"twice ({(tmp_path / 'img 1.png').resolve()}; also task 1 (img 1.png))"]
    ann = read_label_studio(_write(tmp_path, tasks[:2]))
    assert [im.image_path.name for im in ann.images] == ["img 1.png", "deadbeef-kept.png"]
    assert ann.images[0].points == {"A": (20.0, 0.0)}
    res[0]["original_width"] = 80
    with pytest.raises(AnnotationError, match="annotated for size 80x30 but the file is 40x30"):
        read_label_studio(_write(tmp_path, tasks[:1]))


def test_empty_export(tmp_path):
    with pytest.raises(AnnotationError, match="no annotated image"):
        read_label_studio(_write(tmp_path, []))
    with pytest.raises(AnnotationError, match="expected a list of tasks"):
        read_label_studio(_write(tmp_path, {"id": 1}))
