"""Landmark detection metrics (pure numpy): radial errors, MRE and SDR.

Conventions shared by training-time validation and ``cephmark evaluate``:

* Points are ``(..., 2)`` arrays in pixels; NaN marks a missing point.
* A ground-truth point that is missing is *not evaluated*: its error is NaN and it is left out
  of every statistic.
* A prediction that is missing (not found) while the ground truth exists is a *miss*: its
  error is ``inf``. Misses are left out of MRE / SD (reported separately as ``missed``) but
  count as failures in SDR (the denominator is every evaluated point).
* SDR at ``t`` mm is the percentage of evaluated points with error <= t (a distance of exactly
  ``t`` counts as within; a relative tolerance of 1e-9 absorbs floating-point noise).
"""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

DEFAULT_THRESHOLDS_MM: tuple[float, ...] = (2.0, 2.5, 3.0, 4.0)
_REL_TOL = 1e-9


def radial_errors(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Euclidean distance per point: NaN where ``gt`` is missing, inf where only ``pred`` is."""
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if pred.shape != gt.shape or pred.shape[-1] != 2:
        raise ValueError(f"pred {pred.shape} and gt {gt.shape} must both be (..., 2)")
    err = np.hypot(pred[..., 0] - gt[..., 0], pred[..., 1] - gt[..., 1])
    gt_ok = np.isfinite(gt).all(axis=-1)
    pred_ok = np.isfinite(pred).all(axis=-1)
    err = np.where(gt_ok & ~pred_ok, np.inf, err)
    return np.where(gt_ok, err, np.nan)


def to_mm(errors_px: np.ndarray, spacing_mm: float | np.ndarray | None) -> np.ndarray:
    """Pixel errors (N, J) times the per-image spacing (N,) (or one number); NaN spacing -> NaN."""
    errors_px = np.asarray(errors_px, dtype=np.float64)
    if spacing_mm is None:
        return np.full_like(errors_px, np.nan)
    sp = np.asarray(spacing_mm, dtype=np.float64)
    if sp.ndim == 1 and errors_px.ndim >= 2:
        sp = sp.reshape((-1,) + (1,) * (errors_px.ndim - 1))
    with np.errstate(invalid="ignore"):
        return errors_px * sp


def _finite(errors: np.ndarray) -> np.ndarray:
    e = np.asarray(errors, dtype=np.float64).ravel()
    return e[np.isfinite(e)]


def mre(errors: np.ndarray) -> float:
    """Mean radial error over finite errors (misses and missing points left out); NaN if none."""
    e = _finite(errors)
    return float(e.mean()) if e.size else float("nan")


def sd(errors: np.ndarray) -> float:
    """Standard deviation (population, ddof 0) of the finite errors; NaN if none."""
    e = _finite(errors)
    return float(e.std()) if e.size else float("nan")


def count_evaluated(errors: np.ndarray) -> int:
    """Points with ground truth (finite error or a miss)."""
    return int((~np.isnan(np.asarray(errors, dtype=np.float64))).sum())


def count_missed(errors: np.ndarray) -> int:
    return int(np.isinf(np.asarray(errors, dtype=np.float64)).sum())


def sdr(errors_mm: np.ndarray, thresholds: Iterable[float] = DEFAULT_THRESHOLDS_MM) -> dict[float, float]:
    """Successful detection rate in percent per threshold (NaN when nothing is evaluated)."""
    e = np.asarray(errors_mm, dtype=np.float64).ravel()
    e = e[~np.isnan(e)]  # inf (missed) stays and counts as a failure
    out: dict[float, float] = {}
    for t in thresholds:
        t = float(t)
        out[t] = float(100.0 * np.mean(e <= t * (1 + _REL_TOL))) if e.size else float("nan")
    return out


def sdr_key(threshold: float) -> str:
    """Column name for a threshold: 2.0 -> ``sdr_2``, 2.5 -> ``sdr_2.5``."""
    return f"sdr_{float(threshold):g}"


def summarize(errors_px: np.ndarray, errors_mm: np.ndarray | None = None,
              thresholds: Sequence[float] = DEFAULT_THRESHOLDS_MM) -> dict[str, float | int]:
    """One flat dict: ``n``, ``missed``, ``mre_px``, ``sd_px``, ``mre_mm``, ``sd_mm``, ``sdr_*``.

    mm statistics use only the points whose image has a known spacing (NaN in ``errors_mm``
    otherwise); they are NaN when no spacing is known at all.
    """
    out: dict[str, float | int] = {
        "n": count_evaluated(errors_px),
        "missed": count_missed(errors_px),
        "mre_px": mre(errors_px),
        "sd_px": sd(errors_px),
    }
    em = np.full_like(np.asarray(errors_px, dtype=np.float64), np.nan) if errors_mm is None \
        else np.asarray(errors_mm, dtype=np.float64)
    out["n_mm"] = count_evaluated(em)
    out["mre_mm"] = mre(em)
    out["sd_mm"] = sd(em)
    for t, v in sdr(em, thresholds).items():
        out[sdr_key(t)] = v
    return out


def per_landmark(errors_px: np.ndarray, names: Sequence[str], errors_mm: np.ndarray | None = None,
                 thresholds: Sequence[float] = DEFAULT_THRESHOLDS_MM) -> list[dict]:
    """`summarize` for each landmark (column j of (N, J) errors), with its ``name``."""
    errors_px = np.asarray(errors_px, dtype=np.float64)
    if errors_px.ndim != 2 or errors_px.shape[1] != len(names):
        raise ValueError(f"errors {errors_px.shape} do not match {len(names)} landmark names")
    em = None if errors_mm is None else np.asarray(errors_mm, dtype=np.float64)
    return [{"name": name, **summarize(errors_px[:, j], None if em is None else em[:, j], thresholds)}
            for j, name in enumerate(names)]
