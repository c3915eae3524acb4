"""A p1/p2 cascade file on labelled images: point errors, mm/px error (10 / |p1 - p2|) and the
ruler flags (`cephmark.calibration.flags`) per image; a summary with the flag counts.

    python benchmarks/p1p2/ruler_eval.py --checkpoint runs/p1p2/total18_s0/checkpoint_p1_p2_cldetection.pth \
        --annotations runs/p1p2/test1.json --out runs/p1p2/total18_s0/test1_flags.csv

The images are the shared ISBI ones (--image-dir); 0.1 mm/px for the point errors.
"""
from __future__ import annotations

import argparse
import csv
import math
import os
import sys
from pathlib import Path

import numpy as np

from cephmark.annotations import read_annotations
from cephmark.calibration.flags import LIMITS, ruler_flags
from cephmark.config import CephConfig
from cephmark.inference.refine import RefinedPredictor, build_predictor
from cephmark.runtime import set_cpu_threads

SHARED = Path(os.environ.get("CEPHMARK_SHARED") or Path(__file__).resolve().parents[3] / "shared")
IMAGES = SHARED / "data" / "isbi2015" / "images"


def summarize(rows: list[dict], limits=LIMITS) -> str:
    err = np.array([r["mmpx_err_pct"] for r in rows])
    point = np.array([(r["p1_err_px"] + r["p2_err_px"]) / 2 for r in rows]) * 0.1
    flagged = np.array([r["status"] == "check" for r in rows])
    bad1, bad2 = err > 1.0, err > 2.0
    lines = [f"images {len(rows)}: mean point error {point.mean():.3f} mm; mm/px error mean {err.mean():.3f} %, "
             f"median {np.median(err):.3f} %, max {err.max():.2f} %, > 1 %: {bad1.sum()}, > 2 %: {bad2.sum()}",
             f"flagged check: {flagged.sum()}; of > 1 %: {(flagged & bad1).sum()}/{bad1.sum()}; "
             f"of > 2 %: {(flagged & bad2).sum()}/{bad2.sum()}; good (<= 1 %) flagged: "
             f"{(flagged & ~bad1).sum()}/{(~bad1).sum()} ({100 * (flagged & ~bad1).sum() / max(1, (~bad1).sum()):.1f} %)",
             f"unflagged mean mm/px error {err[~flagged].mean():.3f} % (max {err[~flagged].max():.2f} %)"
             if (~flagged).any() else "all flagged"]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--annotations", required=True)
    ap.add_argument("--image-dir", default=str(IMAGES))
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    set_cpu_threads()
    pred = build_predictor(a.checkpoint, CephConfig.from_dict({"infer": {"device": "cpu"}}))
    if not isinstance(pred, RefinedPredictor):
        raise SystemExit(f"{a.checkpoint}: not a cascade file")
    ann = read_annotations(a.annotations, a.image_dir)
    rows = []
    for i, im in enumerate(ann.images):
        result, det = pred.predict_detailed(im.image_path)
        status, reasons, score = ruler_flags(det, result)
        p = {n: result.point(n) for n in ("p1", "p2")}
        t = {n: im.points[n] for n in ("p1", "p2")}
        d_pred = math.hypot(p["p2"].x - p["p1"].x, p["p2"].y - p["p1"].y)
        d_true = math.hypot(t["p2"][0] - t["p1"][0], t["p2"][1] - t["p1"][1])
        row = {"image": im.image_path.name, "mmpx_err_pct": abs(d_true / d_pred - 1) * 100,
               "status": status, "score": score, "reasons": "; ".join(reasons),
               "outside": ",".join(det.outside)}
        for n in ("p1", "p2"):
            c = det.coarse.get(n)
            row[f"{n}_err_px"] = math.hypot(p[n].x - t[n][0], p[n].y - t[n][1])
            row[f"{n}_x"], row[f"{n}_y"] = p[n].x, p[n].y
            row[f"{n}_coarse_x"], row[f"{n}_coarse_y"] = c if c else (float("nan"), float("nan"))
            row[f"{n}_peak"] = det.peak.get(n, float("nan"))
            row[f"{n}_width_px"] = det.width_px.get(n, float("nan"))
            row[f"{n}_move_px"] = math.hypot(p[n].x - c[0], p[n].y - c[1]) if c else float("nan")
        row["distance_px"] = d_pred
        row["angle_deg"] = math.degrees(math.atan2(p["p2"].y - p["p1"].y, p["p2"].x - p["p1"].x))
        rows.append(row)
        print(f"{i + 1}/{len(ann)} {row['image']} {row['mmpx_err_pct']:.2f} % {status}", file=sys.stderr, flush=True)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    print(summarize(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
