"""``cephmark evaluate``: MRE (px, mm) and SDR (2, 2.5, 3, 4 mm) of a model on annotated images,
per landmark and overall; a table on the terminal, CSVs and PNGs with ``--out``. For p1/p2 the
predicted vs labelled mm/px (10 / |p1 - p2|) too. When the truth has a measurement's landmarks,
the cephalometric measurements (ISBI 2015, Steiner, ...) from predicted and true points are
compared: mean absolute error and class agreement."""
from __future__ import annotations

import argparse

from cephmark.cli.common import add_config_option, add_refine_options, add_speed_options


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cephmark evaluate", description=__doc__)
    p.add_argument("--checkpoint", help="model file (default: the bundled starter model)")
    p.add_argument("--annotations", required=True, metavar="FILE", help="Label Studio JSON, COCO, CSV or Aariz folder")
    p.add_argument("--image-dir", metavar="DIR", help="images folder (default: the annotation file's)")
    p.add_argument("--annotation-format", default="auto", help="auto, label_studio, coco, csv, aariz")
    p.add_argument("--spacing", type=float, metavar="MM", help="mm per pixel for images whose annotations and files give none")
    p.add_argument("--out", metavar="DIR", help="write metrics.csv, errors.csv, PNGs here")
    p.add_argument("--image-size", type=int, help="network input size N (default: from the checkpoint)")
    p.add_argument("--no-flip", action="store_true", help="disable the flip test")
    p.add_argument("--device", help="cpu, cuda ... (default: auto)")
    add_speed_options(p)
    p.add_argument("--worst", type=int, default=3, help="overlays of the N worst images (default 3)")
    add_refine_options(p)
    add_config_option(p)
    return p


def run(args: argparse.Namespace) -> int:
    from cephmark.annotations import read_annotations
    from cephmark.cli.common import load_config, refine_overrides, speed_overrides
    from cephmark.evaluation.report import evaluate, format_table, write_report
    from cephmark.inference.refine import build_predictor
    from cephmark.weights import default_checkpoint

    cfg = load_config(args, {"infer.device": args.device, **speed_overrides(args),
                             "infer.checkpoint": args.checkpoint, **refine_overrides(args)})
    predictor = build_predictor(cfg.infer.checkpoint or default_checkpoint(), cfg, {
        "preprocess.image_size": args.image_size,
        "preprocess.flip_test": False if args.no_flip else None})
    ann = read_annotations(args.annotations, args.image_dir, fmt=args.annotation_format)
    ev = evaluate(predictor, ann, spacing_mm=args.spacing, progress=True)
    print(format_table(ev))
    if args.out:
        for path in write_report(ev, args.out, worst=args.worst):
            print(f"wrote {path}")
    return 0
