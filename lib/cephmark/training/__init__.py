"""Fine-tuning the CLdetection2023 model for new landmarks (``cephmark finetune``).

``from cephmark.training import finetune``; ``finetune(cfg, callback=None, stop=None)`` returns a
`FinetuneResult` (best ``checkpoint``, ``last``, ``history``, ``landmark_names``).
"""
from cephmark.util import lazy_exports

# module -> public names, imported on first use (a light module of this package needs no MONAI)
__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "cephmark.training.trainer": ["FinetuneResult", "finetune", "load_annotation_sets"],
})
