"""DICOM SR out and in: landmarks, calibration and measurements as a TID 1500 Measurement Report.

Written with highdicom as an Enhanced SR (SCOORD, no SCOORD3D: what OHIF draws over a 2D DX),
in a new series of the source image's study, referencing the source image:

* one TID 1410 measurement group per found landmark: tracking identifier, an Image Region
  SCOORD POINT on the source image, and the score as a NUM (UCUM ``1``). Style ``standard``:
  tracking identifier = landmark name, Finding Site (SCT 363698007) = the landmark as a code of
  the private scheme ``99CEPHMARK`` (value and meaning = its name). Style ``ohif``: the form OHIF
  itself writes for an arrow annotation (dcmjs' TID300 Point), so OHIF loads the points into
  its measurement panel and lets the user drag them: tracking identifier
  ``Cornerstone3DTools@^0.1.0:ArrowAnnotate``, a Finding (DCM 121071)
  ``(CORNERSTONEFREETEXT, CORNERSTONEJS, <name>)``, and the POINT inferred from a NUM "Center"
  (DCM 111010) without value; no score (OHIF takes every NUM of such a group as a holder of
  coordinates). Deviations from the standard, all OHIF's own: ``CORNERSTONEJS`` is neither a
  registered coding scheme nor a private one (those start with ``99``); one code value stands
  for every landmark (the name is only the meaning); and that value has 19 characters in Code
  Value, an SH of at most 16.
* a landmark that was not found: a TID 1501 group with its Finding Site and the finding
  ``(not_found, 99CEPHMARK)``, no SCOORD and no score (its score is <= 0 by definition).
* calibration and measurements go in "Derived Imaging Measurements" (DCM 126011), beside
  "Imaging Measurements": they derive from the landmark groups (and OHIF, which reads only the
  latter, fails on a NUM that infers from no SCOORD).
* calibration (optional): a TID 1501 group with NUM mm/px (UCUM ``mm/{pixel}``) and its
  source and status as coded qualitative evaluations (``99CEPHMARK``).
* measurements (optional): one TID 1501 group per analysis, one NUM each, UCUM ``deg``, ``mm``,
  ``%``, ``{ratio}``.
* a value that could not be measured (null mm/px or measurement) is a coded evaluation
  ``(not_measured, 99CEPHMARK, "Not measured: <reason>")`` under the same concept name:
  highdicom 0.22 cannot write a NUM without a value.

Coordinates: cephmark's pixel coordinates put integer values at pixel centres (OpenCV); DICOM
SCOORD pixel coordinates put (0, 0) at the top-left corner of the top-left pixel (PS3.3
C.18.6.1.1), so the centre of that pixel is (0.5, 0.5): written = x + 0.5, read = value - 0.5,
in both styles. GraphicData is FL (32-bit float): a coordinate keeps about 7 significant digits
(0.0001 px on a 2000 px image). (The OHIF build inside monailabel 0.8.5 draws SCOORD (0, 0) at the centre of the
first pixel, so it shows our points half a pixel right and down of where they are.)

Reading (:func:`read_sr_landmarks`) takes ours and the SRs OHIF saves ("Create SR"), whose
POINTs carry two coordinate pairs, arrow tip then tail: the tip is the landmark.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pydicom
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid

from cephmark.util import atomic_write_bytes

__all__ = ["SR_STYLES", "OHIF_TRACKING_ID", "SCHEME", "MANUFACTURER", "FINAL_LABEL_DESCRIPTION", "build_sr", "write_sr",
           "sr_bytes", "SRLandmarks", "read_sr_landmarks", "is_cephmark_sr", "sr_referenced_series", "SRReadError"]

SR_STYLES = ("standard", "ohif")
OHIF_TRACKING_ID = "Cornerstone3DTools@^0.1.0:ArrowAnnotate"
SCHEME = "99CEPHMARK"
MANUFACTURER = "cephmark"
SERIES_DESCRIPTION = "cephmark landmarks"  # a model's output
FINAL_LABEL_DESCRIPTION = "cephmark final label"  # a label saved through the MONAI Label app
PIXEL_ORIGIN = 0.5  # SCOORD value of the centre of pixel 0 (PS3.3 C.18.6.1.1)
UNITS = {"deg": ("deg", "degree"), "mm": ("mm", "millimeter"), "%": ("%", "percent"),
         "ratio": ("{ratio}", "ratio"), "1": ("1", "no units"), "mm/px": ("mm/{pixel}", "millimeter per pixel")}

# content item concept names read back
_TRACKING_ID, _FINDING, _GROUP = "112039", "121071", "125007"
_FINDING_SITES = {("SCT", "363698007"), ("SRT", "G-C0E3")}
_OHIF_SH = "exceeds the maximum length of 16 allowed for VR SH"  # pydicom's warning on OHIF's code


class SRReadError(ValueError):
    """An SR file cannot be used as landmark labels; the message starts with the file path."""


def _code(value: str, meaning: str, scheme: str = SCHEME):
    from highdicom.sr import CodedConcept

    return CodedConcept(value=str(value), scheme_designator=scheme, meaning=str(meaning)[:64])


def _concept_name(value: str, meaning: str):
    """A concept name code: its value must fit in CodeValue (16 characters; highdicom 0.22 fails
    on a LongCodeValue there), so a longer name becomes its first 11 characters + a CRC."""
    import zlib

    value = str(value)
    if len(value) > 16:
        value = f"{value[:11]}_{zlib.crc32(value.encode()) & 0xFFFF:04x}"
    return _code(value, meaning)


def _plain_code(value: str, scheme: str, meaning: str) -> Dataset:
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = value, scheme, meaning
    return code


def _unit(unit: str):
    if unit not in UNITS:
        raise ValueError(f"unit {unit!r} has no UCUM code here (known: {', '.join(UNITS)})")
    value, meaning = UNITS[unit]
    return _code(value, meaning, "UCUM")


def _field(obj: Any, name: str, default: Any = None) -> Any:
    return obj.get(name, default) if isinstance(obj, Mapping) else getattr(obj, name, default)


def _known(value: Any) -> bool:
    return value is not None and math.isfinite(float(value))


def _num(name, value: float, unit: str):
    from highdicom.sr import Measurement

    return Measurement(name=name, value=float(value), unit=_unit(unit))


def _not_measured(name, reason: str | None):
    """A value that could not be measured: a coded evaluation naming why (highdicom 0.22 writes
    no NUM without a value)."""
    from highdicom.sr import QualitativeEvaluation

    return QualitativeEvaluation(name, _code("not_measured", f"Not measured: {reason or 'unknown'}"))


def _landmark_group(lm: Any, source: Dataset, style: str, algorithm):
    import highdicom as hd

    name = str(_field(lm, "name"))
    score = _field(lm, "score")
    # OHIF's form has no score: OHIF takes every NUM of a group as a holder of coordinates
    score_num = [_num(_code("score", "Landmark score"), score, "1")] if _known(score) and style != "ohif" else []
    site = [hd.sr.FindingSite(anatomic_location=_code(name, name))]
    found = bool(_field(lm, "found", True)) and _field(lm, "x") is not None and _field(lm, "y") is not None
    if not found:  # no NUM: OHIF fails on a NUM that infers from no SCOORD (its score is <= 0)
        return hd.sr.MeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(uid=generate_uid(), identifier=name),
            finding_type=_code("not_found", "Landmark not found"), finding_sites=site,
            algorithm_id=algorithm)
    xy = np.array([[float(_field(lm, "x")) + PIXEL_ORIGIN, float(_field(lm, "y")) + PIXEL_ORIGIN]])
    region = hd.sr.ImageRegion(graphic_type=hd.sr.GraphicTypeValues.POINT, graphic_data=xy,
                               source_image=hd.sr.SourceImageForRegion.from_source_image(source))
    if style == "ohif":
        return hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(uid=generate_uid(), identifier=OHIF_TRACKING_ID),
            referenced_region=region, finding_type=_code("CORNERSTONEFREETEXT", name, "CORNERSTONEJS"),
            algorithm_id=algorithm)
    return hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=generate_uid(), identifier=name),
        referenced_region=region, finding_sites=site, algorithm_id=algorithm, measurements=score_num)


def _calibration_group(cal: Mapping[str, Any], source: Dataset, algorithm):
    import highdicom as hd

    evals = [hd.sr.QualitativeEvaluation(_code(f"cal_{k}", f"Calibration {k}"),
                                         _code(str(cal[k])[:64], str(cal[k])))
             for k in ("source", "status") if cal.get(k) is not None]
    name = _code("mm_per_px", "Pixel size (mm per pixel)")
    mm = cal.get("mm_per_px")
    if not _known(mm):
        evals.append(_not_measured(name, "; ".join(cal.get("reasons") or []) or None))
    return hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=generate_uid(), identifier="calibration"),
        finding_type=_code("calibration", "Pixel size calibration"), algorithm_id=algorithm,
        measurements=[_num(name, mm, "mm/px")] if _known(mm) else None,
        qualitative_evaluations=evals or None,
        source_images=[hd.sr.SourceImageForMeasurementGroup.from_source_image(source)])


def flatten_measurements(measurements: Any) -> list[dict]:
    """A list of ``{analysis, name, title, value, unit}`` from a list of such dicts or the
    analysis JSON form ``{analysis: {name: {"value", "unit", "title", ...}}}``."""
    if not measurements:
        return []
    if isinstance(measurements, Mapping):
        return [{"analysis": a, "name": n, **dict(entry)}
                for a, table in measurements.items() for n, entry in table.items()]
    return [dict(m) if isinstance(m, Mapping) else {
        "analysis": m.measurement.analysis, "name": m.measurement.name, "title": m.measurement.title,
        "value": m.value, "unit": m.measurement.unit} for m in measurements]


def _measurement_groups(measurements: Any, source: Dataset, algorithm) -> list:
    import highdicom as hd

    by_analysis: dict[str, tuple[list, list]] = {}
    for m in flatten_measurements(measurements):
        name = _concept_name(m["name"], m.get("title") or m["name"])
        nums, evals = by_analysis.setdefault(str(m.get("analysis") or "measurements"), ([], []))
        if _known(m.get("value")):
            nums.append(_num(name, m["value"], str(m["unit"])))
        else:
            evals.append(_not_measured(name, m.get("reason")))
    return [hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=generate_uid(), identifier=analysis),
        finding_type=_code(analysis, f"Cephalometric analysis {analysis}"), algorithm_id=algorithm,
        measurements=nums or None, qualitative_evaluations=evals or None,
        source_images=[hd.sr.SourceImageForMeasurementGroup.from_source_image(source)])
        for analysis, (nums, evals) in by_analysis.items()]


# type 2 patient/study attributes highdicom copies from the evidence; an image may lack them
_TYPE2 = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
          "ReferringPhysicianName", "StudyID", "AccessionNumber")


def _evidence(source: Dataset) -> Dataset:
    """The source's header with absent type 2 patient/study attributes present but empty."""
    ds = Dataset()
    ds.update({k: v for k, v in source.items() if k.group != 0x7FE0})
    for keyword in _TYPE2:
        if keyword not in ds:
            setattr(ds, keyword, "")
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID"):
        if not ds.get(keyword):
            raise ValueError(f"the source image has no {keyword}: an SR cannot reference it")
    return ds


def build_sr(source: Dataset, landmarks: Sequence[Any], *, calibration: Mapping[str, Any] | None = None,
             measurements: Any = None, style: str = "standard", model_name: str | None = None,
             series_instance_uid: str | None = None, series_number: int = 990,
             series_description: str = SERIES_DESCRIPTION):
    """An Enhanced SR (highdicom) for one source image dataset (see the module docstring).

    ``landmarks``: objects or dicts with ``name, x, y, score, found`` in cephmark's pixel
    convention; ``calibration``: ``{"mm_per_px", "source", "status", ...}``; ``measurements``:
    see :func:`flatten_measurements`.
    """
    import highdicom as hd

    from cephmark import __version__

    if style not in SR_STYLES:
        raise ValueError(f"SR style must be one of {', '.join(SR_STYLES)}, not {style!r}")
    source = _evidence(source)
    algorithm = hd.sr.AlgorithmIdentification(name="cephmark", version=str(__version__),
                                              parameters=[model_name] if model_name else None)
    groups = [_landmark_group(lm, source, style, algorithm) for lm in landmarks]
    derived = [_calibration_group(calibration, source, algorithm)] if calibration else []
    derived += _measurement_groups(measurements, source, algorithm)
    observer = hd.sr.ObserverContext(
        observer_type=hd.sr.CodedConcept("121007", "DCM", "Device"),
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=generate_uid(), name="cephmark", manufacturer_name=MANUFACTURER,
            model_name=(model_name or "cephmark")[:64]))
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_person_context=None,
                                                     observer_device_context=observer),
        procedure_reported=_code("ceph_landmarks", "Cephalometric landmark detection"),
        imaging_measurements=groups)
    sr = hd.sr.EnhancedSR(
        evidence=[source], content=report[0], series_instance_uid=series_instance_uid or generate_uid(),
        series_number=series_number, sop_instance_uid=generate_uid(), instance_number=1,
        manufacturer=MANUFACTURER, series_description=series_description, is_complete=True)
    if derived:
        _add_derived(sr, derived)
    if style == "ohif":
        _ohif_form(sr)
    return sr


def _add_derived(sr: Dataset, groups: list) -> None:
    """Calibration and measurement groups go in "Derived Imaging Measurements" (DCM 126011), a
    sibling of "Imaging Measurements": they are derived from the landmark groups, and OHIF (which
    reads only 126010) fails on a group whose NUMs infer from no SCOORD."""
    container = Dataset()
    container.RelationshipType, container.ValueType = "CONTAINS", "CONTAINER"
    container.ConceptNameCodeSequence = [_plain_code("126011", "DCM", "Derived Imaging Measurements")]
    container.ContinuityOfContent = "SEPARATE"
    container.ContentSequence = Sequence([Dataset(item) for group in groups for item in group])
    sr["ContentSequence"] = DataElement(0x0040A730, "SQ", Sequence([*map(Dataset, sr.ContentSequence), container]))


def _ohif_form(sr: Dataset) -> None:
    """Reshape the landmark groups into what OHIF's ArrowAnnotate adapter (dcmjs TID300 Point)
    reads: the POINT INFERRED FROM a NUM "Center" (DCM 111010) with an empty Measured Value
    Sequence (Type 2), and ``CodeValue == "CORNERSTONEFREETEXT"``: 19 characters in an SH (max
    16), which highdicom rightly put in LongCodeValue (a deviation, OHIF's)."""
    for group in _walk(sr.ContentSequence):
        content = _items(group.get("ContentSequence"))
        if not any(it.ValueType == "TEXT" and it.get("TextValue") == OHIF_TRACKING_ID for it in content):
            continue
        reshaped = []
        for it in content:
            if it.ValueType == "SCOORD":
                it.RelationshipType = "INFERRED FROM"
                center = Dataset()
                center.RelationshipType, center.ValueType = "CONTAINS", "NUM"
                center.ConceptNameCodeSequence = [_plain_code("111010", "DCM", "Center")]
                center.MeasuredValueSequence = []
                center.ContentSequence = Sequence([it])
                it = center
            reshaped.append(it)
        group["ContentSequence"] = DataElement(0x0040A730, "SQ", Sequence(reshaped))
    for item in _walk(sr.ContentSequence):
        for code in _items(item.get("ConceptCodeSequence")):
            if code.get("LongCodeValue") == "CORNERSTONEFREETEXT":
                with warnings.catch_warnings():
                    warnings.filterwarnings("ignore", message=f".*{_OHIF_SH}")
                    code.CodeValue = code.LongCodeValue
                del code.LongCodeValue


def write_sr(source: str | Path | Dataset, landmarks: Sequence[Any], out_path: str | Path, **kwargs) -> Path:
    """Build the SR for ``source`` (a DICOM file or dataset) and write it atomically."""
    from cephmark.io.dicom import read_dataset

    ds = source if isinstance(source, Dataset) else read_dataset(source, stop_before_pixels=True)
    sr = build_sr(ds, landmarks, **kwargs)
    return atomic_write_bytes(out_path, sr_bytes(sr))


def sr_bytes(sr: Dataset) -> bytes:
    """The SR as a DICOM file (Part 10) in memory; a dataset without file meta information (e.g.
    from DICOMweb JSON metadata) is written as Explicit VR Little Endian."""
    from io import BytesIO

    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    if not getattr(sr, "file_meta", None) or "TransferSyntaxUID" not in sr.file_meta:
        sr = Dataset(sr)
        sr.file_meta = FileMetaDataset()
        sr.file_meta.MediaStorageSOPClassUID = sr.SOPClassUID
        sr.file_meta.MediaStorageSOPInstanceUID = sr.SOPInstanceUID
        sr.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        sr.is_little_endian, sr.is_implicit_VR = True, False
        sr.preamble = b"\0" * 128
    buf = BytesIO()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=f".*{_OHIF_SH}")
        sr.save_as(buf, write_like_original=False)
    return buf.getvalue()


# ---- reading ----------------------------------------------------------------------------------

@dataclass
class SRLandmarks:
    """Landmarks read from one SR, in cephmark's pixel convention."""

    path: str
    referenced_sop_instance_uid: str | None
    referenced_series_uid: str | None
    points: dict[str, tuple[float, float]] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)
    not_found: list[str] = field(default_factory=list)
    ohif: bool = False  # written by OHIF (or in its form)


def _items(seq: Iterable[Dataset] | None) -> list[Dataset]:
    return list(seq or [])


def _concept(item: Dataset) -> tuple[str, str]:
    c = item.ConceptNameCodeSequence[0]
    return str(c.get("CodingSchemeDesignator", "")), str(c.get("CodeValue") or c.get("LongCodeValue") or "")


def _walk(items: Iterable[Dataset]) -> Iterable[Dataset]:
    for it in items:
        yield it
        yield from _walk(_items(it.get("ContentSequence")))


def _group_name(group: list[Dataset]) -> str | None:
    cornerstone = any(it.ValueType == "TEXT" and _concept(it)[1] == _TRACKING_ID and ":" in str(it.TextValue)
                      for it in group)
    if cornerstone:  # OHIF's form: the label the user sees (and may have edited) is the finding
        name = _free_text(group)
        if name:
            return name
    for it in group:  # our standard form: finding site in our scheme
        if it.ValueType == "CODE" and _concept(it) in _FINDING_SITES:
            code = it.ConceptCodeSequence[0]
            if code.get("CodingSchemeDesignator") == SCHEME:
                return str(code.get("CodeValue") or code.get("LongCodeValue"))
    name = _free_text(group)
    if name:
        return name
    for it in group:
        if it.ValueType == "TEXT" and _concept(it)[1] == _TRACKING_ID and ":" not in it.TextValue:
            return str(it.TextValue)
    return None


def _free_text(group: list[Dataset]) -> str | None:
    """OHIF's label: a free-text finding (or finding site) whose meaning is the name."""
    for it in group:
        if it.ValueType == "CODE" and (_concept(it)[1] == _FINDING or _concept(it) in _FINDING_SITES):
            code = it.ConceptCodeSequence[0]
            if (code.get("CodeValue") or code.get("LongCodeValue")) == "CORNERSTONEFREETEXT" and \
                    str(code.get("CodeMeaning", "")).strip():
                return str(code.CodeMeaning).strip()
    return None


def is_cephmark_sr(ds: Dataset) -> bool:
    """True for an SR written by cephmark (either style)."""
    return str(ds.get("Modality", "")) == "SR" and str(ds.get("Manufacturer", "")) == MANUFACTURER


def sr_referenced_series(ds: Dataset) -> set[str]:
    """Series instance UIDs of the evidence an SR lists (Current Requested Procedure Evidence)."""
    out = set()
    for study in _items(ds.get("CurrentRequestedProcedureEvidenceSequence")):
        for series in _items(study.get("ReferencedSeriesSequence")):
            out.add(str(series.SeriesInstanceUID))
    return out


def read_sr_landmarks(source: str | Path | Dataset) -> SRLandmarks:
    """Landmark points of a TID 1500 SR (ours, or saved by OHIF): name -> (x, y) pixels.

    A POINT with two pairs (OHIF's arrow) gives its first pair (the tip). Raises
    :class:`SRReadError` for a file that is not an SR or holds no named POINT.
    """
    path = str(source if not isinstance(source, Dataset) else getattr(source, "filename", "<dataset>"))
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=f".*{_OHIF_SH}")
            ds = source if isinstance(source, Dataset) else pydicom.dcmread(path, force=True)
            ds.ContentSequence if "ContentSequence" in ds else None  # parse the tree here
    except Exception as exc:
        raise SRReadError(f"{path}: not a readable DICOM file ({type(exc).__name__}: {exc})") from exc
    if str(ds.get("Modality", "")) != "SR" or "ContentSequence" not in ds:
        raise SRReadError(f"{path}: not a DICOM SR (Modality={ds.get('Modality', 'missing')})")
    out = SRLandmarks(path, None, None, ohif=not is_cephmark_sr(ds))
    series = sorted(sr_referenced_series(ds))
    out.referenced_series_uid = series[0] if len(series) == 1 else None
    groups = [g for g in _walk(ds.ContentSequence)
              if g.ValueType == "CONTAINER" and _concept(g)[1] == _GROUP]
    unnamed = 0
    for g in groups:
        content = _items(g.get("ContentSequence"))
        name = _group_name(content)
        points = [it for it in _walk(content) if it.ValueType == "SCOORD" and it.GraphicType == "POINT"]
        if name is None:
            unnamed += bool(points)
            continue
        for it in content:
            if it.ValueType == "NUM" and _concept(it) == (SCHEME, "score") and it.get("MeasuredValueSequence"):
                out.scores[name] = float(it.MeasuredValueSequence[0].NumericValue)
        if not points:
            if any(it.ValueType == "CODE" and it.ConceptCodeSequence[0].get("CodeValue") == "not_found"
                   for it in content):
                out.not_found.append(name)
            continue
        data = [float(v) for v in points[0].GraphicData]
        if name in out.points:
            raise SRReadError(f"{path}: landmark {name!r} appears twice")
        out.points[name] = (data[0] - PIXEL_ORIGIN, data[1] - PIXEL_ORIGIN)
        for ref in _walk(_items(points[0].get("ContentSequence"))):
            if ref.ValueType == "IMAGE" and out.referenced_sop_instance_uid is None:
                out.referenced_sop_instance_uid = str(ref.ReferencedSOPSequence[0].ReferencedSOPInstanceUID)
    if not out.points and not out.not_found:
        extra = f" ({unnamed} POINT(s) without a name)" if unnamed else ""
        raise SRReadError(f"{path}: no named landmark POINT in this SR{extra}")
    return out
