"""Partial unfreezing (train.trainable_backbone) and the intensity augmentation scale."""
from __future__ import annotations

import pytest
import torch

from cephmark.models.arch import ModelArch
from cephmark.models.cldetection import CLDetectionModel
from cephmark.training.dataset import intensity_transforms
from cephmark.training.model_setup import set_backbone_frozen


def _trainable_parts(model):
    return sorted({n.split(".")[0] for n, p in model.backbone.named_parameters() if p.requires_grad})


def test_only_named_parts_train_in_stage_2():
    model = CLDetectionModel(ModelArch.preset("tiny", 3))
    set_backbone_frozen(model, True)
    assert _trainable_parts(model) == []
    set_backbone_frozen(model, False, ["stage4", "transition3"])
    model.train()
    assert _trainable_parts(model) == ["stage4", "transition3"]
    assert not model.backbone.stage2.training and not model.backbone.bn1.training  # statistics kept
    assert model.backbone.stage4.training and model.head.training
    set_backbone_frozen(model, False, ["all"])
    model.train()
    assert "stage2" in _trainable_parts(model) and model.backbone.stage2.training
    with pytest.raises(ValueError, match="stage9"):
        set_backbone_frozen(model, False, ["stage9"])


def test_intensity_scale():
    assert intensity_transforms(0) == []
    assert len(intensity_transforms(1.0)) == 4 and len(intensity_transforms(2.0)) == 5
    x = {"image": torch.full((3, 32, 32), 128.0)}
    outs = []
    for seed in range(20):
        t = intensity_transforms(2.0)
        for tr in t:
            if hasattr(tr, "set_random_state"):
                tr.set_random_state(seed)
        y = dict(x)
        for tr in t:
            y = tr(y)
        outs.append(float(torch.as_tensor(y["image"]).mean()))
        assert 0.0 <= float(torch.as_tensor(y["image"]).min()) <= float(torch.as_tensor(y["image"]).max()) <= 255.0
    assert max(outs) - min(outs) > 20  # strong: grey levels move a lot across draws
