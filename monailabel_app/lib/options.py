"""The app's ``--conf`` options, parsed once.

App keys: ``models`` (``all`` or a comma list of cephalometric, calibration), ``cldetection_model``,
``calibration_model``, ``model_dir``, ``use_published``, ``config`` (a cephmark YAML),
``dicomweb_modalities``, ``disc_radius``, ``tracking``, ``tracking_uri``. Every other key is a
cephmark config entry: dotted (``train.epochs``, ``preprocess.image_size``) or a known alias
(``image_size``, ``flip_test``, ``max_epochs``). Preprocessing entries given here win over what a
checkpoint carries (as ``cephmark predict --image-size`` does).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from cephmark.app.options import config_updates
from cephmark.config import CephConfig
from cephmark.util import parse_bool

logger = logging.getLogger(__name__)

MODELS = ("cephalometric", "calibration")
APP_KEYS = {"models", "cldetection_model", "calibration_model", "calibration_refiner", "model_dir", "use_published", "config",
            "dicomweb_modalities", "disc_radius", "tracking", "tracking_uri", "server_mode", "preload",
            "skip_scoring", "skip_strategies", "skip_trainers"}


@dataclass
class AppOptions:
    app_dir: Path
    models: list[str]
    cldetection_model: Path | None
    calibration_model: Path | None
    model_dir: Path
    calibration_refiner: Path | None = None
    use_published: bool = True
    config_file: Path | None = None
    config_updates: dict[str, Any] = field(default_factory=dict)
    dicomweb_modalities: list[str] = field(default_factory=lambda: ["DX", "CR", "SC"])
    disc_radius: float = 0.0
    tracking: bool = False
    tracking_uri: str = ""

    @classmethod
    def from_conf(cls, app_dir: str | Path, conf: Mapping[str, Any]) -> "AppOptions":
        app_dir = Path(app_dir)
        models_text = str(conf.get("models", "all")).strip()
        if models_text.lower() in ("all", ""):
            models = list(MODELS)
        else:
            models = [m.strip() for m in models_text.split(",") if m.strip()]
            unknown = [m for m in models if m not in MODELS]
            if unknown:
                raise ValueError(f"--conf models: unknown model(s) {', '.join(unknown)}; "
                                 f"known: {', '.join(MODELS)} or all")

        def path_of(key: str) -> Path | None:
            value = conf.get(key)
            if value in (None, ""):
                return None
            p = Path(os.path.expanduser(str(value))).resolve()
            if not p.is_file():
                raise ValueError(f"--conf {key}: model file not found: {p}")
            return p

        config_file = path_of("config")
        extra = {k: v for k, v in conf.items() if k not in APP_KEYS}
        updates, unknown = config_updates(extra, prefer="infer")
        if unknown:
            raise ValueError(f"unknown --conf option(s): {', '.join(sorted(unknown))} (app options: "
                             f"{', '.join(sorted(APP_KEYS))}; or cephmark config entries such as "
                             "train.epochs, preprocess.image_size, image_size)")
        model_dir = Path(os.path.expanduser(str(conf.get("model_dir") or app_dir / "model"))).resolve()
        modalities = [m.strip().upper() for m in str(conf.get("dicomweb_modalities", "DX,CR,SC")).split(",")
                      if m.strip()]
        return cls(
            app_dir=app_dir, models=models,
            cldetection_model=path_of("cldetection_model"), calibration_model=path_of("calibration_model"),
            calibration_refiner=path_of("calibration_refiner"),
            model_dir=model_dir, use_published=parse_bool(conf.get("use_published"), True),
            config_file=config_file, config_updates=updates, dicomweb_modalities=modalities,
            disc_radius=float(conf.get("disc_radius") or 0.0),
            tracking=parse_bool(conf.get("tracking"), False), tracking_uri=str(conf.get("tracking_uri") or ""),
        )

    def base_config(self) -> CephConfig:
        """A fresh config: defaults, the YAML file, then every config entry given with --conf."""
        cfg = CephConfig.from_yaml(self.config_file) if self.config_file else CephConfig()
        return cfg.update(self.config_updates)

    def infer_overrides(self) -> dict[str, Any]:
        """--conf preprocessing/codec entries: they win over a checkpoint's own settings."""
        return {k: v for k, v in self.config_updates.items() if k.startswith(("preprocess.", "codec."))}
