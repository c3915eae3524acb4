"""Library side of the MONAI Label app: image geometry, label maps, markups, uncertainty.

Nothing here imports MONAI Label; the app in ``monailabel_app/`` is a thin layer over these.
"""
from cephmark.util import lazy_exports

# module -> public names, imported on first use (a light module of this package needs no MONAI)
__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "cephmark.app.geometry": ["AppImage", "ImageGeometry", "load_app_image", "read_geometry"],
    "cephmark.app.labelmap": ["default_disc_radius", "label_names", "names_by_value", "read_label_map_points",
                              "render_discs", "write_label_map"],
    "cephmark.app.markups": ["read_markups_points", "to_markups", "write_markups"],
    "cephmark.app.targets": ["TrainingImage", "label_points", "write_points_csv", "LabelRejected", "check_label"],
    "cephmark.app.uncertainty": ["Uncertainty", "predict_with_uncertainty"],
})
