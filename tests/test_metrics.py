"""Landmark metrics against hand-computed values."""
import math

import numpy as np
import pytest

from cephmark.evaluation.metrics import (
    count_evaluated, count_missed, mre, per_landmark, radial_errors, sd, sdr, sdr_key, summarize,
    to_mm,
)

NAN = float("nan")


def test_radial_errors_hand_values():
    gt = np.array([[[0, 0], [10, 10]], [[5, 5], [1, 1]]], dtype=float)
    pred = np.array([[[3, 4], [10, 10]], [[5, 17], [2, 1]]], dtype=float)
    err = radial_errors(pred, gt)
    np.testing.assert_allclose(err, [[5.0, 0.0], [12.0, 1.0]])


def test_missing_gt_is_nan_and_missing_prediction_is_inf():
    gt = np.array([[0, 0], [NAN, NAN], [1, 1]])
    pred = np.array([[NAN, NAN], [3, 3], [1, 2]])
    err = radial_errors(pred, gt)
    assert math.isinf(err[0]) and math.isnan(err[1]) and err[2] == 1.0
    assert count_evaluated(err) == 2 and count_missed(err) == 1
    assert mre(err) == 1.0  # the miss is left out of MRE ...
    assert sdr(err, [2.0])[2.0] == 50.0  # ... but fails SDR


def test_shape_mismatch_rejected():
    with pytest.raises(ValueError):
        radial_errors(np.zeros((3, 2)), np.zeros((2, 2)))


def test_mre_sd():
    e = np.array([1.0, 2.0, 3.0, 6.0, NAN])
    assert mre(e) == 3.0
    assert sd(e) == pytest.approx(math.sqrt((4 + 1 + 0 + 9) / 4))
    assert math.isnan(mre(np.array([NAN])))


def test_sdr_thresholds_inclusive():
    # errors in mm: exactly 2.0 counts as within 2 mm
    e = np.array([0.5, 2.0, 2.4, 2.5, 3.2, 4.0, 4.01, NAN])
    out = sdr(e, (2.0, 2.5, 3.0, 4.0))
    assert out == {2.0: pytest.approx(100 * 2 / 7), 2.5: pytest.approx(100 * 4 / 7),
                   3.0: pytest.approx(100 * 4 / 7), 4.0: pytest.approx(100 * 6 / 7)}


def test_sdr_exact_two_mm_from_coordinates():
    # (1.2, 1.6) px at 1.0 mm/px is 2.0 mm up to floating-point noise
    err = radial_errors(np.array([[1.2, 1.6]]), np.array([[0.0, 0.0]]))
    assert sdr(to_mm(err, 1.0), [2.0])[2.0] == 100.0
    err = radial_errors(np.array([[20.0, 0.0]]), np.array([[0.0, 0.0]]))
    assert sdr(to_mm(err[None], np.array([0.1])), [2.0])[2.0] == 100.0


def test_to_mm_per_image_spacing():
    e = np.array([[10.0, 20.0], [10.0, 5.0]])
    mm = to_mm(e, np.array([0.1, NAN]))
    np.testing.assert_allclose(mm[0], [1.0, 2.0])
    assert np.isnan(mm[1]).all()
    assert np.isnan(to_mm(e, None)).all()


def test_summarize_and_per_landmark():
    gt = np.zeros((2, 2, 2))
    pred = np.array([[[3, 4], [0, 30]], [[6, 8], [0, 10]]], dtype=float)  # errors 5,30 / 10,10
    err = radial_errors(pred, gt)
    mm = to_mm(err, np.array([0.1, 0.2]))  # 0.5, 3.0 / 2.0, 2.0 mm
    s = summarize(err, mm)
    assert s["n"] == 4 and s["missed"] == 0
    assert s["mre_px"] == pytest.approx(13.75)
    assert s["mre_mm"] == pytest.approx(7.5 / 4)
    assert s["sdr_2"] == pytest.approx(75.0)
    assert s["sdr_2.5"] == pytest.approx(75.0)
    assert s["sdr_3"] == pytest.approx(100.0)
    assert s["sdr_4"] == pytest.approx(100.0)
    rows = per_landmark(err, ["a", "b"], mm)
    assert [r["name"] for r in rows] == ["a", "b"]
    assert rows[0]["mre_px"] == pytest.approx(7.5) and rows[1]["mre_px"] == pytest.approx(20.0)
    assert rows[0]["mre_mm"] == pytest.approx(1.25) and rows[1]["sdr_2"] == pytest.approx(50.0)
    assert sdr_key(2.5) == "sdr_2.5" and sdr_key(2.0) == "sdr_2"


def test_summarize_without_spacing():
    err = np.array([[1.0, 2.0]])
    s = summarize(err)
    assert s["mre_px"] == 1.5 and math.isnan(s["mre_mm"]) and math.isnan(s["sdr_2"])
