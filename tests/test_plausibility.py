"""Plausibility: landmarks outside the image or with weak peaks are flagged with a reason; an
image whose landmarks are mostly implausible is reported as not a cephalogram; the bundled
model on a blank frame and on noise says so, on a real cephalogram it does not."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from cephmark.config import CephConfig
from cephmark.inference.plausibility import assess
from cephmark.inference.results import ImageResult, LandmarkResult, ResultStream

SAMPLES = Path(__file__).resolve().parents[1] / "samples"


def _result(points, width=100, height=200):
    lms = [LandmarkResult(name=f"l{i}", x=x, y=y, score=s, found=x is not None and s > 0)
           for i, (x, y, s) in enumerate(points)]
    return ImageResult(image="a.png", width=width, height=height, spacing_mm=None,
                       spacing_source=None, landmarks=lms)


def test_landmark_statuses_and_reasons():
    r = assess(_result([(10, 10, 0.5), (-30, 10, 0.5), (99.5, 199.5, 0.5), (50, 50, 0.05),
                        (None, None, -0.1), (None, None, float("nan"))]), min_score=0.1, max_implausible=0.5)
    ok, outside, corner, weak, none, nan = r.landmarks
    assert (ok.status, ok.found, ok.reasons) == ("ok", True, [])
    assert (corner.status, corner.found) == ("ok", True)  # the last pixel's edge is inside
    assert outside.status == "not_found" and not outside.found and outside.x == -30  # position kept
    assert outside.reasons == ["decoded position (-30.0, 10.0) is outside the 100 x 200 image"]
    assert weak.status == "check" and weak.found and "weak heatmap peak 0.050 < 0.1" in weak.reasons[0]
    assert none.status == "not_found" and none.reasons == ["no heatmap peak above 0"]
    assert nan.status == "not_found" and "not a finite number" in nan.reasons[0]
    # 4 of 6 not ok > half: the image verdict
    assert r.status == "not_a_cephalogram"
    assert r.reasons == ["4 of 6 landmarks implausible (1 outside the image, 1 weak peaks, 2 not found): "
                         "blank, noise, or not a lateral cephalogram?"]
    assert assess(r, 0.1, 0.5).landmarks[1].reasons == outside.reasons  # again: reasons kept


def test_image_verdicts():
    good = [(10 + i, 10, 0.5) for i in range(10)]
    assert assess(_result(good), 0.1, 0.5).status == "ok"
    one_weak = good[:9] + [(10, 10, 0.01)]
    r = assess(_result(one_weak), 0.1, 0.5)
    assert r.status == "check" and r.reasons[0].startswith("1 of 10 landmarks implausible")
    two_landmarks = [(-5, 10, 0.5), (-6, 10, 0.5)]  # too few landmarks for an image verdict
    assert assess(_result(two_landmarks), 0.1, 0.5).status == "check"


def test_nan_score_is_null_with_a_reason_in_json(tmp_path):
    r = assess(_result([(10, 10, float("nan"))] * 6), 0.1, 0.5)
    stream = ResultStream(tmp_path / "r.json")
    stream.write(r)
    stream.close()
    text = (tmp_path / "r.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    lm = json.loads(text)["images"][0]["landmarks"][0]
    assert lm["score"] is None and lm["found"] is False and "not a finite number" in lm["reasons"][0]


@pytest.fixture(scope="module")
def starter():
    import torch

    from cephmark.inference import LandmarkPredictor
    from cephmark.weights import STARTER

    if not STARTER.is_file():
        pytest.skip("bundled starter model not installed")
    torch.set_num_threads(2)
    return LandmarkPredictor(STARTER, CephConfig(), overrides={"infer.device": "cpu"})


def test_bundled_model_on_blank_noise_and_a_cephalogram(tmp_path, starter):
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.zeros((2400, 1935), np.uint8))
    noise = tmp_path / "noise.png"
    cv2.imwrite(str(noise), np.random.default_rng(0).integers(0, 256, (2400, 1935), dtype=np.uint8))
    ceph = SAMPLES / "isbi_151_half.jpg"
    res = {p.name: starter.predict_one(p) for p in (blank, noise, ceph)}
    for name in ("blank.png", "noise.png"):
        assert res[name].status == "not_a_cephalogram", (name, res[name].reasons)
    c = res[ceph.name]
    assert c.status != "not_a_cephalogram"
    assert all(lm.found for lm in c.landmarks)  # nothing outside, nothing lost
    assert sum(lm.status == "ok" for lm in c.landmarks) >= 17
