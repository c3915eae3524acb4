"""Library side of the MONAI Label app: image geometry, label maps, markups, uncertainty.

Nothing here imports MONAI Label; the app in ``monailabel_app/`` is a thin layer over these.
"""
from cephmark.app.geometry import AppImage, ImageGeometry, load_app_image, read_geometry
from cephmark.app.labelmap import (default_disc_radius, label_names, names_by_value, read_label_map_points,
                                   render_discs, write_label_map)
from cephmark.app.markups import read_markups_points, to_markups, write_markups
from cephmark.app.targets import TrainingImage, label_points, write_points_csv
from cephmark.app.uncertainty import Uncertainty, predict_with_uncertainty

__all__ = [
    "AppImage", "ImageGeometry", "load_app_image", "read_geometry",
    "default_disc_radius", "label_names", "names_by_value", "read_label_map_points", "render_discs",
    "write_label_map", "read_markups_points", "to_markups", "write_markups",
    "TrainingImage", "label_points", "write_points_csv",
    "Uncertainty", "predict_with_uncertainty",
]
