"""Labels that are not the requested landmarks: a near miss ("P2 " for p2) is an error naming
the image, another label ("p3") a warning naming the images it leaves short."""
from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest

from cephmark.annotations import read_annotations
from cephmark.annotations.types import AnnotationError


def _set(tmp_path, rows):
    for name in {r[0] for r in rows}:
        cv2.imwrite(str(tmp_path / name), np.zeros((100, 80), np.uint8))
    csv = tmp_path / "points.csv"
    csv.write_text("image,landmark,x,y\n" + "".join(f"{i},{n},{x},{y}\n" for i, n, x, y in rows))
    return read_annotations(csv)


@pytest.mark.parametrize("label", ["P2 ", " p2", "P2"])
def test_near_miss_label_is_an_error(tmp_path, label):
    ann = _set(tmp_path, [("a.png", "p1", 10, 10), ("a.png", "p2", 10, 30),
                          ("b.png", "p1", 11, 10), ("b.png", "P2", 11, 30)])
    # the CSV reader strips spaces; other formats (Label Studio) keep them
    ann.images[1].points = {"p1": (11.0, 10.0), label: (11.0, 30.0)}
    with pytest.raises(AnnotationError, match=rf"b\.png: label {label!r} is not 'p2' \(case or spaces differ\)"):
        ann.subset(["p1", "p2"])


def test_other_label_is_a_warning_naming_the_short_images(tmp_path, caplog):
    ann = _set(tmp_path, [("a.png", "p1", 10, 10), ("a.png", "p2", 10, 30),
                          ("b.png", "p1", 11, 10), ("b.png", "p3", 11, 30),
                          ("c.png", "p1", 12, 10), ("c.png", "p2", 12, 30), ("c.png", "sella", 5, 5)])
    with caplog.at_level(logging.WARNING):
        sub = ann.subset(["p1", "p2"])
    text = caplog.text
    assert "label 'p3' is not among the requested landmarks (p1, p2): ignored on 1 image(s) (b.png)" in text
    assert "1 of them lack a requested landmark (trained without it): b.png" in text
    assert "label 'sella'" in text and "c.png" in text
    assert [sorted(im.points) for im in sub.images] == [["p1", "p2"], ["p1"], ["p1", "p2"]]


def test_requested_labels_only_no_warning(tmp_path, caplog):
    ann = _set(tmp_path, [("a.png", "p1", 10, 10), ("a.png", "p2", 10, 30)])
    with caplog.at_level(logging.WARNING):
        ann.subset(["p1", "p2"])
    assert "not among the requested" not in caplog.text
