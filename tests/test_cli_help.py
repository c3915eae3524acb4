"""CLI help texts quote the config's defaults (cephmark.cli.common.DEFAULTS), not copies."""
from __future__ import annotations

from cephmark.cli import finetune, predict
from cephmark.cli.common import DEFAULTS
from cephmark.config import CephConfig


def _help(module) -> str:
    return " ".join(module.build_parser().format_help().split())


def test_help_follows_config_defaults(monkeypatch):
    assert DEFAULTS.train == CephConfig().train and DEFAULTS.infer == CephConfig().infer
    monkeypatch.setattr(DEFAULTS.train, "epochs", 7)
    monkeypatch.setattr(DEFAULTS.train, "patience", 13)
    monkeypatch.setattr(DEFAULTS.train, "lr", 0.005)
    monkeypatch.setattr(DEFAULTS.infer, "max_pixels", 1234)
    text = _help(finetune)
    assert "default 7" in text and "(default 13; 0 = off)" in text and "(default 0.005;" in text
    text = _help(predict)
    assert "default 1234;" in text
    # refine options default to None (a cascade file's own value), which the help says in words
    assert "(default: a cascade file's own value, else 0: one crop)" in text
