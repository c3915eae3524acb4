"""The generic infer task: landmarks -> disc label map (or Slicer markups) + coordinates JSON.

One instance per model spec (:mod:`lib.configs`); the spec's post-processing steps add their
entries (e.g. the ruler's mm/px) to the JSON.
"""
from __future__ import annotations

import logging
import math
import os
import tempfile
import time
from typing import Any, Mapping

from monailabel.interfaces.tasks.infer_v2 import InferTask, InferType

from cephmark.app import (label_names, load_app_image, predict_with_uncertainty, render_discs, to_markups,
                          write_label_map, write_markups)
from cephmark.app.labelmap import default_disc_radius
from cephmark.cli.common import split_list
from cephmark.util import json_safe, parse_bool

from ..models import ModelSource
from ..spec import ModelSpec

logger = logging.getLogger(__name__)

RESULT_EXTENSIONS = (".nii.gz", ".nii", ".nrrd", ".mha", ".png")
RESULT_DTYPES = ("uint8", "uint16", "int16", "int32", "uint32")  # label map value types
BOOL_PARAMS = ("markups", "flip_test", "result_compress")


class InvalidParams(ValueError):
    """A request parameter with a value the task cannot use (answered with HTTP 400)."""


def check_params(request: dict) -> None:
    """Every parameter this task reads, checked before any work (InvalidParams naming it)."""
    for key in BOOL_PARAMS:
        if request.get(key) is not None:
            try:
                parse_bool(request[key])
            except ValueError as exc:
                raise InvalidParams(f"{key}: {exc}") from None
    dtype = request.get("result_dtype")
    if dtype not in (None, "") and str(dtype) not in RESULT_DTYPES:
        raise InvalidParams(f"result_dtype {dtype!r} not supported; use one of {', '.join(RESULT_DTYPES)}")
    ext = request.get("result_extension")
    if ext not in (None, "") and ext not in RESULT_EXTENSIONS:
        raise InvalidParams(f"result_extension {ext!r} not supported; use one of {', '.join(RESULT_EXTENSIONS)}")
    radius = request.get("disc_radius")
    try:
        ok = radius in (None, "") or (not isinstance(radius, bool) and math.isfinite(float(radius))
                                      and float(radius) >= 0)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise InvalidParams(f"disc_radius {radius!r}: a number >= 0 expected")


class LandmarkInferTask(InferTask):
    """The infer task of one model spec, reading the model from ``source``."""

    def __init__(self, spec: ModelSpec, source: ModelSource, disc_radius: float = 0.0,
                 peers: Mapping[str, ModelSource] | None = None) -> None:
        """``peers``: the app's model sources by name (for ``spec.calibration_model``)."""
        super().__init__(
            type=InferType.SEGMENTATION, labels=None, dimension=2, description=spec.description,
            config={"markups": False, "flip_test": True, "disc_radius": float(disc_radius),
                    "result_extension": ".nii.gz"},
        )
        self.name = spec.name
        self.spec = spec
        self.source = source
        self.peers = dict(peers or {})

    def is_valid(self) -> bool:
        return self.source.path() is not None

    def get_path(self, validate: bool = True):
        p = self.source.path()
        return str(p) if p else None

    def info(self) -> dict[str, Any]:
        d = super().info()
        names = self.source.names() if self.is_valid() else []
        d["labels"] = label_names(names)
        cur = self.source.current()
        d["model"] = {"path": str(cur[0]), "origin": cur[1]} if cur else None
        return d

    def analysis(self, result, ceph, request: dict) -> dict[str, Any]:
        """``calibration`` (the calibration model's p1/p2 when it is available, else the image's
        DICOM spacing), ``orientation`` and ``measurements``. The landmarks' ``x_mm``/``y_mm``
        stay in the image's own (viewer) geometry; the measurements use ``calibration.mm_per_px``."""
        from cephmark.analysis.pipeline import analyze_points
        from cephmark.calibration.pitch_stage import apply_pitch, convention_from

        peer = self.peers.get(self.spec.calibration_model)
        marks, failed, flags = None, None, None
        if peer is not None and peer.path() is not None:
            try:
                ruler, _ = peer.get()
                marks = ruler.predict_one(ceph)
                refined = peer.refined(ruler)
                if refined is not None:  # as the calibration task does: refined marks and their flags
                    marks, details = refined.refine_detailed(ceph, marks)
                    marks._refine_details = details
                    flags = refined.flags(marks)
            except (OSError, ValueError, RuntimeError) as exc:  # the landmarks still come back
                logger.warning("%s: calibration model failed: %s", self.name, exc)
                marks, failed = None, f"the {self.spec.calibration_model} model failed: {exc}"
        pitch, convention = None, convention_from(self.source.make_config())  # --conf infer.ruler_pitch_mm
        if marks is not None and convention is not None:
            marks, pitch = apply_pitch(ceph.pixels, marks, convention)
        names = [lm.name for lm in result.landmarks]
        done = analyze_points(result, marks, ruler_model=marks is not None, flags=flags,
                              analyses=split_list(request.get("analysis")),
                              face=str(request.get("face") or "auto"), model_names=names,
                              pitch=pitch).to_dict()
        if failed:
            done["calibration"]["reasons"].append(failed)
            done["calibration"]["status"] = "check"
        elif marks is None:
            done["calibration"]["notes"].append(
                f"no {self.spec.calibration_model} model configured: "
                f"{peer.missing_message() if peer is not None else 'not among this server models'}")
        return {k: done[k] for k in ("calibration", "orientation", "measurements")}

    def __call__(self, request: dict) -> tuple[str, dict]:
        t0 = time.time()
        check_params(request)
        image = request.get("image")
        if not isinstance(image, str):
            raise ValueError("only image files are supported as input (got an in-memory array)")
        app_image = load_app_image(image)
        t1 = time.time()
        predictor, model = self.source.get()
        names = list(predictor.landmark_names)
        required = self.spec.landmarks
        if required and not set(required) <= set(names):
            raise ValueError(f"the {self.name} model {model['path']} has no {'/'.join(required)} landmarks "
                             f"(it has {', '.join(names[:8])}{'...' if len(names) > 8 else ''})")
        flip = request.get("flip_test")
        result, unc = predict_with_uncertainty(predictor, app_image.ceph,
                                               None if flip is None else parse_bool(flip, True))
        refined = self.source.refined(predictor)
        flags = None
        if refined is not None:  # second pass; the uncertainty stays the coarse model's
            result, details = refined.refine_detailed(app_image.ceph, result)
            result._refine_details = details
            flags = refined.flags(result)  # status ok|check, reasons, score (calibration.flags)
        t2 = time.time()
        result.image = str(request.get("_image_id") or os.path.basename(image))
        geometry = app_image.geometry
        radius = float(request.get("disc_radius") or 0) or default_disc_radius(result.width, result.height)
        out: dict[str, Any] = result.to_dict()
        for step in self.spec.postprocess:
            step(result, out)
        if self.spec.calibration_model:
            out.update(self.analysis(result, app_image.ceph, request))
        out.update({
            "model": model["name"], "model_path": model["path"], "model_origin": model["origin"],
            "model_key": model["key"], "model_refiner": model["refiner"], "label_names": label_names(names), "disc_radius": radius,
            "uncertainty": unc.to_dict(), "geometry": geometry.to_dict(),
        })
        if flags is not None:
            out["ruler_flags"] = flags
        if parse_bool(request.get("markups"), False):
            doc = to_markups(result, geometry, name=f"cephmark-{self.name}")
            fd, path = tempfile.mkstemp(suffix=".mrk.json", prefix=f"{self.name}_")
            os.close(fd)
            write_markups(doc, path)
            out["markups"] = doc
            out["result_format"] = "markups"
        else:
            ext = str(request.get("result_extension") or ".nii.gz")
            dtype = request.get("result_dtype")
            points = [(lm.x, lm.y) if lm.found else None for lm in result.landmarks]
            label = render_discs(points, result.width, result.height, radius,
                                 dtype=None if not dtype else str(dtype))
            fd, path = tempfile.mkstemp(suffix=ext, prefix=f"{self.name}_")
            os.close(fd)
            write_label_map(label, geometry, path, compress=parse_bool(request.get("result_compress"), True))
            out["result_format"] = "label_map"
        t3 = time.time()
        out["latencies"] = {"pre": round(t1 - t0, 3), "infer": round(t2 - t1, 3), "post": round(t3 - t2, 3),
                            "total": round(t3 - t0, 3)}
        return path, json_safe(out)  # strict JSON: a non-finite score is null (its reason says so)
