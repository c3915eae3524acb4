"""Stage 1 (frozen backbone) and stage 2 (backbone trainable at lr x 0.1)."""
from __future__ import annotations

import threading

import pytest
import torch

from cephmark.models.arch import ModelArch
from cephmark.models.checkpoint import read_checkpoint
from cephmark.models.cldetection import CLDetectionModel
from cephmark.training import finetune
from cephmark.training.model_setup import set_backbone_frozen

from test_training_helpers import ls4, needs_data, small_config, tiny_ckpt  # noqa: F401


def test_frozen_backbone_stays_in_eval_mode():
    model = CLDetectionModel(ModelArch.preset("tiny", 2))
    set_backbone_frozen(model, True)
    model.train()
    assert model.training and model.head.training
    assert not any(m.training for m in model.backbone.modules())
    assert not any(p.requires_grad for p in model.backbone.parameters())
    assert all(p.requires_grad for p in model.head.parameters())
    # BatchNorm statistics do not move in a training-mode forward
    before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    model(torch.randn(2, 3, 64, 64))
    assert all(torch.equal(before[k], v) for k, v in model.backbone.state_dict().items())
    set_backbone_frozen(model, False)
    model.train()
    assert all(m.training for m in model.backbone.modules())
    assert all(p.requires_grad for p in model.backbone.parameters())
    model.eval()
    assert not any(m.training for m in model.modules())


@needs_data
def test_stage1_keeps_backbone_bit_identical_and_stage2_changes_it(tiny_ckpt, ls4, tmp_path):
    source = read_checkpoint(tiny_ckpt)["state_dict"]
    backbone0 = {k: v for k, v in source.items() if k.startswith("backbone.")}
    out = tmp_path / "run"
    lr = 2e-3
    common = dict(unfreeze_after=1, lr=lr, warmup_iters=0, lr_schedule="constant", patience=0)
    r1 = finetune(small_config(tiny_ckpt, ls4, out, epochs=1, **common))
    assert [h["stage"] for h in r1.history] == [1]
    state1 = r1.model.state_dict()
    assert len(backbone0) > 100
    for k, v in backbone0.items():  # weights, running stats and num_batches_tracked
        assert torch.equal(state1[k], v), k
    head_keys = [k for k in state1 if k.startswith("head.") and "converge.3" in k]
    last = read_checkpoint(r1.last)
    groups = last["optimizer"]["param_groups"]
    assert [g["name"] for g in groups] == ["head", "backbone"]
    assert groups[0]["lr"] == pytest.approx(lr) and groups[1]["lr"] == pytest.approx(lr * 0.1)
    assert last["history"][0]["lr_backbone"] == pytest.approx(lr * 0.1)
    # Adam has state only for the head after stage 1
    n_head = len(list(r1.model.head.parameters()))
    assert set(last["optimizer"]["state"]) == set(range(n_head))

    # stage 2: resume the same run for a second epoch with the backbone unfrozen
    stop = threading.Event()
    r2 = finetune(small_config(tiny_ckpt, ls4, out, epochs=3, resume=str(r1.last), **common),
                  callback=lambda row: stop.set(), stop=stop)  # stop after epoch 2
    assert [h["stage"] for h in r2.history] == [1, 2]
    state2 = r2.model.state_dict()
    changed = [k for k, v in backbone0.items() if not torch.equal(state2[k], v)]
    assert any(k.endswith(".weight") for k in changed)
    assert any(k.endswith("running_mean") for k in changed)
    nbt = [k for k in backbone0 if k.endswith("num_batches_tracked")]
    assert all(int(state2[k]) == int(backbone0[k]) + 2 for k in nbt)  # 2 steps in epoch 2
    assert any(not torch.equal(state2[k], state1[k]) for k in head_keys)
    groups = read_checkpoint(r2.last)["optimizer"]["param_groups"]
    assert groups[0]["lr"] == pytest.approx(lr) and groups[1]["lr"] == pytest.approx(lr * 0.1)
    assert read_checkpoint(r2.last)["epoch"] == 2  # stop.set() ended training after epoch 2
