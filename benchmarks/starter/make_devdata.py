#!/usr/bin/env python3
"""Pack the shared ISBI 2015 images for a GPU machine that only takes 64 MiB: every image
area-averaged to 768 px high (JPEG q93) and the 19 ISBI landmarks as CSV (image, landmark, x,
y, spacing_mm) per split, with points mapped to the resized grid (x' = (x + 0.5) f - 0.5).

    python benchmarks/starter/make_devdata.py ../shared/data/isbi2015 .devdata
"""
from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import cv2


def main(src: str, dst: str, height: int = 768) -> None:
    src_p, dst_p = Path(src), Path(dst)
    (dst_p / f"isbi{height}").mkdir(parents=True, exist_ok=True)
    rows: dict[str, list] = {}
    for e in json.loads((src_p / "landmarks.json").read_text()):
        im = cv2.imread(str(src_p / e["image"]), cv2.IMREAD_GRAYSCALE)
        h, w = im.shape
        nw = round(w * height / h)
        f = nw / w
        small = cv2.resize(im, (nw, round(h * f)), interpolation=cv2.INTER_AREA)
        name = Path(e["image"]).name
        cv2.imwrite(str(dst_p / f"isbi{height}" / name), small, [cv2.IMWRITE_JPEG_QUALITY, 93])
        for k, (x, y) in e["landmarks"].items():
            rows.setdefault(e["split"], []).append(
                [name, k, (x + 0.5) * f - 0.5, (y + 0.5) * f - 0.5, e["spacing_mm"] / f])
    for split, items in rows.items():
        with open(dst_p / f"isbi{height}_{split}.csv", "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["image", "landmark", "x", "y", "spacing_mm"])
            w.writerows(items)


if __name__ == "__main__":
    main(*sys.argv[1:3])
