"""What ``cephmark analyze`` costs beside ``cephmark predict``, measured side by side in one process.

Per round and image, in alternating order: predict (read + the landmark model, what
``cephmark predict`` does per image), analyze (read once + landmark model + ruler model +
calibration + measurements, report off), and the report page alone (PNG + PDF). Models are
loaded once before timing; the table gives the median seconds per image and the ratio.

    python benchmarks/analysis/cost.py samples/ --rounds 3 [--calibration RULER_MODEL]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch


def main() -> None:
    from cephmark.analysis.pipeline import Analyzer
    from cephmark.analysis.report import write_report
    from cephmark.cli.analyze import default_ruler_checkpoint
    from cephmark.config import CephConfig
    from cephmark.inference.refine import build_predictor
    from cephmark.io import list_images, read_image
    from cephmark.weights import default_checkpoint, resolve_checkpoint

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("inputs", nargs="+")
    ap.add_argument("--checkpoint", default=None, help="landmark model (default: the starter)")
    ap.add_argument("--calibration", default=None, help="ruler model (default: the bundled one)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = CephConfig()
    cfg.update({"infer.device": "cpu"})
    landmarks = build_predictor(args.checkpoint or default_checkpoint(), cfg)
    ruler_path = args.calibration or default_ruler_checkpoint()
    if ruler_path is None:
        raise SystemExit("no ruler model: pass --calibration")
    analyzer = Analyzer(landmarks, build_predictor(resolve_checkpoint(ruler_path), cfg))
    paths = list_images(args.inputs)
    times: dict[str, list[float]] = {"predict": [], "analyze": [], "report": []}
    out = tempfile.mkdtemp(prefix="cephmark_cost_")
    warm = read_image(paths[0])
    landmarks.predict_one(warm), analyzer.analyze(warm)  # warm-up, not timed
    for r in range(args.rounds):
        for path in paths:
            order = ("predict", "analyze") if r % 2 == 0 else ("analyze", "predict")
            for what in order:
                t0 = time.perf_counter()
                if what == "predict":
                    landmarks.predict_one(read_image(path))
                else:
                    image = read_image(path)
                    result = analyzer.analyze(image)
                times[what].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            write_report(result, image.pixels, out)
            times["report"].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"{len(paths)} images x {args.rounds} rounds, torch threads {torch.get_num_threads()}, "
          f"ruler model {ruler_path}")
    print("| step | median s / image | vs predict |")
    print("|---|---|---|")
    for k in ("predict", "analyze", "report"):
        print(f"| {k} | {med[k]:.3f} | {med[k] / med['predict']:.2f}x |")


if __name__ == "__main__":
    main()
