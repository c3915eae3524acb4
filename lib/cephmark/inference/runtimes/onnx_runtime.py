"""ONNX Runtime (CPU): the folded network exported to ONNX, run by ``onnxruntime``.

Needs the optional ``onnxruntime`` and ``onnx`` packages (``pip install cephmark[onnxruntime]``;
torch's exporter needs ``onnx``). The ONNX file is kept in the converted-network cache.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

NAME = "onnxruntime"
_ONNX = "model.onnx"


def version() -> str:
    import onnx  # noqa: F401  (the exporter needs it: fail here, before any work)
    import onnxruntime

    return onnxruntime.__version__


def convert(model: nn.Module, n: int, folder: Path) -> None:
    """``model`` (float32, channels-first) -> ``folder/model.onnx`` (batch axis dynamic)."""
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(1, 3, n, n),), str(folder / _ONNX), dynamo=False,
                          opset_version=17, input_names=["x"], output_names=["heatmaps"],
                          dynamic_axes={"x": {0: "batch"}, "heatmaps": {0: "batch"}})


class OnnxRuntime:
    """Callable like the torch model, one image per ``run`` (thread-safe: ORT sessions are)."""

    name = NAME

    def __init__(self, entry: Path, threads: int, num_landmarks: int) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(entry / _ONNX), opts, providers=["CPUExecutionProvider"])
        self.num_landmarks = num_landmarks

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        outs = [torch.from_numpy(self.session.run(None, {"x": xi.contiguous().numpy()})[0])
                for xi in x.detach().float().cpu().split(1)]
        return torch.cat(outs)
