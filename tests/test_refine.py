"""Crop refiners: training boxes around the labelled landmarks (``finetune --crop-size``) and the
second pass of ``cephmark predict/evaluate --refine-checkpoint`` (tiny models, CPU)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from cephmark.annotations import read_annotations
from cephmark.cli.main import main
from cephmark.config import CephConfig
from cephmark.training.dataset import LandmarkDataset

from test_training_helpers import IMAGES, make_label_studio, needs_data, tiny_ckpt  # noqa: F401

pytestmark = needs_data
CROP, NR = 128, 64  # refiner: 128 original pixels -> 64 x 64 input (cache factor 0.5)


def _crop_config(train: bool) -> CephConfig:
    cfg = CephConfig()
    cfg.preprocess.image_size = NR
    cfg.update({"train": {"crop_size": CROP, "augment": train}})
    return cfg


def test_crop_training_boxes_are_centred_on_the_landmarks(tmp_path):
    ann = read_annotations(make_label_studio(tmp_path / "ls.json", 3), IMAGES).subset(["p1", "p2"])
    ds = LandmarkDataset(ann, ["p1", "p2"], _crop_config(train=False), train=False)
    for i in range(len(ds)):
        item = ds[i]
        xy = item["xy"].numpy()
        assert item["image"].shape == (3, NR, NR) and item["weight"].tolist() == [1.0, 1.0]
        # exact up to the cache's per-axis rounding (box scaled by the width-based factor)
        np.testing.assert_allclose(xy.mean(axis=0), [NR / 2, NR / 2], atol=0.3)
        # |p1 - p2| ~ 91.6 original px -> x 0.5 in the input
        assert abs(np.linalg.norm(xy[0] - xy[1]) - 91.6 * NR / CROP) < 2.0
        assert ds.cache.get(ds.items[i].image_path).factor == pytest.approx(NR / CROP, rel=1e-3)
    # augmented: the centre moves by at most jitter (0.15) x N per axis (+ rotation / scale)
    aug = LandmarkDataset(ann, ["p1", "p2"], _crop_config(train=True), train=True, cache=ds.cache)
    aug.set_random_state(0)
    offsets = np.array([aug[0]["xy"].numpy().mean(axis=0) - NR / 2 for _ in range(8)])
    assert np.abs(offsets).max() <= 0.15 * NR * 1.15 + 1.0
    assert np.abs(offsets).max() > 0.5  # the jitter is applied


@pytest.fixture(scope="module")
def trained(tiny_ckpt, tmp_path_factory):
    """A coarse p1/p2 model (whole image, N=128) and a refiner (crop 128 px -> 64), 1 epoch each
    through the real CLI, on 4 ISBI images (+ 1 validation image)."""
    d = tmp_path_factory.mktemp("refine")
    train = make_label_studio(d / "train.json", 4)
    val = make_label_studio(d / "val.json", 1, start=4)
    config = d / "ft.yaml"
    config.write_text("train:\n  warmup_iters: 1\n  lr_schedule: constant\n  foreground_weight: 10.0\n")
    common = ["finetune", "--cldetection-model", str(tiny_ckpt), "--annotations", str(train),
              "--val-annotations", str(val), "--image-dir", str(IMAGES), "--landmarks", "p1,p2",
              "--init-from", "nasion,nasion", "--epochs", "1", "--batch-size", "2", "--lr", "0.003",
              "--workers", "0", "--device", "cpu", "--config", str(config)]
    assert main(common + ["--image-size", "128", "--output", str(d / "coarse")]) == 0
    assert main(common + ["--image-size", str(NR), "--crop-size", str(CROP),
                          "--output", str(d / "refiner")]) == 0
    return d / "coarse" / "checkpoint_p1_p2_cldetection.pth", d / "refiner" / "checkpoint_p1_p2_cldetection.pth"


def test_refiner_checkpoint_records_its_crop(trained):
    from cephmark.models.checkpoint import read_checkpoint

    pre = read_checkpoint(trained[1])["preprocess"]
    assert pre["crop_size"] == CROP and pre["image_size"] == NR and pre["flip_test"] is False
    assert read_checkpoint(trained[0])["preprocess"]["crop_size"] is None


def test_predict_with_refiner_returns_points_inside_the_crop(trained, tmp_path, capsys):
    from cephmark.inference import LandmarkPredictor
    from cephmark.inference.refine import RefinedPredictor

    coarse_ckpt, refiner_ckpt = trained
    image = IMAGES / "001.jpg"
    out = tmp_path / "refined.json"
    assert main(["predict", str(image), "--checkpoint", str(coarse_ckpt), "--refine-checkpoint",
                 str(refiner_ckpt), "--device", "cpu", "--out", str(out)]) == 0
    refined = {lm["name"]: lm for lm in json.loads(out.read_text())["images"][0]["landmarks"]}
    assert set(refined) == {"p1", "p2"}

    coarse = LandmarkPredictor(coarse_ckpt, CephConfig.from_dict({"infer": {"device": "cpu"}}))
    c = coarse.predict_one(image)
    found = [(lm.x, lm.y) for lm in c.landmarks if lm.found]
    assert found, "the 1-epoch coarse model found nothing: cannot place the crop"
    centre = np.mean(found, axis=0)
    for name in ("p1", "p2"):
        lm, co = refined[name], c.point(name)
        if abs(co.x - centre[0]) > CROP / 2 or abs(co.y - centre[1]) > CROP / 2:
            assert (lm["x"], lm["y"]) == (co.x, co.y)  # outside the crop: the coarse point stays
        elif lm["found"]:
            assert abs(lm["x"] - centre[0]) <= CROP / 2 + 1 and abs(lm["y"] - centre[1]) <= CROP / 2 + 1
    # the API gives the same points
    api = RefinedPredictor(coarse, refiner_ckpt).predict_one(image)
    for name in ("p1", "p2"):
        if refined[name]["found"]:
            assert api.point(name).x == pytest.approx(refined[name]["x"], abs=1e-6)


def test_refiner_landmarks_missing_from_the_coarse_model_is_an_error(trained, tiny_ckpt, capsys):
    # the tiny reference model has the 38 CL-Detection landmarks, no p1/p2
    rc = main(["predict", str(IMAGES / "001.jpg"), "--checkpoint", str(tiny_ckpt), "--image-size", "128",
               "--refine-checkpoint", str(trained[1]), "--device", "cpu"])
    err = capsys.readouterr().err
    assert rc == 2 and "not outputs of the coarse model" in err and "p1" in err


def test_a_refiner_is_not_a_coarse_model(trained, capsys):
    rc = main(["predict", str(IMAGES / "001.jpg"), "--checkpoint", str(trained[1]), "--device", "cpu"])
    assert rc == 2 and "--refine-checkpoint" in capsys.readouterr().err


def _identity_refiner(coarse_ckpt, refiner_ckpt, shift: float):
    """A RefinedPredictor whose refiner network is replaced by the identity (heatmaps = the first
    two input channels as pixel / 255), so the crop / shift / canvas geometry can be checked exactly."""
    from cephmark.inference import LandmarkPredictor
    from cephmark.inference.refine import RefinedPredictor

    cfg = CephConfig.from_dict({"infer": {"device": "cpu", "refine_shift": shift}})
    pred = RefinedPredictor(LandmarkPredictor(coarse_ckpt, cfg), refiner_ckpt)
    pre = pred.refiner.config.preprocess
    pred.refiner.heatmaps = lambda x: (x[:, :2] * pre.std + pre.mean) / 255.0
    return pred


@pytest.mark.parametrize("shift", [2.0, 6.0])
def test_shifted_crops_are_aligned_on_the_canvas(trained, shift):
    from cephmark.io import read_image
    from cephmark.transforms.affine import Box

    pred = _identity_refiner(*trained, shift=shift)
    image = read_image(IMAGES / "001.jpg")
    box = Box(1650.0, 980.0, CROP)  # the ruler of 001 (textured, so misplacement shows)
    canvas, pad = pred.shifted_heatmaps(image, box, shift)
    assert pad == round(shift / (CROP / NR)) and canvas.shape == (2, NR + 2 * pad, NR + 2 * pad)
    centre = pred.refiner.heatmaps(__import__("torch").from_numpy(pred.crop_input(image, box))[None]).numpy()[0]
    # where all 9 boxes overlap, each sees exactly the centre box's pixels: the mean equals them
    np.testing.assert_allclose(canvas[:, 2 * pad:NR, 2 * pad:NR], centre[:, pad:NR - pad, pad:NR - pad], atol=1e-5)
    assert centre.max() - centre.min() > 0.3  # a real (textured) crop, so the check has teeth
    # the centre box's corner pixel is seen by 4 of the 9 boxes: the mean there is shrunk to 4/9
    np.testing.assert_allclose(canvas[:, pad, pad], centre[:, 0, 0] * 4 / 9, atol=1e-5)


def test_shifted_refinement_decodes_a_peak_where_it_is(trained):
    peak = (212.0, 187.0)  # image pixels
    image = _blobs([(*peak, 255.0)])
    for shift in (0.0, 8.0):
        pred = _identity_refiner(*trained, shift=shift)
        out = pred.refine(image, _coarse_result((190.0, 200.0), (205.0, 170.0)))
        for name in ("p1", "p2"):
            lm = out.point(name)
            assert lm.found and abs(lm.x - peak[0]) < 0.5 and abs(lm.y - peak[1]) < 0.5, (shift, lm)


def _blobs(peaks: list[tuple[float, float, float]], size: int = 400):
    from cephmark.io import CephImage

    yy, xx = np.mgrid[0:size, 0:size]
    img = sum(v * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 6.0 ** 2)) for x, y, v in peaks)
    pixels = np.repeat(np.clip(img, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
    return CephImage(pixels=np.ascontiguousarray(pixels), path="blobs.png")


def _coarse_result(p1: tuple[float, float], p2: tuple[float, float]):
    from cephmark.inference.results import ImageResult, LandmarkResult

    return ImageResult("blobs.png", 400, 400, None, None, [
        LandmarkResult("p1", *p1, 1.0, True), LandmarkResult("p2", *p2, 1.0, True)])


def test_coarse_prior_keeps_a_landmark_off_a_brighter_look_alike(trained):
    image = _blobs([(200.0, 231.0, 255.0), (203.0, 171.0, 200.0)])  # p1's blob is the brighter
    coarse = _coarse_result((199.0, 228.0), (201.0, 174.0))
    plain = _identity_refiner(*trained, shift=0.0).refine(image, coarse)
    # without the prior both landmarks take the brightest peak: p2 lands on p1's blob
    assert abs(plain.point("p2").y - 231.0) < 1.0 and abs(plain.point("p1").y - 231.0) < 1.0
    pred = _identity_refiner(*trained, shift=0.0)
    pred.coarse.config.infer.refine_prior_sigma = 20.0
    out = pred.refine(image, _coarse_result((199.0, 228.0), (201.0, 174.0)))
    for name, (x, y) in {"p1": (200.0, 231.0), "p2": (203.0, 171.0)}.items():
        lm = out.point(name)
        assert abs(lm.x - x) < 0.5 and abs(lm.y - y) < 0.5, (name, lm)


def test_coarse_points_outside_the_crop_keep_their_coarse_values(trained):
    image = _blobs([(200.0, 231.0, 255.0)])
    pred = _identity_refiner(*trained, shift=0.0)
    # crop centre (200, 314): both points are 86 px from it, outside the 128 px box
    out = pred.refine(image, _coarse_result((199.0, 228.0), (201.0, 400.0)))
    assert [(lm.x, lm.y) for lm in out.landmarks] == [(199.0, 228.0), (201.0, 400.0)]
    # 50 px apart: both inside, both refined onto the blob
    out = pred.refine(image, _coarse_result((199.0, 228.0), (201.0, 178.0)))
    assert all(abs(lm.x - 200.0) < 0.5 and abs(lm.y - 231.0) < 0.5 for lm in out.landmarks)
