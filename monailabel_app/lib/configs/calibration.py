"""The calibration model: the ruler marks p1/p2 (0 and 1 cm on the nasion rod), mm/px = 10 / |p1 - p2|.

To add a model, copy this file to ``lib/configs/<name>.py`` and change the ``SPEC``: its name
(the task name), description, fixed ``landmarks`` (empty: the model's own), the ``--conf`` key
of its checkpoint (``checkpoint_option``), ``bundled_fallback``, ``refiner_option`` and its
``postprocess`` steps. Nothing else in the app changes (see :mod:`lib.configs`, :mod:`lib.spec`).
"""
from __future__ import annotations

from typing import Any

from cephmark.inference.results import ImageResult, ruler_mm_per_px
from cephmark.landmarks import RULER, RULER_DISTANCE_MM

from lib.spec import ModelSpec


def ruler_scale(result: ImageResult, out: dict[str, Any]) -> None:
    """``ruler`` (marks, distance) and ``mm_per_px`` from the ruler marks."""
    mm_per_px = ruler_mm_per_px(result)
    a, b = result.point(RULER[0]), result.point(RULER[1])
    out["ruler"] = {
        "mm_per_px": mm_per_px, "distance_mm": RULER_DISTANCE_MM,
        "distance_px": (RULER_DISTANCE_MM / mm_per_px) if mm_per_px else None,
        "p1": [a.x, a.y] if a.found else None, "p2": [b.x, b.y] if b.found else None,
    }
    out["mm_per_px"], out["mm_per_px_source"] = mm_per_px, "ruler" if mm_per_px else None


SPEC = ModelSpec(
    name="calibration",
    description="Ruler marks p1/p2 (fine-tuned model): mm per pixel = 10 / |p1 - p2|",
    train_description="Train the ruler model (p1, p2) on the final labels: coarse model + crop refiner, one file",
    checkpoint_option="calibration_model",
    landmarks=tuple(RULER),
    refiner_option="calibration_refiner",
    bundled_fallback=True,
    bundled="ruler",
    train_recipe="p1p2_few_labels.yaml",  # coarse model + crop refiner trained into one cascade file
    postprocess=(ruler_scale,),
    missing_hint="train the 'calibration' task on images labelled with p1 and p2, or start the server "
                 "with --conf calibration_model PATH (the bundled ruler model is not installed)",
    order=10,
)
