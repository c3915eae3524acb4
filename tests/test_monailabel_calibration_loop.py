"""The viewer loop for the ruler, end to end: a real MONAI Label server driven by MONAILabelClient.

p1/p2 of 18 shared ISBI images are saved as 3D Slicer saves them (disc label maps with their
segment names as ``label_info``; two as a markups point list), the ``calibration`` task trains
the cascade (the recipe configs/p1p2_few_labels.yaml: coarse model + crop refiner, one file)
from the bundled starter model and publishes it, and the next ``calibration`` infer on held-out
images of the same device runs it: points, mm/px against the labels, the ruler flags.

CI runs a short training (``LOOP_EPOCHS`` coarse + refiner epochs: every image above 2 % must be
flagged, median error <= 3 %); with
``CEPHMARK_LOOP_FULL=1`` the recipe's own epochs run and the issue's target is asserted (mean
mm/px error <= 0.5 % on the held-out images): benchmarks/p1p2/viewer_loop.sh.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from monailabel_helpers import ISBI_IMAGES, Server, wait_for  # noqa: E402

P1P2 = ISBI_IMAGES.parent / "annotations_p1_p2.json"
pytestmark = pytest.mark.skipif(not P1P2.is_file(), reason="shared ISBI p1/p2 labels not found")

FULL = os.environ.get("CEPHMARK_LOOP_FULL") == "1"
LOOP_EPOCHS = (3, 6)  # CI: coarse, refiner (the recipe: 20, 40)
TRAIN = [f"{i:03d}" for i in range(1, 19)]
HELD_OUT = [f"{i:03d}" for i in range(151, 157)]


def labelled_points() -> dict[str, dict[str, tuple[float, float]]]:
    from cephmark.annotations import read_annotations

    ann = read_annotations(P1P2, ISBI_IMAGES)
    return {im.image_path.stem: {n: tuple(im.points[n]) for n in ("p1", "p2")}
            for im in ann.images if {"p1", "p2"} <= set(im.points)}


@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    root = tmp_path_factory.mktemp("calibration_loop")
    studies = root / "studies"
    studies.mkdir()
    for name in TRAIN + HELD_OUT:
        shutil.copy(ISBI_IMAGES / f"{name}.jpg", studies / f"{name}.jpg")
    server = Server(studies, {"models": "calibration", "model_dir": root / "models"}, root / "run",
                    env={"MONAI_LABEL_AUTO_UPDATE_SCORING": "false"})
    server.start()  # a free loopback port (parallel runs of the suite do not collide)
    yield server, server.client(root / "client"), root
    server.stop()


def save_as_slicer(client, root: Path, name: str, points: dict[str, tuple[float, float]], markups: bool) -> None:
    import SimpleITK as sitk

    from cephmark.app import render_discs

    if markups:  # a Slicer point list (.mrk.json) in the image's physical frame
        from cephmark.app import load_app_image, to_markups
        from cephmark.inference.results import ImageResult, LandmarkResult

        geometry = load_app_image(ISBI_IMAGES / f"{name}.jpg").geometry
        result = ImageResult(image=name, width=1935, height=2400, spacing_mm=None, spacing_source=None,
                             landmarks=[LandmarkResult(n, x, y, 1.0, True) for n, (x, y) in points.items()])
        path = root / f"{name}.mrk.json"
        path.write_text(json.dumps(to_markups(result, geometry, name="ruler")))
        client.save_label(name, str(path), tag="final")
        return
    discs = render_discs([points["p1"], points["p2"]], 1935, 2400, 6.0)
    path = root / f"{name}.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray(discs), str(path), True)
    client.save_label(name, str(path), tag="final",
                      params={"label_info": [{"name": "p1", "idx": 1}, {"name": "p2", "idx": 2}]})


def test_calibration_loop_trains_the_cascade_and_infers_with_it(loop):
    server, client, root = loop
    truth = labelled_points()
    for i, name in enumerate(TRAIN):
        save_as_slicer(client, root, name, truth[name], markups=i < 2)
    assert client.info()["datastore"]["completed"] == len(TRAIN)

    t0 = time.monotonic()
    options = {"device": "cpu"} if FULL else {"device": "cpu", "epochs": LOOP_EPOCHS[0],
                                              "refiner_epochs": LOOP_EPOCHS[1]}
    client.train_start("calibration", options)

    def finished():
        s = client.train_status()
        return s if s["status"] in ("DONE", "ERROR") else None

    status = wait_for(finished, 3600, 2.0, "training")  # CI: about 2 minutes on 2 quiet cores
    print(f"calibration training ({'recipe' if FULL else LOOP_EPOCHS} epochs): {time.monotonic() - t0:.0f} s")
    assert status["status"] == "DONE", "\n".join(status.get("details", []))[-3000:]
    published = root / "models" / "calibration.pth"
    from cephmark.models.checkpoint import read_checkpoint

    ckpt = read_checkpoint(published)  # one file, both stages
    assert ckpt["cascade"]["refiner"]["preprocess"]["crop_size"] == 256
    assert ckpt["cascade"]["labels"]["distance_px"]["n"] == len(TRAIN)
    stats = client.info()["train_stats"]["calibration"]
    models = [h["model"] for h in stats["history"]]
    n_coarse, n_ref = (20, 40) if FULL else LOOP_EPOCHS
    k = models.count("coarse")  # the coarse stage may stop early (patience), then the refiner runs
    assert 1 <= k <= n_coarse and models == ["coarse"] * k + ["refiner"] * (len(models) - k)
    assert 1 <= len(models) - k <= n_ref

    errors, flagged = [], []
    for name in HELD_OUT:
        _, out = client.infer("calibration", name, {})
        assert out["model_origin"] == "published" and out["model_refiner"].endswith("(cascade)")
        assert out["ruler_flags"]["status"] in ("ok", "check") and 0.0 <= out["ruler_flags"]["score"]
        t = truth[name]
        true_mmpx = 10.0 / math.dist(t["p1"], t["p2"])  # 10 mm over the labelled distance
        errors.append(abs(out["mm_per_px"] / true_mmpx - 1.0) * 100.0)
        flagged.append(out["ruler_flags"]["status"] == "check")
        print(f"{name}: mm/px error {errors[-1]:.2f} %, flags {out['ruler_flags']}")
    mean = float(np.mean(errors))
    print(f"held-out mm/px error: mean {mean:.2f} %, median {np.median(errors):.2f} %, max {max(errors):.2f} %")
    # every calibration off by more than 2 % says so (the flags' promise), in both variants
    assert all(f for e, f in zip(errors, flagged) if e > 2.0), list(zip(HELD_OUT, errors, flagged))
    if FULL:
        assert mean <= 0.5  # the target for the loop
    else:  # a 3 + 6 epoch model is rough (measured: median 1.7 %, mean 9.8 %, all six flagged)
        assert float(np.median(errors)) <= 3.0
