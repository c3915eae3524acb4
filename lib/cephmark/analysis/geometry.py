"""Plane geometry of the measurement table: angles, lines, distances, projections.

Points are ``(x, y)`` image pixels (x right, y down) in the *face-right* frame: a face looking
left is mirrored first (`orient`), so signed quantities keep one meaning. Conventions:

* a signed angle between lines ``p -> q`` and ``r -> s`` is positive when turning the first
  direction onto the second goes clockwise on the screen (y down), in (-180, 180];
* ``normal`` of a line ``p -> q`` with direction ``(dx, dy)`` is ``(dy, -dx)``: for a line
  running down the face it points forward (toward the face), for one running forward it points up.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Union

import numpy as np

# anterior / posterior landmarks that tell which way the face looks (first pair that exists wins)
_FACING_PAIRS = [("sella", "nasion"), ("porion", "orbitale"), ("posterior_nasal_spine", "anterior_nasal_spine"),
                 ("gonion", "pogonion"), ("articulare", "subspinale_A_point")]


@dataclass(frozen=True)
class Mid:
    """The midpoint of two landmarks (e.g. the occlusal contact of the first molars)."""

    a: str
    b: str

    def __str__(self) -> str:
        return f"mid({self.a}, {self.b})"


PointRef = Union[str, Mid]


class GeometryError(ValueError):
    """A measurement cannot be evaluated (coincident points, parallel lines ...)."""


def landmarks_of(ref: PointRef) -> tuple[str, ...]:
    return (ref.a, ref.b) if isinstance(ref, Mid) else (ref,)


def resolve(ref: PointRef, points: Mapping[str, np.ndarray]) -> np.ndarray:
    if isinstance(ref, Mid):
        return (np.asarray(points[ref.a], float) + np.asarray(points[ref.b], float)) / 2.0
    return np.asarray(points[ref], float)


def _unit(v: np.ndarray, what: str) -> np.ndarray:
    n = float(np.hypot(*v))
    if n < 1e-9:
        raise GeometryError(f"{what}: the two points coincide")
    return v / n


def angle_at(a: np.ndarray, vertex: np.ndarray, b: np.ndarray) -> float:
    """Angle a-vertex-b in degrees, [0, 180]."""
    u = _unit(a - vertex, "first arm")
    w = _unit(b - vertex, "second arm")
    return math.degrees(math.acos(float(np.clip(u @ w, -1.0, 1.0))))


def line_angle(p: np.ndarray, q: np.ndarray, r: np.ndarray, s: np.ndarray, signed: bool = False) -> float:
    """Angle between directions p->q and r->s in degrees: [0, 180], or signed (clockwise > 0)."""
    u = _unit(q - p, "first line")
    w = _unit(s - r, "second line")
    cross = float(u[0] * w[1] - u[1] * w[0])
    dot = float(np.clip(u @ w, -1.0, 1.0))
    if signed:
        return math.degrees(math.atan2(cross, dot))
    return math.degrees(math.acos(dot))


def distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.hypot(*(b - a)))


def projected(a: np.ndarray, b: np.ndarray, p: np.ndarray, q: np.ndarray, axis: str = "along") -> float:
    """Signed component of b - a along the line p->q (``along``) or along its `normal`."""
    d = _unit(q - p, "reference line")
    if axis == "normal":
        d = np.array([d[1], -d[0]])
    elif axis != "along":
        raise ValueError(f"axis must be 'along' or 'normal', not {axis!r}")
    return float((b - a) @ d)


def facing(points: Mapping[str, np.ndarray]) -> str | None:
    """``"right"`` or ``"left"`` (where the face looks), from the first posterior/anterior pair
    present; None when no pair is available or the pair is vertical."""
    for back, front in _FACING_PAIRS:
        if back in points and front in points:
            dx = float(points[front][0]) - float(points[back][0])
            if abs(dx) > 1e-6:
                return "right" if dx > 0 else "left"
    return None


def mirrored(points: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """x -> -x: a face looking left becomes one looking right (angles and lengths unchanged)."""
    return {k: np.array([-float(v[0]), float(v[1])]) for k, v in points.items()}


# -- the measurement kinds: each knows its landmarks and evaluates on face-right points -------------

class Kind:
    """One kind of measurement. ``value`` is in degrees (angles) or pixels (lengths) or a plain
    number (ratios); `compute` turns pixels into millimetres."""

    kind: str = ""
    is_angle: bool = False
    is_length: bool = False

    def landmarks(self) -> tuple[str, ...]:
        raise NotImplementedError

    def value(self, points: Mapping[str, np.ndarray]) -> float:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


def _names(*refs: PointRef) -> tuple[str, ...]:
    return tuple(dict.fromkeys(n for r in refs for n in landmarks_of(r)))


@dataclass(frozen=True)
class AngleAt(Kind):
    """Angle a-vertex-b (unsigned), e.g. SNA = angle S-N-A at N."""

    a: PointRef
    vertex: PointRef
    b: PointRef
    kind = "angle_at_vertex"
    is_angle = True

    def landmarks(self):
        return _names(self.a, self.vertex, self.b)

    def value(self, points):
        return angle_at(resolve(self.a, points), resolve(self.vertex, points), resolve(self.b, points))

    def describe(self):
        return f"angle {self.a}-{self.vertex}-{self.b} at {self.vertex}"


@dataclass(frozen=True)
class LineAngle(Kind):
    """Angle between the directed lines p->q and r->s; signed: clockwise on screen (face right) > 0."""

    p: PointRef
    q: PointRef
    r: PointRef
    s: PointRef
    signed: bool = False
    kind = "angle_between_lines"
    is_angle = True

    def landmarks(self):
        return _names(self.p, self.q, self.r, self.s)

    def value(self, points):
        return line_angle(*(resolve(x, points) for x in (self.p, self.q, self.r, self.s)), signed=self.signed)

    def describe(self):
        sign = "signed (clockwise, face right, > 0) " if self.signed else ""
        return f"{sign}angle between {self.p}->{self.q} and {self.r}->{self.s}"


@dataclass(frozen=True)
class Distance(Kind):
    """|b - a|; with ``sign_by_x`` negative when b lies left of (behind) a in the face-right frame
    (the ISBI 2015 challenge's MW)."""

    a: PointRef
    b: PointRef
    sign_by_x: bool = False
    kind = "distance"
    is_length = True

    def landmarks(self):
        return _names(self.a, self.b)

    def value(self, points):
        pa, pb = resolve(self.a, points), resolve(self.b, points)
        d = distance(pa, pb)
        return -d if self.sign_by_x and pb[0] < pa[0] else d

    def describe(self):
        sign = ", negative when {self.b} is behind {self.a}".format(self=self) if self.sign_by_x else ""
        return f"distance {self.a}-{self.b}{sign}"


@dataclass(frozen=True)
class Projected(Kind):
    """Signed component of b - a along the line p->q (``along``) or its normal (``normal``):
    AO-BO of the Wits appraisal, or a point's distance from a line (a on the line)."""

    a: PointRef
    b: PointRef
    p: PointRef
    q: PointRef
    axis: str = "along"
    kind = "distance_projected_on_line"
    is_length = True

    def landmarks(self):
        return _names(self.a, self.b, self.p, self.q)

    def value(self, points):
        return projected(*(resolve(x, points) for x in (self.a, self.b, self.p, self.q)), axis=self.axis)

    def describe(self):
        where = f"the normal of {self.p}->{self.q}" if self.axis == "normal" else f"{self.p}->{self.q}"
        return f"({self.b} - {self.a}) projected on {where}"


@dataclass(frozen=True)
class Ratio(Kind):
    """numerator / denominator (two lengths) times ``scale`` (100 for per cent)."""

    numerator: Kind
    denominator: Kind
    scale: float = 1.0
    kind = "ratio"

    def landmarks(self):
        return tuple(dict.fromkeys(self.numerator.landmarks() + self.denominator.landmarks()))

    def value(self, points):
        den = self.denominator.value(points)
        if abs(den) < 1e-9:
            raise GeometryError("ratio: the denominator is zero")
        return self.scale * self.numerator.value(points) / den

    def describe(self):
        times = f" x {self.scale:g}" if self.scale != 1 else ""
        return f"({self.numerator.describe()}) / ({self.denominator.describe()}){times}"


@dataclass(frozen=True)
class SumOfAngles(Kind):
    """constant + sum of coefficient x angle (e.g. ANB = SNA - SNB; FMIA = 180 - FMA - IMPA)."""

    terms: tuple[tuple[float, Kind], ...]
    constant: float = 0.0
    kind = "sum_of_angles"
    is_angle = True

    def __post_init__(self):
        for _, term in self.terms:
            if not term.is_angle:
                raise ValueError(f"sum of angles: {term.describe()} is not an angle")

    def landmarks(self):
        return tuple(dict.fromkeys(n for _, t in self.terms for n in t.landmarks()))

    def value(self, points):
        return self.constant + sum(c * t.value(points) for c, t in self.terms)

    def describe(self):
        parts = [f"{self.constant:g}"] if self.constant else []
        for c, t in self.terms:
            sign = "+" if c >= 0 else "-"
            k = "" if abs(c) == 1 else f"{abs(c):g} x "
            parts.append(f"{sign} {k}[{t.describe()}]")
        return " ".join(parts).lstrip("+ ")
