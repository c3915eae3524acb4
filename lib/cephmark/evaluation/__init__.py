"""Evaluation: landmark metrics (MRE, SDR) shared by training-time validation and ``cephmark evaluate``."""
from __future__ import annotations

from typing import TYPE_CHECKING

from cephmark.util import lazy_exports

if TYPE_CHECKING:  # the real imports happen on first use (see cephmark.util.lazy_exports)
    from cephmark.evaluation.metrics import (
        DEFAULT_THRESHOLDS_MM, count_evaluated, count_missed, mre, per_landmark, radial_errors, sd, sdr,
        sdr_key, summarize, to_mm,
    )

_EXPORTS = {
    "DEFAULT_THRESHOLDS_MM": "cephmark.evaluation.metrics",
    "count_evaluated": "cephmark.evaluation.metrics",
    "count_missed": "cephmark.evaluation.metrics",
    "mre": "cephmark.evaluation.metrics",
    "per_landmark": "cephmark.evaluation.metrics",
    "radial_errors": "cephmark.evaluation.metrics",
    "sd": "cephmark.evaluation.metrics",
    "sdr": "cephmark.evaluation.metrics",
    "sdr_key": "cephmark.evaluation.metrics",
    "summarize": "cephmark.evaluation.metrics",
    "to_mm": "cephmark.evaluation.metrics",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = ["DEFAULT_THRESHOLDS_MM", "count_evaluated", "count_missed", "mre", "per_landmark", "radial_errors", "sd", "sdr", "sdr_key", "summarize", "to_mm"]
