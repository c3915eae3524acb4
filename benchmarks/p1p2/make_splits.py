"""Label Studio JSON subsets of the shared ISBI p1/p2 labels for the few-label experiment.

    python benchmarks/p1p2/make_splits.py runs/p1p2

writes ``train18.json`` (the first 18 train images having p1/p2: 001-018), ``val6.json``
(the next 6: 019-024, early stopping only; ``--n-train`` / ``--n-val`` change both counts and
names: ``--n-train 138 --n-val 12`` gives the bundled ruler model's split), ``dev.json`` (the rest of the train images,
025-150: for choosing inference options such as ``--refine-shift`` without touching the test
set) and ``test1.json`` (every test1 image having labels: 151-300). The images stay in ../shared/data/isbi2015/images (pass --image-dir).
ISBI 2015 images and labels: research use only; see the data folder's README (license notice).
"""
from __future__ import annotations

import argparse
import json
import os
import re
from pathlib import Path

SHARED = Path(os.environ.get("CEPHMARK_SHARED") or Path(__file__).resolve().parents[3] / "shared")
DATA = SHARED / "data" / "isbi2015" / "annotations_p1_p2.json"


def image_number(task: dict) -> int:
    m = re.search(r"(\d{3})\.\w+$", task.get("file_upload") or task["data"]["image"])
    return int(m.group(1))


def has_p1_p2(task: dict) -> bool:
    labels = {lab for r in task["annotations"][0]["result"] for lab in r["value"].get("keypointlabels", [])}
    return {"p1", "p2"} <= labels


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir")
    ap.add_argument("--annotations", default=str(DATA))
    ap.add_argument("--n-train", type=int, default=18)
    ap.add_argument("--n-val", type=int, default=6)
    ap.add_argument("--train-only", action="store_true", help="write only the train (and val) files")
    a = ap.parse_args()
    tasks = sorted((t for t in json.loads(Path(a.annotations).read_text()) if has_p1_p2(t)), key=image_number)
    train_pool = [t for t in tasks if image_number(t) <= 150]
    splits = {f"train{a.n_train}.json": train_pool[:a.n_train],
              f"val{a.n_val}.json": train_pool[a.n_train:a.n_train + a.n_val],
              "dev.json": train_pool[a.n_train + a.n_val:],
              "test1.json": [t for t in tasks if 151 <= image_number(t) <= 300]}
    if a.train_only:
        splits = {k: v for k, v in splits.items() if k.startswith(("train", "val"))}
    out = Path(a.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, items in splits.items():
        if not items:
            continue
        (out / name).write_text(json.dumps(items, indent=1))
        nums = [image_number(t) for t in items]
        print(f"{out / name}: {len(items)} images ({min(nums):03d}-{max(nums):03d})")


if __name__ == "__main__":
    main()
