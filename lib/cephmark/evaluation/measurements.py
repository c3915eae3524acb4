"""Measurement scoring: the cephalometric measurements from predicted points against those from
the truth, per measurement: mean absolute error (degrees / mm / ratio), signed bias and class
agreement (% of images where both values fall in the same class). A measurement counts only on
images where both sides have a value (lengths need the image's mm/px, the same for both)."""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from cephmark.analysis.compute import MeasurementSet, measure
from cephmark.analysis.measurements import Measurement, select

Points = Mapping[str, Sequence[float] | None]


@dataclass
class MeasurementComparison:
    table: list[Measurement]
    images: list[str]
    pred: np.ndarray  # (N, M) values, NaN = not measured
    truth: np.ndarray
    pred_class: list[list[str | None]]
    truth_class: list[list[str | None]]

    def rows(self) -> list[dict]:
        """One dict per measurement: analysis, name, unit, n, mae, sd_abs, bias, n_class, class_agreement."""
        out = []
        for j, m in enumerate(self.table):
            d = self.pred[:, j] - self.truth[:, j]
            ok = np.isfinite(d)
            pairs = [(p[j], t[j]) for p, t in zip(self.pred_class, self.truth_class)
                     if p[j] is not None and t[j] is not None]
            agree = 100.0 * sum(p == t for p, t in pairs) / len(pairs) if pairs else math.nan
            out.append({"analysis": m.analysis, "name": m.name, "unit": m.unit, "n": int(ok.sum()),
                        "mae": float(np.abs(d[ok]).mean()) if ok.any() else math.nan,
                        "sd_abs": float(np.abs(d[ok]).std()) if ok.any() else math.nan,
                        "bias": float(d[ok].mean()) if ok.any() else math.nan,
                        "n_class": len(pairs), "class_agreement": agree})
        return out


def _values(ms: MeasurementSet) -> tuple[list[float], list[str | None]]:
    vals = [math.nan if v.value is None else v.value for v in ms.values]
    classes = [None if v.class_rule is None else v.class_rule.code for v in ms.values]
    return vals, classes


def compare_measurements(pred: Sequence[Points], truth: Sequence[Points], spacing_mm: Sequence[float | None],
                         images: Sequence[str] | None = None, analyses: list[str] | None = None,
                         ) -> MeasurementComparison:
    """Measure both point sets of every image (same mm/px for both) and collect the values."""
    if not (len(pred) == len(truth) == len(spacing_mm)):
        raise ValueError(f"{len(pred)} predicted, {len(truth)} true point sets and {len(spacing_mm)} spacings")
    table = select(analyses)
    pv, tv, pc, tc = [], [], [], []
    for p, t, sp in zip(pred, truth, spacing_mm):
        sp = None if sp is None or not math.isfinite(float(sp)) else float(sp)
        a, ac = _values(measure(p, sp, analyses))
        b, bc = _values(measure(t, sp, analyses))
        pv.append(a), tv.append(b), pc.append(ac), tc.append(bc)
    names = list(images) if images is not None else [str(i) for i in range(len(pred))]
    shape = (len(pred), len(table))
    return MeasurementComparison(table, names, np.array(pv, float).reshape(shape),
                                 np.array(tv, float).reshape(shape), pc, tc)


def format_measurement_table(rows: Sequence[dict]) -> str:
    head = f"{'analysis':12s} {'measurement':14s} {'unit':5s} {'n':>4s} {'MAE':>8s} {'bias':>8s} {'class %':>8s}"
    lines = [head, "-" * len(head)]
    for r in rows:
        if r["n"] == 0:
            continue
        cls = "-" if math.isnan(r["class_agreement"]) else f"{r['class_agreement']:.1f}"
        lines.append(f"{r['analysis']:12s} {r['name']:14s} {r['unit']:5s} {r['n']:4d} {r['mae']:8.3f} "
                     f"{r['bias']:+8.3f} {cls:>8s}")
    return "\n".join(lines)


def write_measurement_csvs(cmp: MeasurementComparison, out_dir: str | Path) -> list[Path]:
    """``measurements.csv`` (per measurement) and ``measurements_per_image.csv``."""
    from cephmark.util import atomic_open

    out = Path(out_dir)
    rows = cmp.rows()
    paths = [out / "measurements.csv", out / "measurements_per_image.csv"]
    with atomic_open(paths[0], "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    with atomic_open(paths[1], "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["image", "analysis", "name", "unit", "pred", "truth", "pred_class", "truth_class"])
        for i, img in enumerate(cmp.images):
            for j, m in enumerate(cmp.table):
                w.writerow([img, m.analysis, m.name, m.unit, *(
                    "" if not math.isfinite(x) else x for x in (cmp.pred[i, j], cmp.truth[i, j])),
                    cmp.pred_class[i][j] or "", cmp.truth_class[i][j] or ""])
    return paths
