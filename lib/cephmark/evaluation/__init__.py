"""Evaluation: landmark metrics (MRE, SDR) shared by training-time validation and ``cephmark evaluate``."""
from cephmark.util import lazy_exports

# module -> public names, imported on first use (a light module of this package needs no MONAI)
__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "cephmark.evaluation.metrics": ["DEFAULT_THRESHOLDS_MM", "count_evaluated", "count_missed", "mre", "per_landmark",
                                    "radial_errors", "sd", "sdr", "sdr_key", "summarize", "to_mm"],
})
