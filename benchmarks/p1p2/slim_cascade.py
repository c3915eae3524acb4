"""Write a cascade file without training state, optionally with fp16 tensors (the shipped form).

    python benchmarks/p1p2/slim_cascade.py runs/ruler/bundled/checkpoint_p1_p2_cldetection.pth \
        lib/cephmark/weights/ruler_isbi_p1p2.pth --half
"""
from __future__ import annotations

import argparse
import sys

from cephmark.calibration.cascade import half_cascade, is_cascade
from cephmark.models.checkpoint import TRAINING_STATE_KEYS, read_checkpoint, save_atomic


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--half", action="store_true", help="fp16 tensors (loaded back into float32 models)")
    a = ap.parse_args()
    ckpt = read_checkpoint(a.src)
    if not is_cascade(ckpt):
        raise SystemExit(f"{a.src}: not a cascade file")
    ckpt = {k: v for k, v in ckpt.items() if k not in TRAINING_STATE_KEYS}
    path = save_atomic(half_cascade(ckpt) if a.half else ckpt, a.dst)
    print(f"{path}: {path.stat().st_size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
