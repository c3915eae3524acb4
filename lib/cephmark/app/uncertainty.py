"""The app's uncertainty: `cephmark.inference.uncertainty` (jitter spread; flip distance only
for flip-trained models)."""
from cephmark.inference.uncertainty import Uncertainty, predict_with_uncertainty

__all__ = ["Uncertainty", "predict_with_uncertainty"]
