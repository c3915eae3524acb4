"""The app's cephalometric train task starts from the new-unit recipe
(configs/adapt_new_unit.yaml); --conf entries, a --conf config file and request options win."""
from __future__ import annotations

import pytest

from cephmark.config import CephConfig


def test_cephalometric_trains_with_the_recipe(app_lib, tmp_path):
    spec = app_lib.configs.cephalometric.SPEC
    opts = app_lib.options.AppOptions.from_conf(tmp_path, {"models": "cephalometric", "train.epochs": "7"})
    task = app_lib.trainers.landmarks.LandmarkTrainTask(spec, None, opts)
    recipe = task.recipe()
    assert recipe.name == "adapt_new_unit.yaml" and recipe.is_file()
    cfg = opts.base_config(recipe)
    expected = CephConfig.from_yaml(recipe).train
    assert cfg.train.intensity_augment == expected.intensity_augment == 2.0
    assert cfg.train.unfreeze_after is None and cfg.train.lr == expected.lr
    assert cfg.train.epochs == 7  # --conf wins over the recipe
    assert task.config()["epochs"] == 7 and task.config()["lr"] == expected.lr


def test_config_file_sits_between_recipe_and_conf(app_lib, tmp_path):
    own = tmp_path / "own.yaml"
    own.write_text("train:\n  lr: 0.002\n  batch_size: 3\n")
    opts = app_lib.options.AppOptions.from_conf(tmp_path, {"models": "cephalometric", "config": str(own),
                                                          "train.batch_size": "5"})
    recipe = app_lib.trainers.landmarks.PROJECT_CONFIGS / "adapt_new_unit.yaml"
    cfg = opts.base_config(recipe)
    assert (cfg.train.lr, cfg.train.batch_size, cfg.train.intensity_augment) == (0.002, 5, 2.0)
    assert opts.base_config().train.intensity_augment == 1.0  # no recipe: defaults


def test_each_task_finds_its_own_recipe(app_lib, tmp_path):
    import lib.configs.calibration

    spec = lib.configs.calibration.SPEC
    opts = app_lib.options.AppOptions.from_conf(tmp_path, {"models": "calibration"})
    task = app_lib.trainers.landmarks.LandmarkTrainTask(spec, None, opts)
    if spec.train_recipe is None:
        assert task.recipe() is None
    else:
        assert task.recipe().name == spec.train_recipe and task.recipe().is_file()
    missing = type(spec)(**{**spec.__dict__, "train_recipe": "no_such_recipe.yaml"})
    with pytest.raises(FileNotFoundError, match="no_such_recipe.yaml"):
        app_lib.trainers.landmarks.LandmarkTrainTask(missing, None, opts).recipe()
