"""Transforms: the square-box affine warp (`affine`, no MONAI) and the MONAI dictionary transforms."""
from __future__ import annotations

from typing import TYPE_CHECKING

from cephmark.util import lazy_exports

if TYPE_CHECKING:  # the real imports happen on first use (see cephmark.util.lazy_exports)
    from cephmark.transforms.affine import Box, apply_matrix, warp_image, warp_matrix
    from cephmark.transforms.dictionary import LoadCephImaged, ToTensorCHWd, TopDownAffined
    from cephmark.transforms.pipeline import inference_transforms

_EXPORTS = {
    "Box": "cephmark.transforms.affine",
    "apply_matrix": "cephmark.transforms.affine",
    "warp_image": "cephmark.transforms.affine",
    "warp_matrix": "cephmark.transforms.affine",
    "LoadCephImaged": "cephmark.transforms.dictionary",
    "ToTensorCHWd": "cephmark.transforms.dictionary",
    "TopDownAffined": "cephmark.transforms.dictionary",
    "inference_transforms": "cephmark.transforms.pipeline",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = ["Box", "apply_matrix", "warp_image", "warp_matrix", "LoadCephImaged", "ToTensorCHWd", "TopDownAffined", "inference_transforms"]
