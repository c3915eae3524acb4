"""Which checkpoint a task uses, a predictor cached per checkpoint file, and publishing.

The model of a task is, in this order: the one its train task published
(``<model_dir>/<task>.pth``, unless ``--conf use_published false``), the one given with
``--conf <spec.checkpoint_option>``, the bundled starter model (when the spec allows it). The predictor is rebuilt when the
chosen file changes (path, inode, size or mtime), so a newly published model is used on the
next request. Publishing copies to a temporary file in ``model_dir`` and renames it over the
old one, so a reader never sees a partial file.

A task may also have a crop refiner (``--conf <spec.refiner_option> PATH``, a checkpoint from
``cephmark finetune --crop-size``): it re-predicts the task's points on a crop around the
current model's, with the refine options of the config (``refine_prior_sigma``, ...).
"""
from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any, Callable

from cephmark.config import CephConfig
from cephmark.inference import LandmarkPredictor
from cephmark.inference.refine import RefinedPredictor, build_predictor
from cephmark.models.checkpoint import export_checkpoint
from cephmark.util import atomic_write_text, json_safe

from .options import AppOptions
from .spec import ModelSpec

logger = logging.getLogger(__name__)


def bundled_model(name: str = "starter") -> Path | None:
    """A bundled model by name (``starter``, ``ruler``), None when not installed."""
    try:
        from cephmark.weights import resolve_checkpoint

        return Path(resolve_checkpoint(name))
    except (FileNotFoundError, ImportError):
        return None


def file_key(path: Path) -> str:
    st = path.stat()
    return f"{path}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}"


class ModelSource:
    def __init__(self, name: str, model_dir: Path, configured: Path | None, use_published: bool,
                 make_config: Callable[[], CephConfig], overrides: dict[str, Any],
                 bundled_fallback: bool = False, base_model: Path | None = None,
                 refiner: Path | None = None, missing: str = "", bundled: str = "starter") -> None:
        self.name = name
        self.bundled = bundled
        self.missing = missing or f"no {name} model"
        self.model_dir = Path(model_dir)
        self.configured = configured
        self.use_published = use_published
        self.bundled_fallback = bundled_fallback
        self.base_model = base_model
        self.make_config = make_config
        self.overrides = dict(overrides)
        self.refiner = refiner
        self._lock = threading.RLock()
        self._cached: tuple[str, LandmarkPredictor, RefinedPredictor | None] | None = None

    @classmethod
    def from_spec(cls, spec: ModelSpec, options: AppOptions) -> "ModelSource":
        """The source of ``spec``'s model under the app's ``--conf`` options."""
        return cls(spec.name, options.model_dir, options.model_file(spec.checkpoint_option),
                   options.use_published, options.base_config, options.infer_overrides(),
                   bundled_fallback=spec.bundled_fallback, base_model=options.model_file(spec.base_option),
                   refiner=options.model_file(spec.refiner_option), missing=spec.missing_message(),
                   bundled=spec.bundled)

    # -- paths ------------------------------------------------------------------------
    @property
    def published_path(self) -> Path:
        return self.model_dir / f"{self.name}.pth"

    @property
    def stats_path(self) -> Path:
        return self.model_dir / f"{self.name}.train.json"

    def base_path(self) -> Path | None:
        """What training starts from: the CL-Detection model given with --conf cldetection_model,
        else the bundled starter model (never a previously published model)."""
        return self.base_model if self.base_model is not None else bundled_model()

    def current(self) -> tuple[Path, str] | None:
        """(checkpoint, origin) the next request will use, None when there is none."""
        if self.use_published and self.published_path.is_file():
            return self.published_path, "published"
        if self.configured is not None and self.configured.is_file():
            return self.configured, "configured"
        if self.bundled_fallback:
            b = bundled_model(self.bundled)
            if b is not None:
                return b, "bundled"
        return None

    def path(self) -> Path | None:
        cur = self.current()
        return cur[0] if cur else None

    # -- predictor --------------------------------------------------------------------
    def get(self) -> tuple[LandmarkPredictor, dict[str, Any]]:
        """The predictor for the current checkpoint (rebuilt when the file changed) + model info."""
        with self._lock:
            cur = self.current()
            if cur is None:
                raise FileNotFoundError(self.missing_message())
            path, origin = cur
            key = file_key(path)
            if self._cached is None or self._cached[0] != key:
                logger.info("%s: loading model %s (%s)", self.name, path, origin)
                built = build_predictor(str(path), self.make_config(), self.overrides)
                # a cascade file carries its refiner; --conf <refiner option> wins over it
                predictor = built.coarse if isinstance(built, RefinedPredictor) else built
                refined = (RefinedPredictor(predictor, self.refiner) if self.refiner
                           else built if isinstance(built, RefinedPredictor) else None)
                self._cached = (key, predictor, refined)
            predictor, refined = self._cached[1], self._cached[2]
            info = {"name": self.name, "path": str(path), "origin": origin, "key": key,
                    "mtime": path.stat().st_mtime, "landmarks": list(predictor.landmark_names),
                    "image_size": predictor.config.preprocess.image_size,
                    "refiner": str(self.refiner) if self.refiner else
                    f"{path} (cascade)" if refined is not None else None}
            return predictor, info

    def refined(self, predictor: LandmarkPredictor) -> RefinedPredictor | None:
        """The refiner paired with ``predictor`` (as `get` returned it), None without one."""
        with self._lock:
            c = self._cached
            return c[2] if c is not None and c[1] is predictor else None

    def names(self) -> list[str]:
        try:
            return list(self.get()[0].landmark_names)
        except Exception as exc:  # a broken file must not break /info
            logger.warning("%s: cannot load model: %s", self.name, exc)
            return []

    def key(self) -> str | None:
        cur = self.current()
        return file_key(cur[0]) if cur else None

    def missing_message(self) -> str:
        return self.missing

    # -- publishing -------------------------------------------------------------------
    def publish(self, checkpoint: str | Path, stats: dict[str, Any] | None = None) -> Path:
        self.model_dir.mkdir(parents=True, exist_ok=True)
        target = export_checkpoint(checkpoint, self.published_path)  # atomic, no optimizer state
        if stats is not None:
            atomic_write_text(self.stats_path, json.dumps(json_safe(stats), indent=2))
        logger.info("%s: published %s", self.name, target)
        return target

    def stats(self) -> dict[str, Any]:
        try:
            return json_safe(json.loads(self.stats_path.read_text()))
        except (OSError, ValueError):
            return {}
