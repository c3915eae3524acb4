"""Which engine runs the network on the fast path (``infer.backend``).

``auto`` (default): on CPU, OpenVINO when the optional ``openvino`` package is installed, else
ONNX Runtime when ``onnxruntime`` + ``onnx`` are, else the folded torch model (one log line
says so); on GPU, the folded torch model. ``torch``: the folded torch model
(`cephmark.inference.fast.optimize_for_inference`). ``openvino`` / ``onnxruntime`` /
``inductor`` (AOTInductor): that engine, an error if it is not installed. Converted networks
are cached on disk (`cache`). All of them keep points within 0.01 px of the exact path (see
benchmarks/RESULTS.md); ``infer.fast = False`` (``--exact``) is the reference arithmetic.
"""
from __future__ import annotations

import importlib
import logging
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cephmark.inference.runtimes.cache import cache_root, cached_entry, fingerprint

log = logging.getLogger(__name__)

BACKENDS = ("auto", "openvino", "onnxruntime", "inductor", "torch")
_MODULES = {"openvino": "openvino_runtime", "onnxruntime": "onnx_runtime", "inductor": "inductor_runtime"}
_CLASSES = {"openvino": "OpenVINORuntime", "onnxruntime": "OnnxRuntime", "inductor": "InductorRuntime"}
_AUTO_ORDER = ("openvino", "onnxruntime")


def _engine(name: str):
    return importlib.import_module(f"cephmark.inference.runtimes.{_MODULES[name]}")


def available(name: str) -> str | None:
    """The engine's version when its packages import, else None."""
    if name == "torch":
        return torch.__version__
    try:
        return _engine(name).version()
    except ImportError:
        return None


def choose_backend(requested: str, device: torch.device) -> str:
    """The backend that `build_runtime` will use for ``requested`` on ``device``."""
    name = (requested or "auto").strip().lower()
    if name not in BACKENDS:
        raise ValueError(f"unknown infer.backend {requested!r}: use one of {', '.join(BACKENDS)}")
    if name != "auto":
        if name != "torch" and device.type != "cpu":
            raise ValueError(f"infer.backend {name!r} runs on the CPU only (device is {device})")
        if available(name) is None:
            extra = "onnxruntime onnx" if name == "onnxruntime" else name
            raise ValueError(f"infer.backend {name!r} needs the optional package(s): pip install {extra}")
        return name
    if device.type != "cpu":
        return "torch"
    for cand in _AUTO_ORDER:
        if available(cand) is not None:
            return cand
    log.warning("fast inference on the folded torch model: install openvino (pip install "
                "openvino) for about 2x faster CPU inference")
    return "torch"


def build_runtime(model: nn.Module, device: torch.device, image_size: int, backend: str = "auto",
                  cache_dir: str | None = None, threads: int | None = None,
                  compile: bool | str = False) -> Any:
    """The fast-path network: a callable (B, 3, N, N) float32 tensor -> (B, J, N, N) float32.

    ``model`` is not changed. The folded torch model (`optimize_for_inference`) is the
    result for ``torch`` and the source of every conversion; if the cache folder cannot be
    written, the conversion is kept in a temporary folder for this process only.
    """
    from cephmark.inference.fast import optimize_for_inference, set_inference_threads

    name = choose_backend(backend, device)
    if name == "torch":
        return optimize_for_inference(model, device, compile=compile, threads=threads)
    n_threads = set_inference_threads(threads)
    engine = _engine(name)
    folded = optimize_for_inference(model, "cpu", channels_last=name == "inductor", threads=threads).model
    key = f"{name}-" + fingerprint(folded, (1, 3, image_size, image_size), name, engine.version())
    root, scratch = cache_root(cache_dir), None
    try:
        entry = cached_entry(root, key, lambda d: engine.convert(folded, image_size, d))
    except OSError as exc:
        log.warning("cannot write the converted-network cache %s (%s): converting for this process only",
                    root, exc)
        scratch = tempfile.TemporaryDirectory(prefix="cephmark-runtime-")  # removed with the runtime
        entry = cached_entry(Path(scratch.name), key, lambda d: engine.convert(folded, image_size, d))
    runtime = getattr(engine, _CLASSES[name])(entry, n_threads, model.num_landmarks)
    runtime.scratch = scratch
    log.info("fast inference: %s (%s), cache %s", name, engine.version(), entry)
    return runtime
