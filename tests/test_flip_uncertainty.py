"""Flip only where the model learnt it, and the jitter uncertainty's geometry (CPU)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from cephmark.config import CephConfig
from cephmark.inference import LandmarkPredictor
from cephmark.inference.uncertainty import JITTERS, jitter_inputs, predict_with_uncertainty, unjitter_points
from cephmark.models.checkpoint import learnt_flip, load_model
from cephmark.weights import STARTER

from monailabel_helpers import tiny_cephmark_checkpoint, tiny_checkpoint
from test_training_helpers import IMAGES, needs_data


def test_learnt_flip_rules():
    assert learnt_flip({"state_dict": {}, "meta": {}})  # CL-Detection reference: its pipeline flips
    assert learnt_flip({"format": "cephmark", "flip_trained": True})
    assert not learnt_flip({"format": "cephmark", "flip_trained": False, "preprocess": {"flip_test": True}})
    # older cephmark files: flipped only with flip pairs and augmentation
    assert not learnt_flip({"format": "cephmark", "train_config": {"flip_pairs": None, "augment": True}})
    assert learnt_flip({"format": "cephmark", "train_config": {"flip_pairs": [["a", "b"]], "augment": True}})
    assert not learnt_flip({"format": "cephmark", "train_config": {"flip_pairs": [["a", "b"]], "augment": False}})


def test_predictor_flips_only_models_trained_on_mirrored_images(tmp_path):
    on = CephConfig.from_dict({"preprocess": {"flip_test": True, "image_size": 64}, "infer": {"device": "cpu"}})
    ref = LandmarkPredictor(tiny_checkpoint(tmp_path / "ref.pth"), on)
    assert ref.config.preprocess.flip_test
    plain = tiny_cephmark_checkpoint(tmp_path / "own.pth", ["p1", "p2"], flip_trained=False)
    assert not LandmarkPredictor(plain, on).config.preprocess.flip_test
    mirrored = tiny_cephmark_checkpoint(tmp_path / "own2.pth", ["p1", "p2"], flip_trained=True)
    assert LandmarkPredictor(mirrored, on).config.preprocess.flip_test


@pytest.mark.skipif(not STARTER.is_file(), reason="bundled starter model not installed")
def test_starter_runs_without_the_flip_test():
    loaded = load_model(STARTER)
    assert not loaded.learnt_flip and loaded.preprocess["flip_test"] is True  # the file's old claim
    assert not LandmarkPredictor(loaded, CephConfig()).config.preprocess.flip_test


@pytest.mark.parametrize("jitter", JITTERS + ((0.05, -0.03, 1.1, 7.0),))
def test_jittered_input_maps_back_to_the_plain_pixel(jitter):
    n = 128
    x = torch.zeros(1, 1, n, n)
    p = np.array([[40.0, 77.0]])
    yy, xx = torch.meshgrid(torch.arange(n, dtype=torch.float32), torch.arange(n, dtype=torch.float32), indexing="ij")
    x[0, 0] = torch.exp(-((xx - p[0, 0]) ** 2 + (yy - p[0, 1]) ** 2) / (2 * 3.0 ** 2))
    out = jitter_inputs(x, [jitter], fill=0.0)[0, 0].numpy()
    w = out / out.sum()  # centroid of the moved blob
    q = np.array([[float((w * xx.numpy()).sum()), float((w * yy.numpy()).sum())]])
    assert np.abs(q - p).max() > 1.0  # it moved
    np.testing.assert_allclose(unjitter_points(q, jitter, n), p, atol=0.15)


@needs_data
@pytest.mark.skipif(not STARTER.is_file(), reason="bundled starter model not installed")
def test_uncertainty_of_the_starter_is_its_own_prediction_plus_a_jitter_spread():
    pred = LandmarkPredictor(STARTER, CephConfig.from_dict({"infer": {"device": "cpu"}}))
    image = IMAGES / "001.jpg"
    ref = pred.predict_one(image)
    got, unc = predict_with_uncertainty(pred, image)
    assert [(a.x, a.y) for a in got.landmarks] == [(b.x, b.y) for b in ref.landmarks]
    assert unc.flip_px is None  # no mirrored pass for this model
    assert 0.1 < unc.jitter_px < 30 and unc.missing == 0 and len(unc.per_landmark_px) == 19
    assert unc.jitter_px == pytest.approx(np.mean(unc.per_landmark_px))
    assert 0 < unc.score_mean <= 1.5 and unc.value == pytest.approx(unc.jitter_px / unc.score_mean)
    assert unc.value_mm is None  # a JPEG: no pixel spacing
    assert math.isfinite(unc.jitter_px)
