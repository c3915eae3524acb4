"""CephConfig: defaults, YAML files, overrides (None ignored) and errors naming unknown keys."""
from __future__ import annotations

import argparse

import pytest

from cephmark.cli.common import load_config
from cephmark.config import CephConfig


def test_defaults_are_the_reference_pipeline():
    cfg = CephConfig()
    assert cfg.preprocess.image_size == 1024
    assert cfg.preprocess.padding == 1.25
    assert (cfg.preprocess.mean, cfg.preprocess.std) == (121.25, 76.5)
    assert cfg.preprocess.flip_test is True
    assert cfg.codec.sigma_at_1024 == 6.0 and cfg.codec.blur_kernel == 11
    assert cfg.codec.sigma(512) == 3.0
    # instances do not share mutable state
    other = CephConfig()
    other.preprocess.image_size = 256
    assert cfg.preprocess.image_size == 1024


def test_yaml_then_overrides_precedence(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "preprocess:\n  image_size: 512\n  flip_test: false\n"
        "infer:\n  batch_size: 8\n  names: [a, b]\n"
        "train:\n  lr: 0.0005\n  epochs: 10\n"
    )
    cfg = CephConfig.from_yaml(path)
    assert cfg.preprocess.image_size == 512 and cfg.preprocess.flip_test is False
    assert cfg.infer.batch_size == 8 and cfg.infer.names == ["a", "b"]
    assert cfg.train.lr == 0.0005 and cfg.train.epochs == 10
    assert cfg.preprocess.mean == 121.25  # untouched keys keep defaults

    # overrides win over the file; None means "not given" and keeps the file's value
    cfg.update({"preprocess.image_size": 256, "preprocess.flip_test": None,
                "infer": {"batch_size": None, "device": "cpu"}, "train.epochs": None})
    assert cfg.preprocess.image_size == 256
    assert cfg.preprocess.flip_test is False
    assert cfg.infer.batch_size == 8 and cfg.infer.device == "cpu"
    assert cfg.train.epochs == 10


def test_cli_load_config_precedence(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("infer:\n  batch_size: 8\n  device: cpu\n")
    args = argparse.Namespace(config=str(path))
    cfg = load_config(args, {"infer.batch_size": 3, "infer.device": None, "infer.names": None})
    assert cfg.infer.batch_size == 3 and cfg.infer.device == "cpu" and cfg.infer.names is None
    cfg = load_config(argparse.Namespace(config=None), {"infer.batch_size": None})
    assert cfg.infer.batch_size == CephConfig().infer.batch_size


def test_empty_yaml_and_from_dict(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("")
    assert CephConfig.from_yaml(path).to_dict() == CephConfig().to_dict()
    assert CephConfig.from_dict(None).to_dict() == CephConfig().to_dict()
    d = CephConfig.from_dict({"codec": {"blur_kernel": 7}}).to_dict()
    assert d["codec"]["blur_kernel"] == 7 and set(d) == {"preprocess", "codec", "infer", "train"}


@pytest.mark.parametrize("data, names", [
    ({"preprocess": {"image_sise": 512}}, ["preprocess.image_sise"]),
    ({"preproces": {"image_size": 512}}, ["preproces"]),
    ({"infer.colour": "red"}, ["infer.colour"]),
    ({"bogus.key": 1}, ["bogus"]),
    ({"image_size": 512}, ["image_size"]),
])
def test_unknown_keys_are_errors_naming_them(data, names):
    with pytest.raises(ValueError) as err:
        CephConfig.from_dict(data)
    for name in names:
        assert name in str(err.value)


def test_unknown_key_in_yaml_names_file_and_key(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("preprocess:\n  image_size: 512\ninfer:\n  batchsize: 4\n")
    with pytest.raises(ValueError) as err:
        CephConfig.from_yaml(path)
    assert "infer.batchsize" in str(err.value) and str(path) in str(err.value)


@pytest.mark.parametrize("text", ["- a\n- b\n", "preprocess: [1, 2\n"])
def test_malformed_yaml(tmp_path, text):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match="bad.yaml"):
        CephConfig.from_yaml(path)


def test_missing_yaml(tmp_path):
    with pytest.raises(ValueError, match="absent.yaml"):
        CephConfig.from_yaml(tmp_path / "absent.yaml")


def test_config_files_in_repo_load():
    from pathlib import Path

    configs = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))
    for path in configs:
        CephConfig.from_yaml(path)  # every shipped config uses known keys only
