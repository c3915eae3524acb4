"""The per-image calibration record: ruler vs DICOM spacing, sanity checks, status and reasons."""
from __future__ import annotations

import pytest

from cephmark.calibration.scale import CalibrationPolicy, RulerMark, calibrate

P1 = RulerMark(1700.0, 1040.0, 0.9)
P2 = RulerMark(1700.5, 948.4, 0.8)  # 91.6 px above: 0.1092 mm/px


def test_ruler_wins_and_is_ok():
    c = calibrate(P1, P2)
    assert c.source == "ruler" and c.status == "ok" and c.reasons == []
    assert c.mm_per_px == pytest.approx(10 / 91.6013, rel=1e-4)
    d = c.to_dict()
    assert set(d) == {"mm_per_px", "source", "ruler", "dicom_spacing_mm", "dicom_tag", "ruler_vs_dicom",
                      "status", "reasons", "notes"}
    assert d["ruler"]["p1"] == [1700.0, 1040.0] and d["ruler"]["score"] == 0.8
    assert d["ruler"]["distance_px"] == pytest.approx(91.601, abs=1e-3)


def test_ruler_against_dicom_within_magnification():
    c = calibrate(P1, P2, dicom_spacing_mm=0.12, dicom_tag="ImagerPixelSpacing")
    assert c.source == "ruler" and c.status == "ok"
    assert c.ruler_vs_dicom == pytest.approx(0.10917 / 0.12 - 1, abs=1e-4)
    assert "magnification" in c.notes[0]


def test_ruler_larger_than_detector_spacing_is_flagged():
    # ruler mm/px 9 % above the detector's: no magnification (>= 1) explains it
    c = calibrate(P1, P2, dicom_spacing_mm=0.1, dicom_tag="PixelSpacing")
    assert c.source == "ruler" and c.status == "check"
    assert "disagree by +9.2 %" in c.reasons[0] and "PixelSpacing" in c.reasons[0]


@pytest.mark.parametrize("p1,p2,why", [
    (None, P2, "p1 not found"),
    (RulerMark(None, None, 0.0, found=False), P2, "p1 not found"),
    (P2, P1, "not above"),
    (RulerMark(1700.0, 1040.0, 0.05), P2, "weak ruler peak (p1 0.05"),
])
def test_implausible_ruler_is_flagged(p1, p2, why):
    c = calibrate(p1, p2)
    assert c.status == "check" and any(why in r for r in c.reasons), c.reasons


def test_insane_ruler_falls_back_to_dicom_with_reasons():
    far = RulerMark(1700.0, 1040.0 - 3000, 0.9)  # 0.0033 mm/px
    c = calibrate(P1, far, dicom_spacing_mm=0.1, dicom_tag="ImagerPixelSpacing")
    assert c.source == "dicom" and c.mm_per_px == 0.1 and c.status == "check"
    assert any("outside the plausible" in r for r in c.reasons)
    assert any("DICOM spacing used instead" in r for r in c.reasons)


def test_no_ruler_model():
    dicom = calibrate(dicom_spacing_mm=0.2, dicom_tag="PixelSpacing", ruler_model=False)
    assert dicom.source == "dicom" and dicom.status == "ok" and "magnification" in dicom.notes[0]
    none = calibrate(ruler_model=False)
    assert none.source == "none" and none.mm_per_px is None and none.status == "check"


def test_ruler_model_flags_are_added():
    c = calibrate(P1, P2, flags={"status": "check", "reasons": ["pitch irregular"], "score": 0.4})
    assert c.status == "check" and "ruler model: pitch irregular" in c.reasons
    assert c.ruler["flag_score"] == 0.4


def test_policy_is_adjustable():
    c = calibrate(P1, P2, policy=CalibrationPolicy(mm_per_px_range=(0.2, 0.5)))
    assert c.source == "none" and c.status == "check"


def test_the_ruler_models_own_verdict_replaces_the_peak_check():
    weak = RulerMark(1700.0, 1040.0, 0.05)
    assert calibrate(weak, P2, flags={"status": "ok", "reasons": [], "score": 0.9}).status == "ok"
    assert calibrate(weak, P2).status == "check"  # without flags the heatmap peak is checked here


def test_a_flagged_ruler_that_contradicts_dicom_gives_way():
    bad = {"status": "check", "reasons": ["p2: weak refiner peak"], "score": 0.1}
    c = calibrate(P1, P2, dicom_spacing_mm=0.16, dicom_tag="PixelSpacing", flags=bad)  # ruler -32 %
    assert c.source == "dicom" and c.mm_per_px == 0.16 and c.status == "check"
    assert any("ruler rejected" in r for r in c.reasons) and c.ruler is not None
    kept = calibrate(P1, P2, dicom_spacing_mm=0.12, dicom_tag="PixelSpacing", flags=bad)  # within the band
    assert kept.source == "ruler" and kept.status == "check"
