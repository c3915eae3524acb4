"""Pool the landmark cross-validation folds (``landmarks_cv.sh``) and compare with the two
doctors of the second unit on the same images.

    python benchmarks/new_device/summarize_landmarks.py runs/new_device/landmarks [variants...]

Reads ``VARIANT/f{k}/test/errors.csv`` (``cephmark evaluate --out``); prints per variant and
fold MRE / SDR 2 mm over the test images, and the pooled figures over every fold present. The
inter-observer distance is the mean distance between the two doctors' points (mm at the set's
0.1265 mm/px) on the same images; the target is 1.2 x that.
"""
from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "hamedan_dev"


def errors(path: Path) -> tuple[list[str], np.ndarray]:
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    return [Path(r["image"]).name for r in rows], np.array([float(r["error_mm"]) for r in rows])


def inter_observer(images: set[str], data: Path) -> float:
    d = []
    for e in json.loads((data / "landmarks.json").read_text()):
        if Path(e["image"]).name not in images:
            continue
        a, b = (e["landmarks_by_annotator"][k] for k in ("mollabashi", "farhadifar"))
        d += [np.hypot(a[n][0] - b[n][0], a[n][1] - b[n][1]) * e["spacing_mm"] for n in a if n in b]
    return float(np.mean(d))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("root")
    ap.add_argument("variants", nargs="*")
    ap.add_argument("--data", default=str(DATA))
    a = ap.parse_args()
    root = Path(a.root)
    variants = a.variants or sorted(p.name for p in root.iterdir() if p.is_dir())
    print("| variant | fold | test images | MRE mm | SDR 2 mm % | SDR 4 mm % | inter-observer mm (same images) |")
    print("|---|---|---|---|---|---|---|")
    for v in variants:
        pooled, names = [], set()
        for f in sorted((root / v).glob("f*/test/errors.csv")):
            imgs, e = errors(f)
            pooled.append(e)
            names |= set(imgs)
            print(f"| {v} | {f.parts[-3]} | {len(set(imgs))} | {e.mean():.3f} | {100 * np.mean(e <= 2):.1f} | "
                  f"{100 * np.mean(e <= 4):.1f} | {inter_observer(set(imgs), Path(a.data)):.3f} |")
        if len(pooled) > 1:
            e = np.concatenate(pooled)
            print(f"| **{v}** | **pooled** | {len(names)} | **{e.mean():.3f}** | {100 * np.mean(e <= 2):.1f} | "
                  f"{100 * np.mean(e <= 4):.1f} | {inter_observer(names, Path(a.data)):.3f} |")


if __name__ == "__main__":
    main()
