"""Fine-tuning the CLdetection2023 model for new landmarks (``cephmark finetune``).

``from cephmark.training import finetune``; ``finetune(cfg, callback=None, stop=None)`` returns a
`FinetuneResult` (best ``checkpoint``, ``last``, ``history``, ``landmark_names``).
"""
from cephmark.training.trainer import FinetuneResult, finetune, load_annotation_sets

__all__ = ["FinetuneResult", "finetune", "load_annotation_sets"]
