from cephmark.transforms.affine import Box, apply_matrix, warp_image, warp_matrix
from cephmark.transforms.dictionary import LoadCephImaged, ToTensorCHWd, TopDownAffined
from cephmark.transforms.pipeline import inference_transforms

__all__ = ["Box", "apply_matrix", "warp_image", "warp_matrix", "LoadCephImaged",
           "ToTensorCHWd", "TopDownAffined", "inference_transforms"]
