"""``cephmark finetune``: train new landmarks (e.g. the ruler marks p1, p2) on the CLdetection2023
model. Stage 1 trains the heatmap head on the frozen backbone; ``--unfreeze-after N`` then also
trains the backbone at lr x 0.1. Writes the best checkpoint, last.pth, metrics.csv and
learning_curve.png to --output. Multi-GPU: ``torchrun --nproc_per_node K -m cephmark finetune ...``.
"""
from __future__ import annotations

import argparse

from cephmark.cli.common import DEFAULTS, add_config_option, split_list

T = DEFAULTS.train  # help texts quote the config's defaults


def _flag(value: bool) -> bool | None:
    return True if value else None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cephmark finetune", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_argument_group("model")
    src.add_argument("--cldetection-model", metavar="PATH",
                     help="the CLdetection2023 checkpoint (model_pretrained_on_train_and_val.pth) "
                          "or any cephmark checkpoint to start from; `starter` = the bundled model")
    src.add_argument("--resume", metavar="CHECKPOINT", help="continue a run from its last.pth")
    src.add_argument("--arch", help="model design for training from scratch: tiny, small, w18, w32, w48")
    src.add_argument("--backbone-weights", metavar="FILE",
                     help="timm HRNet state dict loaded into the backbone (non-strict; nothing is downloaded)")
    src.add_argument("--landmarks", help="comma-separated landmarks to train (default: every label found)")
    src.add_argument("--init-from", help="comma-separated base landmark per trained landmark to copy its "
                     "head from ('fresh' for none; default: same name if a base landmark, else fresh)")
    src.add_argument("--keep-base-landmarks", action="store_true",
                     help="keep the base model's landmarks as outputs (before the new ones)")
    src.add_argument("--activation-checkpointing", action="store_true",
                     help="recompute backbone activations in backward (less memory, slower)")
    data = p.add_argument_group("data")
    data.add_argument("--annotations", metavar="FILE", help="training annotations (Label Studio JSON, COCO, CSV, Aariz, DICOM SR file or folder)")
    data.add_argument("--image-dir", metavar="DIR", help="images folder (default: the annotation file's)")
    data.add_argument("--annotation-format", help="auto (default), label_studio, coco, csv, aariz, dicom_sr")
    data.add_argument("--val-annotations", metavar="FILE", help="separate validation annotations")
    data.add_argument("--val-fraction", type=float,
                      help=f"share of the images held out for validation without --val-annotations (default {T.val_fraction:g})")
    data.add_argument("--image-size", type=int, help="network input and heatmap size N (default: the source "
                      f"checkpoint's, like its other preprocessing; {DEFAULTS.preprocess.image_size} without a record)")
    data.add_argument("--crop-size", type=int, metavar="PX",
                      help="train a crop refiner: boxes of PX original pixels centred on the labelled "
                           "landmarks, warped to --image-size (use with predict/evaluate --refine-checkpoint)")
    data.add_argument("--crop-jitter", type=float, metavar="F",
                      help=f"refiner training: random box offset up to F x crop size per axis (default {T.crop_jitter:g})")
    data.add_argument("--refiner-epochs", type=int, metavar="N",
                      help="cascade runs (train.refiner in --config): the refiner's epochs")
    data.add_argument("--share-backbone", action="store_true",
                      help="cascade runs: train the refiner on the coarse model's frozen backbone, "
                           "stored once (a smaller file)")
    data.add_argument("--cache-dir", metavar="DIR", help="keep decoded, resized images here between runs")
    data.add_argument("--workers", type=int, help=f"DataLoader worker processes (default {T.workers})")
    tr = p.add_argument_group("training")
    tr.add_argument("--epochs", type=int, help=f"default {T.epochs}")
    tr.add_argument("--batch-size", type=int, help=f"images per step (per process) (default {T.batch_size})")
    tr.add_argument("--lr", type=float, help=f"head learning rate (default {T.lr:g}; backbone x {T.backbone_lr_factor:g})")
    tr.add_argument("--unfreeze-after", type=int, metavar="N",
                    help="train the backbone too after N epochs (default: backbone stays frozen)")
    tr.add_argument("--trainable-backbone", metavar="PARTS",
                    help="stage 2 trains only these backbone parts, comma-separated (e.g. transition3,stage4; "
                         "default/`all`: the whole backbone)")
    tr.add_argument("--intensity-augment", type=float, metavar="K",
                    help=f"scale of the brightness/gamma/noise augmentation (default {T.intensity_augment:g}; 2 = strong; 0 = none)")
    tr.add_argument("--patience", type=int, help=f"early stopping: epochs without validation-loss improvement (default {T.patience}; 0 = off)")
    tr.add_argument("--seed", type=int, help=f"random seed (default {T.seed})")
    tr.add_argument("--deterministic", action="store_true", help="deterministic kernels (reproducible, slower)")
    tr.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: auto)")
    tr.add_argument("--amp", action="store_true", help="mixed precision (fp16 on CUDA, bf16 on CPU)")
    out = p.add_argument_group("output")
    out.add_argument("--output", metavar="DIR", help=f"output folder (default {T.output})")
    add_config_option(p)
    return p


def config_from_args(args: argparse.Namespace):
    """`CephConfig` from defaults, ``--config`` and the command-line options."""
    from cephmark.cli.common import load_config

    cfg = _load(args, load_config)
    if cfg.train.refiner is not None:
        cfg.train.refiner = {**cfg.train.refiner, **({"epochs": args.refiner_epochs} if args.refiner_epochs else {}),
                             **({"share_backbone": True} if args.share_backbone else {})}
    elif args.refiner_epochs or args.share_backbone:
        raise ValueError("--refiner-epochs / --share-backbone need a cascade config (train.refiner)")
    return cfg


def _load(args: argparse.Namespace, load_config):
    return load_config(args, {
        "preprocess.image_size": args.image_size,
        "train.cldetection_model": args.cldetection_model,
        "train.resume": args.resume,
        "train.arch": args.arch,
        "train.backbone_weights": args.backbone_weights,
        "train.landmarks": split_list(args.landmarks),
        "train.init_from": split_list(args.init_from),
        "train.keep_base_landmarks": _flag(args.keep_base_landmarks),
        "train.activation_checkpointing": _flag(args.activation_checkpointing),
        "train.annotations": args.annotations,
        "train.image_dir": args.image_dir,
        "train.annotation_format": args.annotation_format,
        "train.val_annotations": args.val_annotations,
        "train.val_fraction": args.val_fraction,
        "train.cache_dir": args.cache_dir,
        "train.crop_size": args.crop_size,
        "train.crop_jitter": args.crop_jitter,
        "train.workers": args.workers,
        "train.epochs": args.epochs,
        "train.batch_size": args.batch_size,
        "train.lr": args.lr,
        "train.unfreeze_after": args.unfreeze_after,
        "train.trainable_backbone": split_list(args.trainable_backbone),
        "train.intensity_augment": args.intensity_augment,
        "train.patience": args.patience,
        "train.seed": args.seed,
        "train.deterministic": _flag(args.deterministic),
        "train.device": args.device,
        "train.amp": _flag(args.amp),
        "train.output": args.output,
    })


def run(args: argparse.Namespace) -> int:
    from cephmark.runtime import set_cpu_threads
    from cephmark.training import finetune

    cfg = config_from_args(args)
    if not cfg.train.annotations:
        raise ValueError("--annotations FILE is required (or train.annotations in --config)")
    set_cpu_threads()
    result = finetune(cfg)
    print(f"best checkpoint: {result.checkpoint}")
    print(f"last checkpoint: {result.last}")
    return 0
