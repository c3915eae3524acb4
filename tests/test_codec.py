"""HeatmapCodec: unbiased Gaussian encoding, argmax + DARK decoding and its special branches."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from cephmark.codecs import HeatmapCodec
from cephmark.config import CephConfig
from cephmark.inference import LandmarkPredictor
from cephmark.inference.results import write_results
from cephmark.models.checkpoint import LoadedModel

pytestmark = pytest.mark.usefixtures("torch_threads")


def gaussian(h: int, w: int, x: float, y: float, sigma: float = 2.0, peak: float = 1.0) -> np.ndarray:
    ys, xs = np.mgrid[0:h, 0:w]
    return (peak * np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma**2))).astype(np.float32)


# -- encode --------------------------------------------------------------------------------

@pytest.mark.parametrize("sigma", [2.0, 3.0, 4.5, 6.0])
def test_encode_decode_round_trip_subpixel(sigma):
    codec = HeatmapCodec(sigma=sigma)
    pts = torch.tensor([[40.3, 37.8], [51.62, 60.15], [33.5, 45.0], [58.91, 30.27]], dtype=torch.float32)
    heat = codec.encode(pts, (96, 96))
    assert heat.shape == (4, 96, 96)
    dec = codec.decode(heat.numpy())
    assert dec.found.all()
    err = np.abs(dec.xy - pts.numpy())
    assert err.max() < 0.05, f"sigma {sigma}: errors {err}"
    # the refinement is doing the work: the integer argmax alone is off by up to 0.5 px
    assert np.abs(np.round(pts.numpy()) - pts.numpy()).max() > 0.3
    assert np.allclose(dec.scores, heat.numpy().reshape(4, -1).max(axis=1))


def test_encode_batched_and_centred():
    codec = HeatmapCodec(sigma=3.0)
    pts = torch.tensor([[[10.0, 20.0], [30.25, 5.5]], [[0.0, 0.0], [47.0, 39.0]]], dtype=torch.float64)
    heat = codec.encode(pts, (40, 48))
    assert heat.shape == (2, 2, 40, 48) and heat.dtype == torch.float64
    assert heat[0, 0, 20, 10] == 1.0 and heat[1, 1, 39, 47] == 1.0
    expected = gaussian(40, 48, 30.25, 5.5, sigma=3.0).astype(np.float64)
    inside = heat[0, 1].numpy() > 0
    assert np.allclose(heat[0, 1].numpy()[inside], expected[inside], atol=1e-6)


@pytest.mark.parametrize("sigma", [2.0, 6.0])
def test_encode_is_untruncated_gaussian(sigma):
    """As MMPose's unbiased encoding: exp(-d^2 / 2 sigma^2) over the whole map, no cutoff."""
    codec = HeatmapCodec(sigma=sigma)
    cx, cy = 50.25, 49.5
    heat = codec.encode(torch.tensor([[cx, cy]], dtype=torch.float64), (101, 101))[0].numpy()
    ys, xs = np.mgrid[0:101, 0:101]
    d2 = ((xs - cx) ** 2 + (ys - cy) ** 2) / sigma**2
    assert np.allclose(heat, np.exp(-d2 / 2), rtol=1e-12, atol=0)
    assert heat[50, 50 + int(4 * sigma)] > 0  # beyond 3 sigma still non-zero
    wide = codec.encode(torch.tensor([[cx, cy]], dtype=torch.float64), (101, 101), sigma=2 * sigma)[0]
    assert wide[50, 80] > torch.tensor(heat[50, 80])


def test_in_bounds_three_sigma_rule():
    codec = HeatmapCodec(sigma=2.0)
    xy = torch.tensor([[-6.9, 10.0], [-7.1, 10.0], [69.9, 10.0], [70.0, 10.0], [10.0, -7.5]])
    assert codec.in_bounds(xy, (64, 64)).tolist() == [True, False, True, False, False]


# -- decode: border skip -------------------------------------------------------------------

H, W = 48, 64


@pytest.mark.parametrize("x, y, refined", [
    (1, 20, False),       # x = 1: no refinement
    (2, 20, True),        # first refined column
    (W - 2, 20, False),   # x = W - 2
    (W - 3, 20, True),
    (30, 1, False),       # y = 1
    (30, H - 2, False),   # y = H - 2
    (30, H - 3, True),
    (0, 0, False),
    (W - 1, H - 1, False),
])
def test_border_skip(x, y, refined):
    true_x, true_y = x + 0.3, y - 0.35  # a sub-pixel peak whose argmax is (x, y)
    heat = gaussian(H, W, true_x, true_y, sigma=2.0)
    assert divmod(int(heat.argmax()), W) == (y, x)
    dec = HeatmapCodec().decode(heat[None])
    assert dec.found[0]
    if refined:  # a step was taken (its accuracy near the zero-padded border is limited)
        assert dec.xy[0, 0] != x and dec.xy[0, 1] != y
        assert np.abs(dec.xy[0] - (x, y)).max() < 1.0
    else:
        assert dec.xy[0].tolist() == [float(x), float(y)]


# -- decode: maximum <= 0 ------------------------------------------------------------------

def test_nonpositive_maximum_is_not_found():
    heat = np.stack([
        gaussian(H, W, 20.4, 30.2, peak=0.8),
        gaussian(H, W, 20.4, 30.2, peak=0.8) - 1.0,   # maximum -0.2
        np.zeros((H, W), np.float32),                  # maximum exactly 0
        -np.ones((H, W), np.float32),
    ])
    dec = HeatmapCodec().decode(heat)
    assert dec.found.tolist() == [True, False, False, False]
    assert np.all(dec.xy[1:] == -1)
    assert dec.scores.tolist() == heat.reshape(4, -1).max(axis=1).tolist()
    assert dec.scores[1] < 0 and dec.scores[2] == 0
    assert abs(dec.xy[0, 0] - 20.4) < 0.05 and abs(dec.xy[0, 1] - 30.2) < 0.05


def test_predictor_reports_not_found_as_null(tiny_model_factory, tmp_path):
    model = tiny_model_factory(3)
    cfg = CephConfig()
    cfg.infer.device = "cpu"
    pred = LandmarkPredictor(LoadedModel(model, ["a", "b", "c"], True), cfg)
    n = 64
    heat = np.stack([gaussian(n, n, 30.4, 20.6, peak=0.7), -np.ones((n, n), np.float32),
                     np.zeros((n, n), np.float32)])
    meta = {"path": "img.png", "width": 160, "height": 200, "box": (80.0, 100.0, 250.0),
            "spacing_xy_mm": (0.1, 0.1), "spacing_source": "PixelSpacing"}
    res = pred.decode(heat, meta)
    a, b, c = res.landmarks
    assert a.found and a.x is not None and a.x_mm == pytest.approx(a.x * 0.1)
    # q / N * S + c - S / 2
    assert a.x == pytest.approx(pred.codec.decode(heat).xy[0, 0] / n * 250 + 80 - 125, abs=1e-9)
    for lm in (b, c):
        assert lm.found is False
        assert lm.x is None and lm.y is None and lm.x_mm is None and lm.y_mm is None
    assert b.score == -1.0 and c.score == 0.0
    write_results([res], tmp_path / "r.json")
    data = json.loads((tmp_path / "r.json").read_text())["images"][0]["landmarks"][1]
    assert data == {"name": "b", "x": None, "y": None, "score": -1.0, "found": False,
                    "x_mm": None, "y_mm": None, "status": "not_found",
                    "reasons": ["no heatmap peak above 0"]}


# -- decode: singular Hessian --------------------------------------------------------------

def test_singular_hessian_skips_refinement():
    """A positive peak pixel in a negative neighbourhood (as with random weights).

    After the blur the whole neighbourhood is <= 0, clamps to 1e-10, and the log-map is flat:
    the Hessian is exactly singular, so the integer argmax must be kept (inverting would fail).
    """
    heat = -np.ones((H, W), np.float32)
    heat[10, 20] = 0.9  # the argmax
    heat[30:45, 40:55] = 0.5  # a broad lower bump elsewhere keeps the blurred maximum positive
    codec = HeatmapCodec()
    lg = codec._blurred_log(heat)
    assert np.all(lg[8:13, 18:23] == lg[10, 20])  # flat: all derivatives zero
    dec = codec.decode(heat[None])
    assert dec.found[0]
    assert dec.xy[0].tolist() == [20.0, 10.0]
    assert dec.scores[0] == pytest.approx(0.9)


def test_singular_hessian_with_nonzero_gradient():
    """A ridge along y: dyy = dxy = 0 exactly while dx != 0; no step is taken."""
    lg = np.zeros((20, 20), np.float32)
    lg[:, :] = np.linspace(-3, 0, 20, dtype=np.float32)[None, :] ** 2 * -1
    x, y = 10, 10
    assert lg[y, x + 1] != lg[y, x - 1]
    assert HeatmapCodec._newton_step(lg, x, y).tolist() == [0.0, 0.0]
    # and a regular quadratic bowl does move the point (the same function is live)
    ys, xs = np.mgrid[0:20, 0:20]
    bowl = (-((xs - 10.3) ** 2) - (ys - 9.6) ** 2).astype(np.float32)
    step = HeatmapCodec._newton_step(bowl, x, y)
    assert step == pytest.approx([0.3, -0.4], abs=1e-4)


def test_even_blur_kernel_rejected():
    with pytest.raises(ValueError, match="odd"):
        HeatmapCodec(blur_kernel=10)
