"""Inference: `LandmarkPredictor` (image -> landmarks), results and their files; `fast` needs no MONAI."""
from __future__ import annotations

from typing import TYPE_CHECKING

from cephmark.util import lazy_exports

if TYPE_CHECKING:  # the real imports happen on first use (see cephmark.util.lazy_exports)
    from cephmark.inference.predictor import LandmarkPredictor
    from cephmark.inference.results import ImageResult, LandmarkResult, ruler_mm_per_px, write_results

_EXPORTS = {
    "LandmarkPredictor": "cephmark.inference.predictor",
    "ImageResult": "cephmark.inference.results",
    "LandmarkResult": "cephmark.inference.results",
    "ruler_mm_per_px": "cephmark.inference.results",
    "write_results": "cephmark.inference.results",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = ["LandmarkPredictor", "ImageResult", "LandmarkResult", "ruler_mm_per_px", "write_results"]
