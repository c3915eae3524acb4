"""`run_distributed`: the multi-process launcher the MONAI Label train task uses (gloo, CPU)."""
from __future__ import annotations

import json

import pytest
import torch

from cephmark.config import CephConfig
from cephmark.models.checkpoint import load_model
from cephmark.training.launch import run_distributed, write_config
from conftest import SHARED as SHARED_ROOT

SHARED = SHARED_ROOT / "data" / "isbi2015"


def test_write_config_round_trips(tmp_path):
    cfg = CephConfig().update({"train.epochs": 3, "train.landmarks": ["p1", "p2"], "preprocess.image_size": 128})
    back = CephConfig.from_yaml(write_config(cfg, tmp_path / "c.yaml"))
    assert back.to_dict() == cfg.to_dict()


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared ISBI data not present")
def test_two_processes_write_one_checkpoint(tmp_path):
    from cephmark.models.arch import ModelArch
    from cephmark.models.cldetection import CLDetectionModel

    torch.manual_seed(0)
    base = tmp_path / "base.pth"
    torch.save({"state_dict": CLDetectionModel(ModelArch.preset("tiny", 38)).state_dict(), "meta": {}}, base)
    tasks = json.loads((SHARED / "annotations_p1_p2.json").read_text())[:4]
    ann = tmp_path / "ls.json"
    ann.write_text(json.dumps(tasks))
    out = tmp_path / "out"
    cfg = CephConfig().update({
        "preprocess.image_size": 64, "train.cldetection_model": str(base), "train.annotations": str(ann),
        "train.image_dir": str(SHARED / "images"), "train.epochs": 1, "train.batch_size": 1,
        "train.val_fraction": 0.5, "train.output": str(out), "train.device": "cpu",
        "train.init_from": ["nasion", "nasion"], "train.landmarks": ["p1", "p2"]})
    best = run_distributed(cfg, 2, tmp_path, timeout=600)
    assert load_model(best).landmark_names == ["p1", "p2"]
    assert sorted(p.name for p in out.glob("*.pth")) == sorted([best.name, "last.pth"])
