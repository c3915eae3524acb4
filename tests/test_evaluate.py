"""cephmark evaluate: metrics against hand-computed values, and the real command end to end."""
from __future__ import annotations

import csv
import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from cephmark.evaluation.report import Evaluation, format_table
from conftest import ISBI_IMAGES

ISBI = ISBI_IMAGES


def _evaluation() -> Evaluation:
    # 2 images x 2 landmarks; spacing 0.1 mm/px. Errors (px): a: 20 (=2.0 mm), 5; b: 30, missed.
    truth = np.array([[[100, 100], [200, 200]], [[300, 300], [400, 400]]], float)
    pred = np.array([[[112, 116], [203, 204]], [[318, 324], [np.nan, np.nan]]], float)
    return Evaluation(["a", "b"], ["i1", "i2"], pred, truth, np.array([0.1, 0.1]))


def test_metrics_hand_computed():
    ev = _evaluation()
    rows = {r["name"]: r for r in ev.per_landmark()}
    assert rows["a"]["mre_px"] == pytest.approx((20 + 30) / 2)
    assert rows["a"]["mre_mm"] == pytest.approx(2.5)
    assert rows["a"]["sdr_2"] == pytest.approx(50.0)  # exactly 2.0 mm counts as within
    assert rows["a"]["sdr_3"] == pytest.approx(100.0)
    assert rows["b"]["mre_px"] == pytest.approx(5.0)
    assert rows["b"]["missed"] == 1
    assert rows["b"]["sdr_2"] == pytest.approx(50.0)  # the miss counts as a failure
    overall = ev.overall()
    assert overall["n"] == 4 and overall["missed"] == 1
    assert overall["mre_mm"] == pytest.approx((2.0 + 3.0 + 0.5) / 3)
    assert overall["sdr_2"] == pytest.approx(50.0)
    assert overall["sdr_2.5"] == pytest.approx(50.0)
    assert overall["sdr_4"] == pytest.approx(75.0)
    assert "OVERALL" in format_table(ev)


def test_ruler_mm_per_px_hand_computed():
    truth = np.array([[[100, 200], [100, 100]]], float)  # |p1 - p2| = 100 px -> 0.1 mm/px
    pred = np.array([[[100, 201], [100, 99]]], float)  # 102 px -> 0.0980392 mm/px
    ev = Evaluation(["p1", "p2"], ["i"], pred, truth, np.array([0.1]))
    r = ev.ruler()
    assert r["mm_per_px_true_mean"] == pytest.approx(0.1)
    assert r["mm_per_px_pred_mean"] == pytest.approx(10 / 102)
    assert r["rel_error_pct_mean"] == pytest.approx(abs(10 / 102 - 0.1) / 0.1 * 100)


@pytest.mark.skipif(not ISBI.is_dir(), reason="shared ISBI images not present")
def test_evaluate_command_end_to_end(tmp_path):
    from cephmark.inference import LandmarkPredictor
    from cephmark.models.arch import ModelArch
    from cephmark.models.cldetection import CLDetectionModel

    torch.manual_seed(0)
    ckpt = tmp_path / "tiny38.pth"
    torch.save({"state_dict": CLDetectionModel(ModelArch.preset("tiny", 38)).state_dict(), "meta": {}}, ckpt)
    image = ISBI / "001.jpg"
    pred = LandmarkPredictor(ckpt, overrides={"preprocess.image_size": 128}).predict_one(image)
    # truth = prediction moved by (12, 16) px = 20 px = 2.0 mm at 0.1 mm/px, for two landmarks
    sella, nasion = pred.point("sella"), pred.point("nasion")
    ann = tmp_path / "truth.csv"
    with open(ann, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["image", "landmark", "x", "y"])
        w.writerow(["001.jpg", "sella", sella.x + 12, sella.y + 16])
        w.writerow(["001.jpg", "nasion", nasion.x + 3, nasion.y + 4])
    out = tmp_path / "report"
    proc = subprocess.run([sys.executable, "-m", "cephmark", "evaluate", "--checkpoint", str(ckpt),
                           "--annotations", str(ann), "--image-dir", str(ISBI), "--image-size", "128",
                           "--spacing", "0.1", "--out", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    rows = {r["name"]: r for r in csv.DictReader(open(out / "metrics.csv"))}
    assert float(rows["sella"]["mre_px"]) == pytest.approx(20.0, abs=1e-6)
    assert float(rows["sella"]["mre_mm"]) == pytest.approx(2.0, abs=1e-7)
    assert float(rows["sella"]["sdr_2"]) == 100.0
    assert float(rows["nasion"]["mre_mm"]) == pytest.approx(0.5, abs=1e-7)
    assert float(rows["OVERALL"]["mre_mm"]) == pytest.approx(1.25, abs=1e-7)
    assert set(rows) == {"sella", "nasion", "OVERALL"}
    assert (out / "per_landmark_errors.png").stat().st_size > 0
    assert len(list((out / "worst").glob("*.png"))) == 1
    assert "OVERALL" in proc.stdout
