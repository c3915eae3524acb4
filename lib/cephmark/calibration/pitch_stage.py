"""The ruler pitch as a calibration stage: after a model (or a user) placed p1/p2, measure the
mark pitch along p1 -> p2 (`cephmark.calibration.pitch`), take mm/px from it, and put p1/p2 on
the nearest major mark and p2 ``distance / pitch`` marks above it, on the ruler's edge.

The ruler's convention (mark spacing in mm, which marks are major) comes from the config
(``infer.ruler_pitch_mm``, ``infer.ruler_major_every``); p1/p2 keep the user's labelling
convention, which the model learned: the stage only corrects them to within the mark they
chose. The record says how mm/px was obtained (``source: ruler_pitch``) and why it may be wrong.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from cephmark.calibration.pitch import PitchError, measure_pitch, snap_reference_marks
from cephmark.inference.results import ImageResult
from cephmark.landmarks import RULER, RULER_DISTANCE_MM

SOURCE = "ruler_pitch"
DISAGREE_PCT = 2.0  # marks' 10 / |p1 - p2| vs the pitch: beyond this the marks are suspect


@dataclass(frozen=True)
class RulerConvention:
    pitch_mm: float = 1.0  # spacing of the ruler's marks
    major_every: int | None = 5  # p1 sits on a major mark (every n-th, longer); None: any mark
    distance_mm: float = RULER_DISTANCE_MM  # p1 -> p2

    @property
    def distance_marks(self) -> int:
        return int(round(self.distance_mm / self.pitch_mm))


def convention_from(cfg: Any) -> RulerConvention | None:
    """The convention in ``cfg.infer`` (None when ``ruler_pitch_mm`` is unset: stage off)."""
    pitch = getattr(cfg.infer, "ruler_pitch_mm", None)
    if not pitch:
        return None
    major = getattr(cfg.infer, "ruler_major_every", 5)
    return RulerConvention(float(pitch), int(major) if major else None)


def apply_pitch(pixels: np.ndarray, ruler: ImageResult, convention: RulerConvention
                ) -> tuple[ImageResult, dict[str, Any]]:
    """(``ruler`` with p1/p2 on their marks, the pitch record). The record holds ``mm_per_px``
    (None when no pitch could be measured), ``source``, ``pitch_px``, ``marks``, ``quality``,
    ``std_error_pct``, ``marks_mm_per_px`` (10 / |p1 - p2| as predicted), ``moved_marks`` and
    ``reasons``; p1/p2 are left as they were when the pitch fails."""
    pts = {lm.name: lm for lm in ruler.landmarks if lm.name in RULER}
    record: dict[str, Any] = {"source": SOURCE, "mm_per_px": None, "reasons": []}
    if any(n not in pts or not pts[n].found or pts[n].x is None for n in RULER):
        record["reasons"].append("ruler pitch: p1/p2 not both found")
        return ruler, record
    p1 = (pts["p1"].x, pts["p1"].y)
    p2 = (pts["p2"].x, pts["p2"].y)
    d = float(np.hypot(p2[0] - p1[0], p2[1] - p1[1]))
    record["marks_mm_per_px"] = convention.distance_mm / d if d > 0 else None
    try:
        r = measure_pitch(pixels, p1, p2, pitch_mm=convention.pitch_mm,
                          distance_mm=convention.distance_mm)
        snap = snap_reference_marks(pixels, r, p1, p2, major_every=convention.major_every,
                                    distance_marks=convention.distance_marks)
    except PitchError as exc:
        record["reasons"].append(f"ruler pitch: {exc}")
        return ruler, record
    record.update(mm_per_px=r.mm_per_px, pitch_px=r.pitch_px, marks=round(r.marks, 1),
                  quality=round(r.quality, 3), std_error_pct=round(r.std_error_pct, 3),
                  moved_marks=snap.moved_marks, major_found=snap.major_found)
    record["reasons"] += [f"ruler pitch: {x}" for x in r.reasons + snap.reasons]
    if record["marks_mm_per_px"]:
        dis = 100 * abs(record["marks_mm_per_px"] - r.mm_per_px) / r.mm_per_px
        if dis > DISAGREE_PCT:
            record["reasons"].append(f"ruler pitch: p1/p2 as predicted give {dis:.1f} % another "
                                     f"mm/px (a mark off?): p1/p2 moved onto the marks")
    moved = {"p1": snap.p1, "p2": snap.p2}
    marks = [replace(lm, x=moved[lm.name][0], y=moved[lm.name][1]) if lm.name in moved else lm
             for lm in ruler.landmarks]
    return replace(ruler, landmarks=marks), record
