#!/usr/bin/env python3
"""Train the bundled starter model with a wall-clock cap (used on a lent GPU machine).

    python benchmarks/starter/train_starter.py --max-seconds 200 -- \
        --config configs/starter_isbi19.yaml --annotations ... --output runs/starter

Everything after ``--`` is `cephmark finetune`'s own options; the cap stops training after the
epoch in progress (checkpoints intact), then the best checkpoint is exported without its
optimizer state.
"""
from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-seconds", type=float, default=0)
    ap.add_argument("--export", help="write the slim best checkpoint here")
    ap.add_argument("finetune_args", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    from cephmark.cli import finetune as cli
    from cephmark.models.checkpoint import export_checkpoint
    from cephmark.training import finetune

    rest = [x for x in a.finetune_args if x != "--"]
    args = cli.build_parser().parse_intermixed_args(rest)
    cfg = cli.config_from_args(args)
    stop = threading.Event()
    if a.max_seconds:
        threading.Timer(a.max_seconds, stop.set).start()
    result = finetune(cfg, stop=stop)
    if a.export:
        export_checkpoint(result.checkpoint, a.export)
        print(f"exported {result.checkpoint} -> {a.export} ({Path(a.export).stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
