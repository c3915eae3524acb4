"""Plain CSV reader: image,landmark,x,y[,spacing_mm]."""
from pathlib import Path

import pytest
from PIL import Image

from cephmark.annotations import AnnotationError, read_annotations, read_csv_points
from conftest import ISBI_IMAGES

IMAGES = ISBI_IMAGES
FIXTURE = Path(__file__).parent / "fixtures" / "annotations" / "points_isbi_2.csv"


@pytest.mark.skipif(not IMAGES.is_dir(), reason="shared ISBI 2015 data not available")
def test_fixture():
    ann = read_annotations(FIXTURE, image_dir=IMAGES)
    assert [im.image_path.name for im in ann.images] == ["001.jpg", "002.jpg"]
    assert ann.landmark_names == ["sella", "nasion", "orbitale", "porion"]
    assert ann.images[0].points["sella"] == (832.0, 994.0)
    assert ann.images[0].spacing_mm == 0.1 and ann.images[0].width == 1935


def _img(tmp_path: Path, name: str = "a.png", size=(40, 30)) -> None:
    Image.new("RGB", size).save(tmp_path / name)


def test_minimal_and_relative_paths(tmp_path):
    (tmp_path / "imgs").mkdir()
    _img(tmp_path / "imgs")
    p = tmp_path / "pts.csv"
    p.write_text(" Image , Landmark ,X,Y\nimgs/a.png,S,1.5,2\nimgs/a.png,N,39.5,29.5\n")
    ann = read_csv_points(p)
    assert ann.images[0].points == {"S": (1.5, 2.0), "N": (39.5, 29.5)}
    assert ann.images[0].spacing_mm is None


def test_missing_column(tmp_path):
    p = tmp_path / "pts.csv"
    p.write_text("image,name,x,y\na.png,S,1,2\n")
    with pytest.raises(AnnotationError, match="missing column.*landmark"):
        read_annotations(p)
    p.write_text("a.png,S,1,2\n")  # no header
    with pytest.raises(AnnotationError, match="missing column"):
        read_annotations(p)


def test_malformed_rows(tmp_path):
    _img(tmp_path)
    _img(tmp_path, "b.png")
    p = tmp_path / "pts.csv"
    p.write_text("image,landmark,x,y,spacing_mm\n"
                 "a.png,S,abc,2,0.1\n"
                 "a.png,N,3,4,0.2\n"
                 "b.png,S,1,2,\n"
                 "b.png,S,1,3,\n"
                 "b.png,N,40,1,\n"
                 "c.png,S,1,1,\n"
                 "b.png,Me,1\n")
    with pytest.raises(AnnotationError) as e:
        read_annotations(p)
    msg = str(e.value)
    assert "landmark 'S' has non-numeric coordinates ('abc', '2')" in msg
    assert "rows disagree on spacing_mm (0.1, 0.2)" in msg
    assert "image 'b.png' (lines 4-6): duplicate label 'S'" in msg
    assert "image 'b.png': landmark 'N' at (40.000, 1.000) is outside the 40x30 image" in msg
    assert f"image 'c.png': not found in {tmp_path}" in msg
    assert "line 8: 3 fields, header has 5" in msg
    assert len(e.value.problems) == 6, msg


def test_empty_and_unreadable(tmp_path):
    p = tmp_path / "pts.csv"
    p.write_text("image,landmark,x,y\n")
    with pytest.raises(AnnotationError, match="no annotated image"):
        read_annotations(p)
    (tmp_path / "bad.png").write_bytes(b"not an image")
    p.write_text("image,landmark,x,y\nbad.png,S,1,1\n")
    with pytest.raises(AnnotationError, match="image 'bad.png': cannot read image"):
        read_annotations(p)
