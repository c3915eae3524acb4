"""mm per pixel for one image: the ruler marks p1/p2 against the DICOM pixel spacing.

The ruler sits on the nasion rod, in the mid-sagittal plane, so 10 mm / |p1 - p2| is the scale of
the anatomy; a detector spacing (DICOM ``ImagerPixelSpacing``, often ``PixelSpacing``) leaves out
the magnification of that plane (source-to-detector over source-to-midsagittal distance, about
1.1 on cephalostats). So the ruler wins when it is usable, and the two are compared: the ruler's
mm/px should be the detector's divided by a magnification between
``CalibrationPolicy.magnification`` bounds. A flagged calibration is still reported, with
``status: check`` and the reasons; nothing is silently dropped.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

from cephmark.landmarks import RULER, RULER_DISTANCE_MM

# annotation: spacing stated with given points; ruler_pitch: the ruler's mark pitch (pitch_stage)
SOURCES = ("ruler", "ruler_pitch", "dicom", "annotation", "none")


@dataclass(frozen=True)
class CalibrationPolicy:
    """Plausibility limits for a ruler reading."""

    ruler_mm: float = RULER_DISTANCE_MM  # p1 -> p2 on the ruler
    min_score: float = 0.3  # weakest acceptable heatmap peak of a mark
    mm_per_px_range: tuple[float, float] = (0.03, 0.5)  # cephalograms: about 0.05..0.3
    magnification: tuple[float, float] = (1.0, 1.3)  # mid-sagittal plane vs detector
    tolerance: float = 0.03  # label / detection noise allowed on top of the magnification band


@dataclass(frozen=True)
class RulerMark:
    x: float | None
    y: float | None
    score: float | None = None
    found: bool = True

    @property
    def usable(self) -> bool:
        return self.found and self.x is not None and self.y is not None


@dataclass
class Calibration:
    mm_per_px: float | None
    source: str  # ruler | dicom | none
    status: str  # ok | check
    reasons: list[str] = field(default_factory=list)
    ruler: dict[str, Any] | None = None  # {p1, p2, distance_px, score}
    dicom_spacing_mm: float | None = None
    dicom_tag: str | None = None
    ruler_vs_dicom: float | None = None  # (ruler mm/px - DICOM mm/px) / DICOM mm/px
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        r = (lambda v, nd=6: None if v is None else round(float(v), nd))
        return {"mm_per_px": r(self.mm_per_px), "source": self.source, "ruler": self.ruler,
                "dicom_spacing_mm": r(self.dicom_spacing_mm), "dicom_tag": self.dicom_tag,
                "ruler_vs_dicom": r(self.ruler_vs_dicom, 4), "status": self.status,
                "reasons": list(self.reasons), "notes": list(self.notes)}


def ruler_problems(p1: RulerMark | None, p2: RulerMark | None, policy: CalibrationPolicy,
                   check_peak: bool = True) -> tuple[float | None, list[str]]:
    """(mm/px or None when unusable, reasons to check): marks found, order, peak (unless the ruler
    model judges its own peaks: ``check_peak=False``), range."""
    reasons: list[str] = []
    for name, mark in zip(RULER, (p1, p2)):
        if mark is None or not mark.usable:
            reasons.append(f"ruler mark {name} not found")
    if reasons:
        return None, reasons
    d = math.hypot(p2.x - p1.x, p2.y - p1.y)
    if d < 1e-6:
        return None, ["ruler marks p1 and p2 coincide"]
    mmpx = policy.ruler_mm / d
    if not p2.y < p1.y:
        reasons.append(f"p2 (1 cm) is not above p1 (0 cm): y {p2.y:.1f} vs {p1.y:.1f}")
    weak = [f"{n} {m.score:.2f}" for n, m in zip(RULER, (p1, p2))
            if check_peak and m.score is not None and m.score < policy.min_score]
    if weak:
        reasons.append(f"weak ruler peak ({', '.join(weak)} < {policy.min_score:g})")
    lo, hi = policy.mm_per_px_range
    if not lo <= mmpx <= hi:
        reasons.append(f"ruler mm/px {mmpx:.4f} outside the plausible {lo:g}..{hi:g}")
        return None, reasons
    return mmpx, reasons


def calibrate(p1: RulerMark | None = None, p2: RulerMark | None = None,
              dicom_spacing_mm: float | None = None, dicom_tag: str | None = None,
              flags: dict[str, Any] | None = None, policy: CalibrationPolicy | None = None,
              ruler_model: bool = True, pitch: dict[str, Any] | None = None) -> Calibration:
    """The calibration record of one image.

    ``p1``/``p2``: the ruler marks (None when no ruler model ran: ``ruler_model=False``).
    ``flags``: the ruler model's own plausibility verdict (``status``, ``reasons``, ``score``),
    when it gives one; its reasons are added to ours.
    ``pitch``: the ruler pitch record (`cephmark.calibration.pitch_stage.apply_pitch`): its
    mm/px replaces the marks' (source ``ruler_pitch``), its reasons are added.
    """
    policy = policy or CalibrationPolicy()
    reasons: list[str] = []
    notes: list[str] = []
    ruler = None
    mmpx_ruler = None
    if ruler_model:
        mmpx_ruler, problems = ruler_problems(p1, p2, policy, check_peak=not flags)
        reasons += problems
        if p1 is not None and p2 is not None and p1.usable and p2.usable:
            scores = [s for s in (p1.score, p2.score) if s is not None]
            ruler = {"p1": [round(p1.x, 2), round(p1.y, 2)], "p2": [round(p2.x, 2), round(p2.y, 2)],
                     "distance_px": round(math.hypot(p2.x - p1.x, p2.y - p1.y), 3),
                     "score": round(min(scores), 4) if scores else None}
        if flags:
            if flags.get("score") is not None and ruler is not None:
                ruler["flag_score"] = flags["score"]
            if flags.get("status") not in (None, "ok"):
                reasons += [f"ruler model: {r}" for r in flags.get("reasons") or [flags["status"]]
                            if f"ruler model: {r}" not in reasons]
        if pitch:
            reasons += [r for r in pitch.get("reasons") or [] if r not in reasons]
            if ruler is not None:
                ruler["pitch"] = {k: pitch.get(k) for k in ("mm_per_px", "pitch_px", "marks", "quality",
                                                            "std_error_pct", "marks_mm_per_px", "moved_marks")}
            if pitch.get("mm_per_px") and mmpx_ruler is not None:
                mmpx_ruler = float(pitch["mm_per_px"])
    dicom = dicom_spacing_mm if dicom_spacing_mm and dicom_spacing_mm > 0 else None
    rel = None
    if mmpx_ruler is not None:
        source = "ruler_pitch" if pitch and pitch.get("mm_per_px") else "ruler"
        mmpx = mmpx_ruler
        if dicom is not None:
            rel = (mmpx_ruler - dicom) / dicom
            lo = 1.0 / policy.magnification[1] - 1.0 - policy.tolerance
            hi = 1.0 / policy.magnification[0] - 1.0 + policy.tolerance
            if not lo <= rel <= hi:
                reasons.append(
                    f"ruler and DICOM {dicom_tag or 'spacing'} disagree by {100 * rel:+.1f} % (a "
                    f"magnification of {policy.magnification[0]:g}..{policy.magnification[1]:g} explains "
                    f"{100 * lo:+.0f}..{100 * hi:+.0f} %)")
                if flags and flags.get("status") not in (None, "ok"):  # two witnesses against the marks
                    source, mmpx = "dicom", dicom
                    reasons.append("ruler rejected (flagged by its model and against the DICOM spacing): "
                                   "DICOM spacing used")
            else:
                notes.append(f"implied magnification of the ruler plane {dicom / mmpx_ruler:.3f}")
    elif dicom is not None and dicom_tag == "annotation":
        source, mmpx = "annotation", dicom
        notes.append("mm/px as stated with the given points")
    elif dicom is not None:
        source, mmpx = "dicom", dicom
        notes.append(f"DICOM {dicom_tag or 'spacing'} is the detector's: it does not correct for the "
                     "magnification of the mid-sagittal plane (lengths come out about 10 % too large "
                     "on a cephalostat)")
        if ruler_model:
            reasons.append("ruler unusable: DICOM spacing used instead")
    else:
        source, mmpx = "none", None
        reasons.append("no usable ruler and no DICOM spacing: lengths in pixels only" if ruler_model
                       else "no ruler model and no DICOM spacing: lengths in pixels only")
    if not ruler_model:
        notes.append("no ruler model ran (--calibration none)")
    return Calibration(mmpx, source, "check" if reasons else "ok", reasons, ruler, dicom, dicom_tag, rel, notes)


def marks_from(landmarks: Sequence[Any]) -> tuple[RulerMark | None, RulerMark | None]:
    """p1/p2 `RulerMark`s from `LandmarkResult`-like objects (``name, x, y, score, found``)."""
    found = {lm.name: lm for lm in landmarks if lm.name in RULER}
    marks = []
    for name in RULER:
        lm = found.get(name)
        marks.append(None if lm is None else RulerMark(lm.x, lm.y, getattr(lm, "score", None),
                                                       bool(getattr(lm, "found", True))))
    return marks[0], marks[1]
