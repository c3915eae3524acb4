"""Fine-tuning takes its preprocessing from the source checkpoint unless told otherwise, says
so, and names its best checkpoint after the landmarks it trains."""
from __future__ import annotations

import csv
import json
import logging

import pytest

from cephmark.config import CephConfig
from cephmark.models.arch import ModelArch
from cephmark.models.checkpoint import make_checkpoint, read_checkpoint, save_atomic
from cephmark.models.cldetection import CLDetectionModel
from cephmark.training import finetune
from cephmark.training.source_preprocess import inherit_source_preprocess
from cephmark.training.trainer import checkpoint_name

from test_training_helpers import DATA, IMAGES, make_label_studio, needs_data, tiny_ckpt  # noqa: F401

SOURCE_PRE = {"image_size": 96, "padding": 1.2, "mean": 100.0, "std": 70.0, "flip_test": True,
              "antialias": True}
LOG = "cephmark.training"


@pytest.fixture(scope="module")
def cephmark_source(tmp_path_factory):
    """A tiny 19-landmark cephmark checkpoint trained (so it says) at 96 px, mean 100, std 70."""
    model = CLDetectionModel(ModelArch.preset("tiny", 19))
    names = [f"lm{i}" for i in range(19)]
    path = tmp_path_factory.mktemp("src") / "src96.pth"
    save_atomic(make_checkpoint(model, names, preprocess=dict(SOURCE_PRE),
                                codec={"sigma_at_1024": 8.0, "blur_kernel": 11}), path)
    return path


def test_not_given_entries_come_from_the_source(cephmark_source, caplog):
    cfg = CephConfig().update({"train.cldetection_model": str(cephmark_source)})
    with caplog.at_level(logging.INFO, logger=LOG):
        out = inherit_source_preprocess(cfg)
    assert (out.preprocess.image_size, out.preprocess.padding) == (96, 1.2)
    assert (out.preprocess.mean, out.preprocess.std, out.codec.sigma_at_1024) == (100.0, 70.0, 8.0)
    assert cfg.preprocess.image_size == 1024  # the caller's config is untouched
    assert "preprocessing from the source checkpoint" in caplog.text and "image_size 96" in caplog.text


def test_given_entries_win_with_a_warning(cephmark_source, tmp_path, caplog):
    yaml_file = tmp_path / "c.yaml"
    yaml_file.write_text("preprocess:\n  std: 70.0\ncodec:\n  sigma_at_1024: 6.0\n")
    cfg = CephConfig.from_yaml(yaml_file).update({"train.cldetection_model": str(cephmark_source),
                                                  "preprocess.image_size": 128})
    with caplog.at_level(logging.INFO, logger=LOG):
        out = inherit_source_preprocess(cfg)
    assert (out.preprocess.image_size, out.codec.sigma_at_1024) == (128, 6.0)  # given: kept
    assert (out.preprocess.mean, out.preprocess.std) == (100.0, 70.0)  # taken / same as given
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2 and "preprocess.image_size = 128 was given" in warnings[0]
    assert "trained with 96" in warnings[0]


def test_reference_checkpoint_without_record_keeps_defaults(tiny_ckpt, caplog):
    cfg = CephConfig().update({"train.cldetection_model": str(tiny_ckpt)})
    with caplog.at_level(logging.INFO, logger=LOG):
        out = inherit_source_preprocess(cfg)
    assert out.preprocess.image_size == 1024 and "records no preprocessing" in caplog.text


def test_checkpoint_names():
    assert checkpoint_name(None, ["p1", "p2"]) == "checkpoint_p1_p2_cldetection.pth"
    assert checkpoint_name(None, [f"l{i}" for i in range(19)]) == "checkpoint_19_landmarks_cldetection.pth"
    assert checkpoint_name(None, ["a/b"]) == "checkpoint_1_landmarks_cldetection.pth"
    assert checkpoint_name("mine.pth", ["p1"]) == "mine.pth"


@needs_data
def test_finetune_without_image_size_trains_at_the_source_size(cephmark_source, tmp_path, caplog):
    """The issue's case: fine-tuning a 19-landmark model with no --image-size trains at the
    source's size (not the 1024 default) and does not call the result a p1/p2 model."""
    entries = [e for e in json.loads((DATA / "landmarks.json").read_text())][:3]
    names = [f"lm{i}" for i in range(19)]
    ann = tmp_path / "lm.csv"
    with open(ann, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["image", "landmark", "x", "y"])
        for e in entries:
            for name, (x, y) in zip(names, e["landmarks"].values()):
                w.writerow([str(IMAGES / e["image"].split("/")[-1]), name, x, y])
    cfg = CephConfig().update({"train": dict(
        cldetection_model=str(cephmark_source), annotations=str(ann), output=str(tmp_path / "out"),
        epochs=1, batch_size=2, val_fraction=0.34, warmup_iters=1, device="cpu", augment=False)})
    with caplog.at_level(logging.INFO, logger=LOG):
        result = finetune(cfg)
    assert result.checkpoint.name == "checkpoint_19_landmarks_cldetection.pth"
    assert sorted(p.name for p in result.checkpoint.parent.glob("*.pth")) == [
        "checkpoint_19_landmarks_cldetection.pth", "last.pth"]
    saved = read_checkpoint(result.checkpoint)["preprocess"]
    assert (saved["image_size"], saved["mean"], saved["std"]) == (96, 100.0, 70.0)
    assert "N=96" in caplog.text and "image_size 96" in caplog.text


@needs_data
def test_resume_takes_the_size_of_its_checkpoint(tmp_path, tiny_ckpt):
    ann = make_label_studio(tmp_path / "a.json", 3)
    base = {"cldetection_model": str(tiny_ckpt), "annotations": str(ann), "image_dir": str(IMAGES),
            "batch_size": 2, "val_fraction": 0.34, "warmup_iters": 1, "device": "cpu",
            "landmarks": ["p1", "p2"], "output": str(tmp_path / "out")}
    first = finetune(CephConfig().update({"preprocess.image_size": 96, "train": {**base, "epochs": 1}}))
    resumed = finetune(CephConfig().update({"train": {**base, "epochs": 2, "resume": str(first.last)}}))
    assert read_checkpoint(resumed.last)["preprocess"]["image_size"] == 96
    assert read_checkpoint(resumed.last)["epoch"] == 2
