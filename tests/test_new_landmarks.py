"""Heads for new landmarks: copying base landmarks' blocks, keeping the base outputs intact."""
from __future__ import annotations

import pytest
import torch

from cephmark.landmarks import CLDETECTION_38
from cephmark.models.checkpoint import load_model, make_checkpoint, save_atomic
from cephmark.models.new_landmarks import build_landmark_head, resolve_sources

pytestmark = pytest.mark.usefixtures("torch_threads")

NEW = ["p1", "p2", "p3"]
SOURCES = ["nasion", "sella", "menton"]
TOL = 1e-6


@pytest.fixture(scope="module")
def base(tiny_model_factory):
    return tiny_model_factory(38, seed=3)


@pytest.fixture(scope="module")
def x():
    torch.manual_seed(11)
    return torch.randn(2, 3, 64, 64)


def _run(model, x, deep=False):
    with torch.inference_mode():
        return model.eval()(x, deep_supervision=deep)


def test_base_model_is_nontrivial(base, x):
    """Guard: BatchNorm stats are random and the base heatmaps differ between landmarks."""
    bn = base.head.pre_fuse[0][1]
    assert not torch.allclose(bn.running_mean, torch.zeros_like(bn.running_mean))
    assert not torch.allclose(bn.running_var, torch.ones_like(bn.running_var))
    out = _run(base, x)
    assert out.shape == (2, 38, 64, 64)
    assert out.std() > 1e-3
    assert (out[:, 0] - out[:, 1]).abs().max() > 1e-3


def test_keep_base_outputs_unchanged_and_new_equal_sources(base, x):
    model, names = build_landmark_head(base, CLDETECTION_38, NEW, init_from=SOURCES, keep_base=True)
    assert names == CLDETECTION_38 + NEW
    assert model.num_landmarks == 41 and model.arch.num_landmarks == 41
    assert base.num_landmarks == 38  # the base model is not modified
    ref, out = _run(base, x), _run(model, x)
    assert out.shape == (2, 41, 64, 64)
    assert (out[:, :38] - ref).abs().max() <= TOL
    for k, src in enumerate(SOURCES):
        s = CLDETECTION_38.index(src)
        assert (out[:, 38 + k] - ref[:, s]).abs().max() <= TOL, (NEW[k], src)
    # the deep-supervision outputs follow the same rule at every level
    ref_ds, out_ds = _run(base, x, deep=True), _run(model, x, deep=True)
    for r, o in zip(ref_ds, out_ds):
        assert (o[:, :38] - r).abs().max() <= TOL
        assert (o[:, 38] - r[:, CLDETECTION_38.index("nasion")]).abs().max() <= TOL


def test_new_landmarks_do_not_feed_back(base):
    model, _ = build_landmark_head(base, CLDETECTION_38, NEW, init_from=SOURCES, keep_base=True)
    w = model.state_dict()["head.lr_fuse.0.weight"]
    assert torch.equal(w[:, 38:], torch.zeros_like(w[:, 38:]))
    assert torch.equal(w[:, :38], base.state_dict()["head.lr_fuse.0.weight"])
    # the shared trunk is copied, not re-initialised
    for key, value in base.state_dict().items():
        if key.startswith("backbone.") or key.startswith("head.post_fuse") or key.startswith("head.fuse"):
            assert torch.equal(model.state_dict()[key], value), key


def test_without_keep_base_only_new_landmarks(base, x):
    model, names = build_landmark_head(base, CLDETECTION_38, NEW[:2], init_from=["menton", "porion"])
    assert names == NEW[:2] and model.num_landmarks == 2
    out = _run(model, x)
    assert out.shape == (2, 2, 64, 64)
    sd, bsd = model.state_dict(), base.state_dict()
    m, p = CLDETECTION_38.index("menton"), CLDETECTION_38.index("porion")
    assert torch.equal(sd["head.lr_head.0.weight"], bsd["head.lr_head.0.weight"][[m, p]])
    e = base.head.embed[3]
    assert torch.equal(sd["head.kp_encoder.3.0.weight"][e:2 * e], bsd["head.kp_encoder.3.0.weight"][p * e:(p + 1) * e])
    r2 = 4 ** base.head.upscale_exp[3]
    assert torch.equal(sd["head.converge.3.conv.weight"][:r2], bsd["head.converge.3.conv.weight"][m * r2:(m + 1) * r2])
    assert torch.equal(sd["head.lr_fuse.0.weight"], torch.zeros_like(sd["head.lr_fuse.0.weight"]))


@pytest.mark.parametrize("fresh", [None, "none", "fresh", ""])
def test_fresh_initialisation(base, fresh):
    init = None if fresh is None else ["sella", fresh]
    model, names = build_landmark_head(base, CLDETECTION_38, ["p1", "p2"], init_from=init, keep_base=True)
    sd, bsd = model.state_dict(), base.state_dict()
    rows = bsd["head.lr_head.0.weight"]
    new_row = sd["head.lr_head.0.weight"][39]
    assert not any(torch.equal(new_row, rows[i]) for i in range(38))  # not a copy of any base one
    assert new_row.abs().sum() > 0
    e = base.head.embed[3]
    block = sd["head.kp_encoder.3.0.weight"][39 * e:40 * e]
    assert not any(torch.equal(block, bsd["head.kp_encoder.3.0.weight"][i * e:(i + 1) * e]) for i in range(38))
    if fresh is not None:
        assert torch.equal(sd["head.lr_head.0.weight"][38], rows[CLDETECTION_38.index("sella")])
    assert bool((sd["head.lr_fuse.0.weight"][:, 38:] == 0).all())
    # a fresh head's output starts at exactly zero (converge blocks zero; kp_encoder random)
    r2 = 4 ** base.head.upscale_exp[3]
    assert bool((sd["head.converge.3.conv.weight"][39 * r2:40 * r2] == 0).all())
    assert bool((sd["head.converge.3.conv.bias"][39 * r2:40 * r2] == 0).all())
    model.eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 64, 64))
    assert bool((out[0, 39] == 0).all())
    if fresh is not None:  # p1 copies sella: a real map
        assert out[0, 38].abs().max() > 0


def test_sources_by_index():
    assert resolve_sources(["a", "b"], ["3", "sella"], CLDETECTION_38) == [3, 0]


@pytest.mark.parametrize("init_from, words", [
    (["nasion", "no_such_point"], ["no_such_point", "p2"]),
    (["Nasion", "sella"], ["Nasion", "p1"]),
    (["nasion"], ["1", "2"]),  # one source for two landmarks
    (["nasion", "sella", "menton"], ["3", "2"]),
    (["nasion", "38"], ["38"]),  # index out of range
])
def test_bad_init_from_is_a_clear_error(base, init_from, words):
    with pytest.raises(ValueError) as err:
        build_landmark_head(base, CLDETECTION_38, ["p1", "p2"], init_from=init_from, keep_base=True)
    msg = str(err.value)
    for w in words:
        assert w in msg, msg


def test_duplicate_names_rejected(base):
    with pytest.raises(ValueError, match="sella"):
        build_landmark_head(base, CLDETECTION_38, ["sella"], init_from=["nasion"], keep_base=True)


def test_checkpoint_round_trip_with_names(base, x, tmp_path):
    model, names = build_landmark_head(base, CLDETECTION_38, NEW, init_from=SOURCES, keep_base=True)
    path = save_atomic(make_checkpoint(model, names, epoch=0), tmp_path / "ft" / "model.pth")
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.pth"]
    loaded = load_model(path, names=["ignored"] * 41)
    assert loaded.landmark_names == names
    assert loaded.names_from_checkpoint is True
    assert loaded.model.arch.to_dict() == model.arch.to_dict()
    assert loaded.info["epoch"] == 0
    sd = model.state_dict()
    assert all(torch.equal(v, sd[k]) for k, v in loaded.model.state_dict().items())
    assert torch.equal(_run(loaded.model, x), _run(model, x))
