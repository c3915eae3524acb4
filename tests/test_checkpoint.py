"""Checkpoints: the W48 / 38-landmark layout, safe loading, strict checking, clear errors."""
from __future__ import annotations

import argparse
import functools
import re

import numpy as np
import pytest
import torch

from cephmark.landmarks import CLDETECTION_38
from cephmark.models.arch import ModelArch, infer_arch
from cephmark.models.checkpoint import (CheckpointError, load_model, make_checkpoint, read_checkpoint,
                                        save_atomic, strict_check)
from cephmark.models.cldetection import CLDetectionModel
from cephmark.models.srpose_head import SRPoseHead

from conftest import save_reference_container

pytestmark = pytest.mark.usefixtures("torch_threads")


class CustomMeta:
    """A user class pickled into a checkpoint: must never be unpickled."""

    def __init__(self) -> None:
        self.value = 1


def _parse_shape(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in re.findall(r"\d+", text))


@pytest.fixture(scope="module")
def w48():
    """The full CL-Detection 2023 design (HRNet-W48, 38 landmarks); built once, no forward."""
    torch.manual_seed(0)
    return CLDetectionModel(ModelArch()).eval()


# -- the W48 / 38-landmark layout ---------------------------------------------------------

def test_w48_state_dict_names_and_shapes(w48, reference_dir):
    lines = (reference_dir / "full_w48_j38_state_dict_keys.tsv").read_text().splitlines()
    expected = {}
    for line in filter(None, lines):
        name, shape = line.split("\t")
        expected[name] = _parse_shape(shape)
    assert len(expected) == 1969
    got = {k: tuple(v.shape) for k, v in w48.state_dict().items()}
    assert len(got) == 1969
    assert sorted(set(expected) - set(got)) == [], "missing names"
    assert sorted(set(got) - set(expected)) == [], "unexpected names"
    wrong = {k: (got[k], expected[k]) for k in expected if got[k] != expected[k]}
    assert wrong == {}
    # same order as the released file lists them
    assert list(got) == list(expected)


def test_w48_parameter_counts_and_dtypes(w48):
    total = sum(p.numel() for p in w48.parameters())
    head = sum(p.numel() for p in w48.head.parameters())
    backbone = sum(p.numel() for p in w48.backbone.parameters())
    assert total == 66_816_510
    assert head == 1_491_390
    assert backbone == 65_325_120
    state = w48.state_dict()
    assert sum(k.startswith("backbone.") for k in state) == 1830
    counters = [k for k in state if k.endswith("num_batches_tracked")]
    assert len(counters) == 318
    assert all(state[k].dtype == torch.int64 and state[k].shape == () for k in counters)
    assert all(v.dtype == torch.float32 for k, v in state.items() if k not in counters)


def test_head_parameter_count_two_landmarks():
    head = SRPoseHead((384, 192, 96, 48), num_landmarks=2)
    assert sum(p.numel() for p in head.parameters()) == 1_227_114


def test_full_size_reference_container_loads_strictly(w48, tmp_path):
    """A file shaped like model_pretrained_on_train_and_val.pth: state_dict + numpy meta."""
    with torch.no_grad():  # distinguishable weights, so a load that silently skips shows
        for i, p in enumerate(w48.head.parameters()):
            p.fill_(0.001 * (i + 1))
    path = tmp_path / "model_pretrained_on_train_and_val.pth"
    save_reference_container(w48, path)
    assert path.stat().st_size > 250e6
    loaded = load_model(path)
    assert loaded.model.arch.num_landmarks == 38
    assert loaded.model.arch.hrnet == ModelArch().hrnet
    assert loaded.landmark_names == CLDETECTION_38
    assert loaded.names_from_checkpoint is False
    assert not loaded.model.training
    own, got = w48.state_dict(), loaded.model.state_dict()
    assert list(got) == list(own)
    assert all(torch.equal(own[k], got[k]) for k in own)
    meta = loaded.info["meta"]["dataset_meta"]
    assert meta["sigmas"].dtype == np.float32 and meta["keypoint_colors"].dtype == np.uint8


def test_infer_arch_on_reference_files(tiny_reference_dirs):
    for ref in tiny_reference_dirs.values():
        state = read_checkpoint(ref.checkpoint)["state_dict"]
        arch = infer_arch(state)
        assert arch.num_landmarks == ref.num_landmarks
        assert arch.hrnet == ModelArch.preset("tiny").hrnet
        assert arch.embed == (16, 8, 4, 4) and arch.upscale_exp == (3, 2, 1, 2)


def test_reference_names_from_dataset_meta(tiny_model_factory, tmp_path):
    model = tiny_model_factory(3)
    path = save_reference_container(model, tmp_path / "named.pth", dataset_meta={
        "keypoint_id2name": {0: "sella", 1: "nasion", 2: "menton"},
        "sigmas": np.full(3, 0.025, dtype=np.float32),
    })
    loaded = load_model(path, names=["x", "y", "z"])
    assert loaded.landmark_names == ["sella", "nasion", "menton"]
    assert loaded.names_from_checkpoint


# -- refusing anything but weights and plain metadata -------------------------------------

@pytest.mark.parametrize("obj, global_name", [
    (argparse.Namespace(lr=1e-3), "argparse.Namespace"),
    (CustomMeta(), f"{CustomMeta.__module__}.CustomMeta"),
    (functools.partial(max, 1), "functools.partial"),
], ids=["Namespace", "custom-class", "partial"])
def test_pickled_objects_are_refused(tmp_path, tiny_model_factory, obj, global_name):
    model = tiny_model_factory(2)
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": model.state_dict(), "meta": {"cfg": obj, "epoch": 3}}, path)
    for reader in (read_checkpoint, load_model):
        with pytest.raises(CheckpointError) as err:
            reader(path)
        msg = str(err.value)
        assert global_name in msg, msg
        assert str(path) in msg
        assert "refused" in msg


def test_numpy_metadata_is_accepted(tmp_path):
    meta = {"sigmas": np.linspace(0, 1, 5, dtype=np.float32), "colours": np.zeros((2, 3), np.uint8),
            "ids": np.arange(4, dtype=np.int64), "scale": np.float64(2.5), "flags": np.array([True]),
            "nested": [{"a": (1, 2.0, "x")}]}
    path = tmp_path / "meta.pth"
    torch.save({"state_dict": {"w": torch.ones(2)}, "meta": meta}, path)
    got = read_checkpoint(path)["meta"]
    for key in ("sigmas", "colours", "ids", "flags"):
        assert got[key].dtype == meta[key].dtype and np.array_equal(got[key], meta[key])
    assert got["scale"] == 2.5 and got["nested"] == meta["nested"]


# -- strict matching -----------------------------------------------------------------------

def test_strict_mismatch_lists_every_problem(tmp_path, tiny_model_factory):
    model = tiny_model_factory(2)
    state = dict(model.state_dict())
    missing = "head.fuse.1.bias"
    extra = "head.extra_layer.weight"
    wrong = "head.pre_fuse.2.0.weight"
    del state[missing]
    state[extra] = torch.zeros(3)
    state[wrong] = torch.zeros(5, 5, 1, 1)
    with pytest.raises(CheckpointError) as err:
        strict_check(model, state, "mine.pth")
    msg = str(err.value)
    for name in (missing, extra, wrong):
        assert name in msg, msg
    assert "missing" in msg and "unexpected" in msg and "shape" in msg

    # the same through load_model on a file in the reference container
    path = tmp_path / "bad.pth"
    torch.save({"state_dict": state, "meta": {}}, path)
    with pytest.raises(CheckpointError) as err:
        load_model(path)
    msg = str(err.value)
    assert all(name in msg for name in (missing, extra, wrong)), msg
    assert str(path) in msg


def test_cephmark_container_with_wrong_arch_is_refused(tmp_path, tiny_model_factory):
    model = tiny_model_factory(2)
    ckpt = make_checkpoint(model, ["a", "b"])
    ckpt["arch"] = ModelArch.preset("tiny", 3).to_dict()
    path = save_atomic(ckpt, tmp_path / "wrong.pth")
    with pytest.raises(CheckpointError, match="head.lr_head.0.weight"):
        load_model(path)


def test_not_a_model_state_dict(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"state_dict": {"fc.weight": torch.ones(2, 2)}, "meta": {}}, path)
    with pytest.raises(CheckpointError, match="conv1.weight"):
        load_model(path)
    torch.save([torch.ones(1)], path)
    with pytest.raises(CheckpointError, match="dict"):
        load_model(path)


# -- damaged files -------------------------------------------------------------------------

@pytest.mark.parametrize("keep", [0, 1, 2, 64, 0.5, -1], ids=lambda k: f"keep{k}")
def test_truncated_file_gives_clear_error(tmp_path, tiny_model_factory, keep):
    model = tiny_model_factory(2)
    good = tmp_path / "good.pth"
    torch.save({"state_dict": model.state_dict(), "meta": {}}, good)
    data = good.read_bytes()
    n = int(len(data) * keep) if isinstance(keep, float) else (len(data) + keep if keep < 0 else keep)
    path = tmp_path / "truncated.pth"
    path.write_bytes(data[:n])
    with pytest.raises(CheckpointError) as err:
        load_model(path)
    msg = str(err.value)
    assert str(path) in msg
    assert "not a readable checkpoint" in msg, msg
    assert "refused" not in msg, msg  # damage is not reported as a forbidden object
    assert not msg.rstrip().endswith(":"), msg  # the cause is stated


def test_text_file_and_missing_file(tmp_path):
    path = tmp_path / "notes.pth"
    path.write_text("these are not weights\n")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_model(path)
    with pytest.raises(CheckpointError, match="not found"):
        load_model(tmp_path / "absent.pth")


def test_save_atomic_leaves_no_temporary_files(tmp_path, tiny_model_factory):
    model = tiny_model_factory(2)
    path = save_atomic(make_checkpoint(model, ["a", "b"]), tmp_path / "sub" / "m.pth")
    assert [p.name for p in path.parent.iterdir()] == ["m.pth"]
    save_atomic(make_checkpoint(model, ["c", "d"]), path)  # overwrite in place
    assert [p.name for p in path.parent.iterdir()] == ["m.pth"]
    assert load_model(path).landmark_names == ["c", "d"]


@pytest.mark.parametrize("arch", ["tiny", 7, ["hrnet"], {"num_landmarks": 2}])
def test_cephmark_container_with_malformed_arch_is_a_clear_error(tmp_path, tiny_model_factory, arch):
    ckpt = make_checkpoint(tiny_model_factory(2), ["a", "b"])
    ckpt["arch"] = arch
    path = save_atomic(ckpt, tmp_path / "bad_arch.pth")
    with pytest.raises(CheckpointError, match=r"bad_arch\.pth: 'arch' must be the model design as a mapping"):
        load_model(path)
