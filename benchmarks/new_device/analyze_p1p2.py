"""p1/p2 on the second unit: where predictions go wrong, and what the ruler pitch makes of them.

    python benchmarks/new_device/analyze_p1p2.py runs/new_device/p1p2/f*/pred_test.json \
        --image-dir ../shared/data/hamedan_dev/images [--stage coarse|refined] [--csv out.csv]

For every image of the prediction files (`predict_p1p2.py`) and the chosen stage:
- point errors in mm at the image's labelled scale (10 mm / labelled |p1 - p2|);
- the error along the ruler in marks (labelled pitch = |p1 - p2| / 10; + = too high, towards p2)
  and across it in pixels: a whole mark off vs off within the right mark;
- mm/px from the predicted marks (10 / |p1 - p2|, source ruler_marks) vs the labelled value;
- mm/px from the ruler pitch measured along the predicted axis (source ruler_pitch), and p1/p2
  snapped to the nearest major mark and the ruler's edge (`cephmark.calibration.pitch`);
- flags: whether an image would be marked for checking (pitch reasons, or marks vs pitch
  disagreeing by more than 2 %).
Prints one markdown table per group (all, straight, bent) and, with --per-image, every image.
"""
from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import cv2
import numpy as np

from cephmark.calibration.pitch import PitchError, measure_pitch, snap_reference_marks

FLAG_DISAGREE_PCT = 2.0


def analyze_image(row: dict, stage: str, image_dir: Path) -> dict:
    lab = {k: np.asarray(v, dtype=np.float64) for k, v in row["label"].items()}
    pred = {k: np.asarray(v, dtype=np.float64) for k, v in row[stage].items()}
    d_lab = float(np.linalg.norm(lab["p2"] - lab["p1"]))
    mmpx_true = 10.0 / d_lab
    u = (lab["p2"] - lab["p1"]) / d_lab
    n = np.array([-u[1], u[0]])
    pitch_lab = d_lab / 10.0
    out = {"image": row["image"], "ruler": row["ruler"], "mmpx_true": mmpx_true}
    for k in ("p1", "p2"):
        e = pred[k] - lab[k]
        out[f"{k}_mm"] = float(np.linalg.norm(e)) * mmpx_true
        out[f"{k}_marks"] = float(e @ u) / pitch_lab
        out[f"{k}_across_px"] = float(e @ n)
    d_pred = float(np.linalg.norm(pred["p2"] - pred["p1"]))
    out["marks_mmpx_err_pct"] = 100 * (10.0 / d_pred - mmpx_true) / mmpx_true if d_pred > 0 else float("nan")
    img = cv2.imread(str(image_dir / row["image"]), cv2.IMREAD_GRAYSCALE)
    reasons: list[str] = []
    try:
        r = measure_pitch(img, pred["p1"], pred["p2"])
        out["pitch_mmpx_err_pct"] = 100 * (r.mm_per_px - mmpx_true) / mmpx_true
        out["pitch_quality"] = r.quality
        out["pitch_marks"] = r.marks
        reasons += r.reasons
        snap = snap_reference_marks(img, r, pred["p1"], pred["p2"])
        reasons += [x for x in snap.reasons if "not told apart" in x]
        for k, q in (("p1", snap.p1), ("p2", snap.p2)):
            e = np.asarray(q) - lab[k]
            out[f"snap_{k}_mm"] = float(np.linalg.norm(e)) * mmpx_true
            out[f"snap_{k}_marks"] = float(e @ u) / pitch_lab
        out["snap_moved"] = snap.moved_marks
        dis = 100 * abs(10.0 / d_pred - r.mm_per_px) / r.mm_per_px
        if dis > FLAG_DISAGREE_PCT:
            reasons.append(f"marks and pitch disagree by {dis:.1f} %")
    except PitchError as exc:
        reasons.append(f"no pitch: {exc}")
        for key in ("pitch_mmpx_err_pct", "snap_p1_mm", "snap_p2_mm", "snap_p1_marks", "snap_p2_marks"):
            out[key] = float("nan")
    out["flagged"] = bool(reasons)
    out["reasons"] = "; ".join(reasons)
    return out


def summary(rows: list[dict]) -> dict:
    a = lambda k: np.array([r[k] for r in rows], dtype=np.float64)  # noqa: E731
    marks1, marks2 = np.abs(np.round(a("p1_marks"))), np.abs(np.round(a("p2_marks")))
    mm = np.abs(a("marks_mmpx_err_pct"))
    pm = np.abs(a("pitch_mmpx_err_pct"))
    flagged = a("flagged").astype(bool)
    snap = np.concatenate([a("snap_p1_mm"), a("snap_p2_mm")])
    return {
        "images": len(rows),
        "point mm (mean)": np.nanmean(np.concatenate([a("p1_mm"), a("p2_mm")])),
        "p1 off >= 1 mark %": 100 * np.mean(marks1 >= 1),
        "p2 off >= 1 mark %": 100 * np.mean(marks2 >= 1),
        "p1 marks (mean signed)": np.mean(a("p1_marks")),
        "p2 marks (mean signed)": np.mean(a("p2_marks")),
        "ruler_marks mm/px err % mean": np.nanmean(mm), "ruler_marks max %": np.nanmax(mm),
        "ruler_marks > 2 % flagged": f"{int(np.sum(flagged & (mm > 2)))}/{int(np.sum(mm > 2))}",
        "ruler_pitch mm/px err % mean": np.nanmean(pm), "ruler_pitch max %": np.nanmax(pm),
        "snapped point mm (mean)": np.nanmean(snap),
        "snapped points > 0.5 mm %": 100 * np.nanmean(snap > 0.5),
        "flagged": int(flagged.sum()),
    }


def fmt(v) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("predictions", nargs="+")
    ap.add_argument("--image-dir", required=True)
    ap.add_argument("--stage", default="refined", choices=["coarse", "refined"])
    ap.add_argument("--csv")
    ap.add_argument("--per-image", action="store_true")
    a = ap.parse_args()
    rows = []
    for path in a.predictions:
        for row in json.loads(Path(path).read_text()):
            if a.stage not in row:
                raise SystemExit(f"{path}: {row['image']} has no {a.stage} prediction")
            rows.append(analyze_image(row, a.stage, Path(a.image_dir)) | {"file": path})
    groups = {"all": rows, "straight": [r for r in rows if r["ruler"] == "straight"],
              "bent": [r for r in rows if r["ruler"] == "bent"]}
    sums = {g: summary(rs) for g, rs in groups.items() if rs}
    keys = list(next(iter(sums.values())))
    print(f"stage: {a.stage}\n")
    print("| | " + " | ".join(sums) + " |\n|---|" + "---|" * len(sums))
    for k in keys:
        print(f"| {k} | " + " | ".join(fmt(s[k]) for s in sums.values()) + " |")
    if a.per_image:
        cols = ["image", "ruler", "p1_marks", "p2_marks", "p1_mm", "p2_mm", "marks_mmpx_err_pct",
                "pitch_mmpx_err_pct", "snap_p1_mm", "snap_p2_mm", "flagged", "reasons"]
        print("\n| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
        for r in rows:
            print("| " + " | ".join(fmt(r[c]) for c in cols) + " |")
    if a.csv:
        with open(a.csv, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)


if __name__ == "__main__":
    main()
