"""Fine-tuning the CLdetection2023 model for new landmarks (``cephmark finetune``).

``from cephmark.training import finetune``; ``finetune(cfg, callback=None, stop=None)`` returns a
`FinetuneResult` (best ``checkpoint``, ``last``, ``history``, ``landmark_names``).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from cephmark.util import lazy_exports

if TYPE_CHECKING:  # the real imports happen on first use (see cephmark.util.lazy_exports)
    from cephmark.training.trainer import FinetuneResult, finetune, load_annotation_sets

_EXPORTS = {
    "FinetuneResult": "cephmark.training.trainer",
    "finetune": "cephmark.training.trainer",
    "load_annotation_sets": "cephmark.training.trainer",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = ["FinetuneResult", "finetune", "load_annotation_sets"]
