"""The app's ``--conf`` options, parsed once.

App keys: ``models`` (``all`` or a comma list of the models declared in ``lib/configs``),
the model-file keys the specs name (``cldetection_model``, ``calibration_model``,
``calibration_refiner``, ...), ``model_dir``, ``use_published``, ``config`` (a cephmark YAML),
``dicomweb_modalities``, ``dicomweb_store_sr`` (default true: batch inference and final labels
are stored on the DICOMweb server as DICOM SR), ``sr_style`` (``standard`` or ``ohif``),
``disc_radius``, ``tracking``, ``tracking_uri``. Every other key is a
cephmark config entry: dotted (``train.epochs``, ``preprocess.image_size``) or a known alias
(``image_size``, ``flip_test``, ``max_epochs``). Preprocessing entries given here win over what a
checkpoint carries (as ``cephmark predict --image-size`` does).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from cephmark.app.options import config_updates
from cephmark.config import CephConfig
from cephmark.util import parse_bool

from .spec import ModelSpec

logger = logging.getLogger(__name__)

GENERAL_KEYS = {"models", "model_dir", "use_published", "config", "dicomweb_modalities", "dicomweb_store_sr",
                "sr_style", "disc_radius",
                "tracking", "tracking_uri", "server_mode", "preload", "skip_scoring", "skip_strategies",
                "skip_trainers"}


@dataclass
class AppOptions:
    app_dir: Path
    models: list[str]
    model_dir: Path
    model_files: dict[str, Path | None] = field(default_factory=dict)  # --conf key -> checked file
    use_published: bool = True
    config_file: Path | None = None
    config_updates: dict[str, Any] = field(default_factory=dict)
    dicomweb_modalities: list[str] = field(default_factory=lambda: ["DX", "CR", "SC"])
    dicomweb_store_sr: bool = True
    sr_style: str = "standard"
    disc_radius: float = 0.0
    tracking: bool = False
    tracking_uri: str = ""

    @classmethod
    def from_conf(cls, app_dir: str | Path, conf: Mapping[str, Any],
                  specs: Sequence[ModelSpec] | None = None) -> "AppOptions":
        """Parse ``conf``; ``specs``: the app's models (default: every spec in ``lib/configs``)."""
        if specs is None:
            from .configs import collect_specs

            specs = collect_specs()
        app_dir = Path(app_dir)
        known = [s.name for s in specs]
        file_keys = sorted(set().union(*(s.options() for s in specs)))
        app_keys = GENERAL_KEYS | set(file_keys)
        models_text = str(conf.get("models", "all")).strip()
        if models_text.lower() in ("all", ""):
            models = known
        else:
            models = [m.strip() for m in models_text.split(",") if m.strip()]
            unknown = [m for m in models if m not in known]
            if unknown:
                raise ValueError(f"--conf models: unknown model(s) {', '.join(unknown)}; "
                                 f"known: {', '.join(known)} or all")

        def path_of(key: str) -> Path | None:
            value = conf.get(key)
            if value in (None, ""):
                return None
            p = Path(os.path.expanduser(str(value))).resolve()
            if not p.is_file():
                raise ValueError(f"--conf {key}: model file not found: {p}")
            return p

        config_file = path_of("config")
        extra = {k: v for k, v in conf.items() if k not in app_keys}
        updates, unknown = config_updates(extra, prefer="infer")
        if unknown:
            raise ValueError(f"unknown --conf option(s): {', '.join(sorted(unknown))} (app options: "
                             f"{', '.join(sorted(app_keys))}; or cephmark config entries such as "
                             "train.epochs, preprocess.image_size, image_size)")
        model_dir = Path(os.path.expanduser(str(conf.get("model_dir") or app_dir / "model"))).resolve()
        modalities = [m.strip().upper() for m in str(conf.get("dicomweb_modalities", "DX,CR,SC")).split(",")
                      if m.strip()]
        from cephmark.io.sr import SR_STYLES

        sr_style = str(conf.get("sr_style") or "standard").strip().lower()
        if sr_style not in SR_STYLES:
            raise ValueError(f"--conf sr_style: {sr_style!r}; choose {' or '.join(SR_STYLES)}")
        return cls(
            app_dir=app_dir, models=models, model_dir=model_dir,
            model_files={k: path_of(k) for k in file_keys}, use_published=parse_bool(conf.get("use_published"), True),
            config_file=config_file, config_updates=updates, dicomweb_modalities=modalities,
            dicomweb_store_sr=parse_bool(conf.get("dicomweb_store_sr"), True), sr_style=sr_style,
            disc_radius=float(conf.get("disc_radius") or 0.0),
            tracking=parse_bool(conf.get("tracking"), False), tracking_uri=str(conf.get("tracking_uri") or ""),
        )

    def base_config(self, recipe: str | Path | None = None) -> CephConfig:
        """A fresh config: defaults, a task's training ``recipe`` (YAML), the --conf config file,
        then every config entry given with --conf."""
        cfg = CephConfig.from_yaml(recipe) if recipe else CephConfig()
        if self.config_file:
            own = CephConfig.from_yaml(self.config_file)
            cfg.update({key: own.to_dict()[key.split(".")[0]][key.split(".")[1]] for key in own.given})
        return cfg.update(self.config_updates)

    def infer_overrides(self) -> dict[str, Any]:
        """--conf preprocessing/codec entries: they win over a checkpoint's own settings."""
        return {k: v for k, v in self.config_updates.items() if k.startswith(("preprocess.", "codec."))}

    def model_file(self, key: str | None) -> Path | None:
        """The file given with ``--conf key`` (None when not given)."""
        return self.model_files.get(key) if key else None
