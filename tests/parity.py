"""Point tolerances for parity tests that hold on any CPU (not a test module).

Two runs of the same model differ in their heatmaps by float reduction order (thread count,
SIMD width): about 1e-6 here. Argmax + DARK turns that into a point difference that depends
on the peak: where the Hessian of the blurred log-heatmap is nearly singular (a flat peak), a
1e-6 heatmap change moves the point by 1e-3 px and more. So parity tests compare heatmaps
tightly and points with :func:`dark_tolerance`: a first-order bound on how far
`HeatmapCodec.decode` can move each point when every heatmap value changes by at most
``heat_tol``; ``inf`` where the argmax itself may switch pixels (then the point is not compared).
"""
from __future__ import annotations

import cv2
import numpy as np

from cephmark.codecs import HeatmapCodec

HEAT_TOL = 2e-5  # heatmap bar for parity (measured: <= 2.4e-6 between 1 and 2 threads)
RUN_HEAT_TOL = 1e-5  # heatmap change allowed between two runs whose heatmaps are not seen (a server)
POINT_FLOOR = 1e-3  # px: the bar where the bound is smaller (well-conditioned peaks)
_CLIP = np.float32(1e-10)  # HeatmapCodec's log floor
# the DARK stencil around the peak: (dy, dx)
_STENCIL = [(0, 0), (0, 1), (0, -1), (1, 0), (-1, 0), (0, 2), (0, -2), (2, 0), (-2, 0),
            (1, 1), (1, -1), (-1, 1), (-1, -1)]


def _log_change(b: float, delta: float) -> float:
    """Largest change of log(max(b, clip)) when b moves by up to delta."""
    here = np.log(max(b, _CLIP))
    return float(max(abs(np.log(max(b + delta, _CLIP)) - here), abs(np.log(max(b - delta, _CLIP)) - here)))


def dark_tolerance(heatmaps: np.ndarray, heat_tol: float = HEAT_TOL, codec: HeatmapCodec | None = None
                   ) -> np.ndarray:
    """(J,) bound in heatmap pixels on the decoded point's move when each heatmap value moves by at
    most ``heat_tol``; ``inf`` when the argmax can switch or the Hessian can become singular."""
    codec = codec or HeatmapCodec()
    heatmaps = np.asarray(heatmaps, dtype=np.float32)
    out = np.zeros(len(heatmaps))
    for k, hm in enumerate(heatmaps):
        h, w = hm.shape
        top2 = np.partition(hm.ravel(), -2)[-2:]
        if top2[1] - top2[0] <= 2 * heat_tol or top2[1] <= heat_tol:
            out[k] = np.inf  # another pixel may become the maximum, or "found" may flip
            continue
        y, x = divmod(int(hm.argmax()), w)
        if not (1 < x < w - 2 and 1 < y < h - 2):
            continue  # border peak: no DARK step, the point is the pixel itself
        # blur is a weighted mean (moves values by <= heat_tol); the rescale to the pre-blur
        # maximum multiplies by max/blurred_max, each known to within heat_tol
        b = codec.blur_kernel // 2
        padded = np.zeros((h + 2 * b, w + 2 * b), dtype=np.float32)
        padded[b:-b, b:-b] = hm
        blurred = cv2.GaussianBlur(padded, (codec.blur_kernel, codec.blur_kernel), 0)[b:-b, b:-b]
        peak, bmax = float(hm.max()), float(blurred.max())
        if bmax <= heat_tol:
            out[k] = np.inf
            continue
        factor = peak / bmax
        rel = heat_tol / peak + heat_tol / (bmax - heat_tol)
        lg = codec._blurred_log(hm).astype(np.float64)
        eps = rounding = 0.0
        for dy, dx in _STENCIL:
            v = float(blurred[y + dy, x + dx]) * factor
            delta = heat_tol * factor + abs(v) * rel
            eps = max(eps, _log_change(v, delta))
            if v - delta > _CLIP:  # float32 rounding of a log that is not at the floor
                rounding = max(rounding, 8 * float(np.finfo(np.float32).eps) * abs(float(lg[y + dy, x + dx])))
        eps += rounding
        # one Newton step -H^-1 g with central differences (HeatmapCodec._newton_step):
        # |dg_i| <= eps, |dH_ij| <= eps, so ||dg|| <= sqrt(2) eps and ||dH|| <= 2 eps
        gx = 0.5 * (lg[y, x + 1] - lg[y, x - 1])
        gy = 0.5 * (lg[y + 1, x] - lg[y - 1, x])
        hxx = 0.25 * (lg[y, x + 2] - 2 * lg[y, x] + lg[y, x - 2])
        hyy = 0.25 * (lg[y + 2, x] - 2 * lg[y, x] + lg[y - 2, x])
        hxy = 0.25 * (lg[y + 1, x + 1] - lg[y - 1, x + 1] - lg[y + 1, x - 1] + lg[y - 1, x - 1])
        hess = np.array([[hxx, hxy], [hxy, hyy]])
        smin = float(np.linalg.svd(hess, compute_uv=False)[-1])
        d_h = 2 * eps
        if d_h == 0:
            continue  # e.g. a neighbourhood all at the log floor: the step stays what it is
        if smin <= 2 * d_h:
            out[k] = np.inf  # a perturbed Hessian may be singular (the codec then steps 0)
            continue
        offset = np.linalg.solve(hess, [gx, gy])
        out[k] = (np.sqrt(2) * eps + d_h * float(np.hypot(*offset))) / (smin - d_h)
    return out


def observed_heat_tol(ours: np.ndarray, reference: np.ndarray, heat_tol: float = HEAT_TOL) -> float:
    """Check ``ours`` against ``reference`` tightly (``heat_tol``) and return the heatmap change
    to derive point tolerances from: 4 x the difference seen here (another run of the same
    model, e.g. the CLI with other thread counts, differs by about as much), at least 2.5e-6
    (the largest difference measured between 1 and 2 threads)."""
    diff = float(np.abs(np.asarray(ours, np.float64) - np.asarray(reference, np.float64)).max())
    assert diff <= heat_tol, f"heatmaps differ by {diff} > {heat_tol}"
    return max(4 * diff, 2.5e-6)


def assert_points_match(got: np.ndarray, expected: np.ndarray, heatmaps: np.ndarray, px_per_heatmap_px: float,
                        heat_tol: float = HEAT_TOL, floor: float = POINT_FLOOR) -> np.ndarray:
    """Every point whose peak is stable within ``max(floor, bound)`` (image px); returns the
    per-landmark tolerances (``inf``: not compared). At least one point must be compared."""
    tol = np.maximum(floor, dark_tolerance(heatmaps, heat_tol) * px_per_heatmap_px)
    err = np.abs(np.asarray(got, dtype=np.float64) - np.asarray(expected, dtype=np.float64)).max(axis=1)
    compared = np.isfinite(tol)
    assert compared.any(), f"no landmark with a stable peak (tolerances {tol})"
    bad = compared & (err > tol)
    assert not bad.any(), f"points off: error {err} px vs tolerance {tol} px"
    return tol


def predictor_tolerances(predictor, image, heat_tol: float = RUN_HEAT_TOL, floor: float = POINT_FLOOR
                         ) -> np.ndarray:
    """(J,) image-px tolerances for comparing another run of ``predictor`` on ``image`` (e.g. the
    app server's, with its own thread count) with this one's points."""
    import torch

    item = predictor.prepare(image)
    heat = predictor.heatmaps(torch.as_tensor(np.asarray(item["image"]))[None]).cpu().numpy()[0]
    scale = float(item["meta"]["box"][2]) / heat.shape[-1]  # image px per heatmap px
    return np.maximum(floor, dark_tolerance(heat, heat_tol, predictor_codec(predictor)) * scale)


def predictor_codec(predictor) -> HeatmapCodec:
    c = predictor.codec
    return HeatmapCodec(blur_kernel=int(getattr(c, "blur_kernel", 11)))
