"""Training data: cache geometry, visibility weights, flip pairs, worker seeding, read counts."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import cephmark.training.dataset as dataset_mod
from cephmark.annotations import AnnotatedImage, AnnotationSet, read_annotations
from cephmark.config import CephConfig
from cephmark.training import finetune
from cephmark.training.dataset import (
    ImageCache, LandmarkDataset, RandFlipPairsd, build_transforms, from_cached, to_cached,
    worker_init_fn,
)
from cephmark.transforms import Box

from test_training_helpers import (  # noqa: F401
    IMAGES, N, ls4, make_label_studio, needs_data, small_config, tiny_ckpt,
)

pytestmark = needs_data


def _cfg(augment=False, **train):
    cfg = CephConfig()
    cfg.preprocess.image_size = N
    cfg.train.augment = augment
    cfg.update({"train": train})
    return cfg


@pytest.fixture
def read_counter(monkeypatch):
    calls = []
    real = dataset_mod.read_image

    def counting(path, *a, **k):
        calls.append(str(path))
        return real(path, *a, **k)

    monkeypatch.setattr(dataset_mod, "read_image", counting)
    return calls


def test_cached_geometry_matches_antialiased_inference(ls4):
    from cephmark.transforms import inference_transforms

    ann = read_annotations(ls4, IMAGES)
    cfg = _cfg()
    ds = LandmarkDataset(ann, ["p1", "p2"], cfg, train=False)
    cfg.preprocess.antialias = True
    infer = inference_transforms(cfg.preprocess)
    for i in range(len(ds)):
        item = ds[i]
        im = ann.images[i]
        # the un-augmented training input is exactly what predict (antialias on) feeds the model
        ref = infer({"image": str(im.image_path)})
        assert torch.equal(item["image"], torch.as_tensor(np.asarray(ref["image"])))
        c = ds.cache.get(im.image_path)
        box = Box(*item["box"].tolist())
        assert box == Box.whole_image(im.width, im.height).scaled(c.factor)
        gt = np.array([im.points["p1"], im.points["p2"]])
        exact = box.to_input(to_cached(gt, c.scale), N)
        assert np.abs(item["xy"].numpy() - exact).max() < 1e-3
        # vs the un-resized mapping: only the cached grid's y rounding (< 0.5 cached px)
        inference = Box.whole_image(im.width, im.height).to_input(gt, N)
        assert np.abs(item["xy"].numpy() - inference).max() < 0.5
        # and back to original pixels, as validation does
        back = from_cached(box.to_image(item["xy"].numpy().astype(np.float64), N), c.scale)
        assert np.abs(back - gt).max() < 1e-3
    # the cached copy: long side N, INTER_AREA
    c = ds.cache.get(ann.images[0].image_path)
    assert max(c.pixels.shape[:2]) == N and c.pixels.dtype == np.uint8


def test_missing_and_outside_landmarks_get_weight_zero(ls4):
    ann = read_annotations(ls4, IMAGES)
    a, b = ann.images[:2]
    images = [AnnotatedImage(a.image_path, {"p1": (a.width / 2, a.height / 3)}, None, a.width, a.height),
              AnnotatedImage(b.image_path, {"p1": (5.0, 5.0), "p2": (b.width / 2, b.height / 2)},
                             None, b.width, b.height),
              AnnotatedImage(a.image_path, {}, None, a.width, a.height)]
    cfg = _cfg()
    cfg.preprocess.padding = 0.5  # a box half the image: the corner point falls outside
    ds = LandmarkDataset(AnnotationSet(images, ["p1", "p2"], "test"), ["p1", "p2"], cfg, train=False)
    assert len(ds) == 3  # no image is dropped
    assert ds[0]["weight"].tolist() == [1.0, 0.0]
    assert ds[1]["weight"].tolist() == [0.0, 1.0]
    assert ds[2]["weight"].tolist() == [0.0, 0.0]
    assert torch.isnan(ds[0]["gt"][1]).all() and torch.isfinite(ds[0]["xy"]).all()


def test_flip_only_with_declared_pairs():
    names = ["l_eye", "r_eye", "nose"]
    plain = build_transforms(_cfg(augment=True), names, train=True)
    assert not any(isinstance(t, RandFlipPairsd) for t in plain.transforms)
    cfg = _cfg(augment=True, flip_pairs=[["l_eye", "r_eye"]])
    flipping = build_transforms(cfg, names, train=True)
    assert any(isinstance(t, RandFlipPairsd) for t in flipping.transforms)
    with pytest.raises(ValueError, match="flip pair"):
        build_transforms(_cfg(augment=True, flip_pairs=[["l_eye", "chin"]]), names, train=True)

    img = np.zeros((8, 8, 3), np.uint8)
    img[2, 1] = 255
    lm = np.array([[1.0, 2.0], [6.0, 2.0], [3.0, 5.0]], np.float32)
    t = RandFlipPairsd("image", [(0, 1)], prob=1.0)
    out = t({"image": img, "landmarks": lm})
    assert out["image"][2, 6, 0] == 255  # column 1 -> 8 - 1 - 1
    np.testing.assert_allclose(out["landmarks"], [[1.0, 2.0], [6.0, 2.0], [4.0, 5.0]])  # swapped


def test_disk_cache_reused(ls4, tmp_path, read_counter):
    ann = read_annotations(ls4, IMAGES)
    first = ImageCache(N, tmp_path / "cache")
    a = [first.get(im.image_path).pixels for im in ann.images]
    assert len(read_counter) == len(ann.images)
    assert len(list((tmp_path / "cache").glob("*.npz"))) == len(ann.images)
    second = ImageCache(N, tmp_path / "cache")
    b = [second.get(im.image_path).pixels for im in ann.images]
    assert len(read_counter) == len(ann.images)  # nothing decoded again
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    other = ImageCache(N // 2, tmp_path / "cache")  # another size is another entry
    other.get(ann.images[0].image_path)
    assert len(read_counter) == len(ann.images) + 1


def test_worker_seeding_is_reproducible(ls4):
    ann = read_annotations(ls4, IMAGES)
    cfg = _cfg(augment=True, rotation_deg=10.0)
    ds = LandmarkDataset(ann, ["p1", "p2"], cfg, train=True)

    def draw(seed):
        g = torch.Generator().manual_seed(seed)
        loader = torch.utils.data.DataLoader(ds, batch_size=2, shuffle=True, num_workers=2,
                                             generator=g, worker_init_fn=worker_init_fn)
        return [(b["index"].tolist(), b["xy"].clone()) for b in loader]

    a, b, c = draw(1), draw(1), draw(2)
    assert all(x[0] == y[0] and torch.equal(x[1], y[1]) for x, y in zip(a, b))
    assert any(not torch.equal(x[1], y[1]) for x, y in zip(a, c))


def test_second_epoch_reads_no_image(tiny_ckpt, tmp_path, read_counter):
    ann = make_label_studio(tmp_path / "three.json", 3)
    reads_at_epoch_end = []
    cfg = small_config(tiny_ckpt, ann, tmp_path / "out", epochs=2, val_fraction=0.34)
    result = finetune(cfg, callback=lambda row: reads_at_epoch_end.append(len(read_counter)))
    assert [h["epoch"] for h in result.history] == [1, 2]
    assert reads_at_epoch_end == [3, 3]  # 2 training + 1 validation image, each decoded once
    assert sorted(set(read_counter)) == sorted(read_counter)
