"""Ruler flags: each rule gives ``check`` with its reason; a clean ruler is ``ok`` (synthetic
cascade details, no model)."""
from __future__ import annotations

from cephmark.calibration.flags import LIMITS, FlagLimits, ruler_flags
from cephmark.inference.refine import RefineDetails, peak_width
from cephmark.inference.results import ImageResult, LandmarkResult

import numpy as np

LABELS = {"pair": ["p1", "p2"],
          "distance_px": {"min": 95.0, "max": 105.0, "mean": 100.0, "sd": 3.0, "n": 18},
          "angle_deg": {"min": -92.0, "max": -88.0, "mean": -90.0, "sd": 1.0, "n": 18}}


def make(p1=(500.0, 900.0), p2=(500.0, 800.0), peaks=(0.8, 0.8), widths=(6.0, 6.0),
         coarse=None, found=(True, True), outside=(), labels=LABELS):
    lms = [LandmarkResult(n, *(xy if ok else (None, None)), score=pk, found=ok)
           for n, xy, pk, ok in zip(("p1", "p2"), (p1, p2), peaks, found)]
    result = ImageResult(image="x.png", width=1935, height=2400, spacing_mm=None, spacing_source=None,
                         landmarks=lms)
    det = RefineDetails(coarse=coarse or {"p1": p1, "p2": p2}, peak=dict(zip(("p1", "p2"), peaks)),
                        width_px=dict(zip(("p1", "p2"), widths)), outside=list(outside), labels=labels)
    return det, result


def test_a_clean_ruler_is_ok_with_the_weaker_peak_as_score():
    status, reasons, score = ruler_flags(*make(peaks=(0.9, 0.7)))
    assert (status, reasons, score) == ("ok", [], 0.7)


def test_each_rule_flags_with_its_reason():
    cases = {
        "not found": make(found=(True, False)),
        "weak refiner peak": make(peaks=(0.9, LIMITS.min_peak - 0.1)),
        "broad refiner peak": make(widths=(20.0, 6.0)),
        "moved the coarse point": make(coarse={"p1": (500.0, 900.0 + LIMITS.max_move_px + 10), "p2": (500.0, 800.0)}),
        "distance": make(p2=(500.0, 900.0 - 120.0)),
        "direction": make(p2=(530.0, 805.0)),
        "outside the refiner's crop": make(outside=("p2",)),
    }
    limits = FlagLimits(max_width_px=12.0)  # the width rule is off by default
    for words, (det, result) in cases.items():
        status, reasons, score = ruler_flags(det, result, limits)
        assert status == "check" and any(words in r for r in reasons), (words, reasons)
    assert ruler_flags(*make(found=(False, True)))[2] == 0.0


def test_without_label_summary_p2_must_be_above_p1():
    status, reasons, _ = ruler_flags(*make(p2=(500.0, 1000.0), labels={}))
    assert status == "check" and reasons == ["p2 is not above p1"]
    assert ruler_flags(*make(labels={}))[0] == "ok"


def test_peak_width_of_a_gaussian_is_its_full_width_at_half_maximum():
    yy, xx = np.mgrid[0:64, 0:64].astype(np.float32)
    sigma = 3.0
    heat = np.exp(-((xx - 30) ** 2 + (yy - 33) ** 2) / (2 * sigma ** 2))
    assert abs(peak_width(heat) - 2.3548 * sigma) < 0.5
    heat2 = heat + np.exp(-((xx - 36) ** 2 + (yy - 33) ** 2) / (2 * sigma ** 2))  # a double peak
    assert peak_width(heat2) > peak_width(heat) + 2
