"""The ruler pitch as a calibration stage: predicted p1/p2 a mark off on a synthetic ruler ->
mm/px from the pitch (source ruler_pitch), marks moved onto the major mark, reasons kept; and
the same through `Analyzer` with ``--ruler-pitch``."""
from __future__ import annotations

import numpy as np
import pytest

from cephmark.analysis.pipeline import Analyzer
from cephmark.calibration.pitch_stage import RulerConvention, apply_pitch, convention_from
from cephmark.calibration.scale import calibrate, marks_from
from cephmark.config import CephConfig
from cephmark.inference.results import ImageResult, LandmarkResult
from cephmark.io import CephImage

from test_calibration_pitch import render_ruler

PITCH = 7.87


def _result(points: dict[str, np.ndarray]) -> ImageResult:
    lms = [LandmarkResult(n, float(p[0]), float(p[1]), 0.9, True) for n, p in points.items()]
    return ImageResult("ruler.png", 320, 420, None, None, lms)


def test_stage_moves_marks_and_calibrates_from_the_pitch():
    img, c = render_ruler(PITCH, angle_deg=5.0)
    predicted = _result({"p1": c[2] + (1.0, 0.5), "p2": c[13]})  # 2 marks high, 11 marks apart
    moved, record = apply_pitch(img, predicted, RulerConvention(pitch_mm=1.0, major_every=5))
    assert record["mm_per_px"] == pytest.approx(1 / PITCH, rel=2e-3)
    assert record["moved_marks"] == -2 and record["marks"] > 15
    assert any("another mm/px" in r for r in record["reasons"])  # 11 marks apart: said so
    p1, p2 = marks_from(moved.landmarks)
    assert np.hypot(p1.x - c[0][0], p1.y - c[0][1]) < 0.8
    assert np.hypot(p2.x - c[10][0], p2.y - c[10][1]) < 0.8
    cal = calibrate(p1, p2, pitch=record)
    assert cal.source == "ruler_pitch" and cal.mm_per_px == pytest.approx(record["mm_per_px"])
    assert cal.status == "check" and cal.ruler["pitch"]["moved_marks"] == -2


def test_stage_without_marks_keeps_the_marks_path():
    img, c = render_ruler(PITCH)
    lost = ImageResult("x.png", 320, 420, None, None,
                       [LandmarkResult("p1", None, None, 0.0, False), LandmarkResult("p2", 1.0, 1.0, 0.5, True)])
    same, record = apply_pitch(img, lost, RulerConvention())
    assert same is lost and record["mm_per_px"] is None and "not both found" in record["reasons"][0]
    cal = calibrate(*marks_from(lost.landmarks), pitch=record)
    assert cal.source != "ruler_pitch" and cal.status == "check"


def test_convention_from_config():
    assert convention_from(CephConfig()) is None
    cfg = CephConfig().update({"infer.ruler_pitch_mm": 0.5, "infer.ruler_major_every": 10})
    conv = convention_from(cfg)
    assert (conv.pitch_mm, conv.major_every, conv.distance_marks) == (0.5, 10, 20)


class _Points:
    """A predictor that returns fixed points (stands in for the ruler model on a synthetic image)."""

    def __init__(self, points: dict[str, np.ndarray]) -> None:
        self.points = points
        self.landmark_names = list(points)

    def predict_one(self, image: CephImage) -> ImageResult:
        return _result(self.points)


def test_analyzer_uses_the_pitch_stage():
    img, c = render_ruler(PITCH, angle_deg=-4.0)
    image = CephImage(np.ascontiguousarray(np.repeat(img[:, :, None], 3, axis=2)), "ruler.png")
    landmarks = _Points({"sella": np.array([50.0, 60.0]), "nasion": np.array([250.0, 60.0])})
    ruler = _Points({"p1": c[-1], "p2": c[9]})  # one mark low
    plain = Analyzer(landmarks, ruler).analyze(image).calibration
    staged = Analyzer(landmarks, ruler, pitch=RulerConvention()).analyze(image)
    assert plain.source == "ruler" and staged.calibration.source == "ruler_pitch"
    assert staged.calibration.mm_per_px == pytest.approx(1 / PITCH, rel=2e-3)
    assert staged.calibration.ruler["p1"] == pytest.approx(list(c[0]), abs=0.8)
