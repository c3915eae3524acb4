"""``cephmark predict``: landmarks for image files and folders (DICOM included)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from cephmark.cli.common import DEFAULTS, add_config_option, add_refine_options, add_speed_options, split_list
from cephmark.cli.dicomweb import ImageSource, add_source_options


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cephmark predict", description=__doc__)
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="image files or folders (or --dicomweb URL)")
    p.add_argument("--checkpoint", help="model file (default: the bundled starter model)")
    p.add_argument("--image-size", type=int, help="network input size N (default: from the checkpoint, else "
                   f"{DEFAULTS.preprocess.image_size})")
    p.add_argument("--no-flip", action="store_true", help="disable the flip test")
    p.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: auto)")
    p.add_argument("--names", help="comma-separated landmark names when the checkpoint has none")
    p.add_argument("--out", metavar="FILE", help="write results to FILE.json, FILE.jsonl or FILE.csv (default: JSON "
                   "on stdout); written as they come to FILE.partial, renamed when the batch is done")
    p.add_argument("--overlay", metavar="DIR", help="write overlay PNGs here")
    p.add_argument("--batch-size", type=int, help="images per forward pass")
    p.add_argument("--max-pixels", type=int, help="refuse images with more pixels (width x height, from the "
                   f"header, before decoding; default {DEFAULTS.infer.max_pixels}; 0 = no limit)")
    add_speed_options(p)
    add_refine_options(p)
    add_source_options(p)
    add_config_option(p)
    return p


def run(args: argparse.Namespace) -> int:
    from cephmark.cli.batch import EXIT_FAILURES, run_batch, writable_folder
    from cephmark.cli.common import load_config, refine_overrides, speed_overrides
    from cephmark.inference.refine import build_predictor
    from cephmark.inference.results import ResultStream
    from cephmark.weights import default_checkpoint

    cfg = load_config(args, {
        "infer.device": args.device, "infer.names": split_list(args.names),
        "infer.batch_size": args.batch_size, **speed_overrides(args),
        "infer.checkpoint": args.checkpoint, "infer.max_pixels": args.max_pixels,
        **refine_overrides(args),
    })
    overrides = {"preprocess.image_size": args.image_size,
                 "preprocess.flip_test": False if args.no_flip else None}
    checkpoint = cfg.infer.checkpoint or default_checkpoint()
    source = ImageSource(args, model_name=Path(checkpoint).name)  # local files or DICOMweb series
    total = source.plan()
    overlay_dir = writable_folder(args.overlay, "overlays") if args.overlay else None
    predictor = build_predictor(checkpoint, cfg, overrides)
    stream = ResultStream(args.out)  # checked (and opened) before any inference

    def on_result(path: str, result) -> None:
        if overlay_dir:
            from cephmark.inference.overlay import save_overlay
            from cephmark.io import read_image

            save_overlay(read_image(path, max_pixels=cfg.infer.max_pixels).pixels, result, overlay_dir)
        source.finish(path, result)  # SR written / stored; a DICOMweb result named by its address

    bar = tqdm(total=total, unit="image", disable=total < 3, file=sys.stderr)

    def outcomes():
        for path, outcome, _ in predictor.iter_predictions(source.images()):
            bar.update(1)
            yield path, outcome

    try:
        code = run_batch(outcomes(), stream, total, "predict", on_result)
    finally:
        bar.close()
        sr_failed = source.close()  # waits for the SRs still being written
        source.report("cephmark predict")
    return code or (EXIT_FAILURES if sr_failed else 0)
