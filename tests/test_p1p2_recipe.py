"""The shipped few-label p1/p2 recipe (configs/p1p2_few_labels.yaml) runs as its header says:
coarse model and crop refiner fine-tuned from the bundled starter model (`starter`) in one run
into one file, then predict with that file alone (1 epoch each, small sizes, CPU)."""
from __future__ import annotations

import json
from pathlib import Path

from cephmark.cli.main import main
from cephmark.config import CephConfig
from cephmark.models.checkpoint import read_checkpoint
from cephmark.weights import STARTER, resolve_checkpoint

from test_training_helpers import IMAGES, make_label_studio, needs_data

RECIPE = Path(__file__).resolve().parents[1] / "configs" / "p1p2_few_labels.yaml"


def test_starter_keyword_names_the_bundled_model(tmp_path):
    assert resolve_checkpoint("starter") == STARTER
    assert resolve_checkpoint(tmp_path / "x.pth") == tmp_path / "x.pth"


def test_recipe_config_holds_the_refine_options():
    cfg = CephConfig.from_yaml(RECIPE)
    assert cfg.train.cldetection_model == "starter" and cfg.train.landmarks == ["p1", "p2"]
    assert cfg.infer.refine_prior_sigma > 0 and cfg.train.dead_head_restarts == 2
    assert cfg.train.refiner["crop_size"] == 256 and cfg.train.refiner["epochs"] == 40


@needs_data
def test_recipe_trains_and_predicts(tmp_path):
    """As the header says: one finetune run (coarse + refiner, one file), then predict with it alone."""
    labels = make_label_studio(tmp_path / "labels.json", 4)
    assert main(["finetune", "--config", str(RECIPE), "--annotations", str(labels), "--image-dir", str(IMAGES),
                 "--epochs", "1", "--refiner-epochs", "1", "--image-size", "64", "--device", "cpu",
                 "--output", str(tmp_path / "model")]) == 0
    cascade = tmp_path / "model" / "checkpoint_p1_p2_cldetection.pth"
    ck = read_checkpoint(cascade)
    assert ck["landmark_names"] == ["p1", "p2"] and ck["source_checkpoint"] == str(STARTER)
    assert ck["init_from"] == ["fresh", "fresh"]
    assert ck["cascade"]["refiner"]["preprocess"]["crop_size"] == 256
    out = tmp_path / "pred.json"
    assert main(["predict", str(IMAGES / "001.jpg"), "--checkpoint", str(cascade), "--device", "cpu",
                 "--out", str(out)]) == 0
    names = [lm["name"] for lm in json.loads(out.read_text())["images"][0]["landmarks"]]
    assert names == ["p1", "p2"]
