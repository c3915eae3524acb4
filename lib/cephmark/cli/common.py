"""Pieces shared by the sub-commands: config loading and option-to-config mapping."""
from __future__ import annotations

import argparse
from typing import Any

from cephmark.config import CephConfig

DEFAULTS = CephConfig()  # what help texts quote as defaults


def split_list(text: str | None) -> list[str] | None:
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


def add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="YAML config (see configs/); options override it")


def load_config(args: argparse.Namespace, overrides: dict[str, Any]) -> CephConfig:
    """Defaults, then ``--config`` YAML, then the command-line ``overrides`` (None = unset)."""
    cfg = CephConfig.from_yaml(args.config) if getattr(args, "config", None) else CephConfig()
    return cfg.update(overrides)


def add_refine_options(parser: argparse.ArgumentParser) -> None:
    """The second pass (a crop refiner) of ``predict`` and ``evaluate``."""
    g = parser.add_argument_group("crop refiner (second pass)")
    g.add_argument("--refine-checkpoint", metavar="PATH",
                   help="crop refiner (finetune --crop-size): re-predict its landmarks on a crop around "
                        "the coarse points")
    g.add_argument("--refine-shift", type=float, metavar="PX",
                   help="average the refiner's heatmaps over a 3 x 3 grid of crops PX original pixels "
                        "apart (default: a cascade file's own value, else 0: one crop)")
    g.add_argument("--refine-prior-sigma", type=float, metavar="PX",
                   help="weight each refiner heatmap by a Gaussian of PX original pixels around the "
                        "landmark's coarse position (default: a cascade file's own value, else 0: off)")


def refine_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Config items set by `add_refine_options` (None = unset)."""
    return {"infer.refine_checkpoint": args.refine_checkpoint, "infer.refine_shift": args.refine_shift,
            "infer.refine_prior_sigma": args.refine_prior_sigma}


def add_speed_options(parser: argparse.ArgumentParser) -> None:
    """How the network runs: the fast path (default) or the reference arithmetic."""
    g = parser.add_argument_group("inference engine")
    g.add_argument("--exact", action="store_true",
                   help="the reference arithmetic (eager torch, one pass per image and flip): slower; "
                        "the default fast path keeps points within 0.01 px of it")
    g.add_argument("--backend", choices=["auto", "openvino", "onnxruntime", "inductor", "torch"],
                   help="engine of the fast path (default auto: openvino if installed, else "
                        "onnxruntime, else torch; see README 'Speed')")
    g.add_argument("--fast", action="store_true", help=argparse.SUPPRESS)  # the default now; kept for old scripts


def speed_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Config items set by `add_speed_options` (None = unset)."""
    if args.exact and (args.fast or args.backend):
        raise ValueError("--exact runs the reference arithmetic: it does not combine with --fast or --backend")
    return {"infer.fast": False if args.exact else (True if args.fast or args.backend else None),
            "infer.backend": args.backend}
