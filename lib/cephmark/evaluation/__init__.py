"""Evaluation: landmark metrics (MRE, SDR) shared by training-time validation and ``cephmark evaluate``."""
from cephmark.evaluation.metrics import (
    DEFAULT_THRESHOLDS_MM, count_evaluated, count_missed, mre, per_landmark, radial_errors, sd, sdr,
    sdr_key, summarize, to_mm,
)

__all__ = ["DEFAULT_THRESHOLDS_MM", "count_evaluated", "count_missed", "mre", "per_landmark",
           "radial_errors", "sd", "sdr", "sdr_key", "summarize", "to_mm"]
