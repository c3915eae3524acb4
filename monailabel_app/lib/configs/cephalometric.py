"""The cephalometric model: the CL-Detection 2023 model's 38 landmarks (or the bundled starter's).

To add a model, copy this file to ``lib/configs/<name>.py`` and change the ``SPEC``: its name
(the task name), description, fixed ``landmarks`` (empty: the model's own), the ``--conf`` key
of its checkpoint (``checkpoint_option``), ``bundled_fallback``, ``refiner_option`` and its
``postprocess`` steps. Nothing else in the app changes (see :mod:`lib.configs`, :mod:`lib.spec`).
"""
from lib.spec import ModelSpec, image_spacing

SPEC = ModelSpec(
    name="cephalometric",
    description="CL-Detection 2023 model: 38 cephalometric landmarks as discs (value = index + 1)",
    train_description="Fine-tune the cephalometric model on the final labels",
    checkpoint_option="cldetection_model",
    bundled_fallback=True,
    postprocess=(image_spacing,),
    calibration_model="calibration",  # + calibration record and measurements in the JSON
    train_recipe="adapt_new_unit.yaml",  # heads on the frozen backbone, strong intensity augmentation
    missing_hint="start the server with --conf cldetection_model PATH (the bundled starter model is not installed)",
    order=0,
)
