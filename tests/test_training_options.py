"""Less common fine-tuning options: base landmarks kept, AMP, workers, disk cache, separate
validation set, sigma curriculum, training from scratch with backbone weights."""
from __future__ import annotations

import logging

import pytest
import torch

from cephmark.landmarks import CLDETECTION_38
from cephmark.models.checkpoint import load_model, read_checkpoint
from cephmark.training import finetune
from cephmark.training.model_setup import build_model

from test_training_helpers import make_label_studio, needs_data, small_config, tiny_ckpt  # noqa: F401

pytestmark = needs_data


def test_keep_base_workers_cache_and_val_annotations(tiny_ckpt, tmp_path, caplog):
    train = make_label_studio(tmp_path / "train.json", 2)
    val = make_label_studio(tmp_path / "val.json", 1, start=2)
    rows = []
    cfg = small_config(tiny_ckpt, train, tmp_path / "out", epochs=1, keep_base_landmarks=True,
                       workers=2, cache_dir=str(tmp_path / "cache"),
                       val_annotations=str(val), sigma_curriculum=2.0, foreground_weight=1.0)
    with caplog.at_level(logging.INFO, logger="cephmark.training"):
        result = finetune(cfg, callback=rows.append)
    assert "keeping 38 base landmarks" in caplog.text
    assert result.landmark_names == CLDETECTION_38 + ["p1", "p2"]
    assert len(rows) == 1 and rows[0]["n"] == 2  # one validation image, p1 + p2 (base: no labels)
    assert rows[0]["sigma"] == pytest.approx(2 * 6.0 * 192 / 1024)
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 3
    loaded = load_model(result.checkpoint)
    assert loaded.landmark_names == CLDETECTION_38 + ["p1", "p2"]
    assert loaded.model.num_landmarks == 40 and loaded.preprocess["antialias"] is True


def test_from_scratch_with_backbone_weights_and_amp(tiny_ckpt, tmp_path, caplog):
    ann = make_label_studio(tmp_path / "a.json", 2)
    src = read_checkpoint(tiny_ckpt)["state_dict"]
    weights = {k: v for k, v in src.items() if k.startswith("backbone.")}
    weights["backbone.classifier.weight"] = torch.zeros(3, 3)  # not in the feature model: ignored
    torch.save({"state_dict": weights}, tmp_path / "hrnet_tiny.pth")
    cfg = small_config(tiny_ckpt, ann, tmp_path / "out", epochs=1, val_fraction=0.0, arch="tiny",
                       backbone_weights=str(tmp_path / "hrnet_tiny.pth"), amp=True)  # bf16 on CPU
    cfg.train.cldetection_model = None
    with caplog.at_level(logging.INFO, logger="cephmark.training"):
        result = finetune(cfg)
    report = read_checkpoint(result.checkpoint)["backbone_weights_report"]
    assert report["matched"] == len(weights) - 1 == report["backbone_tensors"]
    assert report["unexpected"] == ["classifier.weight"] and not report["missing"]
    state = result.model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in weights.items() if k in state)  # frozen
    assert "RANDOM" not in caplog.text
    # without weights: a clear warning
    cfg.train.backbone_weights = None
    with caplog.at_level(logging.WARNING, logger="cephmark.training"):
        build_model(cfg, ["p1", "p2"])
    assert "RANDOM weights" in caplog.text
