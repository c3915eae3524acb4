"""Landmark prediction: preprocessing (read ahead in a thread), forward (+ flip test), decoding."""
from __future__ import annotations

import copy
import threading
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
import torch

from cephmark.codecs import FastHeatmapCodec
from cephmark.config import CephConfig
from cephmark.io import CephImage, read_image
from cephmark.inference.plausibility import assess
from cephmark.inference.prefetch import prefetch
from cephmark.inference.results import ImageResult, LandmarkResult
from cephmark.models.checkpoint import LoadedModel, load_model
from cephmark.runtime import resolve_device
from cephmark.transforms import Box, inference_transforms
from cephmark.transforms.affine import invert_points


class LandmarkPredictor:
    """Runs a checkpoint on images and returns `ImageResult`s.

    Settings come from ``config`` (defaults when None); a checkpoint that carries its own
    preprocessing (cephmark's fine-tuned models) sets it, and ``overrides``
    (``{"preprocess.image_size": 512, ...}``) win over both. The flip test runs only for models
    trained on mirrored images (`LoadedModel.learnt_flip`; the reference model is one).
    """

    def __init__(self, checkpoint: str | Path | LoadedModel, config: CephConfig | None = None,
                 overrides: dict[str, Any] | None = None) -> None:
        cfg = copy.deepcopy(config) if config is not None else CephConfig()  # caller's stays as is
        self.loaded = (checkpoint if isinstance(checkpoint, LoadedModel)
                       else load_model(checkpoint, names=cfg.infer.names))
        if self.loaded.preprocess:
            cfg.update({"preprocess": self.loaded.preprocess})
        cfg.update(overrides or {})
        if cfg.preprocess.flip_test and not self.loaded.learnt_flip:
            cfg.preprocess.flip_test = False  # a mirrored pass of a model never trained on one
        self.config = cfg
        self.device = resolve_device(cfg.infer.device)
        self.model = self.loaded.model.to(self.device).eval()
        # the reference decode arithmetic bit for bit, blurring only windows near the peak
        self.codec = FastHeatmapCodec(blur_kernel=cfg.codec.blur_kernel)
        if cfg.infer.fast:
            from cephmark.inference.runtimes import build_runtime

            self.model = build_runtime(self.model, self.device, cfg.preprocess.image_size,
                                       cfg.infer.backend, cfg.infer.cache_dir, compile=cfg.infer.compile)
        self.transforms = inference_transforms(cfg.preprocess)
        # one network pass at a time (it already uses every core); callers in other threads
        # (server requests, the prefetch thread) read, preprocess and decode meanwhile
        self._network = threading.Lock()

    @property
    def landmark_names(self) -> list[str]:
        return self.loaded.landmark_names

    def prepare(self, image: str | Path | CephImage) -> dict:
        """Run the MONAI preprocessing: ``{"image": (3, N, N) tensor, "meta": {...}}``."""
        if not isinstance(image, CephImage):
            # outside Compose: its errors name the file, unwrapped
            image = read_image(image, max_pixels=self.config.infer.max_pixels)
        return self.transforms({"image": image})

    @torch.inference_mode()
    def heatmaps(self, inputs: torch.Tensor, flip_test: bool | None = None) -> torch.Tensor:
        """(B, 3, N, N) normalised inputs -> (B, J, N, N) heatmaps (flip-averaged if enabled)."""
        flip = self.config.preprocess.flip_test if flip_test is None else flip_test
        x = torch.as_tensor(inputs).to(self.device, dtype=torch.float32)
        with self._network:
            return self._forward(x, flip)

    def _forward(self, x: torch.Tensor, flip: bool) -> torch.Tensor:
        if not self.config.infer.fast or self.device.type == "cpu":
            # one image per pass, flipped input as its own pass: the reference's order (with the
            # reference's model when not fast). On a CPU batching saves nothing, and this way a
            # result does not depend on the batch size or on who averages the flip (the app's
            # uncertainty runs the two passes itself)
            outs = []
            for xi in x.split(1):
                out = self.model(xi).float()
                if flip:
                    out = (out + self.model(xi.flip(-1)).float().flip(-1)) * 0.5
                outs.append(out)
            return torch.cat(outs)
        b = x.shape[0]
        if flip:
            x = torch.cat([x, x.flip(-1)], dim=0)
        out = self.model(x).float()
        if flip:
            out = (out[:b] + out[b:].flip(-1)) * 0.5
        return out

    def predict(self, images: Sequence[str | Path | CephImage]) -> list[ImageResult]:
        """Predict landmarks on several images, ``infer.batch_size`` per forward pass; the first
        failure is raised."""
        results: list[ImageResult] = []
        for _, outcome, _ in self.iter_predictions(images):
            if isinstance(outcome, Exception):
                raise outcome
            results.append(outcome)
        return results

    def iter_predictions(self, paths: Iterable[str | Path | CephImage]
                         ) -> Iterator[tuple[str, ImageResult | Exception, dict | None]]:
        """Yield ``(path, result or error, prepared item)``; a bad file does not stop the rest.
        ``paths`` may be any iterable (e.g. images arriving from a server as they are fetched).
        Images are read and preprocessed ``infer.prefetch`` ahead, while the network runs."""
        bs = max(1, self.config.infer.batch_size)
        one = isinstance(paths, Sequence) and len(paths) <= 1  # nothing to overlap
        depth = 0 if one else self.config.infer.prefetch
        pending: list[tuple[str, dict]] = []
        for path, item in prefetch(self.prepare, paths, depth):
            if isinstance(item, Exception):  # any failure (MemoryError included) is this image's only
                yield str(path), item, None
            else:
                pending.append((str(path), item))
            if len(pending) == bs:
                yield from self._run_batch(pending)
                pending = []
        if pending:
            yield from self._run_batch(pending)

    def _run_batch(self, pending: list[tuple[str, dict]]
                   ) -> Iterator[tuple[str, ImageResult | Exception, dict | None]]:
        """Forward + decode of prepared items; a failing batch is retried one image at a time
        so that one image's failure is reported against that image only."""
        try:
            batch = torch.stack([torch.as_tensor(np.asarray(it["image"])) for _, it in pending])
            heat = self.heatmaps(batch).cpu().numpy()
            outcomes = [self.decode(h, it["meta"]) for (_, it), h in zip(pending, heat)]
        except Exception as exc:
            if len(pending) > 1:
                for one in pending:
                    yield from self._run_batch([one])
                return
            outcomes = [exc]
        for (p, it), outcome in zip(pending, outcomes):
            yield p, outcome, it

    def predict_one(self, image: str | Path | CephImage) -> ImageResult:
        return self.predict([image])[0]

    @staticmethod
    def input_to_image(xy: np.ndarray, meta: dict, n: int | None = None) -> np.ndarray:
        """(K, 2) network-input (= heatmap) pixels -> original image pixels."""
        if meta.get("map_back") == "matrix":  # antialiased input: exact per-axis geometry
            return invert_points(meta["warp_matrix"], xy)
        return Box(*meta["box"]).to_image(xy, int(n or meta["image_size"]))  # the reference's arithmetic

    def decode(self, heatmaps: np.ndarray, meta: dict) -> ImageResult:
        """Heatmaps of one image -> landmarks in original image pixels (and mm)."""
        dec = self.codec.decode(heatmaps)
        xy = self.input_to_image(dec.xy, meta, heatmaps.shape[-1])
        sp = meta.get("spacing_xy_mm")
        spacing = float(np.mean(sp)) if sp else None
        landmarks = []
        for name, (x, y), s, ok in zip(self.landmark_names, xy, dec.scores, dec.found):
            landmarks.append(LandmarkResult(
                name=name, x=float(x) if ok else None, y=float(y) if ok else None,
                score=float(s), found=bool(ok),
                x_mm=float(x * sp[0]) if ok and sp else None,
                y_mm=float(y * sp[1]) if ok and sp else None,
            ))
        result = ImageResult(image=str(meta["path"]), width=int(meta["width"]),
                             height=int(meta["height"]), spacing_mm=spacing,
                             spacing_source=meta.get("spacing_source"), landmarks=landmarks)
        return self.assess(result)

    def assess(self, result: ImageResult) -> ImageResult:
        """Plausibility status and reasons (see :mod:`cephmark.inference.plausibility`)."""
        return assess(result, self.config.infer.min_score, self.config.infer.max_implausible_fraction)
