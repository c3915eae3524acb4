"""A head whose last ReLUs are off everywhere gives constant heatmaps: validation counts those
points as not found (a constant map's argmax, pixel (0, 0), is no prediction) and the trainer
says so by name, instead of reporting a "best" model with 2500 px errors."""
from __future__ import annotations

import logging

import torch

from cephmark.models.checkpoint import read_checkpoint
from cephmark.training import finetune

from test_training_helpers import ls4, needs_data, small_config, tiny_ckpt  # noqa: F401

pytestmark = needs_data


def _dead_source(tiny_ckpt, path):
    ckpt = read_checkpoint(tiny_ckpt)
    sd = ckpt["state_dict"]
    sd["head.kp_encoder.3.0.bias"] = torch.full_like(sd["head.kp_encoder.3.0.bias"], -1e4)
    torch.save(ckpt, path)
    return path


def test_constant_heatmaps_are_not_found_and_named(tiny_ckpt, ls4, tmp_path, caplog):
    dead = _dead_source(tiny_ckpt, tmp_path / "dead.pth")
    cfg = small_config(dead, ls4, tmp_path / "run", epochs=1, landmarks=["p1", "p2"],
                       init_from=["sella", "nasion"], patience=0, dead_head_restarts=0)
    with caplog.at_level(logging.WARNING, logger="cephmark"):
        result = finetune(cfg)
    row = result.history[-1]
    n_val = row["n"] // 2
    assert row["flat"] == 2 * n_val and row["missed"] == 2 * n_val
    assert any("p1, p2: constant heatmaps" in r.getMessage() for r in caplog.records)


def test_a_dead_head_restarts_the_run_with_the_next_seed(tiny_ckpt, ls4, tmp_path, caplog):
    # the source's head is dead for every seed: two restarts (seeds 6, 7), then the warning
    dead = _dead_source(tiny_ckpt, tmp_path / "dead.pth")
    cfg = small_config(dead, ls4, tmp_path / "run", epochs=2, landmarks=["p1", "p2"],
                       init_from=["sella", "nasion"], patience=0, dead_head_restarts=2, seed=5)
    with caplog.at_level(logging.WARNING, logger="cephmark"):
        result = finetune(cfg)
    messages = [r.getMessage() for r in caplog.records]
    restarts = [m for m in messages if "starting again with seed" in m]
    assert len(restarts) == 2 and "seed 6 (restart 1 of 2)" in restarts[0] and "seed 7" in restarts[1]
    assert "p1, p2: dead head after epoch 1" in restarts[0]
    assert any("p1, p2: constant heatmaps" in m for m in messages)  # the last attempt only warns
    assert [h["epoch"] for h in result.history] == [1, 2]  # the last attempt ran to the end
    assert cfg.train.seed == 5  # the caller's config is not changed
    ck = read_checkpoint(result.last)
    assert ck["train_config"]["seed"] == 7


def test_a_live_head_has_no_flat_maps(tiny_ckpt, ls4, tmp_path, caplog):
    cfg = small_config(tiny_ckpt, ls4, tmp_path / "run", epochs=1, landmarks=["p1", "p2"],
                       init_from=["sella", "nasion"], patience=0)
    with caplog.at_level(logging.WARNING, logger="cephmark"):
        result = finetune(cfg)
    assert result.history[-1]["flat"] == 0
    assert not any("constant heatmaps" in r.getMessage() for r in caplog.records)
