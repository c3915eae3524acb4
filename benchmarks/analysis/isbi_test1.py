"""ISBI 2015 test1: the challenge's eight measurements from the starter model's points and from
the senior orthodontist's, each against the usual truth (mean of the two doctors), beside the
senior-vs-junior agreement (junior = 2 x mean - senior).

    python benchmarks/analysis/isbi_test1.py --predictions runs/analysis/starter_test1.json

`--predictions` is a ``cephmark predict`` JSON over images 151-300 (see run.sh). mm/px is the
dataset's stated 0.1 for every point set (MW is the only length among the eight).
"""
from __future__ import annotations

import argparse
import json
import os
import math
from pathlib import Path

from cephmark.analysis.measurements import ISBI_EIGHT
from cephmark.evaluation.measurements import compare_measurements

SHARED = Path(os.environ.get("CEPHMARK_SHARED") or Path(__file__).resolve().parents[3] / "shared") / "data" / "isbi2015"


def load_test1(landmarks_json: Path) -> list[dict]:
    return [e for e in json.loads(landmarks_json.read_text()) if e["split"] == "test1"]


def junior(entry: dict) -> dict:
    mean, senior = entry["landmarks"], entry["landmarks_senior"]
    return {n: (2 * mean[n][0] - senior[n][0], 2 * mean[n][1] - senior[n][1]) for n in mean}


def predicted(predictions: Path, images: list[str]) -> list[dict]:
    by_stem = {}
    for im in json.loads(predictions.read_text())["images"]:
        by_stem[Path(im["image"]).stem] = {lm["name"]: (lm["x"], lm["y"]) if lm["found"] else None
                                            for lm in im["landmarks"]}
    missing = [i for i in images if Path(i).stem not in by_stem]
    if missing:
        raise SystemExit(f"{predictions}: no prediction for {', '.join(missing[:5])} ...")
    return [by_stem[Path(i).stem] for i in images]


def rows_of(pred, truth, images):
    cmp = compare_measurements(pred, truth, [0.1] * len(pred), images, ["isbi2015"])
    return {r["name"]: r for r in cmp.rows()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--predictions", type=Path, help="cephmark predict JSON over test1 (omit: observers only)")
    ap.add_argument("--landmarks", type=Path, default=SHARED / "landmarks.json")
    args = ap.parse_args()
    entries = load_test1(args.landmarks)
    images = [e["image"] for e in entries]
    truth = [e["landmarks"] for e in entries]
    senior = [e["landmarks_senior"] for e in entries]
    inter = rows_of(senior, [junior(e) for e in entries], images)
    sen = rows_of(senior, truth, images)
    model = rows_of(predicted(args.predictions, images), truth, images) if args.predictions else None
    unit = {"deg": "deg", "mm": "mm", "ratio": ""}
    head = ("| measurement | unit | senior vs junior: MAD | class agreement % | senior vs mean: MAD | "
            "class agreement % |" + (" **starter vs mean: MAE** | bias | **class agreement %** | "
                                       "MAE within | class within |" if model else ""))
    print(f"ISBI 2015 test1, {len(entries)} images\n")
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for name in ISBI_EIGHT:
        i, s = inter[name], sen[name]
        line = (f"| {name} | {unit[i['unit']]} | {i['mae']:.3f} | {i['class_agreement']:.1f} | {s['mae']:.3f} | "
                f"{s['class_agreement']:.1f} |")
        if model:
            m = model[name]
            line += (f" **{m['mae']:.3f}** | {m['bias']:+.3f} | **{m['class_agreement']:.1f}** | "
                     f"{'yes' if m['mae'] <= i['mae'] else 'no'} | "
                     f"{'yes' if m['class_agreement'] >= i['class_agreement'] else 'no'} |")
        print(line)
    if model:
        missed = [f"{n} ({len(entries) - model[n]['n']})" for n in ISBI_EIGHT if model[n]["n"] < len(entries)]
        print(f"\nimages without a value (a landmark not found): {', '.join(missed) or 'none'}")
    assert not any(math.isnan(inter[n]["mae"]) for n in ISBI_EIGHT)


if __name__ == "__main__":
    main()
