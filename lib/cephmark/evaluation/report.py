"""``cephmark evaluate``'s work: predict on annotated images, compare, tabulate, plot.

Spacing for mm figures, per image: the annotation's, else the image file's (DICOM), else the
``spacing_mm`` argument. For the ruler marks p1/p2 the predicted and labelled mm/px
(10 / |p1 - p2|) are compared too.
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from cephmark.annotations import AnnotationSet
from cephmark.evaluation.metrics import DEFAULT_THRESHOLDS_MM, per_landmark, radial_errors, sdr_key, summarize, to_mm
from cephmark.inference import ImageResult, LandmarkPredictor
from cephmark.landmarks import RULER, RULER_DISTANCE_MM


@dataclass
class Evaluation:
    names: list[str]
    images: list[str]
    pred: np.ndarray  # (N, J, 2) px, NaN = not found
    truth: np.ndarray  # (N, J, 2) px, NaN = not labelled
    spacing: np.ndarray  # (N,) mm/px, NaN = unknown
    results: list[ImageResult] = field(default_factory=list)

    @property
    def errors_px(self) -> np.ndarray:
        return radial_errors(self.pred, self.truth)

    @property
    def errors_mm(self) -> np.ndarray:
        return to_mm(self.errors_px, self.spacing)

    def overall(self) -> dict:
        return summarize(self.errors_px, self.errors_mm)

    def per_landmark(self) -> list[dict]:
        return per_landmark(self.errors_px, self.names, self.errors_mm)

    def points(self, which: str) -> list[dict[str, tuple[float, float] | None]]:
        """Per image ``{name: (x, y) or None}`` of ``"pred"`` or ``"truth"``."""
        arr = self.pred if which == "pred" else self.truth
        return [{n: tuple(arr[i, j]) if np.isfinite(arr[i, j]).all() else None for j, n in enumerate(self.names)}
                for i in range(len(self.images))]

    def measurements(self):
        """Cephalometric measurements from the predicted vs the true points (`MeasurementComparison`)."""
        from cephmark.evaluation.measurements import compare_measurements

        return compare_measurements(self.points("pred"), self.points("truth"), list(self.spacing), self.images)

    def ruler(self) -> dict | None:
        """Predicted vs labelled mm/px from p1/p2, when both are evaluated."""
        if not set(RULER) <= set(self.names):
            return None
        i, j = self.names.index(RULER[0]), self.names.index(RULER[1])
        d_true = np.linalg.norm(self.truth[:, i] - self.truth[:, j], axis=1)
        d_pred = np.linalg.norm(self.pred[:, i] - self.pred[:, j], axis=1)
        ok = np.isfinite(d_true) & (d_true > 0)
        mmpx_true = RULER_DISTANCE_MM / d_true[ok]
        with np.errstate(divide="ignore", invalid="ignore"):
            mmpx_pred = RULER_DISTANCE_MM / d_pred[ok]
        rel = np.abs(mmpx_pred - mmpx_true) / mmpx_true * 100
        found = np.isfinite(rel)
        return {"n": int(ok.sum()), "missed": int((~found).sum()),
                "mm_per_px_true_mean": float(mmpx_true.mean()) if ok.any() else math.nan,
                "mm_per_px_pred_mean": float(mmpx_pred[found].mean()) if found.any() else math.nan,
                "rel_error_pct_mean": float(rel[found].mean()) if found.any() else math.nan,
                "rel_error_pct_max": float(rel[found].max()) if found.any() else math.nan,
                "per_image": [(img, float(t), float(p)) for img, t, p in
                              zip(np.asarray(self.images)[ok], mmpx_true, mmpx_pred)]}


def evaluate(predictor: LandmarkPredictor, annotations: AnnotationSet,
             spacing_mm: float | None = None, progress: bool = False) -> Evaluation:
    """Run ``predictor`` on every annotated image and collect predictions and truth."""
    names = [n for n in annotations.landmark_names if n in predictor.landmark_names]
    if not names:
        raise ValueError(f"{annotations.source}: none of its landmarks "
                         f"({', '.join(annotations.landmark_names)}) is an output of the model "
                         f"({', '.join(predictor.landmark_names)})")
    paths = [a.image_path for a in annotations.images]
    n, j = len(paths), len(names)
    pred = np.full((n, j, 2), np.nan)
    truth = np.full((n, j, 2), np.nan)
    spacing = np.full(n, np.nan)
    results: list[ImageResult] = []
    from tqdm import tqdm

    it = predictor.iter_predictions(paths)
    for k, (path, outcome, _) in enumerate(tqdm(it, total=n, disable=not progress, unit="image")):
        if isinstance(outcome, Exception):
            raise ValueError(f"{path}: {outcome}") from outcome
        results.append(outcome)
        ann = annotations.images[k]
        for col, name in enumerate(names):
            lm = outcome.point(name)
            if lm.found:
                pred[k, col] = (lm.x, lm.y)
            if name in ann.points:
                truth[k, col] = ann.points[name]
        sp = ann.spacing_mm or outcome.spacing_mm or spacing_mm
        spacing[k] = sp if sp else np.nan
    return Evaluation(names, [str(p) for p in paths], pred, truth, spacing, results)


def format_table(ev: Evaluation, thresholds: Sequence[float] = DEFAULT_THRESHOLDS_MM) -> str:
    cols = ["mre_px", "mre_mm", "sd_mm"] + [sdr_key(t) for t in thresholds]
    head = f"{'landmark':32s} {'n':>4s} " + " ".join(f"{c:>9s}" for c in cols)
    rows = [head, "-" * len(head)]
    for row in ev.per_landmark() + [{"name": "OVERALL", **ev.overall()}]:
        rows.append(f"{row['name']:32s} {row['n']:4d} " +
                    " ".join(f"{row[c]:9.3f}" if not math.isnan(row[c]) else f"{'-':>9s}" for c in cols))
    from cephmark.evaluation.measurements import format_measurement_table

    measured = [r for r in ev.measurements().rows() if r["n"]]
    if measured:
        rows += ["", "measurements from predicted vs true points (MAE in the unit; class agreement %)",
                 format_measurement_table(measured)]
    ruler = ev.ruler()
    if ruler:
        rows.append(f"ruler mm/px: labelled {ruler['mm_per_px_true_mean']:.5f}, predicted "
                    f"{ruler['mm_per_px_pred_mean']:.5f}, relative error mean "
                    f"{ruler['rel_error_pct_mean']:.3f} % (max {ruler['rel_error_pct_max']:.3f} %) "
                    f"over {ruler['n']} images")
    return "\n".join(rows)


def write_report(ev: Evaluation, out_dir: str | Path, worst: int = 3) -> list[Path]:
    """metrics CSV (per landmark + overall), per-image errors CSV, error-bar and overlay PNGs."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = ev.per_landmark() + [{"name": "OVERALL", **ev.overall()}]
    written = [out / "metrics.csv", out / "errors.csv"]
    with open(written[0], "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    e_px, e_mm = ev.errors_px, ev.errors_mm
    with open(written[1], "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["image", "landmark", "x_true", "y_true", "x_pred", "y_pred", "error_px", "error_mm"])
        for i, img in enumerate(ev.images):
            for j, name in enumerate(ev.names):
                w.writerow([img, name, *ev.truth[i, j], *ev.pred[i, j], e_px[i, j], e_mm[i, j]])
    cmp = ev.measurements()
    if any(r["n"] for r in cmp.rows()):
        from cephmark.evaluation.measurements import write_measurement_csvs

        written += write_measurement_csvs(cmp, out)
    ruler = ev.ruler()
    if ruler:
        written.append(out / "ruler.csv")
        with open(written[-1], "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["image", "mm_per_px_true", "mm_per_px_pred", "rel_error_pct"])
            for img, t, p in ruler["per_image"]:
                w.writerow([img, t, p, abs(p - t) / t * 100])
    written.append(_error_bars(ev, out / "per_landmark_errors.png"))
    written.extend(_worst_overlays(ev, out, worst))
    return written


def _error_bars(ev: Evaluation, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = ev.per_landmark()
    use_mm = not all(math.isnan(r["mre_mm"]) for r in rows)
    k_mean, k_sd, unit = ("mre_mm", "sd_mm", "mm") if use_mm else ("mre_px", "sd_px", "px")
    mean = [r[k_mean] for r in rows]
    err = [r[k_sd] for r in rows]
    fig, ax = plt.subplots(figsize=(max(6, 0.35 * len(rows) + 2), 4))
    ax.bar(range(len(rows)), mean, yerr=err, capsize=3, color="#4a7ab7")
    ax.set_xticks(range(len(rows)), [r["name"] for r in rows], rotation=75, ha="right", fontsize=8)
    ax.set_ylabel(f"radial error ({unit}), mean ± SD")
    ax.set_title("Per-landmark error")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _worst_overlays(ev: Evaluation, out: Path, worst: int) -> list[Path]:
    from cephmark.inference.overlay import save_overlay
    from cephmark.io import read_image

    per_image = np.nanmean(np.where(np.isinf(ev.errors_px), np.nan, ev.errors_px), axis=1)
    order = [i for i in np.argsort(-np.nan_to_num(per_image, nan=-1)) if not np.isnan(per_image[i])]
    paths = []
    for i in order[:worst]:
        truth = {n: tuple(ev.truth[i, j]) for j, n in enumerate(ev.names) if np.isfinite(ev.truth[i, j]).all()}
        paths.append(save_overlay(read_image(ev.images[i]).pixels, ev.results[i], out / "worst", truth))
    return paths
