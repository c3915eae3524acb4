"""Threshold tables for the plausibility checks, from `cephmark predict` outputs.

    python benchmarks/plausibility/calibrate.py \
        --set isbi_test1 PRED_TEST1.json ../shared/data/isbi2015/landmarks.json \
        --set hamedan_dev PRED_HAMEDAN.jsonl ../shared/data/hamedan_dev/landmarks.json \
        --negatives PRED_NEGATIVES.jsonl

For each candidate ``min_score``: how many true landmarks of each set it flags (score below it),
split by the prediction's error (good <= 2 mm, fair 2-4 mm, off > 4 mm); and, with the image
rule (more than ``--fraction`` of the landmarks outside the image or weak), which images are
called "not a cephalogram" (cephalograms: should be none; negatives: should be all).
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

THRESHOLDS = (0.02, 0.04, 0.06, 0.08, 0.10, 0.12, 0.15, 0.20)


def load_predictions(path: Path) -> list[dict]:
    text = path.read_text()
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return json.loads(text)["images"]


def inside(lm: dict, w: int, h: int) -> bool:
    return lm["x"] is not None and -0.5 <= lm["x"] <= w - 0.5 and -0.5 <= lm["y"] <= h - 0.5


def implausible(im: dict, t: float) -> int:
    return sum(1 for lm in im["landmarks"] if lm["score"] is None or lm["score"] <= 0
               or not inside(lm, im["width"], im["height"]) or lm["score"] < t)


def errors(preds: list[dict], truth_path: Path) -> list[tuple[float, float]]:
    """(score, error mm) per landmark with a truth."""
    truth = {Path(e["image"]).name: e for e in json.loads(truth_path.read_text())}
    out = []
    for im in preds:
        t = truth.get(Path(im["image"]).name)
        if t is None:
            continue
        sp = float(t["spacing_mm"])
        for lm in im["landmarks"]:
            gt = t["landmarks"].get(lm["name"])
            if gt is None or lm["x"] is None:
                continue
            out.append((lm["score"], math.hypot(lm["x"] - gt[0], lm["y"] - gt[1]) * sp))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--set", nargs=3, action="append", metavar=("NAME", "PRED", "TRUTH"), default=[])
    ap.add_argument("--negatives", type=Path)
    ap.add_argument("--fraction", type=float, default=0.5)
    args = ap.parse_args()
    sets = [(name, load_predictions(Path(p)), Path(t)) for name, p, t in args.set]

    print("## Flagged true landmarks (score < min_score), by prediction error\n")
    for name, preds, truth in sets:
        pairs = errors(preds, truth)
        good = [s for s, e in pairs if e <= 2]
        fair = [s for s, e in pairs if 2 < e <= 4]
        off = [s for s, e in pairs if e > 4]
        scores = sorted(s for s, _ in pairs)
        print(f"### {name}: {len(preds)} images, {len(pairs)} landmarks ({len(good)} <= 2 mm, "
              f"{len(fair)} 2-4 mm, {len(off)} > 4 mm); score min {scores[0]:.3f}, "
              f"1st percentile {scores[len(scores) // 100]:.3f}, median {scores[len(scores) // 2]:.3f}\n")
        print("| min_score | flagged | of <= 2 mm | of 2-4 mm | of > 4 mm | images called not a cephalogram |")
        print("|---|---|---|---|---|---|")
        for t in THRESHOLDS:
            n_img = sum(implausible(im, t) > args.fraction * len(im["landmarks"]) for im in preds)
            print(f"| {t:.2f} | {sum(s < t for s in scores)} | {sum(s < t for s in good)} | "
                  f"{sum(s < t for s in fair)} | {sum(s < t for s in off)} | {n_img} of {len(preds)} |")
        print()
    if args.negatives:
        neg = load_predictions(args.negatives)
        print(f"## Not cephalograms ({len(neg)} images): implausible landmarks of 19 "
              f"(outside the image, no peak, or score < min_score)\n")
        print("| image | outside | median score | " + " | ".join(f"{t:.2f}" for t in THRESHOLDS) + " |")
        print("|---|---|---|" + "---|" * len(THRESHOLDS))
        for im in neg:
            n = len(im["landmarks"])
            out = sum(1 for lm in im["landmarks"] if not inside(lm, im["width"], im["height"]))
            med = sorted(lm["score"] for lm in im["landmarks"])[n // 2]
            cells = []
            for t in THRESHOLDS:
                k = implausible(im, t)
                cells.append(f"{k}{'*' if k > args.fraction * n else ''}")
            print(f"| {Path(im['image']).name} | {out} | {med:.3f} | " + " | ".join(cells) + " |")
        caught = {t: sum(implausible(im, t) > args.fraction * len(im["landmarks"]) for im in neg)
                  for t in THRESHOLDS}
        print("| **called not a cephalogram** | | | " + " | ".join(f"{caught[t]} of {len(neg)}" for t in THRESHOLDS) + " |")
        print(f"\n(* = more than {args.fraction:g} of the landmarks implausible: not a cephalogram)")


if __name__ == "__main__":
    main()
