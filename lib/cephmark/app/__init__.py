"""Library side of the MONAI Label app: image geometry, label maps, markups, uncertainty.

Nothing here imports MONAI Label; the app in ``monailabel_app/`` is a thin layer over these.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from cephmark.util import lazy_exports

if TYPE_CHECKING:  # the real imports happen on first use (see cephmark.util.lazy_exports)
    from cephmark.app.geometry import AppImage, ImageGeometry, load_app_image, read_geometry
    from cephmark.app.labelmap import (default_disc_radius, label_names, names_by_value, read_label_map_points,
                                       render_discs, write_label_map)
    from cephmark.app.markups import read_markups_points, to_markups, write_markups
    from cephmark.app.targets import LabelRejected, TrainingImage, check_label, label_points, write_points_csv
    from cephmark.app.uncertainty import Uncertainty, predict_with_uncertainty

_EXPORTS = {
    "AppImage": "cephmark.app.geometry",
    "ImageGeometry": "cephmark.app.geometry",
    "load_app_image": "cephmark.app.geometry",
    "read_geometry": "cephmark.app.geometry",
    "default_disc_radius": "cephmark.app.labelmap",
    "label_names": "cephmark.app.labelmap",
    "names_by_value": "cephmark.app.labelmap",
    "read_label_map_points": "cephmark.app.labelmap",
    "render_discs": "cephmark.app.labelmap",
    "write_label_map": "cephmark.app.labelmap",
    "read_markups_points": "cephmark.app.markups",
    "to_markups": "cephmark.app.markups",
    "write_markups": "cephmark.app.markups",
    "TrainingImage": "cephmark.app.targets",
    "label_points": "cephmark.app.targets",
    "write_points_csv": "cephmark.app.targets",
    "LabelRejected": "cephmark.app.targets",
    "check_label": "cephmark.app.targets",
    "Uncertainty": "cephmark.app.uncertainty",
    "predict_with_uncertainty": "cephmark.app.uncertainty",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = ["AppImage", "ImageGeometry", "load_app_image", "read_geometry", "default_disc_radius", "label_names", "names_by_value", "read_label_map_points", "render_discs", "write_label_map", "read_markups_points", "to_markups", "write_markups", "TrainingImage", "label_points", "write_points_csv", "LabelRejected", "check_label", "Uncertainty", "predict_with_uncertainty"]
