#!/usr/bin/env python
"""Batch throughput: ``predict`` on many images vs the network's forward time alone.

One predictor (default settings: the fast path, flip test as the checkpoint says, batch size
from the config), the same images, three measurements in rotating order per round:

* ``forward``: the images prepared beforehand (not timed), then only
  `LandmarkPredictor.heatmaps` on each batch: the network's share, the floor;
* ``predict``: `LandmarkPredictor.iter_predictions` over the paths, as ``cephmark predict``
  runs it (read + preprocess ``infer.prefetch`` images ahead in a thread, forward, decode);
* ``sequential``: the same with ``infer.prefetch = 0`` (read, preprocess, forward, decode in turn).

Reported: wall seconds per round and the medians' ratios predict / forward and
sequential / forward (target: predict within 1.1x of the forward time).

    python benchmarks/bench_throughput.py                      # bundled starter, 20 images
    python benchmarks/bench_throughput.py --arch w48 --size 1024 --images 5
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from bench_inference import DEFAULT_IMAGES, cpu_model, fmt_table  # noqa: E402


def build(args, tmp: Path):
    from cephmark.config import CephConfig
    from cephmark.inference import LandmarkPredictor
    from cephmark.weights import STARTER

    overrides = {"infer.device": "cpu"}
    if args.backend:
        overrides["infer.backend"] = args.backend
    if args.arch == "starter":
        return LandmarkPredictor(str(STARTER), CephConfig(), overrides=overrides), STARTER.name
    from bench_inference import random_model, save_reference_checkpoint
    from synthetic_heads import smooth_output_layer

    model = smooth_output_layer(random_model(args.arch, args.landmarks))
    ckpt = save_reference_checkpoint(model, tmp / "random.pth")
    overrides["preprocess.image_size"] = args.size
    return LandmarkPredictor(str(ckpt), CephConfig(), overrides=overrides), f"random {args.arch}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", default="starter", help="starter (the bundled model) or a preset (w48, ...)")
    p.add_argument("--landmarks", type=int, default=38)
    p.add_argument("--size", type=int, default=1024, help="N for a random preset model")
    p.add_argument("--backend", help="infer.backend (default: the config's, auto)")
    p.add_argument("--image-dir", type=Path, default=DEFAULT_IMAGES)
    p.add_argument("--images", type=int, default=20)
    p.add_argument("--rounds", type=int, default=2)
    args = p.parse_args()
    paths = sorted(args.image_dir.glob("*.jpg"))[: args.images]
    with tempfile.TemporaryDirectory() as tmp:
        pred, model_name = build(args, Path(tmp))
        cfg = pred.config
        bs = max(1, cfg.infer.batch_size)
        print(f"{cpu_model()}, {os.cpu_count()} CPUs, torch {torch.__version__} ({torch.get_num_threads()} "
              f"threads); {model_name}, N = {cfg.preprocess.image_size}, flip {cfg.preprocess.flip_test}, "
              f"backend {getattr(pred.model, 'name', 'torch')}, batch size {bs}, prefetch "
              f"{cfg.infer.prefetch}; {len(paths)} images x {args.rounds} rounds", flush=True)
        items = [pred.prepare(path) for path in paths]
        batches = [torch.stack([torch.as_tensor(np.asarray(it["image"])) for it in items[i:i + bs]])
                   for i in range(0, len(items), bs)]
        pred.heatmaps(batches[0])  # warm-up
        depth = cfg.infer.prefetch

        def forward() -> None:
            for b in batches:
                pred.heatmaps(b)

        def run(prefetch: int):
            def go() -> None:
                cfg.infer.prefetch = prefetch
                done = [o for _, o, _ in pred.iter_predictions(paths)]
                assert not any(isinstance(o, Exception) for o in done), done
            return go

        modes = {"forward": forward, "predict": run(depth), "sequential": run(0)}
        times: dict[str, list[float]] = {m: [] for m in modes}
        names = list(modes)
        for r in range(args.rounds):
            for m in names[r % 3:] + names[:r % 3]:
                t0 = time.perf_counter()
                modes[m]()
                times[m].append(time.perf_counter() - t0)
            print(f"round {r}: " + ", ".join(f"{m} {times[m][-1]:.1f} s" for m in names), flush=True)
    med = {m: statistics.median(v) for m, v in times.items()}
    rows = [[m, f"{med[m]:.1f}", f"{med[m] / len(paths):.3f}", f"{med[m] / med['forward']:.3f}x"] for m in names]
    print(fmt_table(rows, ["run", f"wall s, {len(paths)} images (median)", "s/image", "/ forward"]))
    print(f"load average {', '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
