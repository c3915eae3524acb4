"""The model's preprocessing as one MONAI `Compose`, built from the config."""
from __future__ import annotations

from monai.transforms import Compose, NormalizeIntensityd

from cephmark.config import PreprocessConfig
from cephmark.transforms.dictionary import LoadCephImaged, ToTensorCHWd, TopDownAffined


def inference_transforms(cfg: PreprocessConfig) -> Compose:
    """path or CephImage -> normalised (3, N, N) float32 input, exactly as the reference."""
    return Compose([
        LoadCephImaged("image"),
        TopDownAffined("image", image_size=cfg.image_size, padding=cfg.padding,
                       antialias=cfg.antialias),
        ToTensorCHWd("image"),
        NormalizeIntensityd("image", subtrahend=cfg.mean, divisor=cfg.std),
    ])
