"""One configuration object for the CLI, the MONAI Label app and the tests.

`CephConfig` groups preprocessing, heatmap codec, inference and training settings. It is
built from defaults, optionally updated from a YAML file (``configs/*.yaml``), then from
command-line options or request parameters (`CephConfig.update`).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cephmark.io.integrity import DEFAULT_MAX_PIXELS


@dataclass
class PreprocessConfig:
    """The reference's test-time pipeline: square box, uint8 warp, normalisation."""

    image_size: int = 1024  # N: network input and heatmap size (N x N)
    padding: float = 1.25  # box = padding * max(w, h)
    mean: float = 121.25
    std: float = 76.5
    flip_test: bool = True
    # area-average the image to ~N / max(w, h) before the warp (not in the reference; used by
    # models trained on cached, pre-resized images such as the bundled starter model)
    antialias: bool = False
    # crop refiners: side of the square box in original pixels, centred on a coarse
    # prediction (set by `finetune --crop-size`; None = the whole-image box above)
    crop_size: int | None = None


@dataclass
class CodecConfig:
    """Gaussian heatmap encoding and argmax + DARK decoding."""

    sigma_at_1024: float = 6.0  # target sigma in heatmap pixels at N = 1024, scaled with N
    blur_kernel: int = 11  # DARK blur kernel (sigma from OpenCV's rule)

    def sigma(self, image_size: int) -> float:
        return self.sigma_at_1024 * image_size / 1024.0


@dataclass
class InferConfig:
    checkpoint: str | None = None
    device: str = "auto"
    batch_size: int = 2  # images per forward pass (plain + flipped count as one image)
    names: list[str] | None = None
    # True (default): the fast path, points within 0.01 px of the reference arithmetic;
    # False (--exact): the reference's arithmetic (one pass per image and per flip, eager torch)
    fast: bool = True
    # engine of the fast path: auto (CPU: openvino, else onnxruntime, else torch), openvino,
    # onnxruntime, inductor (AOTInductor) or torch (BatchNorm folded, channels-last); see
    # cephmark.inference.runtimes
    backend: str = "auto"
    cache_dir: str | None = None  # converted networks (default: $CEPHMARK_CACHE_DIR or ~/.cache/cephmark)
    compile: bool = False  # torch.compile the torch backend (GPU)
    prefetch: int = 2  # images read and preprocessed ahead while the network runs (0 = off)
    # second pass: a crop refiner (finetune --crop-size) re-predicts its landmarks on a crop
    # around the coarse model's points (see cephmark.inference.refine)
    refine_checkpoint: str | None = None
    # > 0: the refiner also sees 8 boxes shifted by +-refine_shift original pixels (3 x 3 grid);
    # the 9 heatmaps, aligned, are averaged before decoding (see RefinedPredictor.refine)
    refine_shift: float | None = None  # None: the cascade file's value, else 0
    # > 0: each refiner heatmap is weighted by a Gaussian (this sigma, original pixels) centred
    # on the landmark's coarse position before decoding: a peak of another landmark's look-alike
    # far from where the coarse model put this one loses (e.g. p2 on p1's notch)
    refine_prior_sigma: float | None = None  # None: the cascade file's value, else 0
    # images with more pixels (width x height, read from the header) are refused before decoding
    max_pixels: int = DEFAULT_MAX_PIXELS  # 64 megapixels; 0 = no limit
    # plausibility (cephmark.inference.plausibility; calibrated in benchmarks/plausibility/ for the
    # bundled model): a found landmark whose heatmap peak is below min_score gets status "check";
    # an image with more than max_implausible_fraction of its landmarks not "ok" is reported as
    # "not_a_cephalogram"
    min_score: float = 0.10
    max_implausible_fraction: float = 0.5
    # the ruler's mark spacing in mm (e.g. 1.0): mm/px from the marks' pitch along p1 -> p2 and
    # p1 on the nearest major mark (every ruler_major_every-th), p2 above it (calibration.pitch_stage)
    ruler_pitch_mm: float | None = None
    ruler_major_every: int | None = 5


@dataclass
class TrainConfig:
    cldetection_model: str | None = None
    backbone_weights: str | None = None
    annotations: str | None = None
    image_dir: str | None = None
    annotation_format: str = "auto"
    val_annotations: str | None = None
    val_fraction: float = 0.2
    landmarks: list[str] | None = None  # default: all labels found
    init_from: list[str] | None = None  # base landmark per new one (None entry = fresh)
    keep_base_landmarks: bool = False
    output: str = "runs/finetune"
    checkpoint_name: str | None = None  # None: checkpoint_<landmarks>_cldetection.pth (see trainer)
    resume: str | None = None
    batch_size: int = 4
    epochs: int = 100
    lr: float = 1e-3
    weight_decay: float = 0.0
    unfreeze_after: int | None = None  # epochs with frozen backbone; None = stay frozen
    backbone_lr_factor: float = 0.1
    trainable_backbone: list[str] | None = None  # stage 2 trains only these parts (e.g. [stage4])
    warmup_iters: int = 50
    warmup_factor: float = 1e-3
    lr_schedule: str = "cosine"  # after warm-up: "cosine" (to min_lr_factor * lr) or "constant"
    min_lr_factor: float = 0.01
    patience: int = 20
    min_epochs: int = 1
    device: str = "auto"
    amp: bool = False
    seed: int = 0
    workers: int = 0
    deterministic: bool = False
    sigma_curriculum: float = 1.0  # start sigma = factor * target, shrinking to 1x over 40 %
    foreground_weight: float = 0.0  # MSE weight 1 + fg * target
    augment: bool = True
    intensity_augment: float = 1.0  # scales brightness/gamma/noise ranges (2: strong; 0: none)
    rotation_deg: float = 5.0
    scale_range: float = 0.1
    translate_frac: float = 0.05
    flip_pairs: list[list[str]] | None = None  # horizontal flip only with declared swap pairs
    val_flip_test: bool = False  # flip test during validation (slower)
    activation_checkpointing: bool = False
    # a landmark whose validation heatmaps are all flat after an epoch has a dead head (its last
    # ReLUs off everywhere; it does not come back): start the run again with seed + 1, at most
    # this many times (not for --resume runs; 0 = only warn). A zero-output fresh head can look
    # flat for the first epoch or two at a low learning rate: use with a few epochs to spare
    dead_head_restarts: int = 0
    cache_dir: str | None = None
    arch: str | None = None  # model design for training from scratch (see models.arch)
    # crop refiner: train on a crop_size x crop_size (original pixels) box centred on the mean
    # of the image's labelled landmarks, + uniform offset up to crop_jitter * crop_size per axis
    # when augmenting (replaces translate_frac); the box is warped to N x N
    crop_size: int | None = None
    crop_jitter: float = 0.15
    # a cascade (cephmark.calibration.cascade): after the whole-image model, train a crop
    # refiner in the same run and write one file holding both. The TrainConfig items that
    # differ for the refiner (crop_size required; also epochs, unfreeze_after, crop_jitter, ...)
    # plus ``share_backbone: true`` (refiner trained on the coarse model's frozen backbone,
    # stored once). Ignored when crop_size is set (that run trains a refiner alone).
    refiner: dict[str, Any] | None = None


@dataclass
class CephConfig:
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    codec: CodecConfig = field(default_factory=CodecConfig)
    infer: InferConfig = field(default_factory=InferConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        # "section.key" entries set by a file, options or `update` (not defaults): finetune
        # takes the rest of the preprocessing from the source checkpoint
        self.given: set[str] = set()

    # -- construction -------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "CephConfig":
        cfg = cls()
        cfg.update(data or {})
        return cfg

    @classmethod
    def from_yaml(cls, path: str | Path) -> "CephConfig":
        import yaml  # only where a file is read

        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ValueError(f"{path}: cannot read config: {exc}") from exc
        if not isinstance(data, dict):
            raise ValueError(f"{path}: a config file must hold a mapping of sections")
        try:
            return cls.from_dict(data)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from exc

    def update(self, data: dict[str, Any]) -> "CephConfig":
        """Merge ``{section: {key: value}}`` or dotted ``{"section.key": value}`` items.

        ``None`` values are ignored, so unset command-line options keep file/default values.
        """
        for key, value in data.items():
            if "." in key:
                section, name = key.split(".", 1)
                self._set(section, name, value)
            elif isinstance(value, dict):
                for name, item in value.items():
                    self._set(key, name, item)
            else:
                raise ValueError(f"unknown config entry {key!r}: expected a section mapping")
        return self

    def _set(self, section: str, name: str, value: Any) -> None:
        if value is None:
            return
        part = getattr(self, section, None)
        if part is None or not dataclasses.is_dataclass(part):
            raise ValueError(f"unknown config section {section!r}")
        if name not in {f.name for f in dataclasses.fields(part)}:
            raise ValueError(f"unknown config option {section}.{name}")
        setattr(part, name, value)
        self.given.add(f"{section}.{name}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
