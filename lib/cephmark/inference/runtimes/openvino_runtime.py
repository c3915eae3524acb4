"""OpenVINO (CPU): the folded network converted to OpenVINO IR, run in float32.

Needs the optional ``openvino`` package (``pip install cephmark[openvino]``). The IR is kept in
the converted-network cache (`cache.cached_entry`) and OpenVINO's own compiled-blob cache sits
beside it (``CACHE_DIR``), so a new process only loads. Inference precision is pinned to f32
(OpenVINO would pick bf16 on CPUs with AMX), weights are saved uncompressed (``save_model``
would store them as fp16 by default).
"""
from __future__ import annotations

import threading
from pathlib import Path

import torch
from torch import nn

NAME = "openvino"
_XML = "model.xml"


def version() -> str:
    import openvino

    return openvino.__version__


def convert(model: nn.Module, n: int, folder: Path) -> None:
    """``model`` (float32, channels-first) -> ``folder/model.xml`` + ``.bin`` for a 1 x 3 x n x n input."""
    import openvino as ov

    with torch.inference_mode():
        ov_model = ov.convert_model(model, example_input=torch.zeros(1, 3, n, n), input=[(1, 3, n, n)])
    ov.save_model(ov_model, str(folder / _XML), compress_to_fp16=False)


class OpenVINORuntime:
    """Callable like the torch model: (B, 3, N, N) tensor -> (B, J, N, N) float32 heatmaps,
    one image per inference request (batching the flipped pass saves nothing on a CPU)."""

    name = NAME

    def __init__(self, entry: Path, threads: int, num_landmarks: int) -> None:
        import openvino as ov

        core = ov.Core()
        core.set_property({"CACHE_DIR": str(entry.parent / "openvino_blobs")})
        self.compiled = core.compile_model(str(entry / _XML), "CPU", {
            "INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY",
            "NUM_STREAMS": "1", "INFERENCE_NUM_THREADS": str(threads)})
        self.num_landmarks = num_landmarks
        self._local = threading.local()  # one infer request per calling thread

    def _request(self):
        req = getattr(self._local, "request", None)
        if req is None:
            req = self._local.request = self.compiled.create_infer_request()
        return req

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        req = self._request()
        outs = []
        for xi in x.detach().float().cpu().split(1):
            req.infer({0: xi.contiguous().numpy()})
            outs.append(torch.from_numpy(req.get_output_tensor(0).data.copy()))
        return torch.cat(outs)
