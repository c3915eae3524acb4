"""Image input layer: ordinary images and DICOM -> :class:`CephImage` (uint8 RGB + pixel spacing)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from cephmark.util import lazy_exports

if TYPE_CHECKING:  # the real imports happen on first use (see cephmark.util.lazy_exports)
    from cephmark.io.image import image_size, is_dicom, list_images, read_image
    from cephmark.io.types import CephImage, ImageReadError

_EXPORTS = {
    "CephImage": "cephmark.io.types",
    "ImageReadError": "cephmark.io.types",
    "image_size": "cephmark.io.image",
    "is_dicom": "cephmark.io.image",
    "list_images": "cephmark.io.image",
    "read_image": "cephmark.io.image",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = ["CephImage", "ImageReadError", "read_image", "image_size", "is_dicom", "list_images"]
