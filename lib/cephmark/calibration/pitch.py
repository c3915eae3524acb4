"""Ruler tick pitch along the p1 -> p2 axis, to a fraction of a pixel, from many marks.

A ruler's marks are periodic. The grey values along the ruler's axis (a band a few pixels wide
around the line through p1 and p2, averaged across the band with weights that favour rows where
the marks show) are demodulated at the expected pitch: ``z(s) = f(s) exp(-2 pi i s / P0)``
averaged over one period. Its phase grows linearly along a straight ruler; the slope of a
weighted line fitted to the unwrapped phase corrects ``P0`` to the measured pitch ``P``. Where
the marks fade (image edge, over-exposure) or the ruler bends away from the axis (the phase
slope changes), the fit stops: it keeps the straight run of marks around p1..p2.

``mm/px = pitch_mm / P`` then does not depend on which mark a network (or a user) picked: p1 and
p2 only have to lie on the ruler, roughly ``marks_between`` pitches apart. The result carries
how many marks were used, an estimated standard error and a quality score, and
``source = "ruler_pitch"`` (10 / |p1 - p2| is ``"ruler_marks"``).

`snap_to_tick` moves a point along the axis onto the centre of the nearest mark (the phase
model's intensity minimum or maximum), keeping its offset across the ruler.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import cv2
import numpy as np

SOURCE = "ruler_pitch"
STEP = 0.25  # profile sampling step along the axis, pixels
MIN_MARKS = 6  # fewer marks in the fitted run: no result
MIN_QUALITY = 0.5  # below: the result carries a reason
ABOVE_P2_MARKS = 1.0  # a straight run ending closer than this above p2 carries a reason


class PitchError(ValueError):
    """The pitch cannot be measured (no periodic marks along the axis, points off the image)."""


@dataclass
class PitchResult:
    pitch_px: float  # mark spacing along the axis, original pixels
    mm_per_px: float  # pitch_mm / pitch_px
    pitch_mm: float
    marks: float  # marks spanned by the fitted run (its length / pitch)
    std_error_pct: float  # estimated standard error of the pitch, % (from the phase residuals)
    quality: float  # 0..1: share of the band's grey-value variation the periodic model explains
    origin: tuple[float, float]  # p1 as given: s = 0 on the axis
    direction: tuple[float, float]  # unit vector p1 -> p2
    span: tuple[float, float]  # fitted run along the axis, pixels from p1
    phase0: float  # demodulated phase at s = 0 (radians), of the mark model cos(2 pi s / P + phase)
    dark_marks: bool  # marks darker than the ruler (slots) rather than brighter
    source: str = SOURCE
    reasons: list[str] = field(default_factory=list)  # why the result may be wrong (empty: none)

    def to_dict(self) -> dict:
        d = {k: getattr(self, k) for k in ("pitch_px", "mm_per_px", "pitch_mm", "marks",
                                           "std_error_pct", "quality", "source", "reasons")}
        d["span_px"] = list(self.span)
        return d

    def mark_positions(self, margin_marks: float = 0.0) -> np.ndarray:
        """Axis positions (pixels from p1) of the mark centres inside the fitted run, extended
        by ``margin_marks`` pitches at both ends (where the marks are extrapolated)."""
        period = self.pitch_px
        # centre: cos(2 pi s / P + phase0) = -1 for dark marks, +1 for bright ones
        target = math.pi if self.dark_marks else 0.0
        first = (target - self.phase0) / (2 * math.pi) * period
        k0 = math.ceil((self.span[0] - margin_marks * period - first) / period)
        k1 = math.floor((self.span[1] + margin_marks * period - first) / period)
        return first + period * np.arange(k0, k1 + 1)


def _unit(p1: Sequence[float], p2: Sequence[float]) -> tuple[np.ndarray, float]:
    d = np.asarray(p2, dtype=np.float64) - np.asarray(p1, dtype=np.float64)
    length = float(np.hypot(*d))
    if not math.isfinite(length) or length < 8:
        raise PitchError(f"p1 and p2 are {length:.1f} px apart: too close to measure a pitch")
    return d / length, length


def sample_band(pixels: np.ndarray, origin: np.ndarray, u: np.ndarray, s: np.ndarray,
                t: np.ndarray) -> np.ndarray:
    """Bilinear grey values (len(t), len(s)) at ``origin + s * u + t * n`` (n = u turned 90
    degrees); NaN outside the image."""
    grey = pixels if pixels.ndim == 2 else pixels.mean(axis=2)
    grey = np.ascontiguousarray(grey, dtype=np.float32)
    n = np.array([-u[1], u[0]])
    xs = origin[0] + s[None, :] * u[0] + t[:, None] * n[0]
    ys = origin[1] + s[None, :] * u[1] + t[:, None] * n[1]
    out = cv2.remap(grey, xs.astype(np.float32), ys.astype(np.float32), cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_CONSTANT, borderValue=float("nan"))
    h, w = grey.shape
    outside = (xs < 0) | (ys < 0) | (xs > w - 1) | (ys > h - 1)
    out[outside] = np.nan
    return out


def _detrend(f: np.ndarray, period_samples: int) -> np.ndarray:
    """Grey values minus their running mean over two periods (slow shading removed)."""
    k = max(3, 2 * period_samples + 1)
    return f - cv2.blur(f.reshape(1, -1).astype(np.float64), (k, 1), borderType=cv2.BORDER_REFLECT).ravel()


def _demodulate(f: np.ndarray, s: np.ndarray, period: float) -> np.ndarray:
    """Complex amplitude of the mark frequency at each sample (boxcar of one period)."""
    z = f * np.exp(-2j * math.pi * s / period)
    k = max(1, int(round(period / STEP)))
    kern = np.ones(k) / k
    return np.convolve(z.real, kern, mode="same") + 1j * np.convolve(z.imag, kern, mode="same")


def _coarse_period(rows: np.ndarray, s: np.ndarray, lo: float, hi: float) -> float:
    """The period in [lo, hi] with the most power summed over the band's rows (periodogram on a
    fine grid). Summed per row, the full-length marks near the edge win over the every-5th /
    every-10th pattern of the long marks deeper in the ruler."""
    periods = np.linspace(lo, hi, 400)
    carrier = np.exp(-2j * math.pi * s[:, None] / periods[None, :])
    power = (np.abs(rows @ carrier) ** 2).sum(axis=0)
    return float(periods[int(np.argmax(power))])


def _run_around(good: np.ndarray, centre: int) -> tuple[int, int]:
    """The contiguous stretch of True in ``good`` holding index ``centre`` (or its nearest)."""
    idx = np.flatnonzero(good)
    if not len(idx):
        return centre, centre
    if not good[centre]:
        centre = int(idx[np.argmin(abs(idx - centre))])
    a = centre
    while a > 0 and good[a - 1]:
        a -= 1
    b = centre
    while b < len(good) - 1 and good[b + 1]:
        b += 1
    return a, b


def measure_pitch(pixels: np.ndarray, p1: Sequence[float], p2: Sequence[float], *,
                  pitch_mm: float = 1.0, distance_mm: float = 10.0, band_px: float | None = None,
                  extend_marks: float = 12.0, below_marks: float = 1.0,
                  period_range: float = 0.3) -> PitchResult:
    """The mark pitch along the ruler through ``p1`` (lower, reference mark) and ``p2``.

    ``distance_mm / pitch_mm`` marks are expected between p1 and p2 (the search covers that
    pitch +- ``period_range``); the run may extend ``extend_marks`` pitches beyond p2 and
    ``below_marks`` below p1 where the marks continue on the same straight line. ``band_px``:
    half-width of the sampled band across the ruler (default 0.2 |p1 - p2|).
    """
    if pitch_mm <= 0 or distance_mm <= 0:
        raise ValueError(f"pitch_mm ({pitch_mm}) and distance_mm ({distance_mm}) must be positive")
    u, length = _unit(p1, p2)
    origin = np.asarray(p1, dtype=np.float64)
    expected = length * pitch_mm / distance_mm
    if expected < 3:
        raise PitchError(f"expected pitch {expected:.2f} px: marks this close cannot be resolved")
    half = band_px if band_px is not None else 0.2 * length
    s = np.arange(-below_marks * expected, length + extend_marks * expected, STEP)
    t = np.arange(-half, half + 0.5, 1.0)
    band = sample_band(pixels, origin, u, s, t)
    inside = np.isfinite(band).all(axis=0)
    if inside.sum() * STEP < MIN_MARKS * expected:
        raise PitchError("the ruler axis lies mostly outside the image")
    s, band = s[inside], band[:, inside]
    per = max(1, int(round(expected / STEP)))
    rows = np.stack([_detrend(r, per) for r in band])
    core = (s >= 0) & (s <= length)
    period0 = _coarse_period(rows[:, core], s[core], expected * (1 - period_range),
                             expected * (1 + period_range))
    # rows where the marks show: their amplitude at that period inside p1..p2
    carrier = np.exp(-2j * math.pi * s[core] / period0)
    row_amp = np.abs(rows[:, core] @ carrier)
    weights = np.where(row_amp >= 0.3 * row_amp.max(), row_amp, 0.0)
    if not weights.any():
        raise PitchError("no periodic marks along the p1 -> p2 axis")
    f = (weights @ rows) / weights.sum()
    z = _demodulate(f, s, period0)
    amp = np.abs(z)
    ref = float(np.median(amp[core]))
    if ref <= 0:
        raise PitchError("no periodic marks along the p1 -> p2 axis")
    phase = np.unwrap(np.angle(z))
    good = amp >= 0.35 * ref
    centre = int(np.argmin(abs(s - length / 2)))
    a, b = _run_around(good, centre)
    sel = np.zeros_like(good)
    sel[a:b + 1] = True
    beta, phi0, sel, resid = _fit_phase(s, phase, amp, sel, period0)
    omega = _refine_omega(s[sel], f[sel], 2 * math.pi / period0 + beta)
    period = 2 * math.pi / omega
    phi0 = _phase_at(s[sel], f[sel], omega)
    n_eff = max(1.0, sel.sum() * STEP / period0)  # ~ independent samples: one per period
    w = amp[sel] ** 2
    ss = s[sel]
    sxx = np.sum(w * (ss - np.average(ss, weights=w)) ** 2) / np.sum(w)
    sigma_phase = float(np.sqrt(np.average(resid ** 2, weights=w)))
    se_beta = sigma_phase / math.sqrt(max(sxx, 1e-9) * n_eff)
    se_pct = 100.0 * se_beta / omega
    model = 2 * np.abs(z[sel]) * np.cos(2 * math.pi * s[sel] / period0 + phase[sel])
    quality = float(max(0.0, 1.0 - np.var(f[sel] - model) / max(np.var(f[sel]), 1e-12)))
    span = (float(s[sel][0]), float(s[sel][-1]))
    marks = (span[1] - span[0]) / period
    if marks < MIN_MARKS:
        raise PitchError(f"only {marks:.1f} marks in a straight run along the axis")
    # mark polarity: the mean grey at the model's minima vs maxima along the band
    wave = np.cos(2 * math.pi * s[sel] / period + phi0)
    dark = float(np.mean(f[sel][wave < -0.7])) < float(np.mean(f[sel][wave > 0.7]))
    reasons = []
    if quality < MIN_QUALITY:
        reasons.append(f"weak periodic marks (quality {quality:.2f} < {MIN_QUALITY})")
    if span[1] < length - 0.5 * period or span[0] > 0.5 * period:
        reasons.append(f"marks fade or bend inside p1..p2 (run {span[0]:.0f}..{span[1]:.0f} px of "
                       f"{length:.0f})")
    if span[1] < length + ABOVE_P2_MARKS * period and s[-1] > length + 2 * ABOVE_P2_MARKS * period:
        reasons.append(f"the straight run of marks ends {(span[1] - length) / period:+.1f} marks from p2 "
                       f"(a bent or cut ruler end just above p2? p1/p2 may sit on the bent part)")
    if abs(length / period - distance_mm / pitch_mm) > 0.5:
        reasons.append(f"p1 and p2 are {length / period:.2f} marks apart, not "
                       f"{distance_mm / pitch_mm:g}")
    return PitchResult(pitch_px=float(period), mm_per_px=float(pitch_mm / period),
                       pitch_mm=float(pitch_mm), marks=float(marks), std_error_pct=float(se_pct),
                       quality=quality, origin=(float(origin[0]), float(origin[1])),
                       direction=(float(u[0]), float(u[1])), span=span, phase0=float(phi0),
                       dark_marks=bool(dark), reasons=reasons)


def _fit_phase(s: np.ndarray, phase: np.ndarray, amp: np.ndarray, sel: np.ndarray,
               period0: float, rounds: int = 4) -> tuple[float, float, np.ndarray, np.ndarray]:
    """Weighted line ``phase = c + beta s`` on ``sel``; the run is trimmed at either end while its
    end residuals exceed a quarter period (a bend or another ruler part). Returns beta, the
    phase at s = 0 of ``cos(2 pi s / P + phase0)`` with the corrected P, the final selection and
    its residuals."""
    sel = sel.copy()
    for _ in range(rounds):
        w = amp[sel] ** 2
        beta, c = np.polyfit(s[sel], phase[sel], 1, w=np.sqrt(w))
        resid = phase[sel] - (c + beta * s[sel])
        bad = np.abs(resid) > math.pi / 2
        if not bad.any():
            break
        idx = np.flatnonzero(sel)
        # keep the longest stretch of well-fitting samples
        ok = np.zeros_like(sel)
        ok[idx[~bad]] = True
        a, b = _run_around(ok, int(idx[len(idx) // 2]))
        sel = np.zeros_like(sel)
        sel[a:b + 1] = True
    w = amp[sel] ** 2
    beta, c = np.polyfit(s[sel], phase[sel], 1, w=np.sqrt(w))
    resid = phase[sel] - (c + beta * s[sel])
    # demodulated phase theta(s) = c + beta s of f ~ cos(2 pi s / P0 + theta) = cos(omega s + c)
    return float(beta), float(c), sel, resid


def _harmonic_rss(s: np.ndarray, f: np.ndarray, omega: float, harmonics: int) -> float:
    cols = [np.ones_like(s), s - s.mean()]
    for h in range(1, harmonics + 1):
        cols += [np.cos(h * omega * s), np.sin(h * omega * s)]
    a = np.stack(cols, axis=1)
    coef, *_ = np.linalg.lstsq(a, f, rcond=None)
    return float(np.sum((f - a @ coef) ** 2))


def _phase_at(s: np.ndarray, f: np.ndarray, omega: float) -> float:
    """phase0 of the first harmonic ``cos(omega s + phase0)`` fitted by least squares."""
    a = np.stack([np.ones_like(s), s - s.mean(), np.cos(omega * s), np.sin(omega * s)], axis=1)
    coef, *_ = np.linalg.lstsq(a, f, rcond=None)
    return float(math.atan2(-coef[3], coef[2]))


def _refine_omega(s: np.ndarray, f: np.ndarray, omega: float, harmonics: int = 3,
                  rel: float = 0.01, iters: int = 40) -> float:
    """Least-squares mark frequency: the periodic model (mean, slope and ``harmonics`` harmonics,
    which fit the mark's shape) with the smallest residual, by golden-section search within
    +- ``rel`` of ``omega``."""
    lo, hi = omega * (1 - rel), omega * (1 + rel)
    g = (math.sqrt(5) - 1) / 2
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = _harmonic_rss(s, f, a, harmonics), _harmonic_rss(s, f, b, harmonics)
    for _ in range(iters):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = _harmonic_rss(s, f, a, harmonics)
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = _harmonic_rss(s, f, b, harmonics)
    return (lo + hi) / 2


def snap_to_tick(result: PitchResult, point: Sequence[float]) -> tuple[float, float]:
    """``point`` moved along the axis onto the nearest mark centre (its offset across the ruler
    kept); the point itself when no mark of the fitted run is within half a pitch."""
    o, u = np.asarray(result.origin), np.asarray(result.direction)
    p = np.asarray(point, dtype=np.float64)
    s = float((p - o) @ u)
    marks = result.mark_positions()
    if not len(marks):
        return float(p[0]), float(p[1])
    m = float(marks[np.argmin(abs(marks - s))])
    if abs(m - s) > 0.5 * result.pitch_px:
        return float(p[0]), float(p[1])
    q = p + (m - s) * u
    return float(q[0]), float(q[1])


def mark_lengths(pixels: np.ndarray, result: PitchResult, band_px: float,
                 margin_marks: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """(mark positions along the axis, each mark's length across the ruler in pixels): how far
    the mark's contrast against the ruler between marks reaches within +- ``band_px``. Marks
    are extrapolated ``margin_marks`` beyond the fitted run (where there is no mark, the length
    comes out about 0)."""
    pos = result.mark_positions(margin_marks)
    o, u = np.asarray(result.origin), np.asarray(result.direction)
    t = np.arange(-band_px, band_px + 0.5, 1.0)
    half = result.pitch_px / 2
    at = sample_band(pixels, o, u, pos, t)
    between = 0.5 * (sample_band(pixels, o, u, pos - half, t) + sample_band(pixels, o, u, pos + half, t))
    contrast = (between - at) if result.dark_marks else (at - between)
    contrast = np.nan_to_num(contrast, nan=0.0)
    peak = contrast.max(axis=0)  # per mark: lengths do not depend on local exposure
    lengths = ((contrast > 0.5 * peak) & (peak > 0.1 * peak.max())).sum(axis=0).astype(float)
    return pos, lengths


def edge_offsets(pixels: np.ndarray, result: PitchResult, search_px: float = 6.0,
                 pieces: int = 2) -> list[tuple[float, float]]:
    """(axis position, offset across the axis) of the ruler's edge nearest the p1 -> p2 line, in
    ``pieces`` stretches of the fitted run: the strongest grey-level step within
    +- ``search_px`` of the line, in the ruler body between the marks; sub-pixel: where the grey
    value crosses half-way between the levels 3 px either side of the step."""
    o, u = np.asarray(result.origin), np.asarray(result.direction)
    pos = result.mark_positions()
    between = pos[:-1] + result.pitch_px / 2
    t = np.arange(-search_px - 2, search_px + 2.25, 0.25)
    out = []
    for part in np.array_split(between, pieces):
        if len(part) < 2:
            continue
        prof = np.nanmean(sample_band(pixels, o, u, part, t), axis=1)
        grad = np.abs(np.gradient(prof))
        inner = np.abs(t) <= search_px
        i = int(np.flatnonzero(inner)[np.argmax(grad[inner])])
        # the half-way crossing between the grey levels on either side of the strongest step
        lo, hi = max(0, i - 12), min(len(t) - 1, i + 12)
        mid = 0.5 * (prof[lo] + prof[hi])
        d = prof - mid
        cross = [j for j in range(lo, hi) if d[j] == 0 or d[j] * d[j + 1] < 0]
        if cross:
            j = min(cross, key=lambda j_: abs(j_ - i))
            frac = d[j] / (d[j] - d[j + 1]) if d[j] != d[j + 1] else 0.0
            out.append((float(part.mean()), float(t[j] + frac * 0.25)))
        else:
            out.append((float(part.mean()), float(t[i])))
    return out


@dataclass
class MarkSnap:
    p1: tuple[float, float]
    p2: tuple[float, float]
    moved_marks: int  # whole marks p1 moved to reach a major mark (0: on one already)
    major_found: bool  # major marks told apart by their length
    reasons: list[str] = field(default_factory=list)


def snap_reference_marks(pixels: np.ndarray, result: PitchResult, p1: Sequence[float],
                         p2: Sequence[float], *, major_every: int | None = 5,
                         distance_marks: int = 10, band_px: float | None = None,
                         on_edge: bool = True) -> MarkSnap:
    """p1 on the centre of the nearest major mark (every ``major_every``-th mark, told by its
    length; the nearest mark when None or when majors do not stand out), p2 ``distance_marks``
    marks further along the axis; across the axis on the ruler's edge nearest the given line
    (``on_edge``; else on the line through the given p1 along the axis)."""
    pos, lengths = mark_lengths(pixels, result, band_px or 0.45 * result.pitch_px * distance_marks)
    reasons: list[str] = []
    o, u = np.asarray(result.origin), np.asarray(result.direction)
    s1 = float((np.asarray(p1, dtype=np.float64) - o) @ u)
    if not len(pos):
        raise PitchError("no marks in the fitted run")
    near = int(np.argmin(abs(pos - s1)))
    target, major = near, False
    if major_every and len(pos) >= 2 * major_every:
        means = [np.median(lengths[r::major_every]) for r in range(major_every)]
        best = int(np.argmax(means))
        others = np.delete(lengths, np.arange(best, len(lengths), major_every))
        major = bool(means[best] > 1.2 * max(np.median(others), 1.0))
        if major:
            cand = np.arange(best, len(pos), major_every)
            target = int(cand[np.argmin(abs(cand - near))])
        else:
            reasons.append("major marks not told apart by length: p1 on the nearest mark")
    k2 = target + distance_marks
    s_p1 = float(pos[target])
    s_p2 = s_p1 + distance_marks * result.pitch_px
    if k2 >= len(pos):
        reasons.append("p2's mark lies beyond the fitted run: placed by the pitch")
    n = np.array([-u[1], u[0]])
    edge = edge_offsets(pixels, result) if on_edge else []
    if len(edge) >= 2:  # the ruler's edge as a line t(s) through the stretches' edge points
        (sa, ta), (sb, tb) = edge[0], edge[-1]
        t_at = lambda s_: ta + (tb - ta) * (s_ - sa) / (sb - sa)  # noqa: E731
    else:
        t_at = lambda s_: 0.0  # noqa: E731
    q1 = o + s_p1 * u + t_at(s_p1) * n
    q2 = o + s_p2 * u + t_at(s_p2) * n
    return MarkSnap((float(q1[0]), float(q1[1])), (float(q2[0]), float(q2[1])),
                    target - near, major, reasons)

