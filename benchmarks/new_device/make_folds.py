"""Cross-validation folds on the second X-ray unit (../shared/data/hamedan_dev), written as
annotation files for `cephmark finetune` / `evaluate` (the images stay in the shared folder).

    python benchmarks/new_device/make_folds.py runs/new_device/folds [--isbi-mix 6]

Images are sorted by number and dealt round-robin into 3 folds (fold k tests images with
index % 3 == k), which spreads the bent rulers (010-065) over the folds. For each fold:
- p1/p2 (27 labelled images): ``p1p2_f{k}_test.json`` (9), ``p1p2_f{k}_train.json`` (14) and
  ``p1p2_f{k}_val.json`` (4): 18 labelled images for training incl. validation;
- 19 landmarks (30 images): ``lm_f{k}_test.csv`` (10), ``lm_f{k}_train.csv`` (15),
  ``lm_f{k}_val.csv`` (3): 18 of the 20 others (the last 2 stay unused, so every run sees 18);
- ``lm_isbi{n}.csv``: the first n ISBI training images (mean of both doctors) to mix in.
CSV rows: image (absolute path), landmark, x, y, spacing_mm. Hamedan images: development use in
this project only; never commit them (see the data folder's README).
"""
from __future__ import annotations

import argparse
import csv
import json
import re
from pathlib import Path

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
FOLDS = 3


def number(name: str) -> int:
    return int(re.search(r"(\d{3})\.\w+$", name).group(1))


def write_csv(path: Path, entries: list[dict], image_dir: Path) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["image", "landmark", "x", "y", "spacing_mm"])
        for e in entries:
            img = (image_dir / Path(e["image"]).name).resolve()
            for k, (x, y) in e["landmarks"].items():
                w.writerow([str(img), k, f"{x:.3f}", f"{y:.3f}", e["spacing_mm"]])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir")
    ap.add_argument("--data", default=str(SHARED / "hamedan_dev"))
    ap.add_argument("--isbi", default=str(SHARED / "isbi2015"))
    ap.add_argument("--isbi-mix", type=int, default=6)
    a = ap.parse_args()
    data, out = Path(a.data), Path(a.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tasks = sorted(json.loads((data / "annotations_p1_p2.json").read_text()),
                   key=lambda t: number(t["file_upload"]))
    entries = sorted(json.loads((data / "landmarks.json").read_text()), key=lambda e: number(e["image"]))
    for k in range(FOLDS):
        test = [t for i, t in enumerate(tasks) if i % FOLDS == k]
        rest = [t for i, t in enumerate(tasks) if i % FOLDS != k]
        val = rest[1::5][:4]
        train = [t for t in rest if t not in val]
        for part, items in (("train", train), ("val", val), ("test", test)):
            (out / f"p1p2_f{k}_{part}.json").write_text(json.dumps(items, indent=1))
        lm_test = [e for i, e in enumerate(entries) if i % FOLDS == k]
        lm_rest = [e for i, e in enumerate(entries) if i % FOLDS != k][:18]
        lm_val = lm_rest[2::6][:3]
        lm_train = [e for e in lm_rest if e not in lm_val]
        for part, items in (("train", lm_train), ("val", lm_val), ("test", lm_test)):
            write_csv(out / f"lm_f{k}_{part}.csv", items, data / "images")
        print(f"fold {k}: p1/p2 train {len(train)} val {len(val)} test {len(test)} "
              f"(test bent {sum(t['meta']['ruler'] == 'bent' for t in test)}); landmarks train "
              f"{len(lm_train)} val {len(lm_val)} test {len(lm_test)}")
    isbi = [e for e in json.loads((Path(a.isbi) / "landmarks.json").read_text()) if e["split"] == "train"]
    isbi = sorted(isbi, key=lambda e: number(e["image"]))[:a.isbi_mix]
    write_csv(out / f"lm_isbi{a.isbi_mix}.csv", isbi, Path(a.isbi) / "images")


if __name__ == "__main__":
    main()
