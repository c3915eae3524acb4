"""Transforms: the square-box affine warp (`affine`, no MONAI) and the MONAI dictionary transforms."""
from cephmark.util import lazy_exports

# module -> public names, imported on first use (a light module of this package needs no MONAI)
__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "cephmark.transforms.affine": ["Box", "apply_matrix", "warp_image", "warp_matrix"],
    "cephmark.transforms.dictionary": ["LoadCephImaged", "ToTensorCHWd", "TopDownAffined"],
    "cephmark.transforms.pipeline": ["inference_transforms"],
})
