"""Is this ruler calibration trustworthy? ``status: ok|check`` with reasons, per image, from what
the cascade knows (`RefineDetails`): the refiner's peak height and width, how far the refiner
moved the coarse point, and the p1 -> p2 distance and direction against the training labels
(`cascade.label_stats`, stored in the cascade file). Thresholds: `FlagLimits`, chosen on the
dev split (ISBI 025-150) and reported on test1 in benchmarks/p1p2/RESULTS.md.

    status, reasons, score = ruler_flags(details, result)

``score`` (0-1, higher = more trustworthy) is the weaker mark's refiner peak height, or 0 when
a mark is missing; a calibration flagged ``check`` is still reported by its callers.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from cephmark.inference.refine import RefineDetails
from cephmark.inference.results import ImageResult


@dataclass(frozen=True)
class FlagLimits:
    """Chosen on ISBI dev (025-150) with the 18-image recipe model (benchmarks/p1p2/flags_tune.py):
    the peak height alone separated the images above 1 % best there; the move, distance and
    direction limits changed nothing on dev and are kept loose as guards against gross failures
    (a mark on the wrong notch: ~20 % off). The peak width did not help and is off by default."""

    min_peak: float = 0.4  # refiner peak height (heatmap maximum) below this: a weak mark
    max_width_px: float = math.inf  # area above half the peak wider than this (original px)
    max_move_px: float = 60.0  # refiner moved the coarse point further than this (original px)
    distance_tol: float = 0.03  # p1-p2 distance outside the labels' [min, max] by more than 3 %
    angle_tol_deg: float = 4.0  # direction outside the labels' [min, max] by more than this


LIMITS = FlagLimits()


def _pair(details: RefineDetails, result: ImageResult) -> tuple[str, str]:
    pair = details.labels.get("pair") if details.labels else None
    if pair:
        return str(pair[0]), str(pair[1])
    names = [lm.name for lm in result.landmarks]
    return (names[0], names[1]) if len(names) >= 2 else ("p1", "p2")


def _outside(value: float, summary: dict | None, tol: float, relative: bool) -> bool:
    if not summary:
        return False
    lo, hi = float(summary["min"]), float(summary["max"])
    pad_lo, pad_hi = (lo * tol, hi * tol) if relative else (tol, tol)
    return value < lo - pad_lo or value > hi + pad_hi


def ruler_flags(details: RefineDetails, result: ImageResult,
                limits: FlagLimits = LIMITS) -> tuple[str, list[str], float]:
    """(``"ok"`` or ``"check"``, reasons, score) for one image's p1/p2."""
    a, b = _pair(details, result)
    reasons: list[str] = []
    marks = {n: result.point(n) for n in (a, b)}
    missing = [n for n, lm in marks.items() if not lm.found or lm.x is None]
    if missing:
        return "check", [f"{', '.join(missing)} not found"], 0.0
    for n in (a, b):
        if n in details.outside:
            reasons.append(f"{n}: the coarse point lies outside the refiner's crop (not refined)")
        if n in details.peak and details.peak[n] < limits.min_peak:
            reasons.append(f"{n}: weak refiner peak ({details.peak[n]:.2f} < {limits.min_peak:.2f})")
        if n in details.width_px and details.width_px[n] > limits.max_width_px:
            reasons.append(f"{n}: broad refiner peak ({details.width_px[n]:.1f} px > {limits.max_width_px:.0f} px)")
        c = details.coarse.get(n)
        if c is not None and c[0] is not None:
            move = math.hypot(marks[n].x - c[0], marks[n].y - c[1])
            if move > limits.max_move_px:
                reasons.append(f"{n}: the refiner moved the coarse point by {move:.0f} px "
                               f"(> {limits.max_move_px:.0f})")
    dx, dy = marks[b].x - marks[a].x, marks[b].y - marks[a].y
    dist, angle = math.hypot(dx, dy), math.degrees(math.atan2(dy, dx))
    labels = details.labels or {}
    dsum, asum = labels.get("distance_px"), labels.get("angle_deg")
    if _outside(dist, dsum, limits.distance_tol, relative=True):
        reasons.append(f"{a}-{b} distance {dist:.1f} px outside the training labels' "
                       f"{dsum['min']:.1f}-{dsum['max']:.1f} px")
    if _outside(angle, asum, limits.angle_tol_deg, relative=False):
        reasons.append(f"{a}->{b} direction {angle:.1f} deg outside the training labels' "
                       f"{asum['min']:.1f} to {asum['max']:.1f} deg")
    if not asum and dy >= 0:
        reasons.append(f"{b} is not above {a}")
    peaks = [details.peak[n] for n in (a, b) if n in details.peak]
    score = float(min(peaks)) if peaks else float(min(marks[a].score, marks[b].score))
    return ("check" if reasons else "ok"), reasons, score
