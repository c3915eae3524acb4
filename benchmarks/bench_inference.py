#!/usr/bin/env python
"""CPU inference benchmark: the straightforward (reference) pipeline vs ``infer.fast``.

One process, the same real images, one model:

* model: ``CLDetectionModel(ModelArch.preset(arch, J))`` with random weights; its BatchNorm
  statistics are first calibrated on random input (one train-mode pass, so activations stay
  O(1) as in a trained network) and then randomised (running mean/var, weight, bias), so
  folding really has something to fold. The final output layer is made a Gaussian upsampler
  (`smooth_output_layer`, ``--raw-head`` keeps it random) so heatmaps are smooth peaks as a
  trained model's are; on pixel-noise heatmaps DARK's Newton step is ill-conditioned and
  any fp32 reordering moves points (the report's controls quantify that). It is saved as a
  reference-format checkpoint (``{"state_dict", "meta"}``) in a temporary folder and loaded
  through `LandmarkPredictor`.
* two predictors on that file: ``infer.fast=False`` (one image per pass, flipped input as its
  own pass: the reference's arithmetic) and ``infer.fast=True`` with ``infer.backend=torch``
  (BatchNorm folded, channels-last, windowed DARK decoding; on a CPU also one image per pass
  since the predictor stopped batching the flip there). The other engines of the fast path
  (OpenVINO, ONNX Runtime, AOTInductor) are compared in bench_backends.py.
* per image and per repeat, both pipelines run with and without flip test, in alternating
  order (exact first on even steps, fast first on odd ones) after one warm-up call each;
  every call is timed in three stages (preprocessing, forward + flip averaging, decoding) the
  way `LandmarkPredictor.predict` runs them.
* max point difference (image pixels, Euclidean) between the two pipelines over all
  images, both flip settings, landmarks found by both; heatmap differences and two controls
  (`accuracy_diagnostics`); the same comparison on the bundled trained starter model.
* peak memory: each configuration (pipeline x flip) runs once more in its own subprocess
  (fresh interpreter: load checkpoint, build predictor, predict one image), which reports
  its RSS high-water mark (``VmHWM`` in /proc/self/status; not ``getrusage().ru_maxrss``,
  which in a child of a large process reports the parent's peak: Linux keeps it across
  exec), the RSS after building the predictor, the peak during the call alone (VmHWM reset
  through /proc/self/clear_refs after setup) and the call's CPU time (``getrusage``);
  separate processes keep the peaks of different configurations from mixing.

The machine may be shared: timings are medians (and minima) of alternating runs; compare
the ratios, not absolute seconds across runs.

    python benchmarks/bench_inference.py                     # W48, J=38, N=1024 (~15 min idle)
    python benchmarks/bench_inference.py --images 2 --repeats 3 --write benchmarks/RESULTS.md
    python benchmarks/bench_inference.py --smoke             # tiny model, N=256 (seconds)
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic_heads import smooth_output_layer  # noqa: E402

DEFAULT_IMAGES = Path(os.environ.get("CEPHMARK_SHARED") or ROOT.parent / "shared") / "data" / "isbi2015" / "images"


# -- model ----------------------------------------------------------------------------------
def random_model(arch: str, landmarks: int, seed: int = 0, calib_size: int = 256):
    """Random weights; BatchNorm calibrated on random input, then randomised."""
    from cephmark.models.arch import ModelArch
    from cephmark.models.cldetection import CLDetectionModel

    torch.manual_seed(seed)
    model = CLDetectionModel(ModelArch.preset(arch, landmarks))
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over the calibration pass
    model.train()
    with torch.no_grad():
        model(torch.randn(2, 3, calib_size, calib_size))
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for bn in bns:
            bn.momentum = 0.1
            std = bn.running_var.sqrt()
            bn.running_var.mul_(torch.empty(bn.num_features).uniform_(0.8, 1.25, generator=g))
            bn.running_mean.add_(0.1 * std * torch.randn(bn.num_features, generator=g))
            bn.weight.uniform_(0.5, 1.5, generator=g)
            bn.bias.uniform_(-0.2, 0.2, generator=g)
    return model.eval()


def save_reference_checkpoint(model, path: Path) -> Path:
    """The reference container: ``state_dict`` + ``meta`` (plain data only)."""
    torch.save({"state_dict": model.state_dict(), "meta": {"epoch": 0, "note": "random weights"}},
               path)
    return path


def make_predictor(checkpoint: Path, fast: bool, size: int):
    from cephmark.config import CephConfig
    from cephmark.inference import LandmarkPredictor

    return LandmarkPredictor(str(checkpoint), CephConfig(), overrides={
        "infer.fast": fast, "infer.backend": "torch", "infer.device": "cpu", "infer.batch_size": 1,
        "preprocess.image_size": size})


# -- one timed prediction -------------------------------------------------------------------
def predict_timed(pred, path: Path, flip: bool) -> tuple[dict[str, float], np.ndarray]:
    """`LandmarkPredictor.predict` for one image, stage by stage; (J, 2) points (NaN = not found)."""
    pred.config.preprocess.flip_test = flip
    c0 = time.process_time()
    t0 = time.perf_counter()
    item = pred.prepare(path)
    batch = torch.stack([torch.as_tensor(np.asarray(item["image"]))])
    t1 = time.perf_counter()
    heat = pred.heatmaps(batch).cpu().numpy()
    t2 = time.perf_counter()
    res = pred.decode(heat[0], item["meta"])
    t3 = time.perf_counter()
    cpu = time.process_time() - c0
    pts = np.array([(lm.x, lm.y) if lm.found else (np.nan, np.nan) for lm in res.landmarks],
                   dtype=np.float64)
    return {"prep": t1 - t0, "forward": t2 - t1, "decode": t3 - t2, "total": t3 - t0,
            "cpu": cpu}, pts


# -- peak memory in a subprocess ------------------------------------------------------------
def _status_kib(key: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return -1


def _reset_peak_rss() -> bool:
    """Reset VmHWM (Linux >= 4.0: write 5 to /proc/self/clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def child_main(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    pred = make_predictor(Path(args.checkpoint), args.child == "fast", args.size)
    setup = time.perf_counter() - t0
    rss_setup = _status_kib("VmRSS")
    hwm_setup = _status_kib("VmHWM")  # interpreter, imports, checkpoint, predictor
    reset = _reset_peak_rss()
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    times, _ = predict_timed(pred, Path(args.child_image), bool(args.flip))
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    hwm_call = _status_kib("VmHWM")
    # ru_maxrss is no use here: Linux keeps the parent's high-water mark across fork + exec,
    # so a child of this (large) benchmark process would report the parent's peak
    print(json.dumps({
        "peak_rss_kib": max(hwm_setup, hwm_call),  # whole process, imports and setup included
        "ru_maxrss_kib": cpu1.ru_maxrss,
        "rss_after_setup_kib": rss_setup,
        "call_peak_rss_kib": hwm_call if reset else None,  # peak during the call
        "setup_s": setup, "first_call_s": times["total"],
        "cpu_s": (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime),
    }))


def measure_memory(args: argparse.Namespace, checkpoint: Path, image: Path, pipeline: str,
                   flip: bool) -> dict:
    cmd = [sys.executable, __file__, "--child", pipeline, "--checkpoint", str(checkpoint),
           "--child-image", str(image), "--flip", str(int(flip)), "--size", str(args.size),
           "--threads", str(args.threads)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- the bundled trained model --------------------------------------------------------------
def trained_section(images: list[Path], repeats: int) -> tuple[str, str] | None:
    """Exact vs fast on the bundled starter model (trained: real heatmaps), its own settings."""
    from cephmark.config import CephConfig
    from cephmark.inference import LandmarkPredictor
    from cephmark.weights import STARTER

    if not STARTER.is_file():
        return None
    preds = {name: LandmarkPredictor(str(STARTER), CephConfig(), overrides={
        "infer.fast": name == "fast", "infer.backend": "torch", "infer.device": "cpu",
        "infer.batch_size": 1})
        for name in ("exact", "fast")}
    n = preds["exact"].config.preprocess.image_size
    times: dict[tuple[str, bool], list[float]] = {}
    worst, step = 0.0, 0
    for name in ("exact", "fast"):
        for flip in (False, True):
            predict_timed(preds[name], images[0], flip)  # warm-up
    for _ in range(repeats):
        for img in images:
            for flip in (False, True):
                order = ("exact", "fast") if step % 2 == 0 else ("fast", "exact")
                step += 1
                pts = {}
                for name in order:
                    t, pts[name] = predict_timed(preds[name], img, flip)
                    times.setdefault((name, flip), []).append(t["total"])
                ok = ~np.isnan(pts["exact"][:, 0]) & ~np.isnan(pts["fast"][:, 0])
                worst = max(worst, float(np.linalg.norm(pts["exact"][ok] - pts["fast"][ok], axis=1).max()))
    rows = []
    for flip in (False, True):
        e, f = statistics.median(times[("exact", flip)]), statistics.median(times[("fast", flip)])
        rows.append(["on" if flip else "off", f"{e:.2f}", f"{f:.2f}", f"{e / f:.2f}x"])
    j = preds["exact"].loaded.model.num_landmarks
    title = (f"Bundled trained starter model (`{STARTER.name}`: {j} landmarks, N = {n}, its own "
             f"preprocessing), same images, {repeats} repeats, alternating: max point difference "
             f"fast vs straightforward {worst:.2e} px (image pixels)")
    return title, fmt_table(rows, ["flip test", "straightforward s/image (median)",
                                   "fast s/image (median)", "speed-up"])


# -- accuracy diagnostics -------------------------------------------------------------------
def accuracy_diagnostics(pe, pf, image: Path, seed: int = 0) -> dict[str, float]:
    """How far apart the two pipelines' heatmaps are, and what that does to points.

    Random-weight heatmaps are noise, where DARK's Newton step is ill-conditioned: any fp32
    reordering moves their points. Two controls separate that from the pipelines: the exact
    heatmaps plus Gaussian noise with the std of the measured difference, and "trained-like"
    heatmaps (unit Gaussians, sigma 6 px at 1024, at the exact pipeline's points) plus the
    measured fast - exact difference, each decoded against its unperturbed version.
    """
    from cephmark.transforms import Box

    pe.config.preprocess.flip_test = pf.config.preprocess.flip_test = True
    item = pe.prepare(image)
    x = torch.stack([torch.as_tensor(np.asarray(item["image"]))])
    he = pe.heatmaps(x).cpu().numpy()[0]
    hf = pf.heatmaps(x).cpu().numpy()[0]
    diff = hf - he
    n = he.shape[-1]
    box = Box(*item["meta"]["box"])
    to_img = box.size / n  # image pixels per heatmap pixel
    codec = pe.codec
    base = codec.decode(he)
    rng = np.random.default_rng(seed)
    noisy = codec.decode(he + rng.normal(0, diff.std(), he.shape).astype(np.float32))
    ok = base.found & noisy.found
    noise_shift = np.linalg.norm(base.xy[ok] - noisy.xy[ok], axis=1).max() * to_img
    xy = np.clip(np.where(base.found[:, None], base.xy, n / 2), 3, n - 4)  # DARK can overshoot
    xy = torch.as_tensor(xy, dtype=torch.float32)
    gauss = codec.encode(xy, (n, n), sigma=6.0 * n / 1024).numpy()
    g0, g1 = codec.decode(gauss), codec.decode(gauss + diff)
    trained_shift = np.linalg.norm(g0.xy - g1.xy, axis=1).max() * to_img
    return {"heat_max_abs_diff": float(np.abs(diff).max()), "heat_max_abs": float(np.abs(he).max()),
            "heat_diff_std": float(diff.std()), "noise_control_px": float(noise_shift),
            "trained_like_px": float(trained_shift)}


# -- report ---------------------------------------------------------------------------------
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mib(kib: int | None) -> str:
    return f"{kib / 1024:.0f}" if kib else "-"


def fmt_table(rows: list[list[str]], header: list[str]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--arch", default="w48")
    p.add_argument("--landmarks", type=int, default=38)
    p.add_argument("--size", type=int, default=1024)
    p.add_argument("--image-dir", type=Path, default=DEFAULT_IMAGES)
    p.add_argument("--images", type=int, default=3, help="how many images (sorted names)")
    p.add_argument("--repeats", type=int, default=2, help="timed passes over the images")
    p.add_argument("--threads", type=int, default=None, help="intra-op threads (default: cores)")
    p.add_argument("--raw-head", action="store_true",
                   help="keep the random output layer (pixel-noise heatmaps) instead of smooth_output_layer")
    p.add_argument("--no-trained", action="store_true", help="skip the bundled starter model check")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    p.add_argument("--write", type=Path, help="write the markdown report here")
    p.add_argument("--smoke", action="store_true", help="tiny model, N=256, 1 image, 1 repeat")
    # internal: peak-memory child
    p.add_argument("--child", choices=["exact", "fast"], help=argparse.SUPPRESS)
    p.add_argument("--checkpoint", help=argparse.SUPPRESS)
    p.add_argument("--child-image", help=argparse.SUPPRESS)
    p.add_argument("--flip", type=int, default=1, help=argparse.SUPPRESS)
    args = p.parse_args()
    from cephmark.inference.fast import cpu_threads

    args.threads = args.threads or cpu_threads()
    if args.child:
        child_main(args)
        return
    if args.smoke:
        args.arch, args.size, args.images, args.repeats = "tiny", 256, 1, 1
    torch.set_num_threads(args.threads)

    images = sorted(args.image_dir.glob("*.jpg"))[: args.images]
    if not images:
        sys.exit(f"no images in {args.image_dir}")
    print(f"{cpu_model()}, {os.cpu_count()} logical CPUs, torch {torch.__version__}, "
          f"{args.threads} threads; model {args.arch} J={args.landmarks} N={args.size}; "
          f"{len(images)} images x {args.repeats} repeats", flush=True)

    with tempfile.TemporaryDirectory(prefix="cephmark-bench-") as tmp:
        t0 = time.perf_counter()
        model = random_model(args.arch, args.landmarks)
        if not args.raw_head:
            smooth_output_layer(model)
        ckpt = save_reference_checkpoint(model, Path(tmp) / "random_reference_format.pth")
        del model
        print(f"model built, calibrated and saved in {time.perf_counter() - t0:.1f} s", flush=True)
        setup = {}
        preds = {}
        for name in ("exact", "fast"):
            t0 = time.perf_counter()
            preds[name] = make_predictor(ckpt, name == "fast", args.size)
            setup[name] = time.perf_counter() - t0
        torch.set_num_threads(args.threads)  # the fast predictor sets it too: keep both equal
        folded = len(getattr(preds["fast"].model, "folded", []))

        configs = [(name, flip) for flip in (False, True) for name in ("exact", "fast")]
        times: dict[tuple[str, bool], list[dict[str, float]]] = {c: [] for c in configs}
        points: dict[tuple[str, bool, int], np.ndarray] = {}
        for name, flip in configs:  # warm-up
            predict_timed(preds[name], images[0], flip)
        step = 0
        for rep in range(args.repeats):
            for i, img in enumerate(images):
                for flip in (False, True):
                    order = ("exact", "fast") if step % 2 == 0 else ("fast", "exact")
                    step += 1
                    for name in order:
                        t, pts = predict_timed(preds[name], img, flip)
                        times[(name, flip)].append(t)
                        points[(name, flip, i)] = pts
                    print(f"rep {rep} {img.name} flip={int(flip)}: " + ", ".join(
                        f"{n} {times[(n, flip)][-1]['total']:.2f} s" for n in ("exact", "fast")),
                        flush=True)

        diffs, found_mismatch = [], 0
        for flip in (False, True):
            for i in range(len(images)):
                a, b = points[("exact", flip, i)], points[("fast", flip, i)]
                found_mismatch += int(np.sum(np.isnan(a[:, 0]) != np.isnan(b[:, 0])))
                both = ~np.isnan(a[:, 0]) & ~np.isnan(b[:, 0])
                diffs.append(np.linalg.norm(a[both] - b[both], axis=1))
        d = np.concatenate(diffs)
        max_diff = float(d.max()) if d.size else float("nan")

        diag = accuracy_diagnostics(preds["exact"], preds["fast"], images[0])
        print(f"diagnostics: {diag}", flush=True)
        del preds
        trained = None if args.no_trained else trained_section(images, args.repeats)
        if trained:
            print(trained[0] + "\n" + trained[1], flush=True)
        memory = {}
        if not args.no_memory:
            for name, flip in configs:
                memory[(name, flip)] = measure_memory(args, ckpt, images[0], name, flip)
                print(f"memory {name} flip={int(flip)}: {memory[(name, flip)]}", flush=True)

    # -- tables -----------------------------------------------------------------------------
    def med(name, flip, key):
        return statistics.median(t[key] for t in times[(name, flip)])

    def mn(name, flip, key):
        return min(t[key] for t in times[(name, flip)])

    n = len(times[("exact", False)])
    rows = []
    for flip in (False, True):
        for name in ("exact", "fast"):
            label = "straightforward fp32 eager (fast=False)" if name == "exact" else "fast=True"
            ratio = med("exact", flip, "total") / med(name, flip, "total")
            ratio_min = mn("exact", flip, "total") / mn(name, flip, "total")
            ratio_cpu = med("exact", flip, "cpu") / med(name, flip, "cpu")
            mem = memory.get((name, flip))
            rows.append([
                label, "on" if flip else "off",
                f"{med(name, flip, 'total'):.2f}", f"{mn(name, flip, 'total'):.2f}",
                f"{med(name, flip, 'prep'):.3f}", f"{med(name, flip, 'forward'):.2f}",
                f"{med(name, flip, 'decode'):.3f}", f"{med(name, flip, 'cpu'):.1f}",
                f"{ratio:.2f}x", f"{ratio_min:.2f}x", f"{ratio_cpu:.2f}x",
                f"{mem['peak_rss_kib'] / 1024:.0f}" if mem else "-",
                f"{mem['rss_after_setup_kib'] / 1024:.0f}" if mem else "-",
                f"{mem['call_peak_rss_kib'] / 1024:.0f}" if mem and mem["call_peak_rss_kib"] else "-",
            ])
    header = ["pipeline", "flip test", "s/image median", "s/image min", "preprocess s",
              "forward s", "decode s", "CPU s/image median",
              "speed-up (median wall)", "speed-up (min wall)", "speed-up (median CPU time)",
              "peak RSS MiB (process)",
              "RSS after setup MiB", "peak RSS MiB during the call"]
    table = fmt_table(rows, header)
    summary = (f"max point difference fast vs straightforward: {max_diff:.2e} px (image pixels, "
               f"{d.size} landmark positions, {found_mismatch} found/not-found mismatches); "
               f"{folded} conv/BatchNorm pairs folded; predictor setup: straightforward "
               f"{setup['exact']:.1f} s, fast {setup['fast']:.1f} s.\n"
               f"Heatmaps (first image, flip on): max |fast - exact| = {diag['heat_max_abs_diff']:.2e} "
               f"(max |heatmap| {diag['heat_max_abs']:.3g}, std of the difference "
               f"{diag['heat_diff_std']:.1e}). Controls: exact heatmaps + Gaussian noise of that std "
               f"move points by up to {diag['noise_control_px']:.2e} px; trained-like heatmaps "
               f"(unit Gaussians at the exact points) + the measured fast - exact difference move "
               f"them by up to {diag['trained_like_px']:.2e} px.")
    print()
    print(table)
    print(summary)

    if args.write:
        now = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
        lines = [
            "# Inference benchmark (CPU)",
            "",
            f"Produced by `python benchmarks/bench_inference.py {' '.join(sys.argv[1:])}` on {now}.",
            "",
            f"- CPU: {cpu_model()} ({os.cpu_count()} logical CPUs); torch {torch.__version__}, "
            f"{args.threads} intra-op threads; numpy {np.__version__}",
            f"- model: `CLDetectionModel(ModelArch.preset('{args.arch}', {args.landmarks}))`, random "
            "weights, BatchNorm statistics calibrated on random input then randomised, saved as a "
            "reference-format checkpoint and loaded through `LandmarkPredictor`; " + (
                "the random output layer kept (`--raw-head`): heatmaps are pixel noise"
                if args.raw_head else
                "the final output layer (`head.converge.3`) set to a Gaussian upsampler "
                "(`smooth_output_layer`) so heatmaps are smooth peaks like a trained model's "
                "(on pixel-noise heatmaps DARK is ill-conditioned: see the controls below)"),
            f"- input: N = {args.size}; images: {', '.join(p.name for p in images)} from "
            f"`shared/data/isbi2015/images`; {args.repeats} repeats x {len(images)} images = {n} "
            "timed calls per row, alternating order, after one warm-up call per row",
            "- s/image: end to end per image (read + warp + normalise, forward incl. flip "
            "averaging, decode), as `LandmarkPredictor.predict` does it with batch size 1; "
            "stage columns are medians of wall seconds; CPU s = process CPU time (all threads, "
            "`time.process_time`) per image, less sensitive to other jobs than wall time "
            "(OpenMP spin-waiting still counts); speed-ups = straightforward / fast",
            "- peak RSS: RSS high-water mark (`VmHWM`) of a fresh subprocess per row (load "
            "checkpoint, build predictor, predict one image; includes the interpreter, "
            "torch/MONAI imports and the model); RSS after setup = VmRSS once the predictor is "
            "built; peak during the call = VmHWM after resetting it (`/proc/self/clear_refs`) "
            "once the predictor was built. (`getrusage().ru_maxrss` is not used: in a child of "
            "a large process Linux reports the parent's high-water mark, kept across exec.)",
            "- the machine is shared with other jobs: absolute seconds vary between runs, the "
            "ratios of the alternating runs are what to compare",
            "",
            table,
            "",
            summary,
            "",
        ]
        if trained:
            lines += [trained[0] + ":", "", trained[1], ""]
        if memory:
            ex_off, ex_on = memory[("exact", False)], memory[("exact", True)]
            lines += [
                "## Issue 2: straightforward pipeline, one 1024 image, W48, CPU"
                if (args.arch, args.size) == ("w48", 1024) else
                f"## Issue 2 (this run: {args.arch}, N = {args.size}): straightforward pipeline",
                "",
                fmt_table([
                    ["off", f"{med('exact', False, 'total'):.2f}", f"{ex_off['first_call_s']:.2f}",
                     f"{ex_off['cpu_s']:.1f}", f"{ex_off['peak_rss_kib'] / 1024:.0f}",
                     _mib(ex_off["call_peak_rss_kib"])],
                    ["on", f"{med('exact', True, 'total'):.2f}", f"{ex_on['first_call_s']:.2f}",
                     f"{ex_on['cpu_s']:.1f}", f"{ex_on['peak_rss_kib'] / 1024:.0f}",
                     _mib(ex_on["call_peak_rss_kib"])],
                ], ["flip test", "wall s/image (median, warm)", "wall s (first call, fresh process)",
                    "CPU s (user+sys, first call)", "peak RSS MiB (whole process)",
                    "peak RSS MiB during the call"]),
                "",
            ]
        args.write.write_text("\n".join(lines))
        print(f"wrote {args.write}")


if __name__ == "__main__":
    main()
