"""Deterministic train / validation split of an AnnotationSet."""
from __future__ import annotations

import random

from cephmark.annotations.types import AnnotationSet


def split_train_val(ann: AnnotationSet, val_fraction: float, seed: int) -> tuple[AnnotationSet, AnnotationSet]:
    """Split by image: sort by path, shuffle with `random.Random(seed)`, take round(n * fraction)
    images (at least 1 when fraction > 0, at most n - 1) for validation. Both halves keep the
    parent's landmark_names."""
    n = len(ann.images)
    if n < 2:
        raise ValueError(f"{ann.source}: need at least 2 images to split, got {n}")
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    images = sorted(ann.images, key=lambda im: str(im.image_path))
    random.Random(seed).shuffle(images)
    n_val = min(n - 1, max(1, round(n * val_fraction))) if val_fraction > 0 else 0
    val = sorted(images[:n_val], key=lambda im: str(im.image_path))
    train = sorted(images[n_val:], key=lambda im: str(im.image_path))
    names = list(ann.landmark_names)
    return AnnotationSet(train, names, ann.source), AnnotationSet(val, list(names), ann.source)
