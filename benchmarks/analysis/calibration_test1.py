"""ISBI 2015 test1: the calibration records of ``cephmark analyze`` against the labelled ruler.

    python benchmarks/analysis/calibration_test1.py runs/analysis/test1_analysis.json

The labelled mm/px is 10 / |p1 - p2| of the shared Label Studio labels (`annotations_p1_p2.json`,
images 066 and 124 have none). Prints the mean and median relative error, the images above 1 %
and whether each was flagged ``check`` (with its reasons), and how many correct images were
flagged (false alarms).
"""
from __future__ import annotations

import argparse
import json
import os
import math
import statistics
from pathlib import Path

SHARED = Path(os.environ.get("CEPHMARK_SHARED") or Path(__file__).resolve().parents[3] / "shared") / "data" / "isbi2015"


def labelled_mm_per_px(path: Path) -> dict[str, float]:
    out = {}
    for task in json.loads(path.read_text()):
        stem = Path(task["file_upload"].split("-", 1)[1]).stem
        pts = {}
        for r in task["annotations"][0]["result"]:
            v = r["value"]
            pts[v["keypointlabels"][0]] = (v["x"] / 100 * r["original_width"], v["y"] / 100 * r["original_height"])
        if "p1" in pts and "p2" in pts:
            out[stem] = 10.0 / math.dist(pts["p1"], pts["p2"])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("analysis", type=Path, help="cephmark analyze JSON over test1")
    ap.add_argument("--labels", type=Path, default=SHARED / "annotations_p1_p2.json")
    ap.add_argument("--threshold", type=float, default=1.0, help="per cent")
    args = ap.parse_args()
    truth = labelled_mm_per_px(args.labels)
    rows = []
    for im in json.loads(args.analysis.read_text())["images"]:
        stem = Path(im["image"]).stem
        cal = im["calibration"]
        if stem not in truth:
            continue
        mmpx = cal["mm_per_px"] if cal["source"] == "ruler" else None
        rel = None if mmpx is None else 100 * abs(mmpx - truth[stem]) / truth[stem]
        rows.append((stem, rel, cal["status"], cal["reasons"]))
    errs = [r[1] for r in rows if r[1] is not None]
    big = [r for r in rows if r[1] is None or r[1] > args.threshold]
    ok_flagged = [r for r in rows if r[1] is not None and r[1] <= args.threshold and r[2] == "check"]
    print(f"{len(rows)} labelled images; ruler used on {len(errs)}")
    print(f"mm/px relative error: mean {statistics.mean(errs):.3f} %, median {statistics.median(errs):.3f} %, "
          f"max {max(errs):.2f} %")
    print(f"images above {args.threshold:g} % (or no ruler): {len(big)}, flagged check: "
          f"{sum(r[2] == 'check' for r in big)}")
    for stem, rel, status, reasons in big:
        print(f"  {stem}: {'-' if rel is None else f'{rel:.2f} %'} {status} {'; '.join(reasons)}")
    print(f"images within {args.threshold:g} % but flagged check (false alarms): {len(ok_flagged)}")
    for stem, rel, status, reasons in ok_flagged:
        print(f"  {stem}: {rel:.2f} % {'; '.join(reasons)}")


if __name__ == "__main__":
    main()
