"""Choose the ruler-flag limits on one split (dev), report them on another (test1).

    python benchmarks/p1p2/flags_tune.py --checkpoint CASCADE.pth --choose dev_flags.csv \
        --report test1_flags.csv

Reads `ruler_eval.py` CSVs (per-image features and true mm/px error), recomputes the flags for
each combination of limits on a small grid and keeps, in this order of priority: every dev image
above 2 % flagged; at most 8 % of the good (<= 1 %) images flagged; as many images above 1 %
flagged as possible; the fewest good ones flagged; the loosest limits. Prints its counts on
both files.
"""
from __future__ import annotations

import argparse
import csv
import itertools
import math
import sys

from cephmark.calibration.cascade import CASCADE_KEY
from cephmark.calibration.flags import FlagLimits, ruler_flags
from cephmark.inference.refine import RefineDetails
from cephmark.inference.results import ImageResult, LandmarkResult
from cephmark.models.checkpoint import read_checkpoint

GRID = {"min_peak": [0.0, 0.1, 0.2, 0.3, 0.4, 0.5],
        "max_width_px": [8.0, 9.0, 10.0, 12.0, math.inf],
        "max_move_px": [20.0, 30.0, 40.0, 60.0, math.inf],
        "distance_tol": [0.0, 0.0025, 0.005, 0.01, 0.02, 0.03, math.inf],
        "angle_tol_deg": [1.0, 2.0, 4.0, math.inf]}


GOOD_BUDGET = 0.08  # at most this share of good images flagged on the choosing split (target: < 10 %)


def load(path: str) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def rebuild(row: dict, labels: dict) -> tuple[RefineDetails, ImageResult]:
    f = lambda k: float(row[k])  # noqa: E731
    lms = [LandmarkResult(n, f(f"{n}_x"), f(f"{n}_y"), 1.0, True) for n in ("p1", "p2")]
    res = ImageResult(image=row["image"], width=0, height=0, spacing_mm=None, spacing_source=None, landmarks=lms)
    coarse = {n: (f(f"{n}_coarse_x"), f(f"{n}_coarse_y")) for n in ("p1", "p2")
              if not math.isnan(f(f"{n}_coarse_x"))}
    det = RefineDetails(coarse=coarse, labels=labels,
                        peak={n: f(f"{n}_peak") for n in ("p1", "p2") if not math.isnan(f(f"{n}_peak"))},
                        width_px={n: f(f"{n}_width_px") for n in ("p1", "p2") if not math.isnan(f(f"{n}_width_px"))},
                        outside=[n for n in row.get("outside", "").split(",") if n])
    return det, res


def counts(rows: list[dict], labels: dict, limits: FlagLimits) -> dict:
    out = {"n": len(rows), "bad2": 0, "bad2_flagged": 0, "bad1": 0, "bad1_flagged": 0, "good": 0, "good_flagged": 0}
    for r in rows:
        err = float(r["mmpx_err_pct"])
        flagged = ruler_flags(*rebuild(r, labels), limits)[0] == "check"
        for key, cond in (("bad2", err > 2.0), ("bad1", err > 1.0), ("good", err <= 1.0)):
            if cond:
                out[key] += 1
                out[f"{key}_flagged"] += flagged
    return out


def fmt(c: dict) -> str:
    return (f"> 2 %: {c['bad2_flagged']}/{c['bad2']} flagged; > 1 %: {c['bad1_flagged']}/{c['bad1']}; "
            f"good flagged {c['good_flagged']}/{c['good']} ({100 * c['good_flagged'] / max(1, c['good']):.1f} %)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--choose", required=True)
    ap.add_argument("--report", nargs="*", default=[])
    a = ap.parse_args()
    labels = read_checkpoint(a.checkpoint)[CASCADE_KEY]["labels"]
    dev = load(a.choose)
    best = None
    keys = list(GRID)
    for values in itertools.product(*(GRID[k] for k in keys)):
        lim = FlagLimits(**dict(zip(keys, values)))
        c = counts(dev, labels, lim)
        over = max(0.0, c["good_flagged"] / max(1, c["good"]) - GOOD_BUDGET)
        score = (c["bad2"] - c["bad2_flagged"], over, c["bad1"] - c["bad1_flagged"], c["good_flagged"],
                 [-v if math.isfinite(v) else -1e9 for v in values])
        if best is None or score < best[0]:
            best = (score, lim, c)
    _, lim, c = best
    print(f"chosen on {a.choose}: {lim}")
    print(f"  {a.choose}: {fmt(c)}")
    print(f"  defaults on {a.choose}: {fmt(counts(dev, labels, FlagLimits()))}")
    for path in a.report:
        rows = load(path)
        print(f"  {path}: chosen {fmt(counts(rows, labels, lim))}; defaults {fmt(counts(rows, labels, FlagLimits()))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
