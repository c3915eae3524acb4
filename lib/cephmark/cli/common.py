"""Pieces shared by the sub-commands: config loading and option-to-config mapping."""
from __future__ import annotations

import argparse
from typing import Any

from cephmark.config import CephConfig


def split_list(text: str | None) -> list[str] | None:
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


def add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="YAML config (see configs/); options override it")


def load_config(args: argparse.Namespace, overrides: dict[str, Any]) -> CephConfig:
    """Defaults, then ``--config`` YAML, then the command-line ``overrides`` (None = unset)."""
    cfg = CephConfig.from_yaml(args.config) if getattr(args, "config", None) else CephConfig()
    return cfg.update(overrides)
