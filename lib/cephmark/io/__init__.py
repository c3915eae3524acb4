"""Image input layer: ordinary images and DICOM -> :class:`CephImage` (uint8 RGB + pixel spacing)."""
from cephmark.util import lazy_exports

# module -> public names, imported on first use (a light module of this package needs no MONAI)
__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "cephmark.io.types": ["CephImage", "ImageReadError"],
    "cephmark.io.image": ["image_size", "is_dicom", "list_images", "read_image"],
})
