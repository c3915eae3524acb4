"""Shared pieces for the fine-tuning tests: a tiny reference-format checkpoint, small Label
Studio exports of the shared ISBI images, a config and a CLI runner. Other test modules
import the fixtures from here."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cephmark.config import CephConfig
from cephmark.landmarks import CLDETECTION_38
from conftest import SHARED

DATA = SHARED / "data" / "isbi2015"
IMAGES = DATA / "images"
P1P2 = DATA / "annotations_p1_p2.json"
N = 192  # network input size for the tests

needs_data = pytest.mark.skipif(not P1P2.is_file(), reason="shared ISBI data not available")


def make_tiny_reference(path: Path, seed: int = 0) -> Path:
    """A reference-format container ({'state_dict', 'meta'}) of a tiny 38-landmark model."""
    from cephmark.models.arch import ModelArch
    from cephmark.models.cldetection import CLDetectionModel

    torch.manual_seed(seed)
    model = CLDetectionModel(ModelArch.preset("tiny", 38))
    # non-trivial BatchNorm statistics, so "unchanged" is a meaningful check
    with torch.no_grad():
        for name, buf in model.named_buffers():
            if name.endswith("running_mean"):
                buf.normal_(0, 0.1)
            elif name.endswith("running_var"):
                buf.uniform_(0.5, 1.5)
    meta = {"epoch": 1, "dataset_meta": {"keypoint_id2name": dict(enumerate(CLDETECTION_38))}}
    torch.save({"state_dict": model.state_dict(), "meta": meta}, path)
    return path


def make_label_studio(path: Path, count: int, start: int = 0) -> Path:
    """The first ``count`` tasks (from ``start``) of the shared p1/p2 export."""
    tasks = json.loads(P1P2.read_text())
    path.write_text(json.dumps(tasks[start:start + count]))
    return path


def small_config(ckpt: Path, annotations: Path, output: Path, **train) -> CephConfig:
    cfg = CephConfig()
    cfg.preprocess.image_size = N
    options = dict(cldetection_model=str(ckpt), annotations=str(annotations), image_dir=str(IMAGES),
                   output=str(output), batch_size=2, epochs=2, val_fraction=0.25, warmup_iters=2,
                   seed=0, device="cpu")
    cfg.update({"train": {**options, **train}})
    return cfg


def cli_env(threads: int = 1) -> dict:
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), PYTHONUNBUFFERED="1")
    env.pop("WORLD_SIZE", None)
    return env


def finetune_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "cephmark", "finetune", *map(str, args)]


def run_cli(args: list[str], threads: int = 2, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(args, env=cli_env(threads), capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory) -> Path:
    return make_tiny_reference(tmp_path_factory.mktemp("tiny") / "tiny_j38.pth")


@pytest.fixture(scope="session")
def ls4(tmp_path_factory) -> Path:
    return make_label_studio(tmp_path_factory.mktemp("ls") / "p1p2_4.json", 4)


@needs_data
def test_tiny_reference_checkpoint_loads_with_names(tiny_ckpt):
    from cephmark.models.checkpoint import load_model

    loaded = load_model(tiny_ckpt)
    assert loaded.landmark_names == CLDETECTION_38 and loaded.model.num_landmarks == 38
