"""Measurement scoring in ``cephmark evaluate``: MAE, bias and class agreement of the measurements
from predicted points against those from the truth."""
from __future__ import annotations

import csv
import math

import numpy as np
import pytest

from cephmark.evaluation.measurements import compare_measurements, write_measurement_csvs
from cephmark.evaluation.report import Evaluation, format_table

from test_analysis_measurements import FACE


def rotated(points: dict, name: str, about: str, degrees: float) -> dict:
    (x, y), (cx, cy) = points[name], points[about]
    a = math.radians(degrees)
    out = dict(points)
    out[name] = (cx + (x - cx) * math.cos(a) - (y - cy) * math.sin(a),
                 cy + (x - cx) * math.sin(a) + (y - cy) * math.cos(a))
    return out


def test_known_errors_bias_and_class_agreement():
    # A turned 3 degrees about N away from S (counter-clockwise on screen): SNA and ANB + 3
    pred = [rotated(FACE, "subspinale_A_point", "nasion", -3.0), dict(FACE)]
    cmp = compare_measurements(pred, [dict(FACE), dict(FACE)], [0.1, 0.1], ["a", "b"], ["steiner", "isbi2015"])
    rows = {(r["analysis"], r["name"]): r for r in cmp.rows()}
    assert rows[("steiner", "SNA")]["mae"] == pytest.approx(1.5)  # 3 on one image, 0 on the other
    assert rows[("steiner", "SNA")]["bias"] == pytest.approx(1.5)
    assert rows[("steiner", "ANB")]["mae"] == pytest.approx(1.5)
    assert rows[("steiner", "SNB")]["mae"] == pytest.approx(0)
    # FACE: ISBI SNA 86.8 (C2) and 89.8 after the turn: same class on both images
    assert rows[("isbi2015", "SNA")]["class_agreement"] == 100.0
    # ISBI ANB 2.5 (C3) vs 5.5 (C1) on image a: one of two images agrees
    assert rows[("isbi2015", "ANB")]["class_agreement"] == 50.0 and rows[("isbi2015", "ANB")]["n_class"] == 2


def test_mirrored_prediction_scores_zero_and_missing_points_leave_out():
    mirror = {k: (3000 - x, y) for k, (x, y) in FACE.items()}
    cmp = compare_measurements([mirror, {**FACE, "gonion": None}], [FACE, FACE], [0.1, None])
    rows = {(r["analysis"], r["name"]): r for r in cmp.rows()}
    assert all(r["mae"] == pytest.approx(0, abs=1e-9) for r in rows.values() if r["n"])
    assert rows[("isbi2015", "FHI")]["n"] == 1  # image b has no gonion in the prediction
    assert rows[("isbi2015", "MW")]["n"] == 1  # image b has no mm/px


def test_evaluate_report_has_the_measurement_table(tmp_path):
    names = list(FACE)
    truth = np.array([[FACE[n] for n in names]], float)
    pred = truth + 2.0
    pred[0, names.index("gonion")] = np.nan  # a miss
    ev = Evaluation(names, ["face.png"], pred, truth, np.array([0.1]))
    text = format_table(ev)
    assert "measurements from predicted vs true points" in text and "Wits" in text
    cmp = ev.measurements()
    assert ("isbi2015", "FHI") not in {(r["analysis"], r["name"]) for r in cmp.rows() if r["n"]}
    out = tmp_path / "ev"
    out.mkdir()
    paths = {p.name for p in write_measurement_csvs(cmp, out)}
    assert paths == {"measurements.csv", "measurements_per_image.csv"}
    rows = list(csv.DictReader((out / "measurements.csv").open()))
    sna = next(r for r in rows if r["analysis"] == "steiner" and r["name"] == "SNA")
    assert int(sna["n"]) == 1 and float(sna["mae"]) == pytest.approx(0, abs=1e-9)  # a shift moves no angle
