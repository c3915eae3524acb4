from cephmark.inference.predictor import LandmarkPredictor
from cephmark.inference.results import ImageResult, LandmarkResult, ruler_mm_per_px, write_results

__all__ = ["LandmarkPredictor", "ImageResult", "LandmarkResult", "ruler_mm_per_px", "write_results"]
