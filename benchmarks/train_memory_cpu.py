#!/usr/bin/env python3
"""CPU peak memory of one training step (forward with deep supervision, the training loss,
backward, Adam step) per image, for the W48 model at smaller input sizes.

Each (size, checkpointing) runs in a fresh subprocess; the figure is the process's peak
resident memory (VmHWM) minus its resident memory after the model and optimizer are built,
so it is what the step itself needs.

    python benchmarks/train_memory_cpu.py --sizes 256 384 512 [--write benchmarks/TRAIN_MEMORY_CPU.md]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _vm(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(size: int, checkpointing: bool, landmarks: int) -> dict:
    sys.path.insert(0, str(ROOT / "lib"))
    import torch

    from cephmark.codecs import HeatmapCodec
    from cephmark.models.arch import ModelArch
    from cephmark.models.cldetection import CLDetectionModel
    from cephmark.training.loss import HeatmapLoss

    torch.manual_seed(0)
    model = CLDetectionModel(ModelArch.preset("w48", landmarks)).train()
    model.activation_checkpointing = checkpointing
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    loss_fn = HeatmapLoss(HeatmapCodec())
    x = torch.randn(1, 3, size, size)
    xy = torch.rand(1, landmarks, 2) * (size - 1)
    w = torch.ones(1, landmarks)
    base = _vm("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM
    t = time.time()
    for _ in range(2):  # the second step holds Adam's state too
        opt.zero_grad(set_to_none=True)
        loss, _ = loss_fn(model(x, deep_supervision=True), xy, w, sigma=6.0 * size / 1024)
        loss.backward()
        opt.step()
    return {"size": size, "checkpointing": checkpointing, "rss_before_mib": round(base),
            "peak_mib": round(_vm("VmHWM")), "step_mib": round(_vm("VmHWM") - base),
            "s_per_step": round((time.time() - t) / 2, 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 384, 512])
    ap.add_argument("--landmarks", type=int, default=38)
    ap.add_argument("--write")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(int(a.child[0]), a.child[1] == "1", a.landmarks)))
        return 0
    rows = []
    for size in a.sizes:
        for ck in (False, True):
            out = subprocess.run([sys.executable, __file__, "--child", str(size), "1" if ck else "0",
                                  "--landmarks", str(a.landmarks)], capture_output=True, text=True)
            if out.returncode != 0:
                raise SystemExit(out.stderr[-2000:])
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(rows[-1], flush=True)
    lines = ["| N | activation checkpointing | RSS before the step MiB | peak MiB | step needs MiB (1 image) | s/step |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {r['size']} | {'on' if r['checkpointing'] else 'off'} | {r['rss_before_mib']} | "
              f"{r['peak_mib']} | {r['step_mib']} | {r['s_per_step']} |" for r in rows]
    table = "\n".join(lines)
    print(table)
    if a.write:
        Path(a.write).write_text("# CPU training memory per image, W48, 38 landmarks\n\n"
                                 f"`python benchmarks/train_memory_cpu.py --sizes {' '.join(map(str, a.sizes))}` "
                                 f"on {time.strftime('%Y-%m-%d')}, 2 shared CPU cores, fp32, batch 1 "
                                 "(deep-supervision loss, backward, Adam step; second step measured with the first).\n\n"
                                 + table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
