"""The cephalometric model: the CL-Detection 2023 model's 38 landmarks (or the bundled starter's).

A spec file declares one model; see :mod:`lib.configs` for how to add another (one new file).
"""
from lib.spec import ModelSpec, image_spacing

SPEC = ModelSpec(
    name="cephalometric",
    description="CL-Detection 2023 model: 38 cephalometric landmarks as discs (value = index + 1)",
    train_description="Fine-tune the cephalometric model on the final labels",
    checkpoint_option="cldetection_model",
    bundled_fallback=True,
    postprocess=(image_spacing,),
    calibration_model="calibration",
    train_recipe="adapt_new_unit.yaml",  # heads on the frozen backbone, strong intensity augmentation  # + calibration record and measurements in the JSON
    missing_hint="start the server with --conf cldetection_model PATH (the bundled starter model is not installed)",
    order=0,
)
