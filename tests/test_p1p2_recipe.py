"""The shipped few-label p1/p2 recipe (configs/p1p2_few_labels.yaml) runs as its header says:
coarse model and crop refiner fine-tuned from the bundled starter model (`starter`), then predict
with the refine options read from the same file (1 epoch, small sizes, CPU)."""
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


@needs_data
def test_recipe_trains_and_predicts(tmp_path):
    train = make_label_studio(tmp_path / "train.json", 3)
    val = make_label_studio(tmp_path / "val.json", 1, start=3)
    common = ["finetune", "--config", str(RECIPE), "--annotations", str(train), "--val-annotations",
              str(val), "--image-dir", str(IMAGES), "--epochs", "1", "--device", "cpu"]
    assert main(common + ["--image-size", "64", "--output", str(tmp_path / "coarse")]) == 0
    assert main(common + ["--image-size", "64", "--crop-size", "128", "--output", str(tmp_path / "refiner")]) == 0
    coarse = tmp_path / "coarse" / "checkpoint_p1_p2_cldetection.pth"
    refiner = tmp_path / "refiner" / "checkpoint_p1_p2_cldetection.pth"
    ck = read_checkpoint(coarse)
    assert ck["landmark_names"] == ["p1", "p2"] and ck["source_checkpoint"] == str(STARTER)
    assert ck["init_from"] == ["fresh", "fresh"]
    out = tmp_path / "pred.json"
    assert main(["predict", str(IMAGES / "001.jpg"), "--config", str(RECIPE), "--checkpoint", str(coarse),
                 "--refine-checkpoint", str(refiner), "--device", "cpu", "--out", str(out)]) == 0
    names = [lm["name"] for lm in json.loads(out.read_text())["images"][0]["landmarks"]]
    assert names == ["p1", "p2"]
