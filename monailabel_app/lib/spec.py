"""What the app needs to know about one model: :class:`ModelSpec`, declared in ``lib/configs/<task>.py``.

The infer task (:mod:`lib.infers.landmarks`), the train task (:mod:`lib.trainers.landmarks`)
and the model source (:mod:`lib.models`) are generic; everything that tells two models apart
lives in their spec. ``main.py`` collects every spec in ``lib/configs`` (see
:func:`lib.configs.collect_specs`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from cephmark.inference.results import ImageResult

PostProcess = Callable[[ImageResult, dict[str, Any]], None]
"""A step run on every prediction: reads the result, adds entries to the JSON sent back."""


def image_spacing(result: ImageResult, out: dict[str, Any]) -> None:
    """``mm_per_px`` from the image itself (DICOM pixel spacing), None for plain images."""
    out["mm_per_px"], out["mm_per_px_source"] = result.spacing_mm, result.spacing_source


@dataclass(frozen=True)
class ModelSpec:
    """One model of the app: an infer task and a train task of the same ``name``.

    Model file used by the tasks, in this order: the one its train task published
    (``<model_dir>/<name>.pth``), the file given with ``--conf <checkpoint_option> PATH``, the
    bundled starter model when ``bundled_fallback``. Training starts from ``--conf
    <base_option>`` (else the bundled starter model).
    """

    name: str
    description: str
    checkpoint_option: str
    landmarks: tuple[str, ...] = ()
    """Fixed landmark set: the model must have them and training uses exactly them.
    Empty: the landmarks of the model in use (training: the model's, or ``landmarks`` asked for)."""
    train_description: str = ""
    bundled_fallback: bool = False
    bundled: str = "starter"
    """Which bundled model is the fallback (``cephmark.weights.resolve_checkpoint`` names)."""
    base_option: str = "cldetection_model"
    refiner_option: str | None = None
    """``--conf`` key of an optional crop refiner (``cephmark finetune --crop-size`` checkpoint)."""
    postprocess: tuple[PostProcess, ...] = (image_spacing,)
    calibration_model: str | None = None
    """Name of the model whose ruler marks p1/p2 calibrate this one's results: when set, the JSON
    also holds ``calibration`` (mm/px with status and reasons; that model when it is available,
    else the DICOM spacing), ``orientation`` and the cephalometric ``measurements``
    (`cephmark.analysis`). Request options ``analysis`` (comma list) and ``face``."""
    train_recipe: str | None = None
    """YAML config (path, or a file name in the project's ``configs/``) applied first by the train
    task: the defaults the model is fine-tuned with (--conf entries and request options win)."""
    missing_hint: str = ""
    """How to get a model when there is none (added to the error message)."""
    order: int = 100
    """Position in ``--conf models all`` and in /info; the first model also ranks images by uncertainty."""

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"model spec name {self.name!r}: use letters, digits and _ only")
        if not self.train_description:
            object.__setattr__(self, "train_description", f"Fine-tune the {self.name} model on the final labels")

    def options(self) -> set[str]:
        """The ``--conf`` keys naming model files for this spec."""
        return {k for k in (self.checkpoint_option, self.base_option, self.refiner_option) if k}

    def missing_message(self) -> str:
        hint = self.missing_hint or (f"train the {self.name!r} task on labelled images, or start the server "
                                     f"with --conf {self.checkpoint_option} PATH")
        return f"no {self.name} model: {hint}"
