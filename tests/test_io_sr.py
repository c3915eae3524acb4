"""DICOM SR out and in (cephmark.io.sr): TID 1500 content, the 0.5 px SCOORD convention, units,
validation with dciodvfy (Debian dicom3tools), the OHIF form, and OHIF-saved two-pair POINTs."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_io_dicom import write_dicom  # noqa: E402

from cephmark.io.sr import (OHIF_TRACKING_ID, SRReadError, is_cephmark_sr, read_sr_landmarks,  # noqa: E402
                            sr_referenced_series, write_sr)

LANDMARKS = [
    {"name": "sella", "x": 0.0, "y": 0.0, "score": 0.91, "found": True},  # centre of the first pixel
    {"name": "nasion", "x": 12.25, "y": 3.5, "score": 0.5, "found": True},
    {"name": "upper_incisor_root_apex", "x": 7.0, "y": 9.0, "score": 0.25, "found": True},  # > 16 chars
    {"name": "porion", "x": None, "y": None, "score": 0.0, "found": False},
]
CALIBRATION = {"mm_per_px": 0.1, "source": "ruler", "status": "ok", "reasons": []}
MEASUREMENTS = {"steiner": {"SNA": {"value": 82.5, "unit": "deg", "title": "SNA angle"},
                            "ANB": {"value": None, "unit": "deg", "reason": "missing landmarks (B)"}},
                "lengths": {"S-N": {"value": 70.25, "unit": "mm"}, "facial_height_ratio": {"value": 0.64, "unit": "ratio"}}}


@pytest.fixture
def dx(tmp_path) -> Path:
    return write_dicom(tmp_path / "dx.dcm", np.arange(20 * 16, dtype=np.uint16).reshape(20, 16), bits_stored=12,
                       StudyInstanceUID=generate_uid(), SeriesInstanceUID=generate_uid(), PatientID="P1",
                       PixelSpacing=[0.1, 0.1])


def _items(ds: Dataset):
    for it in ds.get("ContentSequence") or []:
        yield it
        yield from _items(it)


def _named(sr: Dataset, value: str) -> list[Dataset]:
    return [it for it in _items(sr) if it.ConceptNameCodeSequence[0].get("CodeValue") == value]


def _dciodvfy_errors(path: Path) -> list[str]:
    run = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True)
    return [line for line in (run.stdout + run.stderr).splitlines() if line.startswith("Error")]


needs_dciodvfy = pytest.mark.skipif(shutil.which("dciodvfy") is None,
                                    reason="dciodvfy not installed (Debian dicom3tools; scripts/install_pacs_tools.sh)")


def test_standard_sr_content(dx, tmp_path):
    out = write_sr(dx, LANDMARKS, tmp_path / "sr.dcm", calibration=CALIBRATION, measurements=MEASUREMENTS)
    sr, src = pydicom.dcmread(out), pydicom.dcmread(dx)
    assert sr.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.22"  # Enhanced SR
    assert sr.ContentTemplateSequence[0].TemplateIdentifier == "1500"
    assert sr.StudyInstanceUID == src.StudyInstanceUID and sr.SeriesInstanceUID != src.SeriesInstanceUID
    assert sr.PatientID == "P1" and sr.Modality == "SR" and is_cephmark_sr(sr)
    assert sr_referenced_series(sr) == {src.SeriesInstanceUID}
    # one POINT per found landmark, on the source image, (0, 0) = corner of the first pixel
    points = [it for it in _items(sr) if it.ValueType == "SCOORD"]
    assert [it.GraphicType for it in points] == ["POINT"] * 3
    assert [list(map(float, it.GraphicData)) for it in points] == [[0.5, 0.5], [12.75, 4.0], [7.5, 9.5]]
    for it in points:
        assert it.ContentSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID == src.SOPInstanceUID
    tracking = [it.TextValue for it in _named(sr, "112039")]
    assert tracking[:4] == ["sella", "nasion", "upper_incisor_root_apex", "porion"]
    sites = [it.ConceptCodeSequence[0] for it in _named(sr, "363698007")]
    assert [c.CodeMeaning for c in sites] == ["sella", "nasion", "upper_incisor_root_apex", "porion"]
    assert all(c.CodingSchemeDesignator == "99CEPHMARK" for c in sites)
    scores = [float(it.MeasuredValueSequence[0].NumericValue) for it in _named(sr, "score")]
    assert scores == [0.91, 0.5, 0.25]  # not for porion (not found)
    # calibration and measurements in "Derived Imaging Measurements", beside the landmark groups
    root = [it.ConceptNameCodeSequence[0].CodeValue for it in sr.ContentSequence if it.ValueType == "CONTAINER"]
    assert root == ["126010", "126011"]
    derived = [it for it in _items(sr.ContentSequence[-1]) if it.ValueType == "NUM"]
    assert {it.ConceptNameCodeSequence[0].CodeValue for it in derived} >= {"mm_per_px", "SNA", "S-N"}
    units = {it.ConceptNameCodeSequence[0].CodeValue: (float(it.MeasuredValueSequence[0].NumericValue),
                                                       it.MeasuredValueSequence[0].MeasurementUnitsCodeSequence[0].CodeValue)
             for it in _items(sr) if it.ValueType == "NUM" and it.ConceptNameCodeSequence[0].CodeValue != "score"}
    (ratio_key,) = [k for k in units if k.startswith("facial_heig_")]  # > 16 characters: 11 + CRC
    assert len(ratio_key) == 16
    assert units == {"mm_per_px": (0.1, "mm/{pixel}"), "SNA": (82.5, "deg"), "S-N": (70.25, "mm"),
                     ratio_key: (0.64, "{ratio}")}
    evals = {it.ConceptNameCodeSequence[0].CodeValue: it.ConceptCodeSequence[0].CodeMeaning
             for it in _items(sr) if it.ValueType == "CODE" and it.RelationshipType == "CONTAINS"
             and it.ConceptNameCodeSequence[0].CodingSchemeDesignator == "99CEPHMARK"}
    assert evals == {"cal_source": "ruler", "cal_status": "ok", "ANB": "Not measured: missing landmarks (B)"}


def test_read_back_our_sr(dx, tmp_path):
    out = write_sr(dx, LANDMARKS, tmp_path / "sr.dcm", calibration=CALIBRATION)
    got = read_sr_landmarks(out)
    assert got.points == {"sella": (0.0, 0.0), "nasion": (12.25, 3.5), "upper_incisor_root_apex": (7.0, 9.0)}
    assert got.not_found == ["porion"] and got.scores["sella"] == pytest.approx(0.91)
    assert got.referenced_sop_instance_uid == pydicom.dcmread(dx).SOPInstanceUID and not got.ohif


@needs_dciodvfy
def test_standard_sr_is_valid_for_dciodvfy(dx, tmp_path):
    out = write_sr(dx, LANDMARKS, tmp_path / "sr.dcm", calibration=CALIBRATION, measurements=MEASUREMENTS)
    assert _dciodvfy_errors(out) == []


@needs_dciodvfy
def test_ohif_style(dx, tmp_path):
    out = write_sr(dx, LANDMARKS, tmp_path / "ohif.dcm", style="ohif")
    sr = pydicom.dcmread(out)
    groups = [it for it in _items(sr) if it.ValueType == "CONTAINER" and it.ConceptNameCodeSequence[0].CodeValue == "125007"]
    planar = [g for g in groups if any(i.get("TextValue") == OHIF_TRACKING_ID for i in g.ContentSequence)]
    assert len(planar) == 3
    for g, lm in zip(planar, LANDMARKS):
        tracking = [i.TextValue for i in g.ContentSequence if i.ConceptNameCodeSequence[0].CodeValue == "112039"]
        finding = [i.ConceptCodeSequence[0] for i in g.ContentSequence if i.ConceptNameCodeSequence[0].CodeValue == "121071"]
        assert tracking == [OHIF_TRACKING_ID]
        assert (finding[0].CodeValue, finding[0].CodingSchemeDesignator, finding[0].CodeMeaning) == \
            ("CORNERSTONEFREETEXT", "CORNERSTONEJS", lm["name"])
        # dcmjs' TID300 Point, as OHIF's ArrowAnnotate adapter reads it: the first NUM holds the POINT
        (center,) = [i for i in g.ContentSequence if i.ValueType == "NUM"]
        assert center.ConceptNameCodeSequence[0].CodeValue == "111010" and len(center.MeasuredValueSequence) == 0
        (point,) = center.ContentSequence
        assert (point.ValueType, point.RelationshipType, point.GraphicType) == ("SCOORD", "INFERRED FROM", "POINT")
        assert list(map(float, point.GraphicData)) == [lm["x"] + 0.5, lm["y"] + 0.5]
    # the one documented deviation dciodvfy reports: OHIF's 19-character Code Value in an SH
    errors = _dciodvfy_errors(out)
    assert errors and all("CORNERSTONEFREETEXT" in e or "invalid data values" in e for e in errors)
    assert read_sr_landmarks(out).points["nasion"] == (12.25, 3.5)


def ohif_saved_sr(dx: Path, path: Path, arrows: dict[str, tuple[float, float, float, float]]) -> Path:
    """An SR shaped as OHIF's "Create SR" writes it (dcmjs TID300 Point inside ArrowAnnotate):
    per arrow a NUM "Center" without value, INFERRED FROM a POINT with tip and tail pairs."""
    src = pydicom.dcmread(dx, stop_before_pixels=True)

    def code(value, scheme, meaning):
        c = Dataset()
        c.CodeValue, c.CodingSchemeDesignator, c.CodeMeaning = value, scheme, meaning
        return c

    def item(rel, vt, name, **kw):
        it = Dataset()
        it.RelationshipType, it.ValueType, it.ConceptNameCodeSequence = rel, vt, [name]
        for k, v in kw.items():
            setattr(it, k, v)
        return it

    groups = []
    for label, (tx, ty, ex, ey) in arrows.items():
        image = Dataset()
        image.RelationshipType, image.ValueType = "SELECTED FROM", "IMAGE"
        ref = Dataset()
        ref.ReferencedSOPClassUID, ref.ReferencedSOPInstanceUID = src.SOPClassUID, src.SOPInstanceUID
        image.ReferencedSOPSequence = [ref]
        scoord = Dataset()
        scoord.RelationshipType, scoord.ValueType, scoord.GraphicType = "INFERRED FROM", "SCOORD", "POINT"
        scoord.GraphicData = [tx, ty, ex, ey]
        scoord.ContentSequence = [image]
        center = item("CONTAINS", "NUM", code("111010", "DCM", "Center"), ContentSequence=[scoord])
        group = item("CONTAINS", "CONTAINER", code("125007", "DCM", "Measurement Group"), ContinuityOfContent="SEPARATE")
        group.ContentSequence = [
            item("HAS OBS CONTEXT", "TEXT", code("112039", "DCM", "Tracking Identifier"), TextValue=OHIF_TRACKING_ID),
            item("HAS OBS CONTEXT", "UIDREF", code("112040", "DCM", "Tracking Unique Identifier"), UID=generate_uid()),
            item("CONTAINS", "CODE", code("121071", "DCM", "Finding"),
                 ConceptCodeSequence=[code("CORNERSTONEFREETEXT", "CORNERSTONEJS", label)]),
            center]
        groups.append(group)
    measurements = item("CONTAINS", "CONTAINER", code("126010", "DCM", "Imaging Measurements"),
                        ContinuityOfContent="SEPARATE", ContentSequence=groups)
    sr = pydicom.dcmread(write_dicom(path, None, SOPClassUID="1.2.840.10008.5.1.4.1.1.88.22"))
    sr.Modality, sr.Manufacturer = "SR", "OHIF"
    sr.StudyInstanceUID, sr.SeriesInstanceUID = src.StudyInstanceUID, generate_uid()
    sr.ValueType, sr.ContinuityOfContent = "CONTAINER", "SEPARATE"
    sr.ConceptNameCodeSequence = [code("126000", "DCM", "Imaging Measurement Report")]
    sr.ContentSequence = [measurements]
    sr.save_as(str(path), write_like_original=False)
    return path


def test_ohif_saved_two_pair_points_take_the_tip(dx, tmp_path):
    path = ohif_saved_sr(dx, tmp_path / "ohif_saved.dcm", {"sella": (10.5, 4.5, 40.0, 30.0), "p1": (3.0, 7.5, 9.0, 9.0)})
    got = read_sr_landmarks(path)
    assert got.points == {"sella": (10.0, 4.0), "p1": (2.5, 7.0)} and got.ohif
    assert got.referenced_sop_instance_uid == pydicom.dcmread(dx).SOPInstanceUID


def test_not_an_sr_is_named(dx, tmp_path):
    with pytest.raises(SRReadError, match=r"dx\.dcm: not a DICOM SR"):
        read_sr_landmarks(dx)
    empty = ohif_saved_sr(dx, tmp_path / "empty.dcm", {})
    with pytest.raises(SRReadError, match=r"empty\.dcm: no named landmark POINT"):
        read_sr_landmarks(empty)


def test_bad_style_and_unit(dx, tmp_path):
    with pytest.raises(ValueError, match="SR style"):
        write_sr(dx, LANDMARKS, tmp_path / "x.dcm", style="fancy")
    with pytest.raises(ValueError, match="unit 'furlong'"):
        write_sr(dx, LANDMARKS, tmp_path / "x.dcm", measurements=[{"name": "a", "value": 1, "unit": "furlong"}])
    assert not (tmp_path / "x.dcm").exists() and not list(tmp_path.glob(".x.dcm*"))
