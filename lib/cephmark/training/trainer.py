"""`finetune`: heatmap fine-tuning of the CLdetection2023 model for new landmarks.

Stage 1 trains the head on a frozen backbone (no gradients, BatchNorm statistics frozen);
from epoch ``unfreeze_after`` (0-based, i.e. after that many frozen epochs) stage 2 also
trains the backbone at ``lr * backbone_lr_factor``. Adam holds both parameter groups from the
start; the learning rate follows `cephmark.training.schedule` (warm-up, then cosine).

Every epoch: validation loss, MRE / SDR of the decoded predictions in original pixels (mm
where the spacing is known), ``last.pth`` (with optimizer state: the resume point), the best
checkpoint (by validation MRE; by loss when there are no points), ``metrics.csv`` and
``learning_curve.png``. Randomness is re-seeded from (seed, epoch) at each epoch start, so
``--resume last.pth`` reproduces the uninterrupted run.
"""
from __future__ import annotations

import copy
import dataclasses
import gc
import logging
import math
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from cephmark.annotations import AnnotationSet, read_annotations, split_train_val
from cephmark.codecs import FastHeatmapCodec
from cephmark.config import CephConfig
from cephmark.evaluation.metrics import DEFAULT_THRESHOLDS_MM, radial_errors, summarize, to_mm
from cephmark.models.checkpoint import make_checkpoint, save_atomic
from cephmark.models.cldetection import CLDetectionModel
from cephmark.training import distributed
from cephmark.training.decisions import EpochDecision, Selection
from cephmark.training.dataset import ImageCache, LandmarkDataset, from_cached, worker_init_fn
from cephmark.training.loss import HeatmapLoss, curriculum_sigma
from cephmark.training.model_setup import (
    TrainingForward, build_model, param_groups, set_backbone_frozen,
)
from cephmark.training.reporting import (
    plot_learning_curve, summary_line, write_metrics_csv,
)
from cephmark.training.schedule import LRSchedule
from cephmark.training.source_preprocess import inherit_source_preprocess
from cephmark.training.seeding import (
    epoch_seed, restore_deterministic, seed_all, set_deterministic,
)
from cephmark.transforms import Box

log = logging.getLogger(__name__)

LAST_NAME = "last.pth"


class TrainingDiverged(FloatingPointError):
    """Non-finite loss or weights: the run stops before writing that epoch's checkpoints."""
FLAT_HEATMAP_RANGE = 1e-4  # below this, a map equals itself shifted by the pixel-shuffle period
METRICS_NAME = "metrics.csv"
CURVE_NAME = "learning_curve.png"
NAMED_UP_TO = 4  # landmarks spelled out in a default checkpoint name


def checkpoint_name(given: str | None, names: list[str]) -> str:
    """The best checkpoint's file name: ``given``, else ``checkpoint_<landmarks>_cldetection.pth``
    (``checkpoint_p1_p2_cldetection.pth``; ``checkpoint_19_landmarks_cldetection.pth``)."""
    if given:
        return given
    safe = all(n.replace("_", "").replace("-", "").isalnum() for n in names)
    part = "_".join(names) if safe and len(names) <= NAMED_UP_TO else f"{len(names)}_landmarks"
    return f"checkpoint_{part}_cldetection.pth"


class DeadHeadRestart(RuntimeError):
    """Raised (on every rank) to start a run again with the next seed."""


def flat_heatmaps(heat: np.ndarray, period: int) -> np.ndarray:
    """(J,) True where a (J, H, W) map holds no location: it equals itself shifted by ``period``
    (the head's last pixel shuffle) in both directions. A head whose last ReLUs are all off
    outputs just the converge biases, a pattern of that period."""
    j = len(heat)
    dy = np.abs(heat[:, period:, :] - heat[:, :-period, :]).reshape(j, -1).max(axis=1)
    dx = np.abs(heat[:, :, period:] - heat[:, :, :-period]).reshape(j, -1).max(axis=1)
    return np.maximum(dx, dy) < FLAT_HEATMAP_RANGE


@dataclass
class FinetuneResult:
    checkpoint: Path  # best checkpoint
    last: Path  # last epoch's checkpoint (resume point)
    history: list[dict]
    landmark_names: list[str]
    best_epoch: int | None = None
    stopped_early: bool = False
    model: CLDetectionModel | None = field(default=None, repr=False)  # final weights, eval mode


def finetune(cfg: CephConfig, callback: Callable[[dict], None] | None = None,
             stop: threading.Event | None = None) -> FinetuneResult:
    """Fine-tune per ``cfg`` (see `TrainConfig`); ``callback`` gets each epoch's summary dict
    (rank 0), ``stop.set()`` ends training after the current epoch with checkpoints intact.
    With ``train.refiner`` (and no ``crop_size``) both stages of a ruler cascade train, one
    after the other, into one file (`cephmark.calibration.cascade`)."""
    from cephmark.calibration.cascade import train_cascade, trains_cascade

    if trains_cascade(cfg):
        return train_cascade(cfg, callback, stop)
    info, device = distributed.init(cfg.train.device)
    quiet = logging.getLogger("cephmark.training")
    old_level = quiet.level
    if not info.is_main:
        quiet.setLevel(logging.WARNING)
    previous = set_deterministic(cfg.train.deterministic)
    try:
        cfg = inherit_source_preprocess(cfg)
        restarts = 0 if cfg.train.resume else max(0, int(cfg.train.dead_head_restarts))
        for attempt in range(restarts + 1):
            try:
                return _Trainer(cfg, info, device, callback, stop, may_restart=attempt < restarts).run()
            except DeadHeadRestart as exc:
                cfg = copy.deepcopy(cfg)
                cfg.train.seed = int(cfg.train.seed) + 1
                log.warning("%s; starting again with seed %d (restart %d of %d)", exc,
                            cfg.train.seed, attempt + 1, restarts)
        raise AssertionError("unreachable: the last attempt cannot restart")
    finally:
        restore_deterministic(previous)
        quiet.setLevel(old_level)
        distributed.cleanup(info)


# -- data -------------------------------------------------------------------------------
def load_annotation_sets(cfg: CephConfig) -> tuple[AnnotationSet, AnnotationSet | None, list[str]]:
    """(train, validation or None, requested landmark names). Annotation problems raise
    `AnnotationError` with every message; requested landmarks that never occur are named."""
    t = cfg.train
    if not t.annotations:
        raise ValueError("no annotations given (--annotations FILE)")
    ann = read_annotations(t.annotations, t.image_dir, t.annotation_format)
    requested = list(t.landmarks) if t.landmarks else list(ann.landmark_names)
    ann = ann.subset(requested)
    val: AnnotationSet | None = None
    if t.val_annotations:
        raw = read_annotations(t.val_annotations, t.image_dir, t.annotation_format)
        absent = [n for n in requested if n not in raw.landmark_names]
        if absent:
            log.warning("%s: validation annotations lack %s", t.val_annotations, ", ".join(absent))
        images = [dataclasses.replace(im, points={n: im.points[n] for n in requested if n in im.points})
                  for im in raw.images]
        val, train = AnnotationSet(images, list(requested), raw.source), ann
    elif t.val_fraction and t.val_fraction > 0:
        if len(ann) < 2:
            log.warning("only %d annotated image: training without validation", len(ann))
            train = ann
        else:
            train, val = split_train_val(ann, t.val_fraction, t.seed)
    else:
        train = ann
    empty = sum(1 for im in train.images if not im.points)
    if empty:
        log.warning("%d training images have none of the landmarks %s (kept, weight 0)",
                    empty, ", ".join(requested))
    return train, val, requested


def package_versions() -> dict[str, str]:
    from importlib import metadata

    out = {}
    for name, dist_name in (("torch", "torch"), ("timm", "timm"), ("monai", "monai"),
                            ("numpy", "numpy"), ("cephmark", "cephmark"),
                            ("opencv", "opencv-python-headless")):
        try:
            out[name] = metadata.version(dist_name)
        except metadata.PackageNotFoundError:
            mod = sys.modules.get(name if name != "opencv" else "cv2")
            out[name] = str(getattr(mod, "__version__", "unknown"))
    return out


# -- trainer ----------------------------------------------------------------------------
class _Trainer:
    def __init__(self, cfg: CephConfig, info: distributed.DistInfo, device: torch.device,
                 callback: Callable[[dict], None] | None, stop: threading.Event | None,
                 may_restart: bool = False) -> None:
        self.cfg, self.info, self.device = cfg, info, device
        self.callback, self.stop, self.may_restart = callback, stop, may_restart
        self.t = cfg.train
        self.n = int(cfg.preprocess.image_size)
        self.output = Path(self.t.output)
        self.history: list[dict] = []
        self.selection = Selection()

    # -- setup ----------------------------------------------------------------------------
    def _setup(self) -> None:
        t, cfg = self.t, self.cfg
        if t.epochs < 1 or t.batch_size < 1 or t.lr <= 0:
            raise ValueError(f"epochs ({t.epochs}), batch size ({t.batch_size}) and lr ({t.lr}) "
                             "must be positive")
        seed_all(t.seed)  # fresh heads: same initial weights on every rank
        self.train_set, self.val_set, requested = load_annotation_sets(cfg)
        setup = build_model(cfg, requested)
        self.setup = setup
        self.names = setup.names
        self.model = setup.model.to(self.device)
        self.forward = TrainingForward(self.model)
        self.teacher = setup.load_teacher(self.device)
        if self.teacher is not None:
            log.info("keeping %d base landmarks: unlabelled base outputs are trained towards the "
                     "source model's own heatmaps", setup.base_count)
        codec = FastHeatmapCodec(sigma=cfg.codec.sigma(self.n), blur_kernel=cfg.codec.blur_kernel)
        self.codec = codec
        self.loss_fn = HeatmapLoss(codec, foreground_weight=t.foreground_weight)

        if t.crop_size is not None and t.crop_size < 8:
            raise ValueError(f"crop size {t.crop_size} px is too small")
        cache = ImageCache(self.n, t.cache_dir, t.crop_size)
        self.train_ds = LandmarkDataset(self.train_set, self.names, cfg, train=True, cache=cache)
        self.val_ds = (LandmarkDataset(self.val_set, self.names, cfg, train=False, cache=cache)
                       if self.val_set is not None and len(self.val_set) and self.info.is_main else None)
        self.generator = torch.Generator()
        cuda = self.device.type == "cuda"
        self.sampler = (DistributedSampler(self.train_ds, num_replicas=self.info.world_size,
                                           rank=self.info.rank, shuffle=True, seed=t.seed)
                        if self.info.enabled else None)
        self.loader = DataLoader(
            self.train_ds, batch_size=t.batch_size, shuffle=self.sampler is None,
            sampler=self.sampler, num_workers=t.workers, generator=self.generator,
            worker_init_fn=worker_init_fn if t.workers else None, pin_memory=cuda, drop_last=False)
        self.val_loader = (DataLoader(self.val_ds, batch_size=t.batch_size, shuffle=False,
                                      num_workers=t.workers, pin_memory=cuda)
                           if self.val_ds is not None else None)

        self.optimizer = torch.optim.Adam(param_groups(self.model, t.lr, t.backbone_lr_factor),
                                          lr=t.lr, weight_decay=t.weight_decay)
        self.schedule = LRSchedule(self.optimizer, [t.lr, t.lr * t.backbone_lr_factor],
                                   total_iters=t.epochs * len(self.loader),
                                   warmup_iters=t.warmup_iters, warmup_factor=t.warmup_factor,
                                   kind=t.lr_schedule, min_factor=t.min_lr_factor)
        self.amp = bool(t.amp)
        self.amp_dtype = torch.float16 if cuda else torch.bfloat16
        self.scaler = torch.amp.GradScaler("cuda") if self.amp and cuda else None
        self.start_epoch = 0
        if setup.resume is not None:
            self._restore(setup.resume)
        self.stage: int | None = None
        self.ddp: torch.nn.Module = self.forward
        if t.crop_size:
            log.info("crop refiner: %d px boxes around the labelled landmarks (jitter %.2f) -> "
                     "%d x %d input (x %.2f)", t.crop_size, t.crop_jitter if t.augment else 0.0,
                     self.n, self.n, self.n / t.crop_size)
        log.info("fine-tuning %s on %d images (%d validation), N=%d, sigma=%.2f, %d epochs, "
                 "batch %d x %d rank(s), device %s", ", ".join(self.names), len(self.train_ds),
                 len(self.val_set) if self.val_set is not None else 0, self.n, codec.sigma,
                 t.epochs, t.batch_size, self.info.world_size, self.device)

    def _restore(self, ckpt: dict) -> None:
        self.start_epoch = int(ckpt["epoch"])
        self.history = [dict(h) for h in ckpt.get("history", [])]
        self.selection = Selection.from_dict(ckpt.get("trainer", {}))
        if "optimizer" in ckpt:
            self.optimizer.load_state_dict(ckpt["optimizer"])
            self.schedule.load_state_dict(ckpt["scheduler"])
            if self.scaler is not None and ckpt.get("scaler"):
                self.scaler.load_state_dict(ckpt["scaler"])
        else:
            log.warning("%s has no optimizer state (a best checkpoint?): continuing with a fresh "
                        "optimizer; resume from last.pth for an exact continuation", self.t.resume)
            self.schedule.step_count = self.start_epoch * len(self.loader)

    def _stage_for(self, epoch: int) -> int:
        u = self.t.unfreeze_after
        return 2 if u is not None and epoch >= u else 1

    def _set_stage(self, stage: int) -> None:
        if stage == self.stage:
            return
        set_backbone_frozen(self.model, stage == 1, self.t.trainable_backbone)
        if self.info.enabled:  # drop the old DDP (and its gradient hooks) before re-wrapping
            self.ddp = self.forward
            gc.collect()
        self.ddp = distributed.wrap(self.forward, self.info, self.device)
        if self.stage is not None:
            part = ", ".join(self.t.trainable_backbone or []) or "backbone"
            log.info("stage %d: %s", stage, "backbone frozen" if stage == 1 else
                     f"{part} trainable at lr x {self.t.backbone_lr_factor}")
        self.stage = stage

    # -- epochs ---------------------------------------------------------------------------
    def _seed_epoch(self, epoch: int) -> None:
        s = epoch_seed(self.t.seed, epoch, self.info.rank)
        seed_all(s)
        self.train_ds.set_random_state(s)
        self.generator.manual_seed(s)
        if self.sampler is not None:
            self.sampler.set_epoch(epoch)

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp)

    def _train_epoch(self, epoch: int, sigma: float) -> float:
        self.ddp.train()
        total, count = 0.0, 0
        bar = tqdm(self.loader, desc=f"epoch {epoch + 1}/{self.t.epochs}", unit="batch",
                   file=sys.stderr, disable=not self.info.is_main, dynamic_ncols=True)
        for index, batch in enumerate(bar, start=1):
            x = batch["image"].to(self.device, non_blocking=True)
            self.schedule.apply()
            with self._autocast():
                outs = self.ddp(x)
            loss, _ = self.loss_fn([o.float() for o in outs], batch["xy"], batch["weight"], sigma,
                                   soft_targets=self._soft_targets(x))
            if self.scaler is None and not torch.isfinite(loss.detach()):  # AMP skips such steps itself
                self._diverged(epoch + 1, f"loss {float(loss.detach())} at batch {index}")
            self.optimizer.zero_grad(set_to_none=True)
            if self.scaler is not None:
                self.scaler.scale(loss).backward()
                self.scaler.step(self.optimizer)
                self.scaler.update()
            else:
                loss.backward()
                self.optimizer.step()
            self.schedule.step()
            value = float(loss.detach())
            total += value * x.shape[0]
            count += x.shape[0]
            bar.set_postfix(loss=f"{value:.4g}", refresh=False)
        bar.close()
        distributed.sync_buffers(self.info, self.model)
        total, count = distributed.all_reduce_sum(self.info, [total, float(count)], self.device)
        return total / max(count, 1.0)

    @torch.no_grad()
    def _soft_targets(self, x: torch.Tensor) -> list[torch.Tensor] | None:
        if self.teacher is None:
            return None
        with self._autocast():
            return [o.float() for o in self.teacher(x, deep_supervision=True)]

    @torch.no_grad()
    def _validate(self, sigma: float) -> dict[str, Any]:
        model = self.model
        model.eval()
        loss_sum, count = 0.0, 0
        preds, gts, spacings, flat = [], [], [], np.zeros(len(self.names), dtype=np.int64)
        for batch in self.val_loader:
            x = batch["image"].to(self.device)
            with self._autocast():
                outs = model(x, deep_supervision=True)
                final = outs[-1].float()
                if self.t.val_flip_test:
                    final = 0.5 * (final + model(x.flip(-1)).float().flip(-1))
            loss, _ = self.loss_fn([o.float() for o in outs], batch["xy"], batch["weight"], sigma,
                                   soft_targets=self._soft_targets(x))
            loss_sum += float(loss) * x.shape[0]
            count += x.shape[0]
            heat = final.cpu().numpy()
            for i in range(heat.shape[0]):
                dec = self.codec.decode(heat[i])
                q = dec.xy.astype(np.float64)
                q[~dec.found] = np.nan
                is_flat = flat_heatmaps(heat[i], 2 ** int(self.model.head.upscale_exp[-1]))
                q[is_flat] = np.nan  # such a map locates nothing (its argmax is pixel 0, 0)
                flat += is_flat
                cached = Box(*batch["box"][i].tolist()).to_image(q, self.n)
                preds.append(from_cached(cached, tuple(batch["scale"][i].tolist())))
                gts.append(batch["gt"][i].numpy())
                spacings.append(float(batch["spacing"][i]))
        err_px = radial_errors(np.stack(preds), np.stack(gts))
        err_mm = to_mm(err_px, np.array(spacings))
        out = summarize(err_px, err_mm, DEFAULT_THRESHOLDS_MM)
        out["val_loss"] = loss_sum / max(count, 1)
        out["flat"] = int(flat.sum())
        out["flat_landmarks"] = [n for n, k in zip(self.names, flat) if k == count]
        return out

    def _extras(self, epoch: int) -> dict[str, Any]:
        cfg = self.cfg
        return {
            "epoch": epoch,
            "history": [dict(h) for h in self.history],
            "train_losses": [h["train_loss"] for h in self.history],
            "val_losses": [h.get("val_loss", float("nan")) for h in self.history],
            # trained on area-averaged (cached) images: predict must antialias the same way
            "preprocess": self._preprocess_record(),
            "codec": dataclasses.asdict(cfg.codec),
            "train_config": dataclasses.asdict(cfg.train),
            "versions": package_versions(),
            "trainer": self.selection.to_dict(),
            "flip_trained": self._flip_trained(),
            **self.setup.source,
        }

    def _flip_trained(self) -> bool:
        """Whether training mirrored images (only with declared ``flip_pairs``): the flip test
        and flip-based uncertainty are used only for such models."""
        return bool(self.t.flip_pairs) and bool(self.t.augment)

    def _preprocess_record(self) -> dict[str, Any]:
        pre = {**dataclasses.asdict(self.cfg.preprocess), "antialias": True,
               "flip_test": bool(self.cfg.preprocess.flip_test) and self._flip_trained()}
        if self.t.crop_size:  # a crop refiner: its box
            pre.update(crop_size=int(self.t.crop_size))
        return pre

    def _write(self, epoch: int, is_best: bool) -> None:
        extras = self._extras(epoch)
        if is_best:
            save_atomic(make_checkpoint(self.model, self.names, **extras), self.best_path)
        last = make_checkpoint(self.model, self.names, **extras,
                               optimizer=self.optimizer.state_dict(),
                               scheduler=self.schedule.state_dict(),
                               scaler=self.scaler.state_dict() if self.scaler is not None else None)
        save_atomic(last, self.last_path)
        write_metrics_csv(self.history, self.output / METRICS_NAME)
        try:
            plot_learning_curve(self.history, self.output / CURVE_NAME)
        except Exception as exc:  # noqa: BLE001 - a plotting problem must not stop training
            log.warning("could not draw the learning curve: %s", exc)

    def _clean_stale(self) -> None:
        for name in (self.best_path.name, LAST_NAME, METRICS_NAME, CURVE_NAME):
            for tmp in self.output.glob(f".{name}.*.tmp"):
                tmp.unlink(missing_ok=True)

    # -- main -----------------------------------------------------------------------------
    def run(self) -> FinetuneResult:
        self._setup()
        self._prepare_output()
        stopped_early = False
        for epoch in range(self.start_epoch, self.t.epochs):
            decision = self._epoch(epoch)
            if decision.restart:
                raise DeadHeadRestart(decision.restart)
            if decision.stop:
                stopped_early = decision.early
                break
        return self._finish(stopped_early)

    def _prepare_output(self) -> None:
        t = self.t
        self.best_path = self.output / checkpoint_name(t.checkpoint_name, self.names)
        self.last_path = self.output / LAST_NAME
        if self.info.is_main:
            self.output.mkdir(parents=True, exist_ok=True)
            self._clean_stale()
        if self.start_epoch >= t.epochs:
            log.info("nothing to do: %s already completed %d of %d epochs", t.resume,
                     self.start_epoch, t.epochs)

    def _epoch(self, epoch: int) -> EpochDecision:
        """Train one epoch (every rank); rank 0 validates, records and decides for all."""
        started = time.perf_counter()
        self._seed_epoch(epoch)
        self._set_stage(self._stage_for(epoch))
        sigma = curriculum_sigma(self.codec.sigma, self.t.sigma_curriculum, epoch, self.t.epochs)
        train_loss = self._train_epoch(epoch, sigma)
        self._check_finite(train_loss, epoch + 1)  # before anything of this epoch is written
        decision = EpochDecision()
        if self.info.is_main:
            row, flat_names = self._metrics_row(epoch, train_loss, sigma, started)
            self._record(row)
            decision = self._decide(row, flat_names)
        distributed.barrier(self.info)
        return distributed.broadcast_object(self.info, decision, self.device)

    def _metrics_row(self, epoch: int, train_loss: float, sigma: float,
                     started: float) -> tuple[dict[str, Any], list[str]]:
        """The epoch's metrics row and the landmarks whose validation heatmaps were all flat."""
        row: dict[str, Any] = {"epoch": epoch + 1, "stage": self.stage, "train_loss": train_loss}
        flat_names: list[str] = []
        if self.val_loader is not None:
            val = self._validate(sigma)
            flat_names = val.pop("flat_landmarks")
            row.update(val)
        else:
            row.update({"val_loss": float("nan"), "mre_px": float("nan"), "mre_mm": float("nan")})
        row.update(lr=self.optimizer.param_groups[0]["lr"],
                   lr_backbone=self.optimizer.param_groups[1]["lr"], sigma=sigma,
                   time_s=time.perf_counter() - started)
        if self.device.type == "cuda":
            row["gpu_mem_gb"] = torch.cuda.max_memory_allocated(self.device) / 2**30
            torch.cuda.reset_peak_memory_stats(self.device)
        row = {k: (float(v) if isinstance(v, (float, np.floating)) else v) for k, v in row.items()}
        return row, flat_names

    def _record(self, row: dict[str, Any]) -> None:
        """Best-so-far, history, checkpoints, metrics files and the log line."""
        row["best"] = self.selection.update(row, validated=self.val_loader is not None)
        self.history.append(row)
        self._write(row["epoch"], row["best"])
        log.info(summary_line(row, self.t.epochs))

    def _decide(self, row: dict[str, Any], flat_names: list[str]) -> EpochDecision:
        """Restart on a dead head (if allowed), fail on divergence, else early or requested stop."""
        done = int(row["epoch"])
        decision = self._dead_head_policy(flat_names, done)
        if self.callback is not None:
            self.callback(dict(row))
        if not decision.restart and self.selection.patience_exhausted(self.t.patience, done, self.t.min_epochs):
            decision = EpochDecision(stop=True, early=True)
            log.info("early stopping: no validation-loss improvement for %d epochs", self.t.patience)
        if self.stop is not None and self.stop.is_set():
            decision = EpochDecision(stop=True)  # a requested stop wins over a restart
            log.info("stop requested: ending after epoch %d", done)
        return decision

    def _dead_head_policy(self, flat_names: list[str], done: int) -> EpochDecision:
        if flat_names and self.may_restart:
            return EpochDecision(stop=True, restart=f"{', '.join(flat_names)}: dead head after epoch {done} "
                                                    "(constant heatmaps on every validation image)")
        if flat_names:
            log.warning(
                "%s: constant heatmaps on every validation image: the head gives no peak "
                "(its last ReLUs are off everywhere; in our runs it never came back). "
                "Fresh heads (--init-from fresh) died less often than copied ones; another "
                "--seed may train (see benchmarks/p1p2/RESULTS.md)", ", ".join(flat_names))
        return EpochDecision()

    def _check_finite(self, train_loss: float, done: int) -> None:
        """Divergence stops the run before epoch ``done`` writes anything (no NaN published)."""
        if not math.isfinite(train_loss):
            self._diverged(done, f"mean loss {train_loss}")
        bad = [k for k, v in self.model.state_dict().items()
               if v.is_floating_point() and not bool(torch.isfinite(v).all())]
        if bad:
            self._diverged(done, f"{len(bad)} weight tensors not finite, e.g. {', '.join(bad[:3])}")

    def _diverged(self, epoch: int, what: str) -> None:
        files = [str(p) for p in (self.last_path, self.best_path) if p.exists()]
        kept = f"the last good checkpoints are kept ({', '.join(files)})" if files else "no checkpoint was written"
        raise TrainingDiverged(f"training diverged in epoch {epoch} ({what}): stopped before "
                               f"writing anything of this epoch; {kept}; try a lower --lr"
                               + (" or no --amp" if self.amp else ""))

    def _finish(self, stopped_early: bool) -> FinetuneResult:
        distributed.barrier(self.info)
        self.model.eval()
        best_epoch = self.selection.best_epoch
        if self.info.is_main and best_epoch is not None:
            log.info("best epoch %s -> %s; last -> %s", best_epoch, self.best_path, self.last_path)
        return FinetuneResult(checkpoint=self.best_path, last=self.last_path,
                              history=list(self.history), landmark_names=list(self.names),
                              best_epoch=best_epoch, stopped_early=stopped_early, model=self.model)
