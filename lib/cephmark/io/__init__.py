"""Image input layer: ordinary images and DICOM -> :class:`CephImage` (uint8 RGB + pixel spacing)."""
from cephmark.io.image import CephImage, ImageReadError, image_size, is_dicom, list_images, read_image

__all__ = ["CephImage", "ImageReadError", "read_image", "image_size", "is_dicom", "list_images"]
