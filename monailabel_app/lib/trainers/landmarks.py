"""The generic train task: fine-tune from the datastore's final labels and publish the new model.

A task reads every image with a ``final`` label, turns the label (disc label map or markups
list) into landmark points, writes them as ``image,landmark,x,y,spacing_mm`` CSV and calls
``cephmark.training.finetune`` (the same code and options as ``cephmark finetune``: two stages,
GPU when present; a spec's ``train_config`` recipe with ``train.refiner``, as the calibration
task's, trains the coarse model and the crop refiner into one cascade file; request keys
``refiner_epochs`` and ``share_backbone`` adjust its refiner). The result is copied atomically over ``<model_dir>/<task>.pth``, which the
infer task of the same name picks up on its next request. MONAI Label runs training in a
child process; infer requests keep being answered meanwhile.
"""
from __future__ import annotations

import logging
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import cv2
import torch
from monailabel.interfaces.datastore import Datastore, DefaultLabelTag
from monailabel.interfaces.tasks.train import TrainTask

from cephmark.app import TrainingImage, label_points, load_app_image, write_points_csv
from cephmark.app.options import config_updates
from cephmark.io import is_dicom
from cephmark.landmarks import CLDETECTION_38
from cephmark.util import IMAGE_EXTENSIONS, json_safe, parse_bool

from ..models import ModelSource
from ..options import AppOptions
from ..spec import ModelSpec

logger = logging.getLogger(__name__)

# request keys MONAI Label clients add that are no training options
PROJECT_CONFIGS = Path(__file__).resolve().parents[3] / "configs"  # the project's configs/
IGNORED = {"model", "local_rank", "client_id", "bundle_path", "dataset",
           "max_workers", "logging", "run_id", "name", "train_ds", "val_ds", "pretrained", "val_split"}


class LandmarkTrainTask(TrainTask):
    """The train task of one model spec: its fixed landmarks (if any), published to ``source``."""

    def __init__(self, spec: ModelSpec, source: ModelSource, options: AppOptions) -> None:
        super().__init__(spec.train_description)
        self.name = spec.name
        self.spec = spec
        self.source = source
        self.options = options
        self.fixed_landmarks = list(spec.landmarks) or None

    def recipe(self) -> Path | None:
        """The spec's training recipe file (``configs/`` of the project unless a path)."""
        name = self.spec.train_recipe
        if not name:
            return None
        path = Path(name)
        if not path.is_absolute() and not path.is_file():
            path = PROJECT_CONFIGS / name
        if not path.is_file():
            raise FileNotFoundError(f"{self.name}: training recipe {name} not found (looked in {PROJECT_CONFIGS})")
        return path

    def default_names(self) -> list[str]:
        """Landmark names of a label that carries none: the model's, else the spec's."""
        return self.source.names() or list(self.spec.landmarks)

    def config(self) -> dict[str, Any]:
        cfg = self.options.base_config(self.recipe())
        t = cfg.train
        return {
            "epochs": t.epochs, "image_size": cfg.preprocess.image_size, "batch_size": t.batch_size,
            "lr": t.lr, "unfreeze_after": t.unfreeze_after, "patience": t.patience,
            "landmarks": ",".join(self.fixed_landmarks or t.landmarks or []), "device": t.device,
        }

    def stats(self) -> dict[str, Any]:
        return self.source.stats()

    # -- data -------------------------------------------------------------------------
    def collect(self, datastore: Datastore, work: Path) -> tuple[list[TrainingImage], dict[str, str]]:
        datastore.datalist()  # lets a DICOMweb datastore fetch labels first
        items: list[TrainingImage] = []
        problems: dict[str, str] = {}
        defaults = None
        for image_id in sorted(datastore.get_labeled_images()):
            try:
                label_uri = datastore.get_label_uri(image_id, DefaultLabelTag.FINAL)
                if not label_uri:
                    raise FileNotFoundError("final label file not found")
                info = datastore.get_label_info(image_id, DefaultLabelTag.FINAL) or {}
                mapping = info.get("label_info") or info.get("label_names") or \
                    (info.get("params") or {}).get("label_names")
                if not mapping and defaults is None:
                    defaults = self.default_names()
                app_image = load_app_image(datastore.get_image_uri(image_id))
                points = label_points(label_uri, app_image.geometry, mapping, defaults or [])
                w, h = app_image.ceph.width, app_image.ceph.height
                outside = [n for n, (x, y) in points.items()
                           if not (-0.5 <= x <= w - 0.5 and -0.5 <= y <= h - 0.5)]
                if outside:
                    logger.warning("%s: %s: ignoring landmark(s) outside the image: %s", self.name, image_id,
                                   ", ".join(outside))
                    points = {n: p for n, p in points.items() if n not in outside}
                if not points:
                    raise ValueError("the label holds no landmarks")
                src = app_image.pixel_source
                if not (src.lower().endswith(IMAGE_EXTENSIONS) or is_dicom(src)):
                    src = str(work / "images" / f"{image_id}.png")
                    Path(src).parent.mkdir(parents=True, exist_ok=True)
                    cv2.imwrite(src, cv2.cvtColor(app_image.ceph.pixels, cv2.COLOR_RGB2BGR))
                items.append(TrainingImage(src, points, app_image.ceph.spacing_mm, image_id))
            except Exception as exc:
                logger.warning("%s: cannot use the final label of %s: %s", self.name, image_id, exc)
                problems[image_id] = str(exc)
        return items, problems

    def landmarks(self, cfg_landmarks: list[str] | None, items: list[TrainingImage]) -> list[str]:
        if self.fixed_landmarks:
            wanted = self.fixed_landmarks
        elif cfg_landmarks:
            wanted = list(cfg_landmarks)
        else:
            # the landmarks of this task's model (a ruler mark saved with them stays out)
            seen = {n for it in items for n in it.points}
            known = list(dict.fromkeys(list(self.default_names()) + CLDETECTION_38))
            wanted = [n for n in known if n in seen] or sorted(seen)
        present = {n for it in items for n in it.points}
        missing = [n for n in wanted if n not in present]
        if missing:
            raise ValueError(f"{self.name}: no final label has landmark(s) {', '.join(missing)}")
        return wanted

    # -- run --------------------------------------------------------------------------
    def __call__(self, request: dict, datastore: Datastore):
        start = time.time()
        cfg = self.options.base_config(self.recipe())
        params = {k: v for k, v in request.items() if k not in IGNORED and v is not None and v != ""}
        device = params.pop("device", None)
        multi_gpu = parse_bool(params.pop("multi_gpu", None), False)
        gpus = params.pop("gpus", "all")
        if self.fixed_landmarks:
            params.pop("landmarks", None)
        refiner = {k: v for k, v in (("epochs", params.pop("refiner_epochs", None)),
                                     ("share_backbone", params.pop("share_backbone", None))) if v is not None}
        if refiner and cfg.train.refiner is None:
            raise ValueError(f"{self.name}: refiner_epochs / share_backbone need a cascade recipe (train.refiner)")
        if refiner:
            cfg.train.refiner = {**cfg.train.refiner, **({"epochs": int(refiner["epochs"])} if "epochs" in refiner else {}),
                                 **({"share_backbone": parse_bool(refiner["share_backbone"], False)}
                                    if "share_backbone" in refiner else {})}
        updates, unknown = config_updates(params, prefer="train", cfg=cfg)
        if unknown:
            logger.warning("%s: ignoring unknown train option(s): %s", self.name, ", ".join(unknown))
        cfg.update(updates)
        if device:
            dev = str(device)
            cfg.train.device = "cpu" if dev.startswith("cuda") and not torch.cuda.is_available() else dev
        base = self.source.base_path()
        if base is None:
            raise FileNotFoundError(f"{self.name}: no base model to fine-tune: start the server with "
                                    "--conf cldetection_model PATH")

        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        work = self.options.model_dir / "runs" / self.name / stamp
        work.mkdir(parents=True, exist_ok=True)
        items, problems = self.collect(datastore, work)
        if problems:  # never train on a silently shrunken set
            raise ValueError(f"{self.name}: {len(problems)} final label(s) cannot be used: " +
                             "; ".join(f"{k}: {v}" for k, v in problems.items()))
        if not items:
            raise ValueError(f"{self.name}: no final labels in the datastore")
        names = self.landmarks(cfg.train.landmarks, items)
        csv_path = write_points_csv(items, work / "annotations.csv", names)
        cfg.update({"train.annotations": str(csv_path), "train.image_dir": str(work),
                    "train.annotation_format": "csv", "train.landmarks": names,
                    "train.cldetection_model": str(base), "train.output": str(work / "output")})
        logger.info("%s: fine-tuning %s on %d image(s), landmarks %s, %d epoch(s), image size %d, device %s",
                    self.name, base, len(items), ",".join(names), cfg.train.epochs,
                    cfg.preprocess.image_size, cfg.train.device)

        tracker = _Tracker(self.options, self.name) if self.options.tracking else None
        from cephmark.training import finetune

        nproc = _gpu_count(gpus) if multi_gpu else 1
        if nproc > 1:  # the same code as `torchrun -m cephmark finetune`, one process per GPU
            from cephmark.training.launch import run_distributed

            best = run_distributed(cfg, nproc, work)
            result = _DistributedResult(best, Path(cfg.train.output) / "last.pth", names)
        else:
            result = finetune(cfg, callback=_Progress(self.name, tracker))
        history = list(getattr(result, "history", []) or [])
        stats = {
            "model": self.name, "published": datetime.now().isoformat(timespec="seconds"),
            "base_model": str(base), "images": len(items), "skipped": problems,
            "landmarks": list(getattr(result, "landmark_names", names) or names),
            "epochs": len(history) or cfg.train.epochs, "image_size": cfg.preprocess.image_size,
            "device": cfg.train.device, "run_dir": str(work), "checkpoint": str(result.checkpoint),
            "last": str(getattr(result, "last", "")), "history": history[-50:],
            "total_time": round(time.time() - start, 1),
        }
        stats["published_path"] = str(self.source.published_path)
        self.source.publish(result.checkpoint, stats)
        if tracker:
            tracker.close()
        return json_safe(stats)


def _gpu_count(gpus: Any) -> int:
    """``gpus`` as MONAI Label sends it: "all" or a comma list of indices."""
    available = torch.cuda.device_count()
    if str(gpus).lower() in ("all", ""):
        return available
    return min(available, len([g for g in str(gpus).split(",") if g.strip()]))


class _DistributedResult:
    def __init__(self, checkpoint: Path, last: Path, names: list[str]) -> None:
        self.checkpoint, self.last, self.landmark_names, self.history = checkpoint, last, names, []


class _Progress:
    """Progress callback: logs each report (the child process's output becomes the task log)."""

    def __init__(self, name: str, tracker: "_Tracker | None") -> None:
        self.name, self.tracker = name, tracker

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        report = args[0] if len(args) == 1 and not kwargs else (kwargs or list(args))
        logger.info("%s: %s", self.name, report)
        if self.tracker and isinstance(report, dict):
            self.tracker.log(report)


class _Tracker:
    """Optional MLflow logging (``--conf tracking true``); off by default."""

    def __init__(self, options: AppOptions, name: str) -> None:
        import mlflow  # only when asked for

        if options.tracking_uri:
            mlflow.set_tracking_uri(options.tracking_uri)
        mlflow.set_experiment(f"cephmark-{name}")
        self.mlflow = mlflow
        self.run = mlflow.start_run()
        self.step = 0

    def log(self, report: dict) -> None:
        metrics = {k: float(v) for k, v in report.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        if metrics:
            self.mlflow.log_metrics(metrics, step=int(report.get("epoch", self.step)))
        self.step += 1

    def close(self) -> None:
        self.mlflow.end_run()
