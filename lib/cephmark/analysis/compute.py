"""Evaluate the measurement table on one image's landmarks: orientation, units, norms, classes.

A measurement whose landmarks are not all available is null with the reason; so is a length
when no mm/px is known (its pixel value is still given) and a degenerate geometry.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from cephmark.analysis.geometry import GeometryError, facing, mirrored
from cephmark.analysis.measurements import Measurement, select

FACES = ("auto", "right", "left")


@dataclass
class MeasuredValue:
    measurement: Measurement
    value: float | None
    reason: str | None = None
    value_px: float | None = None  # lengths: the value in pixels (also when mm/px is unknown)

    @property
    def deviation_sd(self) -> float | None:
        norm = self.measurement.norm
        if self.value is None or norm is None or norm.sd <= 0:
            return None
        return (self.value - norm.mean) / norm.sd

    @property
    def class_rule(self):
        return None if self.value is None else self.measurement.classify(self.value)

    @property
    def out_of_norm(self) -> bool:
        d = self.deviation_sd
        return d is not None and abs(d) > 1.0

    def to_dict(self) -> dict:
        m = self.measurement
        c = self.class_rule
        d = self.deviation_sd
        out = {
            "value": _round(self.value), "unit": m.unit,
            "norm": None if m.norm is None else {"mean": m.norm.mean, "sd": m.norm.sd},
            "deviation_sd": _round(d), "class": None if c is None else {"code": c.code, "label": c.label},
            "reason": self.reason, "title": m.title, "definition": m.geometry.describe(),
            "landmarks": list(m.geometry.landmarks()), "source": m.source,
        }
        if m.note:
            out["note"] = m.note
        if m.unit == "mm":
            out["value_px"] = _round(self.value_px)
        return out


@dataclass
class Orientation:
    face: str  # where the face looks in the image: "right" | "left"
    mirrored: bool
    how: str  # "detected" (from the landmarks), "given" (face= argument) or "assumed" (unknown)

    def to_dict(self) -> dict:
        note = {"detected": "from the landmarks", "given": "as given",
                "assumed": "unknown (no anterior/posterior landmark pair): assumed"}[self.how]
        note = f"face looks {self.face} ({note})"
        if self.mirrored:
            note += ("; landmarks mirrored (x -> -x) before measuring, so signed values keep the "
                     "face-right convention")
        return {"face": self.face, "mirrored": self.mirrored, "how": self.how, "note": note}


@dataclass
class MeasurementSet:
    orientation: Orientation
    mm_per_px: float | None
    values: list[MeasuredValue] = field(default_factory=list)

    def get(self, analysis: str, name: str) -> MeasuredValue:
        for v in self.values:
            if v.measurement.analysis == analysis and v.measurement.name == name:
                return v
        raise KeyError(f"no measurement {analysis}/{name}")

    def to_dict(self) -> dict:
        """``{analysis: {name: entry}}`` in table order."""
        out: dict[str, dict] = {}
        for v in self.values:
            out.setdefault(v.measurement.analysis, {})[v.measurement.name] = v.to_dict()
        return out


def _round(v: float | None, nd: int = 3) -> float | None:
    return None if v is None or not math.isfinite(v) else round(float(v), nd)


def measure(points: Mapping[str, Sequence[float] | None], mm_per_px: float | None = None,
            analyses: list[str] | None = None, unavailable: Mapping[str, str] | None = None,
            face: str = "auto") -> MeasurementSet:
    """Measurements of ``analyses`` (all when None) from ``points`` (name -> (x, y) image pixels;
    None or a missing name = not available; ``unavailable`` may say why per name)."""
    if face not in FACES:
        raise ValueError(f"face must be one of {', '.join(FACES)}, not {face!r}")
    pts = {k: np.asarray(v, float) for k, v in points.items()
           if v is not None and len(v) == 2 and all(math.isfinite(float(c)) for c in v)}
    detected = facing(pts) if face == "auto" else None
    side = detected or (face if face != "auto" else "right")
    how = "given" if face != "auto" else ("detected" if detected else "assumed")
    orientation = Orientation(side, side == "left", how)
    if side == "left":
        pts = mirrored(pts)
    unavailable = dict(unavailable or {})
    out = MeasurementSet(orientation, mm_per_px)
    for m in select(analyses):
        out.values.append(_one(m, pts, mm_per_px, unavailable))
    return out


def _one(m: Measurement, pts: dict, mm_per_px: float | None, unavailable: dict) -> MeasuredValue:
    missing = [n for n in m.geometry.landmarks() if n not in pts]
    if missing:
        why = "; ".join(f"{n}: {unavailable.get(n, 'not available')}" for n in missing)
        return MeasuredValue(m, None, f"missing landmark{'s' if len(missing) > 1 else ''} ({why})")
    try:
        raw = m.geometry.value(pts)
    except GeometryError as exc:
        return MeasuredValue(m, None, f"cannot be measured: {exc}")
    if m.unit != "mm":
        return MeasuredValue(m, raw)
    if mm_per_px is None:
        return MeasuredValue(m, None, "no mm/px for this image (no ruler marks, no DICOM spacing)", raw)
    return MeasuredValue(m, raw * mm_per_px, None, raw)
