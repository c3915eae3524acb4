"""Predict p1/p2 on annotated images with a coarse model (and optionally a crop refiner) and
store coarse, refined and labelled points per image as JSON, for `analyze_p1p2.py`.

    python benchmarks/new_device/predict_p1p2.py --config configs/p1p2_few_labels.yaml \
        --coarse C.pth --refiner R.pth --annotations test.json --image-dir DIR --out pred.json
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from cephmark.annotations import read_annotations
from cephmark.config import CephConfig
from cephmark.inference.predictor import LandmarkPredictor
from cephmark.inference.refine import RefinedPredictor
from cephmark.io import read_image


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config")
    ap.add_argument("--coarse", required=True)
    ap.add_argument("--refiner")
    ap.add_argument("--annotations", required=True)
    ap.add_argument("--image-dir")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    cfg = CephConfig.from_yaml(a.config) if a.config else CephConfig()
    cfg.infer.device = "cpu"
    ann = read_annotations(a.annotations, a.image_dir)
    meta = {}
    if a.annotations.endswith(".json"):
        for t in json.loads(Path(a.annotations).read_text()):
            name = (t.get("file_upload") or t["data"]["image"]).split("-")[-1]
            meta[name] = (t.get("meta") or {}).get("ruler")
    coarse = LandmarkPredictor(a.coarse, cfg)
    refined = RefinedPredictor(coarse, a.refiner) if a.refiner else None
    rows = []
    for item in ann.images:
        img = read_image(item.image_path)
        c = coarse.predict_one(img)
        row = {"image": item.image_path.name, "ruler": meta.get(item.image_path.name),
               "label": {k: list(map(float, v)) for k, v in item.points.items()},
               "coarse": {n: [c.point(n).x, c.point(n).y] for n in ("p1", "p2")}}
        if refined is not None:
            r = refined.refine(img, c)
            row["refined"] = {n: [r.point(n).x, r.point(n).y] for n in ("p1", "p2")}
        rows.append(row)
        print(row["image"], row["ruler"], row["label"], row["coarse"], row.get("refined"), flush=True)
    Path(a.out).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
