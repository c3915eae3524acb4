#!/usr/bin/env python
"""CPU inference engines side by side: the reference arithmetic vs every fast-path backend.

One process, one random W48 model (as ``bench_inference.py`` builds it: calibrated and
randomised BatchNorm, Gaussian-upsampler output layer, saved as a reference-format
checkpoint), one predictor per candidate through `LandmarkPredictor`:

* ``exact``: ``infer.fast=False`` (the reference arithmetic, eager torch, one pass per image
  and per flip);
* ``torch``: the folded channels-last torch model (``infer.backend=torch``);
* ``openvino``, ``onnxruntime``, ``inductor`` (AOTInductor): converted from the folded model,
  cached on disk (``infer.cache_dir``: a fresh folder, so building the predictor includes the
  conversion: the first-use cost).

Per candidate: build time with an empty cache, first call, then median end-to-end s/image
(read + preprocess, forward, decode) over repeats in rotating order, flip off and on, the
median CPU time, the max point distance to ``exact`` (image pixels, all images, both flips),
and, in a fresh subprocess with the cache now warm, the cold start (interpreter + imports +
predictor) and first call, and the process's peak RSS (VmHWM) and the call's own peak.

    python benchmarks/bench_backends.py --write benchmarks/RESULTS_BACKENDS.md
    python benchmarks/bench_backends.py --smoke          # tiny model, N=256 (a minute)

Only ratios from one run mean anything on a shared machine.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from bench_inference import (DEFAULT_IMAGES, _mib, _reset_peak_rss, _status_kib, cpu_model,  # noqa: E402
                             fmt_table, predict_timed, random_model, save_reference_checkpoint)
from synthetic_heads import smooth_output_layer  # noqa: E402

CANDIDATES = ("exact", "torch", "openvino", "onnxruntime", "inductor")


def make_predictor(checkpoint: Path, name: str, size: int, cache: Path):
    """``size`` 0: the checkpoint's own input size (the bundled starter)."""
    from cephmark.config import CephConfig
    from cephmark.inference import LandmarkPredictor

    overrides = {"infer.fast": name != "exact", "infer.backend": "torch" if name == "exact" else name,
                 "infer.cache_dir": str(cache), "infer.device": "cpu", "infer.batch_size": 1}
    if size:
        overrides["preprocess.image_size"] = size
    return LandmarkPredictor(str(checkpoint), CephConfig(), overrides=overrides)


def child_main(args: argparse.Namespace) -> None:
    """Cold start with a warm cache: setup, first call, peak RSS (printed as JSON)."""
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    pred = make_predictor(Path(args.checkpoint), args.child, args.size, Path(args.cache))
    setup = time.perf_counter() - t0
    hwm_setup = _status_kib("VmHWM")
    reset = _reset_peak_rss()
    times, _ = predict_timed(pred, Path(args.child_image), bool(args.flip))
    print(json.dumps({"setup_s": setup, "first_call_s": times["total"],
                      "peak_rss_kib": max(hwm_setup, _status_kib("VmHWM")),
                      "call_peak_rss_kib": _status_kib("VmHWM") if reset else None}))


def cold_start(args, ckpt: Path, cache: Path, image: Path, name: str) -> dict:
    cmd = [sys.executable, __file__, "--child", name, "--checkpoint", str(ckpt), "--cache", str(cache),
           "--child-image", str(image), "--flip", "1", "--size", str(args.size),
           "--threads", str(args.threads)]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if out.returncode:
        raise RuntimeError(f"cold start of {name} failed:\n{out.stderr[-3000:]}")
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res["process_wall_s"] = wall  # interpreter start + imports + setup + first call + exit
    return res


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", default="w48")
    p.add_argument("--landmarks", type=int, default=38)
    p.add_argument("--size", type=int, default=1024)
    p.add_argument("--image-dir", type=Path, default=DEFAULT_IMAGES)
    p.add_argument("--images", type=int, default=1)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--candidates", default=",".join(CANDIDATES),
                   help="comma-separated subset of " + ", ".join(CANDIDATES))
    p.add_argument("--no-cold", action="store_true", help="skip the cold-start subprocesses")
    p.add_argument("--write", type=Path, help="write the markdown report here")
    p.add_argument("--smoke", action="store_true", help="tiny model, N=256, 1 image, 1 repeat")
    p.add_argument("--starter", action="store_true",
                   help="the bundled trained starter model at its own N instead of a random model")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--checkpoint", help=argparse.SUPPRESS)
    p.add_argument("--cache", help=argparse.SUPPRESS)
    p.add_argument("--child-image", help=argparse.SUPPRESS)
    p.add_argument("--flip", type=int, default=1, help=argparse.SUPPRESS)
    args = p.parse_args()
    from cephmark.inference.fast import cpu_threads
    from cephmark.inference.runtimes import available

    args.threads = args.threads or cpu_threads()
    if args.child:
        child_main(args)
        return
    if args.smoke:
        args.arch, args.size, args.images, args.repeats = "tiny", 256, 1, 1
    torch.set_num_threads(args.threads)
    names = [c for c in args.candidates.split(",") if c]
    if names[0] != "exact":
        names.insert(0, "exact")
    missing = [c for c in names if c != "exact" and available(c) is None]
    if missing:
        print(f"not installed, skipped: {', '.join(missing)}", flush=True)
        names = [c for c in names if c not in missing]
    images = sorted(args.image_dir.glob("*.jpg"))[: args.images]
    print(f"{cpu_model()}, {os.cpu_count()} logical CPUs, torch {torch.__version__}, {args.threads} "
          f"threads; {args.arch} J={args.landmarks} N={args.size}; {len(images)} images x "
          f"{args.repeats} repeats; {', '.join(names)}", flush=True)

    with tempfile.TemporaryDirectory(prefix="cephmark-backends-") as tmp:
        if args.starter:
            from cephmark.weights import STARTER

            ckpt, args.size = STARTER, 0
        else:
            model = random_model(args.arch, args.landmarks)
            smooth_output_layer(model)
            ckpt = save_reference_checkpoint(model, Path(tmp) / "random_reference_format.pth")
            del model
        cache = Path(tmp) / "cache"
        preds, build, first = {}, {}, {}
        for name in names:
            t0 = time.perf_counter()
            preds[name] = make_predictor(ckpt, name, args.size, cache)
            build[name] = time.perf_counter() - t0
            first[name], _ = predict_timed(preds[name], images[0], True)
            print(f"{name}: build (empty cache) {build[name]:.1f} s, first call {first[name]['total']:.2f} s",
                  flush=True)
        torch.set_num_threads(args.threads)

        times = {(n, f): [] for n in names for f in (False, True)}
        points = {}
        step = 0
        for rep in range(args.repeats):
            for i, img in enumerate(images):
                for flip in (False, True):
                    order = names[step % len(names):] + names[:step % len(names)]  # rotate
                    step += 1
                    for name in order:
                        t, points[(name, flip, i)] = predict_timed(preds[name], img, flip)
                        times[(name, flip)].append(t)
                    print(f"rep {rep} {img.name} flip={int(flip)}: " + ", ".join(
                        f"{n} {times[(n, flip)][-1]['total']:.2f}" for n in names), flush=True)
        del preds
        agree = {}
        for name in names:
            d, mismatch = [], 0
            for flip in (False, True):
                for i in range(len(images)):
                    a, b = points[("exact", flip, i)], points[(name, flip, i)]
                    mismatch += int(np.sum(np.isnan(a[:, 0]) != np.isnan(b[:, 0])))
                    ok = ~np.isnan(a[:, 0]) & ~np.isnan(b[:, 0])
                    d.append(np.linalg.norm(a[ok] - b[ok], axis=1))
            agree[name] = (float(np.concatenate(d).max()), mismatch)
        cold = {}
        if not args.no_cold:
            for name in names:
                cold[name] = cold_start(args, ckpt, cache, images[0], name)
                print(f"cold start {name}: {cold[name]}", flush=True)

    def med(name, flip, key="total"):
        return statistics.median(t[key] for t in times[(name, flip)])

    rows = []
    for name in names:
        c = cold.get(name, {})
        rows.append([
            name,
            *(f"{med(name, f):.2f}" for f in (False, True)),
            *(f"{med('exact', f) / med(name, f):.2f}x" for f in (False, True)),
            *(f"{med('exact', f, 'cpu') / med(name, f, 'cpu'):.2f}x" for f in (False, True)),
            f"{agree[name][0]:.1e}" + (f" ({agree[name][1]} found/not-found)" if agree[name][1] else ""),
            f"{build[name]:.1f}", f"{first[name]['total']:.2f}",
            f"{c['setup_s']:.1f}" if c else "-", f"{c['first_call_s']:.2f}" if c else "-",
            f"{c['peak_rss_kib'] / 1024:.0f}" if c else "-", _mib(c.get("call_peak_rss_kib")) if c else "-",
        ])
    header = ["candidate", "s/image flip off (median)", "s/image flip on (median)",
              "speed-up off", "speed-up on", "CPU-time speed-up off", "CPU-time speed-up on",
              "max point diff vs exact (px)", "build, empty cache (s)", "first call (s)",
              "cold start, warm cache: setup (s)", "its first call (s)", "peak RSS MiB (process)",
              "peak RSS MiB (call)"]
    table = fmt_table(rows, header)
    print("\n" + table)
    if args.write:
        from cephmark.inference.runtimes import available as version

        now = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
        engines = ", ".join(f"{n} {version(n)}" for n in names if n not in ("exact", "torch"))
        lines = [
            f"Produced by `python benchmarks/bench_backends.py {' '.join(sys.argv[1:])}` on {now}.",
            "",
            f"- CPU: {cpu_model()} ({os.cpu_count()} logical CPUs), {args.threads} threads; torch "
            f"{torch.__version__}; {engines}; load average at the end "
            f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}",
            (f"- the bundled trained starter model (`{ckpt.name}`) at its own input size and "
             "preprocessing" if args.starter else
             f"- `{args.arch}`, J = {args.landmarks}, N = {args.size}, random weights as in "
             "bench_inference.py") + f"; images {', '.join(p.name for p in images)}; {args.repeats} repeats, "
            "rotating order; s/image end to end with batch size 1; speed-ups = exact / candidate "
            "(medians of wall time, and of process CPU time)",
            "- build = predictor construction with an empty converted-network cache (conversion "
            "included); cold start = a fresh process (interpreter, imports, checkpoint, predictor) "
            "with the cache now warm, flip on; peak RSS = VmHWM of that process",
            "",
            table,
            "",
        ]
        args.write.write_text("\n".join(lines))
        print(f"wrote {args.write}")


if __name__ == "__main__":
    main()
