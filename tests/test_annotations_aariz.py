"""Aariz directory layout reader (tiny tree built in tmp_path, folder names in mixed case)."""
import json
from pathlib import Path

import pytest
from PIL import Image

from cephmark.annotations import AnnotationError, read_aariz, read_annotations

LM = "Annotations/Cephalometric Landmarks"


def _lm(lid: int, symbol: str, x, y, title: str = "") -> dict:
    return {"landmark_id": lid, "title": title or symbol.lower(), "symbol": symbol, "value": {"x": x, "y": y}}


def _write_json(path: Path, ceph_id: str, landmarks: list) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"ceph_id": ceph_id, "landmarks": landmarks, "dataset_id": 1}))


def _tree(root: Path) -> Path:
    """root/{Train,valid}; Train uses the usual case, valid lower case; ids a1, a2 (Train), b1 (valid)."""
    root.mkdir()
    (root / "cephalogram_machine_mappings.csv").write_text(
        "cephalogram_id,machine,pixel_size\na1,Planmeca,0.127\na2,Carestream,0.14\n")
    for split, ceph, ann, sen, jun in [("Train", "Cephalograms", LM, "Senior Orthodontists", "Junior Orthodontists"),
                                       ("valid", "cephalograms", LM.lower(), "senior orthodontists", "junior orthodontists")]:
        (root / split / ceph).mkdir(parents=True)
        ids = ["a1", "a2"] if split == "Train" else ["b1"]
        for i, cid in enumerate(ids):
            Image.new("L", (40, 30)).save(root / split / ceph / f"{cid}.{'png' if i == 0 else 'jpg'}")
            # landmark_id order differs from the file order; junior lacks "Me" on a1
            _write_json(root / split / ann / sen / f"{cid}.json", cid,
                        [_lm(2, "N", 30, 10 + i), _lm(1, "S", 10, 10), _lm(3, "Me", 20, 25)])
            _write_json(root / split / ann / jun / f"{cid}.json", cid,
                        [_lm(1, "S", 12, 11), _lm(2, "N", 31, 12 + i)] + ([] if cid == "a1" else [_lm(3, "Me", 21, 26)]))
    return root


def test_observers_and_spacing(tmp_path):
    root = _tree(tmp_path / "Aariz")
    mean = read_annotations(root)
    assert [im.image_path.name for im in mean.images] == ["a1.png", "a2.jpg", "b1.png"]
    assert mean.landmark_names == ["S", "N", "Me"]  # landmark_id order
    a1, a2, b1 = mean.images
    assert a1.points == {"S": (11.0, 10.5), "N": (30.5, 11.0)}  # Me only by the senior: not in the mean
    assert a2.points["Me"] == (20.5, 25.5)
    assert (a1.spacing_mm, a2.spacing_mm, b1.spacing_mm) == (0.127, 0.14, None)  # b1 not in the CSV
    assert (a1.width, a1.height) == (40, 30)
    senior = read_annotations(root, observer="senior")
    assert senior.images[0].points == {"N": (30.0, 10.0), "S": (10.0, 10.0), "Me": (20.0, 25.0)}
    junior = read_aariz(root, observer="junior")
    assert junior.images[0].points == {"S": (12.0, 11.0), "N": (31.0, 12.0)}


def test_split_selection(tmp_path):
    root = _tree(tmp_path / "Aariz")
    assert [im.image_path.stem for im in read_annotations(root, split="VALID").images] == ["b1"]
    assert [im.image_path.stem for im in read_aariz(root, split=["train"]).images] == ["a1", "a2"]
    direct = read_annotations(root / "Train", observer="senior")  # a split dir, CSV from its parent
    assert [im.spacing_mm for im in direct.images] == [0.127, 0.14]
    with pytest.raises(AnnotationError, match=r"no split 'test' \(found: Train, valid\)"):
        read_aariz(root, split="test")


def test_title_fallback(tmp_path):
    root = _tree(tmp_path / "Aariz")
    p = root / "valid" / LM.lower() / "senior orthodontists" / "b1.json"
    _write_json(p, "b1", [{"landmark_id": 1, "title": "Sella", "value": {"x": 1, "y": 2}}])
    ann = read_aariz(root, observer="senior", split="valid")
    assert ann.images[0].points == {"Sella": (1.0, 2.0)}


def test_malformed_tree_reports_everything(tmp_path):
    root = _tree(tmp_path / "Aariz")
    (root / "cephalogram_machine_mappings.csv").write_text(
        "cephalogram_id,machine,pixel_size\na1,Planmeca,0.127\na2,Carestream,n/a\n")
    _write_json(root / "Train" / LM / "Senior Orthodontists" / "a2.json", "a2", [])
    (root / "Train" / LM / "Senior Orthodontists" / "a2.json").write_text('{"ceph_id": "a2"}')  # no landmarks
    (root / "valid" / "cephalograms" / "b1.png").unlink()  # missing image
    _write_json(root / "valid" / LM.lower() / "junior orthodontists" / "b1.json", "b1",
                [_lm(1, "S", "x", 3), _lm(2, "N", 50, 3)])  # non-numeric, outside the 40x30 image (junior)
    with pytest.raises(AnnotationError) as e:
        read_aariz(root, observer="senior")
    msg = str(e.value)
    assert "invalid pixel_size 'n/a' for 'a2'" in msg
    assert "a2.json: no 'landmarks' list" in msg
    assert "valid/b1 (image 'b1'): not found in" in msg and str(root / "valid" / "cephalograms") in msg
    assert len(e.value.problems) == 3, msg
    with pytest.raises(AnnotationError) as e:
        read_aariz(root, observer="junior", split="valid")
    assert "landmark 'S' has non-numeric coordinates ('x', 3)" in str(e.value)


def test_outside_and_missing_observer(tmp_path):
    root = _tree(tmp_path / "Aariz")
    _write_json(root / "valid" / LM.lower() / "junior orthodontists" / "b1.json", "b1", [_lm(2, "N", 50, 3)])
    (root / "Train" / LM / "Junior Orthodontists" / "a2.json").unlink()
    with pytest.raises(AnnotationError) as e:
        read_annotations(root)
    msg = str(e.value)
    assert "Train/a2: no junior annotation (needed for observer='mean')" in msg
    assert "landmark 'N' at (40.000, 6.500) is outside the 40x30 image" in msg  # mean of (30, 10) and (50, 3)
    assert read_annotations(root, observer="senior").images[1].image_path.name == "a2.jpg"


def test_not_an_aariz_tree(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(AnnotationError, match="not an Aariz tree"):
        read_annotations(tmp_path / "empty")
    with pytest.raises(AnnotationError, match="observer"):
        read_aariz(tmp_path, observer="both")
