"""Inference speed-ups that keep outputs equal within float tolerance.

`optimize_for_inference` returns a *copy* of the model that is

* in eval mode with no parameter needing gradients;
* BatchNorm-folded: every ``BatchNorm2d`` whose only input is the output of a ``Conv2d``
  (and that conv's only consumer) is folded into the conv (weights and bias computed in
  float64, stored in the model's dtype) and replaced by ``nn.Identity``. Pairs are found on
  the ``torch.fx`` graph of the model, so only convs *directly* followed by a BatchNorm are
  touched: all HRNet conv/bn pairs, the head's ``pre_interpolate`` / ``pre_fuse`` pairs and
  the ConvNeXt blocks' ``dwconv`` + ``norm``;
* in channels-last memory format (weights, and inputs converted by the wrapper), which is what
  oneDNN (CPU) and cuDNN (GPU) convolutions prefer;
* wrapped in `InferenceModel`, which optionally runs under CUDA autocast (bf16/fp16) and
  ``torch.compile``, and returns contiguous float32 heatmaps.

`FastHeatmapCodec` decodes exactly like `HeatmapCodec` (the same float32 arithmetic, so the
same bits on the reference vectors) but blurs only windows around the peak instead of the
whole zero-padded map; see `FastHeatmapCodec._dark_offset`.

This module imports nothing from MONAI (only torch, numpy, OpenCV, `cephmark.codecs` and,
lazily, `cephmark.models.srpose_head`), and ``cephmark/inference/__init__.py`` imports nothing
until used, so ``import cephmark.inference.fast`` works where MONAI is not installed.
"""
from __future__ import annotations

import copy
import inspect
import logging
import os
from typing import Any

import torch
import torch.fx as fx
from torch import nn

from cephmark.codecs.fast_codec import FastHeatmapCodec  # noqa: F401  (re-exported)

log = logging.getLogger(__name__)

_AMP = {"bf16": torch.bfloat16, "bfloat16": torch.bfloat16, "fp16": torch.float16,
        "float16": torch.float16, "half": torch.float16}


def _amp_dtype(amp: str | torch.dtype | None) -> torch.dtype | None:
    if amp is None or isinstance(amp, torch.dtype):
        return None if amp in (None, torch.float32) else amp
    name = str(amp).strip().lower()
    if name in ("", "none", "off", "false", "fp32", "float32"):
        return None
    if name not in _AMP:
        raise ValueError(f"unknown autocast dtype {amp!r}: use bf16 or fp16 (or none)")
    return _AMP[name]


# -- threads --------------------------------------------------------------------------------
def cpu_threads() -> int:
    """CPU cores this process may use: affinity mask (else ``os.cpu_count()``), capped by a
    cgroup v2 CPU quota (``/sys/fs/cgroup/cpu.max``, e.g. ``docker --cpus``)."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    try:
        with open("/sys/fs/cgroup/cpu.max") as fh:
            quota, period = fh.read().split()[:2]
        if quota != "max":
            n = min(n, max(1, -(-int(quota) // int(period))))
    except (OSError, ValueError):
        pass
    return max(1, n)


def set_inference_threads(threads: int | None = None) -> int:
    """Intra-op threads: ``threads`` when given, else torch's current setting capped at the
    usable cores (a CPU quota or affinity mask lowers it; a lower setting is kept). Returns
    the count, which the other engines (OpenVINO, ONNX Runtime) use too."""
    n = threads or min(torch.get_num_threads(), cpu_threads())
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


# -- BatchNorm folding ----------------------------------------------------------------------
def _concrete_defaults(module: nn.Module) -> dict[str, Any]:
    """Keyword arguments of ``forward`` with a default (e.g. ``deep_supervision=False``)."""
    try:
        sig = inspect.signature(module.forward)
    except (TypeError, ValueError):
        return {}
    return {name: p.default for name, p in sig.parameters.items()
            if p.default is not inspect.Parameter.empty
            and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def _trace(module: nn.Module) -> fx.Graph | None:
    try:
        return fx.Tracer().trace(module, concrete_args=_concrete_defaults(module) or None)
    except Exception:  # noqa: BLE001 - data-dependent control flow etc.: caller recurses
        return None


def conv_bn_pairs(model: nn.Module) -> list[tuple[str, str]]:
    """``(conv name, bn name)`` for every Conv2d whose output goes only into a BatchNorm2d.

    The model (or, where it cannot be traced, each submodule) is traced with ``torch.fx``;
    a pair counts only when both modules are called exactly once and the conv's output has
    no other consumer, so folding cannot change what any other node sees.
    """
    pairs: list[tuple[str, str]] = []

    def visit(module: nn.Module, prefix: str) -> None:
        graph = _trace(module) if not isinstance(module, (nn.Conv2d, nn.BatchNorm2d)) else None
        if graph is None:
            for name, child in module.named_children():
                visit(child, f"{prefix}{name}.")
            return
        mods = dict(module.named_modules())
        calls: dict[str, int] = {}
        for node in graph.nodes:
            if node.op == "call_module":
                calls[node.target] = calls.get(node.target, 0) + 1
        for node in graph.nodes:
            if node.op != "call_module" or not isinstance(mods.get(node.target), nn.BatchNorm2d):
                continue
            if len(node.args) != 1 or node.kwargs:
                continue
            src = node.args[0]
            if not (isinstance(src, fx.Node) and src.op == "call_module"
                    and isinstance(mods.get(src.target), nn.Conv2d)):
                continue
            if len(src.users) != 1 or calls[src.target] != 1 or calls[node.target] != 1:
                continue
            pairs.append((prefix + src.target, prefix + node.target))

    visit(model, "")
    return pairs


@torch.no_grad()
def fold_conv_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> None:
    """Fold eval-mode ``bn`` into ``conv`` in place (float64 arithmetic, conv's dtype kept)."""
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError("cannot fold a BatchNorm without running statistics")
    dtype = conv.weight.dtype
    w = conv.weight.double()
    b = conv.bias.double() if conv.bias is not None else torch.zeros(w.shape[0], dtype=torch.float64,
                                                                      device=w.device)
    scale = torch.rsqrt(bn.running_var.double() + bn.eps)
    if bn.weight is not None:
        scale = scale * bn.weight.double()
    shift = -bn.running_mean.double() * scale
    if bn.bias is not None:
        shift = shift + bn.bias.double()
    new_w = (w * scale.reshape(-1, *([1] * (w.dim() - 1)))).to(dtype)
    new_b = (b * scale + shift).to(dtype)
    conv.weight = nn.Parameter(new_w.contiguous(), requires_grad=False)
    conv.bias = nn.Parameter(new_b, requires_grad=False)


def fold_batchnorm(model: nn.Module) -> list[tuple[str, str]]:
    """Fold every directly-following BatchNorm into its conv, in place; returns the pairs."""
    if model.training:
        raise ValueError("fold_batchnorm needs an eval-mode model (running statistics)")
    pairs = conv_bn_pairs(model)
    for conv_name, bn_name in pairs:
        fold_conv_bn(model.get_submodule(conv_name), model.get_submodule(bn_name))
        parent_name, _, attr = bn_name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, attr, nn.Identity())
    return pairs


# -- pixel shuffle that writes contiguous output ---------------------------------------------
def pixel_shuffle_contiguous(x: torch.Tensor, r: int) -> torch.Tensor:
    """``F.pixel_shuffle(x, r)`` (same values), returned contiguous in one copy.

    On a channels-last ``x`` (B, H, W, J*r*r in memory), ``F.pixel_shuffle`` returns a
    channels-last tensor and making that contiguous costs a second full transposition;
    a view (B, H, W, J, r, r) permuted to (B, J, H, r, W, r) is one strided copy.
    """
    b, c, h, w = x.shape
    j = c // (r * r)
    y = x.permute(0, 2, 3, 1).reshape(b, h, w, j, r, r)
    return y.permute(0, 3, 1, 4, 2, 5).reshape(b, j, h * r, w * r)


class _ContiguousShuffle(nn.Module):
    """Replaces a ``Converge`` (grouped conv + pixel shuffle) in the optimised copy."""

    def __init__(self, converge: nn.Module) -> None:
        super().__init__()
        self.conv = converge.conv
        self.upscale = converge.upscale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return pixel_shuffle_contiguous(self.conv(x), self.upscale)


def _replace_pixel_shuffles(model: nn.Module) -> int:
    """Swap modules shaped like ``Converge`` (``conv`` + ``upscale``, forward = conv then
    ``F.pixel_shuffle``) for `_ContiguousShuffle`; returns how many were swapped."""
    try:
        from cephmark.models.srpose_head import Converge
    except ImportError:  # pragma: no cover
        return 0
    count = 0
    for name, mod in list(model.named_modules()):
        if type(mod) is Converge:
            parent_name, _, attr = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            setattr(parent, attr, _ContiguousShuffle(mod))
            count += 1
    return count


class _Float32(nn.Module):
    """Runs ``inner`` in float32 with autocast off (the heatmap output layer under amp)."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            return self.inner(x.float())


def _output_layers_fp32(model: nn.Module) -> int:
    """Wrap the head's ``converge`` layers (heatmap outputs) in `_Float32`."""
    converge = getattr(getattr(model, "head", None), "converge", None)
    if not isinstance(converge, nn.ModuleList):
        return 0
    count = 0
    for i, mod in enumerate(converge):
        if not isinstance(mod, (nn.Identity, _Float32)):
            converge[i] = _Float32(mod)
            count += 1
    return count


# -- the optimised model --------------------------------------------------------------------
class InferenceModel(nn.Module):
    """Runs the folded model: channels-last input, optional autocast, float32 contiguous output."""

    name = "torch"  # the fast path's engine (see cephmark.inference.runtimes)

    def __init__(self, model: nn.Module, device: torch.device, channels_last: bool = True,
                 amp: torch.dtype | None = None) -> None:
        super().__init__()
        self.model = model
        self.device_type = device.type
        self.channels_last = channels_last
        self.amp = amp
        self.compiled: Any = None  # torch.compile'd self.model, when requested
        self.folded: list[tuple[str, str]] = []

    @property
    def arch(self):  # the CLDetectionModel's design, for callers that look it up
        return getattr(self.model, "arch", None)

    @property
    def num_landmarks(self) -> int:
        return self.model.num_landmarks

    def forward(self, x: torch.Tensor, **kwargs: Any):
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        fn = self.compiled if (self.compiled is not None and not kwargs) else self.model
        if self.amp is None:
            out = fn(x, **kwargs)
        else:
            with torch.autocast(self.device_type, dtype=self.amp):
                out = fn(x, **kwargs)
        if isinstance(out, torch.Tensor):
            return out.float().contiguous()
        return [o.float().contiguous() for o in out]


def optimize_for_inference(model: nn.Module, device: torch.device | str, compile: bool | str = False,
                           amp: str | torch.dtype | None = None, channels_last: bool = True,
                           fold_bn: bool = True, threads: int | None = None,
                           fp32_output: bool = True) -> InferenceModel:
    """A faster copy of ``model`` for inference on ``device``; ``model`` itself is not changed.

    ``amp``: ``"bf16"`` / ``"fp16"`` (or a dtype) runs the forward under autocast. Meant for
    CUDA; it also works on CPU (bf16 on AMX / AVX512-BF16 CPUs), but with random weights it
    moves points by far more than the 0.1 px that ``infer.fast`` promises: opt-in only, to be
    checked on trained weights. With ``fp32_output`` the heatmap output layers
    (``head.converge``) still run in float32, so the heatmaps are not quantised to bf16's
    8 mantissa bits (DARK would see plateaus).
    ``compile``: ``torch.compile`` the folded model (a string is passed as ``mode``, e.g.
    ``"max-autotune"``); meant for CUDA (on CPU it needs a C++ compiler and takes minutes).
    On CPU the intra-op thread count is capped at the usable cores (`set_inference_threads`);
    on CUDA ``torch.backends.cudnn.benchmark`` is switched on (process-wide).
    """
    device = torch.device(device)
    amp_dtype = _amp_dtype(amp)
    fast = copy.deepcopy(model).to(device).eval()
    for p in fast.parameters():
        p.requires_grad_(False)
    pairs = fold_batchnorm(fast) if fold_bn else []
    if channels_last:
        fast = fast.to(memory_format=torch.channels_last)
        _replace_pixel_shuffles(fast)
    if amp_dtype is not None and fp32_output:
        _output_layers_fp32(fast)
    wrapped = InferenceModel(fast, device, channels_last=channels_last, amp=amp_dtype).eval()
    wrapped.folded = pairs
    if device.type == "cpu":
        set_inference_threads(threads)
    elif device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    if compile:
        mode = compile if isinstance(compile, str) else None
        wrapped.compiled = torch.compile(fast, dynamic=False, mode=mode)
    log.debug("optimize_for_inference: %d conv/bn pairs folded, channels_last=%s, amp=%s, compile=%s",
              len(pairs), channels_last, amp_dtype, compile)
    return wrapped

