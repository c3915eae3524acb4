"""``infer.fast``: BatchNorm folding, channels-last, windowed DARK decoding (cephmark.inference.fast)."""
from __future__ import annotations

import copy

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from cephmark.codecs import HeatmapCodec
from cephmark.config import CephConfig
from cephmark.inference import LandmarkPredictor
from cephmark.inference.fast import (FastHeatmapCodec, InferenceModel, conv_bn_pairs,
                                     fold_batchnorm, optimize_for_inference)
from conftest import save_reference_container

pytestmark = pytest.mark.usefixtures("torch_threads")


def smooth_output_layer(model: nn.Module, sigma: float = 1.5) -> nn.Module:
    """Final layer -> Gaussian upsampler, so heatmaps are smooth peaks (as a trained model's).

    On pixel-noise heatmaps (random output layer) DARK's Newton step is ill-conditioned and
    any fp32 reordering moves points; see benchmarks/bench_inference.py.
    """
    conv, r = model.head.converge[3].conv, model.head.converge[3].upscale
    j = model.num_landmarks
    out_c, e, k, _ = conv.weight.shape
    u = torch.arange(k, dtype=torch.float64) - k // 2
    w = torch.zeros(out_c, e, k, k, dtype=torch.float64)
    mix = torch.linspace(0.5, 1.0, e, dtype=torch.float64)
    for a in range(r):
        for b in range(r):
            dy, dx = (a + 0.5) / r - 0.5, (b + 0.5) / r - 0.5
            ker = torch.exp(-((u[:, None] - dy) ** 2 + (u[None, :] - dx) ** 2) / (2 * sigma**2))
            for jj in range(j):
                w[jj * r * r + a * r + b] = (mix / mix.sum())[:, None, None] * ker / ker.sum()
    with torch.no_grad():
        conv.weight.copy_(w.float())
        conv.bias.zero_()
    return model


# -- folding and channels-last ----------------------------------------------------------------

def test_folded_channels_last_equals_original(tiny_model_factory):
    model = tiny_model_factory(5)
    n_bn = sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    fast = optimize_for_inference(model, torch.device("cpu"))
    assert isinstance(fast, InferenceModel)
    assert len(fast.folded) == n_bn == 65  # every BatchNorm follows a conv directly
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fast.modules())
    assert fast.model.backbone.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    x = torch.randn(2, 3, 128, 128, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        ref = model(x)
        out = fast(x)
        ref_ds, out_ds = model(x, deep_supervision=True), fast(x, deep_supervision=True)
    assert out.dtype == torch.float32 and out.is_contiguous()
    assert out.shape == ref.shape == (2, 5, 128, 128)
    assert ref.abs().max() > 0.1  # not a degenerate all-zero comparison
    assert (out - ref).abs().max().item() < 1e-4
    for a, b in zip(ref_ds, out_ds):
        assert a.shape == b.shape and (a - b).abs().max().item() < 1e-4


def test_caller_model_is_not_changed(tiny_model_factory):
    model = tiny_model_factory(5)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    kinds = [type(m) for m in model.modules()]
    grads = [p.requires_grad for p in model.parameters()]
    fast = optimize_for_inference(model, "cpu")
    assert fast.model is not model
    after = model.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(v.is_contiguous() for v in after.values())  # still channels-first
    assert [type(m) for m in model.modules()] == kinds  # BatchNorms still there
    assert [p.requires_grad for p in model.parameters()] == grads
    assert not any(p.requires_grad for p in fast.parameters())


def test_only_direct_conv_bn_pairs_are_folded():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.bn_a = nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4)  # conv -> bn
            self.b, self.bn_b = nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4)  # conv output reused
            self.c, self.bn_c = nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4)  # relu in between
            self.seq = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4))

        def forward(self, x):
            x = self.bn_a(self.a(x))
            y = self.b(x)
            x = self.bn_b(y) + y
            x = self.bn_c(torch.relu(self.c(x)))
            return self.seq(x)

    net = Net()
    g = torch.Generator().manual_seed(0)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(4, generator=g))
            m.running_var.copy_(torch.rand(4, generator=g) + 0.5)
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.uniform_(m.bias, -0.5, 0.5)
    net.eval()
    assert conv_bn_pairs(net) == [("a", "bn_a"), ("seq.0", "seq.1")]
    x = torch.randn(1, 3, 16, 16, generator=g)
    with torch.no_grad():
        ref = net(x)
        folded = copy.deepcopy(net)
        fold_batchnorm(folded)
        out = folded(x)
    assert isinstance(folded.bn_a, nn.Identity) and isinstance(folded.seq[1], nn.Identity)
    assert isinstance(folded.bn_b, nn.BatchNorm2d) and isinstance(folded.bn_c, nn.BatchNorm2d)
    assert folded.seq[0].bias is not None  # bias-free conv gains the BatchNorm's shift
    assert torch.allclose(out, ref, atol=1e-5, rtol=1e-5)


def test_bf16_autocast_option_keeps_output_layer_fp32(tiny_model_factory):
    model = tiny_model_factory(2)
    fast = optimize_for_inference(model, "cpu", amp="bf16")
    assert fast.amp == torch.bfloat16
    assert type(fast.model.head.converge[3]).__name__ == "_Float32"
    with torch.inference_mode():
        out = fast(torch.randn(1, 3, 64, 64))
    assert out.dtype == torch.float32 and out.shape == (1, 2, 64, 64) and torch.isfinite(out).all()


# -- decoding ---------------------------------------------------------------------------------

def _gauss(h, w, x, y, sigma, peak=1.0):
    ys, xs = np.mgrid[0:h, 0:w]
    return (peak * np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma**2))).astype(np.float32)


def reference_decode(heatmaps: np.ndarray, kernel: int = 11) -> tuple[np.ndarray, np.ndarray]:
    """The reference's decode, written from its README: full-map blur, rescale, log, Newton."""
    heatmaps = np.asarray(heatmaps, dtype=np.float32)
    j, h, w = heatmaps.shape
    flat = heatmaps.reshape(j, -1)
    idx = flat.argmax(axis=1)
    scores = flat[np.arange(j), idx]
    xy = np.stack([idx % w, idx // w], axis=1).astype(np.float32)
    xy[scores <= 0] = -1
    b = (kernel - 1) // 2
    for k in np.flatnonzero(scores > 0):
        x, y = int(xy[k, 0]), int(xy[k, 1])
        if not (1 < x < w - 2 and 1 < y < h - 2):
            continue
        hm = heatmaps[k]
        padded = np.zeros((h + 2 * b, w + 2 * b), np.float32)
        padded[b:-b, b:-b] = hm
        blurred = cv2.GaussianBlur(padded, (kernel, kernel), 0)[b:-b, b:-b]
        blurred = blurred * (hm.max() / blurred.max())
        lg = np.log(np.maximum(blurred, np.float32(1e-10)))
        dx = 0.5 * (lg[y, x + 1] - lg[y, x - 1])
        dy = 0.5 * (lg[y + 1, x] - lg[y - 1, x])
        dxx = 0.25 * (lg[y, x + 2] - 2 * lg[y, x] + lg[y, x - 2])
        dxy = 0.25 * (lg[y + 1, x + 1] - lg[y - 1, x + 1] - lg[y + 1, x - 1] + lg[y - 1, x - 1])
        dyy = 0.25 * (lg[y + 2, x] - 2 * lg[y, x] + lg[y - 2, x])
        if dxx * dyy - dxy**2 != 0:
            off = -np.linalg.inv(np.array([[dxx, dxy], [dxy, dyy]])) @ np.array([[dx], [dy]])
            xy[k] += off[:, 0].astype(np.float32)
    return xy, scores


def _assert_same(heat):
    """FastHeatmapCodec = the reference arithmetic, bit for bit; HeatmapCodec within 1e-3 px."""
    xy, scores = reference_decode(heat)
    fast = FastHeatmapCodec().decode(heat)
    assert np.array_equal(fast.scores, scores) and np.array_equal(fast.found, scores > 0)
    assert np.array_equal(fast.xy, xy), np.abs(fast.xy - xy).max()
    plain = HeatmapCodec().decode(heat)
    assert np.array_equal(plain.found, fast.found)
    assert np.abs(plain.xy - fast.xy).max() < 1e-3


def test_fast_codec_equals_reference_codec_bit_for_bit():
    rng = np.random.default_rng(0)
    h = w = 96
    maps = [
        _gauss(h, w, 40.3, 37.8, 3.0),
        _gauss(h, w, 40.3, 37.8, 3.0) + rng.normal(0, 0.02, (h, w)).astype(np.float32),
        _gauss(h, w, 20.2, 30.7, 2.0) + _gauss(h, w, 70.6, 60.1, 2.0, 0.999),  # two far peaks
        _gauss(h, w, 50.0, 50.0, 6.0) - 0.4,  # blurred max from a wide peak, negatives around
        rng.normal(0, 1, (h, w)).astype(np.float32),  # noise: no window is small -> full blur
        np.round(rng.normal(0, 1, (h, w))).astype(np.float32),  # plateaus and ties
        _gauss(h, w, 1.0, 50.0, 2.0),  # peak at the border: no refinement
        -np.ones((h, w), np.float32),  # maximum <= 0: not found
        np.zeros((h, w), np.float32),
    ]
    _assert_same(np.stack(maps))


def test_fast_codec_on_reference_vectors(tiny_reference_dirs):
    from cephmark.transforms import Box

    for ref in tiny_reference_dirs.values():
        arrays = ref.arrays()
        for key in ("heatmaps_flip_averaged", "heatmaps_single_pass"):
            _assert_same(arrays[key])
        h, w = cv2.imread(str(ref.image), cv2.IMREAD_UNCHANGED).shape[:2]
        dec = FastHeatmapCodec().decode(arrays["heatmaps_flip_averaged"])
        xy = Box.whole_image(w, h).to_image(dec.xy, ref.image_size)
        assert np.abs(xy - arrays["keypoints_xy"]).max() < 1e-3
        assert np.array_equal(dec.scores, arrays["keypoint_scores"].astype(np.float32))


# -- the predictor --------------------------------------------------------------------------

def test_predictor_fast_matches_exact(tiny_model_factory, isbi_image, tmp_path):
    model = smooth_output_layer(tiny_model_factory(5))
    ckpt = save_reference_container(model, tmp_path / "tiny5.pth")
    common = {"preprocess.image_size": 256, "infer.device": "cpu"}
    exact = LandmarkPredictor(ckpt, CephConfig(), overrides={**common, "infer.fast": False})
    fast = LandmarkPredictor(ckpt, CephConfig(), overrides={**common, "infer.fast": True})
    assert isinstance(fast.model, InferenceModel) and isinstance(fast.codec, FastHeatmapCodec)
    assert not isinstance(exact.model, InferenceModel)
    for flip in (True, False):
        exact.config.preprocess.flip_test = fast.config.preprocess.flip_test = flip
        a, b = exact.predict_one(isbi_image), fast.predict_one(isbi_image)
        assert [lm.found for lm in a.landmarks] == [lm.found for lm in b.landmarks]
        assert all(lm.x is not None for lm in a.landmarks)  # random weights: some may lie outside
        d = max(np.hypot(p.x - q.x, p.y - q.y) for p, q in zip(a.landmarks, b.landmarks))
        assert d < 0.1, f"flip={flip}: points differ by {d:.3f} px"


def test_predictor_fast_matches_exact_on_the_trained_starter(isbi_image):
    """The bundled starter model (trained, real heatmaps) at its own 512: well within 0.1 px."""
    from cephmark.weights import STARTER

    if not STARTER.is_file():
        pytest.skip("bundled starter model not installed")
    exact = LandmarkPredictor(STARTER, CephConfig(), overrides={"infer.fast": False, "infer.device": "cpu"})
    fast = LandmarkPredictor(STARTER, CephConfig(), overrides={"infer.fast": True, "infer.device": "cpu"})
    assert not fast.config.preprocess.flip_test  # never trained on mirrored faces: no flip test
    a, b = exact.predict_one(isbi_image), fast.predict_one(isbi_image)
    assert [lm.found for lm in a.landmarks] == [lm.found for lm in b.landmarks]
    d = max(np.hypot(p.x - q.x, p.y - q.y) for p, q in zip(a.landmarks, b.landmarks) if p.found)
    assert d < 0.01, f"points differ by {d:.4f} px"
