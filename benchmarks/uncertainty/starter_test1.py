"""The bundled starter model on ISBI test1: the flip test on and off, and how well each
per-image uncertainty ranks the images by their true error (Spearman against the MRE).

    python benchmarks/uncertainty/starter_test1.py --out runs/uncertainty/starter_test1.csv

One pass per image of each kind: plain, mirrored (flipped back), and the jittered passes of
`cephmark.inference.uncertainty.JITTERS`. Truth: `landmarks` of ../shared/data/isbi2015/
landmarks.json (mean of the two doctors), 0.1 mm/px. Prints the table of RESULTS.md.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

from cephmark.config import CephConfig
from cephmark.inference import LandmarkPredictor
from cephmark.inference.uncertainty import JITTERS, jitter_inputs, unjitter_points
from cephmark.runtime import set_cpu_threads
from cephmark.weights import STARTER

SHARED = Path(os.environ.get("CEPHMARK_SHARED") or Path(__file__).resolve().parents[3] / "shared")
DATA = SHARED / "data" / "isbi2015"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--checkpoint", default=str(STARTER))
    ap.add_argument("--split", default="test1")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--every", type=int, default=1, help="every k-th image of the split (a spread subset)")
    ap.add_argument("--summary", action="store_true", help="only summarise an existing --out CSV")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    set_cpu_threads()
    entries = [e for e in json.loads((Path(a.data) / "landmarks.json").read_text()) if e["split"] == a.split]
    entries = entries[::a.every]
    entries = entries[:a.limit] if a.limit else entries
    out = Path(a.out)
    if a.summary:
        with open(out, newline="") as fh:
            return summarize([{k: (v if k == "image" else float(v)) for k, v in r.items()} for r in csv.DictReader(fh)])
    pred = LandmarkPredictor(a.checkpoint, CephConfig.from_dict({"infer": {"device": "cpu"}}))
    pre = pred.config.preprocess
    fill = (0.0 - pre.mean) / pre.std
    out.parent.mkdir(parents=True, exist_ok=True)
    fh = open(out, "w", newline="")  # row by row: a partial run is still a result
    writer = None
    rows = []
    for i, e in enumerate(entries):
        item = pred.prepare(Path(a.data) / e["image"])
        meta = item["meta"]
        x = torch.as_tensor(np.asarray(item["image"]))[None].float()
        n = x.shape[-1]
        plain = pred.heatmaps(x, flip_test=False)
        flipped = pred.heatmaps(x.flip(-1), flip_test=False).flip(-1)
        jit = pred.heatmaps(jitter_inputs(x, JITTERS, fill), flip_test=False).cpu().numpy()
        truth = np.array([e["landmarks"][k] for k in pred.landmark_names], dtype=np.float64)
        sp = float(e["spacing_mm"])

        def points(heat: np.ndarray, j=None) -> np.ndarray:
            dec = pred.codec.decode(heat)
            q = dec.xy if j is None else unjitter_points(dec.xy, j, n)
            return pred.input_to_image(q, meta, n), dec.scores
        p_plain, s_plain = points(plain[0].numpy())
        p_flip, _ = points(flipped[0].numpy())
        p_avg, _ = points(((plain + flipped) * 0.5)[0].numpy())
        jpts = np.stack([p_plain] + [points(h, j)[0] for h, j in zip(jit, JITTERS)])
        spread = np.sqrt(((jpts - jpts.mean(0)) ** 2).sum(-1).mean(0))
        rows.append({
            "image": Path(e["image"]).name,
            "mre_mm_noflip": float(np.linalg.norm(p_plain - truth, axis=1).mean() * sp),
            "mre_mm_flip": float(np.linalg.norm(p_avg - truth, axis=1).mean() * sp),
            "flip_px": float(np.linalg.norm(p_plain - p_flip, axis=1).mean()),
            "jitter_px": float(spread.mean()),
            "peak_mean": float(np.mean(s_plain)),
        })
        if writer is None:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
        writer.writerow(rows[-1])
        fh.flush()
        print(f"{i + 1}/{len(entries)} {rows[-1]}", file=sys.stderr, flush=True)
    fh.close()
    return summarize(rows)


def summarize(rows: list[dict]) -> int:
    col = {k: np.array([r[k] for r in rows]) for k in rows[0] if k != "image"}
    print(f"images: {len(rows)}")
    for k in ("mre_mm_noflip", "mre_mm_flip"):
        print(f"{k}: mean {col[k].mean():.3f} mm")
    truth_err = col["mre_mm_noflip"]
    col["jitter_px/peak_mean (the app's value)"] = col["jitter_px"] / np.maximum(col["peak_mean"], 0.01)
    for k, sign in (("jitter_px/peak_mean (the app's value)", 1), ("jitter_px", 1), ("flip_px", 1), ("peak_mean", -1)):
        rho = spearmanr(sign * col[k], truth_err).correlation
        print(f"Spearman({k}{' (negated)' if sign < 0 else ''}, MRE no flip) = {rho:.3f}")
    print(f"Spearman(flip_px, MRE flip) = {spearmanr(col['flip_px'], col['mre_mm_flip']).correlation:.3f}")
    d = col["mre_mm_flip"] - col["mre_mm_noflip"]
    print(f"flip minus no flip, per image: mean {d.mean():+.4f} mm, flip better on {(d < 0).sum()}, "
          f"worse on {(d > 0).sum()}, equal on {(d == 0).sum()} of {len(d)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
