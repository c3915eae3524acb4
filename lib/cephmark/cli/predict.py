"""``cephmark predict``: landmarks for image files and folders (DICOM included)."""
from __future__ import annotations

import argparse
import json
import sys

from tqdm import tqdm

from cephmark.cli.common import add_config_option, add_refine_options, split_list
from cephmark.io import list_images


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cephmark predict", description=__doc__)
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders")
    p.add_argument("--checkpoint", help="model file (default: the bundled starter model)")
    p.add_argument("--image-size", type=int, help="network input size N (default: from the checkpoint, else 1024)")
    p.add_argument("--no-flip", action="store_true", help="disable the flip test")
    p.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: auto)")
    p.add_argument("--names", help="comma-separated landmark names when the checkpoint has none")
    p.add_argument("--out", metavar="FILE", help="write results to FILE.json or FILE.csv (default: JSON on stdout)")
    p.add_argument("--overlay", metavar="DIR", help="write overlay PNGs here")
    p.add_argument("--batch-size", type=int, help="images per forward pass")
    p.add_argument("--fast", action="store_true", help="optimised inference (BatchNorm folded, channels-last, "
                   "batched flip test; points within 0.1 px of the exact path)")
    add_refine_options(p)
    add_config_option(p)
    return p


def run(args: argparse.Namespace) -> int:
    from cephmark.cli.common import load_config, refine_overrides
    from cephmark.inference import write_results
    from cephmark.inference.refine import build_predictor
    from cephmark.inference.overlay import save_overlay
    from cephmark.weights import default_checkpoint

    cfg = load_config(args, {
        "infer.device": args.device, "infer.names": split_list(args.names),
        "infer.batch_size": args.batch_size, "infer.fast": True if args.fast else None,
        "infer.checkpoint": args.checkpoint, **refine_overrides(args),
    })
    overrides = {"preprocess.image_size": args.image_size,
                 "preprocess.flip_test": False if args.no_flip else None}
    checkpoint = cfg.infer.checkpoint or default_checkpoint()
    predictor = build_predictor(checkpoint, cfg, overrides)
    paths = list_images(args.inputs)
    if not paths:
        raise ValueError(f"no image files found in {', '.join(args.inputs)}")
    results, failures = [], []
    bar = tqdm(total=len(paths), unit="image", disable=len(paths) < 3, file=sys.stderr)
    for path, outcome, item in predictor.iter_predictions(paths):
        bar.update(1)
        if isinstance(outcome, Exception):
            failures.append(f"{path}: {outcome}" if str(path) not in str(outcome) else str(outcome))
            continue
        results.append(outcome)
        if args.overlay:
            from cephmark.io import read_image

            save_overlay(read_image(path).pixels, outcome, args.overlay)
    bar.close()
    if args.out:
        write_results(results, args.out)
    else:
        json.dump({"images": [r.to_dict() for r in results]}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    for msg in failures:
        print(f"cephmark predict: failed: {msg}", file=sys.stderr)
    if failures:
        print(f"cephmark predict: {len(failures)} of {len(paths)} images failed", file=sys.stderr)
        return 1
    return 0
