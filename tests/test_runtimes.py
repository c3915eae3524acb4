"""The fast path is the default and agrees with ``--exact``; engines, fallback and their cache."""
from __future__ import annotations

import copy
import logging
import os

import numpy as np
import pytest
import torch

from cephmark.config import CephConfig
from cephmark.inference import LandmarkPredictor
from cephmark.inference import runtimes
from cephmark.inference.fast import InferenceModel
from cephmark.inference.runtimes.cache import cached_entry, fingerprint
from conftest import TINY_NAMES

pytestmark = pytest.mark.usefixtures("torch_threads")

ENGINES = [name for name in ("openvino", "onnxruntime") if runtimes.available(name)]


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CEPHMARK_CACHE_DIR", str(tmp_path / "cache"))


def _points(result) -> np.ndarray:
    """Positions (NaN where none: a landmark outside the image keeps its position, found or not)."""
    return np.array([(lm.x, lm.y) if lm.x is not None else (np.nan, np.nan) for lm in result.landmarks],
                    dtype=np.float64)


def _max_distance(a, b) -> float:
    pa, pb = _points(a), _points(b)
    assert [lm.found for lm in a.landmarks] == [lm.found for lm in b.landmarks], "found / not found differ"
    assert np.array_equal(np.isnan(pa[:, 0]), np.isnan(pb[:, 0]))
    ok = ~np.isnan(pa[:, 0])
    assert ok.any()
    return float(np.linalg.norm(pa[ok] - pb[ok], axis=1).max())


def test_fast_path_is_the_default():
    cfg = CephConfig()
    assert cfg.infer.fast is True and cfg.infer.backend == "auto"


@pytest.mark.parametrize("backend", ["auto", "torch"] + ENGINES)
@pytest.mark.parametrize("name", TINY_NAMES)
def test_default_path_agrees_with_exact_on_reference_vectors(name, backend, tiny_reference_dirs):
    """Points of the default (fast) path within 0.01 px of ``--exact`` on the reference cases,
    flip test on and off; ``--exact`` itself reproduces the recorded reference keypoints."""
    ref = tiny_reference_dirs[name]
    common = {"preprocess.image_size": ref.image_size, "infer.device": "cpu"}
    exact = LandmarkPredictor(ref.checkpoint, CephConfig(), overrides={**common, "infer.fast": False})
    default = LandmarkPredictor(ref.checkpoint, CephConfig(),
                                overrides=common if backend == "auto" else {**common, "infer.backend": backend})
    assert type(exact.model).__name__ == "CLDetectionModel"
    assert type(default.model).__name__ != "CLDetectionModel"
    for flip in (True, False):
        exact.config.preprocess.flip_test = default.config.preprocess.flip_test = flip
        a, b = exact.predict_one(ref.image), default.predict_one(ref.image)
        d = _max_distance(a, b)
        assert d < 0.01, f"{name}, {backend}, flip={flip}: default path {d:.4f} px from --exact"
        if flip:
            want = ref.arrays()["keypoints_xy"]
            assert np.abs(_points(a) - want).max() < 1e-3


def test_auto_falls_back_to_torch_with_a_log_line(monkeypatch, caplog, tiny_model_factory):
    monkeypatch.setattr(runtimes, "available", lambda name: torch.__version__ if name == "torch" else None)
    with caplog.at_level(logging.WARNING, logger="cephmark.inference.runtimes"):
        assert runtimes.choose_backend("auto", torch.device("cpu")) == "torch"
    assert any("install openvino" in r.getMessage() for r in caplog.records)
    model = tiny_model_factory(2)
    runtime = runtimes.build_runtime(model, torch.device("cpu"), 64)
    assert isinstance(runtime, InferenceModel)
    with pytest.raises(ValueError, match="pip install openvino"):
        runtimes.choose_backend("openvino", torch.device("cpu"))
    with pytest.raises(ValueError, match="unknown infer.backend 'tensorrt'"):
        runtimes.choose_backend("tensorrt", torch.device("cpu"))


@pytest.mark.skipif(not ENGINES, reason="no optional engine (openvino, onnxruntime) installed")
@pytest.mark.parametrize("engine", ENGINES)
def test_engine_conversion_is_cached(engine, tiny_model_factory, tmp_path, monkeypatch):
    """A second runtime for the same weights loads the cached conversion; other weights do not."""
    module = runtimes._engine(engine)
    calls = []
    convert = module.convert
    monkeypatch.setattr(module, "convert", lambda *a: calls.append(1) or convert(*a))
    cache = tmp_path / "engines"
    model = tiny_model_factory(3)
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    outs = []
    for _ in range(2):
        rt = runtimes.build_runtime(model, torch.device("cpu"), 64, engine, str(cache))
        outs.append(rt(x))
    assert len(calls) == 1
    assert len([p for p in cache.iterdir() if p.name.startswith(engine + "-")]) == 1
    with torch.inference_mode():
        assert (outs[1] - model(x)).abs().max() < 1e-4
    runtimes.build_runtime(tiny_model_factory(3, seed=1), torch.device("cpu"), 64, engine, str(cache))
    assert len(calls) == 2


def test_cache_entries_are_published_whole(tmp_path):
    root = tmp_path / "cache"
    built = []

    def build(folder):
        built.append(folder)
        (folder / "model.bin").write_bytes(b"weights")

    entry = cached_entry(root, "k1", build)
    assert (entry / "model.bin").read_bytes() == b"weights"
    assert cached_entry(root, "k1", build) == entry and len(built) == 1

    def failing(folder):
        (folder / "half").write_bytes(b"x")
        raise RuntimeError("conversion failed")

    with pytest.raises(RuntimeError, match="conversion failed"):
        cached_entry(root, "k2", failing)
    assert sorted(os.listdir(root)) == ["k1"]  # no half-written entry, no temporary folder


def test_fingerprint_follows_weights_and_input_size(tiny_model_factory):
    a, b = tiny_model_factory(2), tiny_model_factory(2)
    assert fingerprint(a, (1, 3, 64, 64), "x") == fingerprint(b, (1, 3, 64, 64), "x")
    assert fingerprint(a, (1, 3, 64, 64), "x") != fingerprint(a, (1, 3, 96, 96), "x")
    with torch.no_grad():
        b.head.converge[3].conv.bias.add_(1e-6)
    assert fingerprint(a, (1, 3, 64, 64), "x") != fingerprint(b, (1, 3, 64, 64), "x")
    # channels-last weights (1 x 1 convs get strides a plain byte view rejects): same values, same key
    cl = copy.deepcopy(a).to(memory_format=torch.channels_last)
    assert fingerprint(cl, (1, 3, 64, 64), "x") == fingerprint(a, (1, 3, 64, 64), "x")


def test_cli_speed_options():
    from cephmark.cli.predict import build_parser
    from cephmark.cli.common import speed_overrides

    p = build_parser()
    assert speed_overrides(p.parse_args(["x.png"])) == {"infer.fast": None, "infer.backend": None}
    assert speed_overrides(p.parse_args(["x.png", "--exact"]))["infer.fast"] is False
    assert speed_overrides(p.parse_args(["x.png", "--backend", "torch"])) == {
        "infer.fast": True, "infer.backend": "torch"}
    with pytest.raises(ValueError, match="--exact"):
        speed_overrides(p.parse_args(["x.png", "--exact", "--backend", "openvino"]))
