"""One image through the analysis: read once -> landmarks and ruler marks (one preprocessing per
model) -> mm/px with status -> measurements. Used by ``cephmark analyze`` and the MONAI Label app.

JSON per image: the predict fields (``image, width, height, spacing_mm, spacing_source,
landmarks``; ``x_mm``/``y_mm`` follow the chosen mm/px) plus ``calibration`` (see
`cephmark.calibration.scale`), ``orientation`` and ``measurements``
(``{analysis: {name: {value, unit, norm, deviation_sd, class, reason, ...}}}``).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol, Sequence

from cephmark.analysis.compute import MeasurementSet, measure
from cephmark.calibration.pitch_stage import RulerConvention, apply_pitch
from cephmark.calibration.scale import Calibration, CalibrationPolicy, calibrate, marks_from
from cephmark.inference.results import ImageResult, LandmarkResult
from cephmark.io import CephImage, read_image
from cephmark.landmarks import CLDETECTION_38, RULER


class Predictor(Protocol):
    landmark_names: list[str]

    def predict_one(self, image: CephImage) -> ImageResult: ...


@dataclass
class AnalysisResult:
    landmarks: ImageResult  # x_mm / y_mm at the calibration's mm/px
    calibration: Calibration
    measurements: MeasurementSet

    def to_dict(self) -> dict[str, Any]:
        out = self.landmarks.to_dict()
        out["calibration"] = self.calibration.to_dict()
        out["orientation"] = self.measurements.orientation.to_dict()
        out["measurements"] = self.measurements.to_dict()
        return out


def unavailable_reasons(result: ImageResult, model_names: Sequence[str] | None) -> dict[str, str]:
    """Why a landmark the table may ask for is missing: not found, or not an output of the model."""
    why = {lm.name: "not found (no heatmap peak)" for lm in result.landmarks if not lm.found}
    if model_names is not None:
        for name in CLDETECTION_38:
            if name not in model_names:
                why.setdefault(name, "not an output of the landmark model")
    return why


def with_scale(result: ImageResult, mm_per_px: float | None) -> ImageResult:
    """A copy with x_mm / y_mm at ``mm_per_px`` (None: null)."""
    lms = [replace(lm, x_mm=None if mm_per_px is None or not lm.found else lm.x * mm_per_px,
                   y_mm=None if mm_per_px is None or not lm.found else lm.y * mm_per_px)
           for lm in result.landmarks]
    return replace(result, landmarks=lms)


def analyze_points(result: ImageResult, ruler: ImageResult | None = None, *, ruler_model: bool | None = None,
                   analyses: list[str] | None = None, face: str = "auto",
                   policy: CalibrationPolicy | None = None, model_names: Sequence[str] | None = None,
                   flags: dict | None = None, pitch: dict | None = None) -> AnalysisResult:
    """Calibration and measurements from landmarks (and ruler marks: ``ruler``, else p1/p2 among
    ``result``'s landmarks when it has them)."""
    source = ruler if ruler is not None else result
    p1, p2 = marks_from(source.landmarks)
    has_ruler = ruler is not None or (p1 is not None or p2 is not None)
    if ruler_model is None:
        ruler_model = has_ruler
    dicom_tag = result.spacing_source if result.spacing_source else None
    cal = calibrate(p1, p2, result.spacing_mm, dicom_tag, flags=flags, policy=policy, ruler_model=ruler_model,
                    pitch=pitch)
    points = {lm.name: (lm.x, lm.y) for lm in result.landmarks if lm.found and lm.name not in RULER}
    ms = measure(points, cal.mm_per_px, analyses, unavailable_reasons(result, model_names), face)
    return AnalysisResult(with_scale(result, cal.mm_per_px), cal, ms)


class Analyzer:
    """A landmark model, an optional ruler model and the analysis options."""

    def __init__(self, landmarks: Predictor, ruler: Predictor | None = None, analyses: list[str] | None = None,
                 face: str = "auto", policy: CalibrationPolicy | None = None,
                 pitch: RulerConvention | None = None) -> None:
        self.landmarks, self.ruler = landmarks, ruler
        self.pitch = pitch  # measure the ruler's mark pitch after the ruler marks (pitch_stage)
        self.analyses, self.face, self.policy = analyses, face, policy
        if ruler is not None:
            missing = [n for n in RULER if n not in ruler.landmark_names]
            if missing:
                raise ValueError(f"the calibration model has no {', '.join(missing)} output "
                                 f"(its landmarks: {', '.join(ruler.landmark_names)})")

    def analyze(self, image: str | Path | CephImage) -> AnalysisResult:
        """Read ``image`` once; each model preprocesses it once."""
        if not isinstance(image, CephImage):
            image = read_image(image)
        lm = self.landmarks.predict_one(image)
        ruler, flags = read_ruler(self.ruler, image) if self.ruler is not None else (None, None)
        has_own = all(n in self.landmarks.landmark_names for n in RULER)
        pitch = None
        if self.pitch is not None and (ruler is not None or has_own):
            marks, pitch = apply_pitch(image.pixels, ruler if ruler is not None else lm, self.pitch)
            ruler = marks if ruler is not None else None
            lm = lm if ruler is not None else marks
        return analyze_points(lm, ruler, ruler_model=ruler is not None or has_own, analyses=self.analyses,
                              face=self.face, policy=self.policy,
                              model_names=list(self.landmarks.landmark_names), flags=flags, pitch=pitch)


def read_ruler(predictor: Predictor, image: CephImage) -> tuple[ImageResult, dict | None]:
    """The ruler marks on ``image``, and the ruler model's own verdict (status, reasons, score)
    when the predictor gives one."""
    result = predictor.predict_one(image)
    fn = getattr(predictor, "flags", None)
    return result, (fn(result) if callable(fn) else None)


def result_from_points(image: str, points: dict[str, tuple[float, float] | None], width: int = 0,
                       height: int = 0, spacing_mm: float | None = None,
                       spacing_source: str | None = None) -> ImageResult:
    """An `ImageResult` holding given points (manual tracings, a predict JSON)."""
    lms = [LandmarkResult(name=n, x=None if p is None else float(p[0]), y=None if p is None else float(p[1]),
                          score=1.0 if p is not None else 0.0, found=p is not None)
           for n, p in points.items()]
    return ImageResult(image=image, width=int(width or 0), height=int(height or 0), spacing_mm=spacing_mm,
                       spacing_source=spacing_source, landmarks=lms)
