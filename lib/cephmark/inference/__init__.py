"""Inference: `LandmarkPredictor` (image -> landmarks), results and their files; `fast` needs no MONAI."""
from cephmark.util import lazy_exports

# module -> public names, imported on first use (a light module of this package needs no MONAI)
__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "cephmark.inference.predictor": ["LandmarkPredictor"],
    "cephmark.inference.results": ["ImageResult", "LandmarkResult", "ruler_mm_per_px", "write_results"],
})
