#!/usr/bin/env python3
"""GPU check for the W48 CL-Detection model at 1024: inference speed and training memory.

Self-contained: needs python3 with torch, timm, numpy and opencv-python-headless, and this
repository's ``lib/`` (found relative to this file). It imports only ``cephmark.models``,
``cephmark.codecs``, ``cephmark.inference.fast``, ``cephmark.training.loss`` and
``cephmark.transforms.affine`` (the package ``__init__`` files import nothing until used).
MONAI, pydicom and SimpleITK are blocked in ``sys.modules`` at start, so a dependency creeping
in fails here as it would on a machine without them.

1. Inference, batch 1 and 4 (no flip test): the model as loaded (fp32 eager, TF32 off = the
   reference arithmetic, baseline for point differences), fp32 eager with TF32 (PyTorch's
   default for cuDNN convolutions), ``optimize_for_inference`` fp32, and with bf16 autocast
   (heatmap output layers kept in fp32). Reports ms per batch and per image, speed-up, the
   largest heatmap difference and point difference (heatmap = input pixels) against the
   baseline, and a trained-like control: unit Gaussians at the baseline points plus the
   measured heatmap difference, decoded (random-weight heatmaps are noise, where DARK is
   ill-conditioned, so their own point differences overstate what a trained model sees).
2. Training memory at 1024: Adam step on forward + backward with the deep-supervision loss
   (``cephmark.training.loss.HeatmapLoss`` when present, else a plain MSE on the three
   outputs), batch sizes 1, 2, 4, 6, 8, ... with and without activation checkpointing and
   bf16 autocast; ``torch.cuda.max_memory_allocated`` of the second step (Adam state
   allocated) per batch size, and the largest batch under 22 GiB.
3. ``torch.compile`` (bf16, fast model) in a subprocess with a time cap (compile time
   included in what is reported), batch 1 and 4, if time is left.

The whole run keeps to a deadline (default 270 s); steps that do not fit are reported as
skipped. Prints markdown tables and writes them to ``$OUT/gpu_results.md`` when ``$OUT``
is set.

    python3 benchmarks/gpu_check.py                 # on the GPU machine
    python3 benchmarks/gpu_check.py --smoke         # CPU, tiny model, N=128: checks the code runs
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

for _blocked in ("monai", "pydicom", "SimpleITK"):
    sys.modules.setdefault(_blocked, None)  # type: ignore[arg-type]  # import -> ImportError

ROOT = Path(__file__).resolve().parents[1]
LIB = ROOT / "lib"
sys.path.insert(0, str(LIB))
import numpy as np  # noqa: E402
import torch  # noqa: E402
sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic_heads import smooth_output_layer  # noqa: E402

GIB = 1024 ** 3
LIMIT_GIB = 22.0


from cephmark.codecs import FastHeatmapCodec, HeatmapCodec  # noqa: E402
from cephmark.inference.fast import optimize_for_inference  # noqa: E402
from cephmark.models.arch import ModelArch  # noqa: E402
from cephmark.models.cldetection import CLDetectionModel  # noqa: E402


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()


# -- model and inputs -----------------------------------------------------------------------
def random_model(arch: str, landmarks: int, device: torch.device, seed: int = 0) -> CLDetectionModel:
    """Random weights; BatchNorm calibrated on random input (O(1) activations), then randomised."""
    torch.manual_seed(seed)
    model = CLDetectionModel(ModelArch.preset(arch, landmarks)).to(device)
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None
    model.train()
    with torch.no_grad():
        model(torch.randn(2, 3, 256, 256, device=device))
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for bn in bns:
            bn.momentum = 0.1
            std = bn.running_var.sqrt()
            bn.running_var.mul_(torch.empty(bn.num_features).uniform_(0.8, 1.25, generator=g).to(device))
            bn.running_mean.add_(0.1 * std * torch.randn(bn.num_features, generator=g).to(device))
            bn.weight.copy_(torch.empty(bn.num_features).uniform_(0.5, 1.5, generator=g))
            bn.bias.copy_(torch.empty(bn.num_features).uniform_(-0.2, 0.2, generator=g))
    return model.eval()


def input_batch(n: int, count: int) -> tuple[torch.Tensor, str]:
    """``count`` normalised (3, n, n) inputs: real cephalograms when found, else synthetic."""
    shared = Path(os.environ.get("CEPHMARK_SHARED") or ROOT.parent / "shared")
    for d in (shared / "data" / "isbi2015" / "images", ROOT / "shared" / "data" / "isbi2015" / "images"):
        files = sorted(d.glob("*.jpg"))[:count] if d.is_dir() else []
        if files:
            import cv2

            from cephmark.transforms import affine
            out = []
            for f in files:
                img = cv2.cvtColor(cv2.imread(str(f), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
                h, w = img.shape[:2]
                warped = affine.warp_image(img, affine.warp_matrix(affine.Box.whole_image(w, h), n), n)
                out.append((warped.transpose(2, 0, 1).astype(np.float32) - 121.25) / 76.5)
            while len(out) < count:
                out.append(out[len(out) % len(files)][:, :, ::-1].copy())
            return torch.from_numpy(np.stack(out)), f"{len(files)} image(s) from {d}"
    g = torch.Generator().manual_seed(0)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, n), torch.linspace(-1, 1, n), indexing="ij")
    base = torch.exp(-(xx ** 2 + yy ** 2) * 2) * 200 + 20
    x = torch.stack([base + 10 * torch.randn(n, n, generator=g) for _ in range(count)])
    x = ((x - 121.25) / 76.5).unsqueeze(1).repeat(1, 3, 1, 1)
    return x, "synthetic inputs (no images found)"


TF32_DEFAULTS = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)


def set_tf32(on: bool | tuple[bool, bool]) -> None:
    """TF32 for cuDNN convolutions and cuBLAS matmuls (a pair: conv, matmul)."""
    conv, mm = on if isinstance(on, tuple) else (on, on)
    torch.backends.cudnn.allow_tf32 = conv
    torch.backends.cuda.matmul.allow_tf32 = mm


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_forward(fn, x: torch.Tensor, device: torch.device, warmup: int, iters: int) -> tuple[float, torch.Tensor]:
    with torch.inference_mode():
        for _ in range(warmup):
            out = fn(x)
        sync(device)
        t0 = time.perf_counter()
        for _ in range(iters):
            out = fn(x)
        sync(device)
    return (time.perf_counter() - t0) / iters, out


def decode_all(heat: np.ndarray) -> list:
    codec = FastHeatmapCodec()
    return [codec.decode(h) for h in heat]


def point_diff(a: list, b: list) -> float:
    worst = 0.0
    for da, db in zip(a, b):
        ok = da.found & db.found
        if ok.any():
            worst = max(worst, float(np.linalg.norm(da.xy[ok] - db.xy[ok], axis=1).max()))
    return worst


def trained_like_shift(base_heat: np.ndarray, base_dec: list, heat: np.ndarray) -> float:
    """Unit Gaussians (sigma 6 px at 1024) at the baseline points + (heat - base_heat)."""
    codec = FastHeatmapCodec()  # the reference decode arithmetic, without full-map blurs
    worst = 0.0
    for hb, db, h in zip(base_heat, base_dec, heat):
        n = hb.shape[-1]
        # DARK without safeguards can throw noise-map points far outside: keep centres inside
        xy = np.clip(np.where(db.found[:, None], db.xy, n / 2), 3, n - 4)
        xy = torch.as_tensor(xy, dtype=torch.float32)
        g = codec.encode(xy, (n, n), sigma=6.0 * n / 1024).numpy()
        d0, d1 = codec.decode(g), codec.decode(g + (h - hb))
        worst = max(worst, float(np.linalg.norm(d0.xy - d1.xy, axis=1).max()))
    return worst


# -- 1. inference ---------------------------------------------------------------------------
def inference_section(args, model, device, x_all, deadline) -> tuple[list[list[str]], dict]:
    rows, baseline = [], {}
    cuda = device.type == "cuda"
    if cuda:  # optimize_for_inference switches it on process-wide: same for every row
        torch.backends.cudnn.benchmark = True
    # TF32 settings: off = IEEE fp32; TF32_DEFAULTS = PyTorch's (cuDNN convs TF32, matmul not)
    variants = [("eager fp32, TF32 off (reference arithmetic)", lambda: model, False)]
    if cuda:
        variants.append(("eager fp32, TF32 defaults", lambda: model, TF32_DEFAULTS))
    variants += [
        ("fast fp32 (folded BN, channels-last), TF32 defaults",
         lambda: optimize_for_inference(model, device), TF32_DEFAULTS),
        ("fast bf16 autocast (fp32 output layer)",
         lambda: optimize_for_inference(model, device, amp="bf16"), TF32_DEFAULTS),
    ]
    for batch in args.batches:
        x = x_all[:batch].to(device)
        base_ms = None
        for label, build, tf32 in variants:
            if deadline.left() < args.reserve:
                rows.append([label, str(batch), "skipped (time)", "", "", "", "", ""])
                continue
            set_tf32(tf32)
            fn = build()
            sec, out = time_forward(fn, x, device, args.warmup, args.iters)
            heat = out.float().cpu().numpy()
            dec = decode_all(heat)
            if batch not in baseline:
                baseline[batch] = (heat, dec)
                base_ms = sec
            bh, bd = baseline[batch]
            rows.append([label, str(batch), f"{sec * 1e3:.1f}", f"{sec * 1e3 / batch:.1f}",
                         f"{base_ms / sec:.2f}x", f"{np.abs(heat - bh).max():.2e}",
                         f"{point_diff(bd, dec):.3f}", f"{trained_like_shift(bh, bd, heat):.4f}"])
            print("inference:", rows[-1], flush=True)
            del fn, out
            if cuda:
                torch.cuda.empty_cache()
    set_tf32(TF32_DEFAULTS)
    return rows, {b: [d.xy.tolist() for d in v[1]] for b, v in baseline.items()}


# -- 2. training memory ---------------------------------------------------------------------
def make_loss():
    try:
        from cephmark.training import loss as loss_mod
        hl = loss_mod.HeatmapLoss(HeatmapCodec())
        return lambda outs, xy, w, sigma: hl(outs, xy, w, sigma)[0], "cephmark.training.loss.HeatmapLoss"
    except (ImportError, AttributeError) as exc:  # training package not there: plain MSE
        codec = HeatmapCodec()

        def mse(outs, xy, w, sigma):
            n = outs[-1].shape[-1]
            target = codec.encode(xy, (n, n), sigma=sigma)
            total = 0.0
            for wt, o in zip((1e-4, 1.0, 1.0), outs):
                t = torch.nn.functional.adaptive_avg_pool2d(target, o.shape[-2:])
                total = total + wt * ((o.float() - t) ** 2).mean()
            return total

        return mse, f"plain MSE on the three outputs ({type(exc).__name__})"


def train_step(model, opt, loss_fn, batch: int, n: int, amp: bool, device: torch.device) -> float:
    x = torch.randn(batch, 3, n, n, device=device)
    j = model.num_landmarks
    xy = torch.rand(batch, j, 2, device=device) * (n - 1)
    w = torch.ones(batch, j, device=device)
    opt.zero_grad(set_to_none=True)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
        outs = model(x, deep_supervision=True)
        loss = loss_fn(outs, xy, w, 6.0 * n / 1024)
    loss.backward()
    opt.step()
    return float(loss.detach())


def training_section(args, device, deadline) -> tuple[list[list[str]], list[list[str]], str]:
    """Four configurations share the time left minus what torch.compile is promised."""
    cuda = device.type == "cuda"
    budget_end = time.monotonic() + deadline.left() - (0 if args.no_compile else args.compile_reserve)
    loss_fn, loss_name = make_loss()
    model = random_model(args.arch, args.landmarks, device).train()
    torch.backends.cudnn.benchmark = False  # benchmark mode's workspaces would inflate the peak
    rows, summary = [], []
    configs = [(False, False), (True, False), (False, True), (True, True)]
    for idx, (ckpt, amp) in enumerate(configs):
        share = max(0.0, (budget_end - time.monotonic()) / (len(configs) - idx))
        cfg_end = time.monotonic() + share
        model.activation_checkpointing = ckpt
        label = f"checkpointing {'on' if ckpt else 'off'}, {'bf16 autocast' if amp else 'fp32'}"
        measured: list[tuple[int, float]] = []
        stop = ""
        for batch in args.train_batches:
            last = step_s if measured else 0.0
            if time.monotonic() + max(args.step_budget, 4 * last) > cfg_end:
                stop = "time"
                break
            opt = torch.optim.Adam(model.parameters(), lr=1e-6)
            try:
                if cuda:
                    torch.cuda.empty_cache()
                train_step(model, opt, loss_fn, batch, args.size, amp, device)  # allocates Adam state
                sync(device)
                if cuda:
                    torch.cuda.reset_peak_memory_stats()
                t0 = time.perf_counter()
                train_step(model, opt, loss_fn, batch, args.size, amp, device)
                sync(device)
                step_s = time.perf_counter() - t0 + 1e-9
            except torch.cuda.OutOfMemoryError:
                rows.append([label, str(batch), "OOM", "", ""])
                stop = "OOM"
                break
            finally:
                del opt
            peak = torch.cuda.max_memory_allocated() / GIB if cuda else float("nan")
            reserved = torch.cuda.max_memory_reserved() / GIB if cuda else float("nan")
            measured.append((batch, peak))
            rows.append([label, str(batch), f"{peak:.2f}", f"{reserved:.2f}", f"{step_s:.2f}"])
            print("training:", rows[-1], flush=True)
            if cuda and peak > LIMIT_GIB:
                stop = f"> {LIMIT_GIB:g} GiB"
                break
        fits = [b for b, p in measured if p <= LIMIT_GIB]
        est = "-"
        if cuda and len(measured) >= 2:
            (b0, p0), (b1, p1) = measured[0], measured[-1]
            if b1 > b0 and p1 > p0:
                slope = (p1 - p0) / (b1 - b0)
                est = str(int(b0 + (LIMIT_GIB - p0) // slope))
        summary.append([label, str(max(fits)) if fits and cuda else "-", est,
                        f"{measured[0][1]:.2f}" if measured and cuda else "-", stop or "sweep done"])
    del model
    if cuda:
        torch.cuda.empty_cache()
    return rows, summary, loss_name


# -- 3. torch.compile in a capped subprocess ------------------------------------------------
def compile_child(args) -> None:
    device = torch.device(args.device)
    model = CLDetectionModel(ModelArch.preset(args.arch, args.landmarks)).to(device)
    model.load_state_dict(torch.load(args.state, map_location=device, weights_only=True))
    model.eval()
    baseline = json.loads(Path(args.baseline).read_text())
    x_all, _ = input_batch(args.size, max(args.batches))
    t0 = time.perf_counter()
    fast = optimize_for_inference(model, device, amp="bf16" if args.amp else None, compile=True)
    for batch in args.batches:
        x = x_all[:batch].to(device)
        t1 = time.perf_counter()
        with torch.inference_mode():
            fast(x)
        sync(device)
        first = time.perf_counter() - t1
        sec, out = time_forward(fast, x, device, args.warmup, args.iters)
        dec = decode_all(out.float().cpu().numpy())
        ref = baseline.get(str(batch))
        diff = max((float(np.linalg.norm(np.asarray(r) - d.xy, axis=1).max()) for r, d in zip(ref, dec)),
                   default=float("nan")) if ref else float("nan")
        print(json.dumps({"batch": batch, "first_call_s": first, "ms": sec * 1e3,
                          "since_start_s": time.perf_counter() - t0, "point_diff": diff}), flush=True)


def compile_section(args, model, device, baseline, deadline, eager_ms: dict) -> list[list[str]]:
    cap = min(args.compile_cap, deadline.left() - 10)
    label = f"fast {'bf16' if args.amp_compile else 'fp32'} + torch.compile"
    if cap < 30:
        return [[label, "-", "skipped (time)", "", "", "", ""]]
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        state, base = Path(tmp) / "state.pt", Path(tmp) / "baseline.json"
        torch.save(model.state_dict(), state)
        base.write_text(json.dumps({str(k): v for k, v in baseline.items()}))
        cmd = [sys.executable, __file__, "--compile-child", "--state", str(state), "--baseline",
               str(base), "--device", str(device), "--arch", args.arch, "--landmarks",
               str(args.landmarks), "--size", str(args.size), "--warmup", str(args.warmup),
               "--iters", str(args.iters), "--batches", *map(str, args.batches)]
        if args.amp_compile:
            cmd.append("--amp")
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        timed_out = False
        try:
            out, err = proc.communicate(timeout=cap)
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(proc.pid, signal.SIGKILL)  # the child and its compile workers
            out, err = proc.communicate()
    rows = []
    for line in out.splitlines():
        if line.startswith("{"):
            r = json.loads(line)
            b = r["batch"]
            rows.append([label, str(b), f"{r['ms']:.1f}", f"{r['ms'] / b:.1f}",
                         f"{eager_ms[b] / r['ms']:.2f}x" if b in eager_ms else "-",
                         f"{r['first_call_s']:.0f}", f"{r['point_diff']:.3f}"])
    done = {int(r[1]) for r in rows}
    for b in args.batches:
        if b not in done:
            why = f"not finished within the {cap:.0f} s cap" if timed_out else \
                "failed: " + (err.strip().splitlines() or ["?"])[-1][:150]
            rows.append([label, str(b), why, "", "", "", ""])
    return rows


# -- main -----------------------------------------------------------------------------------
def table(header: list[str], rows: list[list[str]]) -> str:
    return "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
                     + ["| " + " | ".join(r) + " |" for r in rows])


def main() -> None:
    p = argparse.ArgumentParser(description="W48 GPU check: inference speed and training memory")
    p.add_argument("--smoke", action="store_true", help="CPU-sized run: tiny model, N=128")
    p.add_argument("--device", default=None)
    p.add_argument("--arch", default="w48")
    p.add_argument("--landmarks", type=int, default=38)
    p.add_argument("--size", type=int, default=1024)
    p.add_argument("--batches", type=int, nargs="+", default=[1, 4])
    p.add_argument("--train-batches", type=int, nargs="+",
                   default=[1, 2, 4, 6, 8, 10, 12, 16, 20, 24, 32, 40, 48, 64])
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--deadline", type=float, default=270.0, help="seconds for the whole run")
    p.add_argument("--compile-cap", type=float, default=None,
                   help="seconds for torch.compile (default 150; 40 with --smoke)")
    p.add_argument("--compile-reserve", type=float, default=110.0,
                   help="seconds the training sweep leaves for torch.compile")
    p.add_argument("--no-compile", action="store_true")
    p.add_argument("--no-train", action="store_true")
    p.add_argument("--raw-head", action="store_true", help="keep the random (pixel-noise) output layer")
    p.add_argument("--reserve", type=float, default=15.0, help=argparse.SUPPRESS)
    p.add_argument("--step-budget", type=float, default=8.0, help=argparse.SUPPRESS)
    p.add_argument("--compile-child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--state", help=argparse.SUPPRESS)
    p.add_argument("--baseline", help=argparse.SUPPRESS)
    p.add_argument("--amp", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    args.amp_compile = True
    if args.smoke:
        args.arch, args.size, args.iters, args.warmup = "tiny", 128, 2, 1
        args.train_batches = [1, 2]
        if args.compile_cap is None:
            args.compile_cap, args.compile_reserve = 40.0, 45.0
            args.deadline = min(args.deadline, 200.0)
    if args.compile_cap is None:
        args.compile_cap = 150.0
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if args.compile_child:
        compile_child(args)
        return
    deadline = Deadline(args.deadline)
    t_start = time.perf_counter()
    info = [f"torch {torch.__version__}", f"device {device}"]
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info += [torch.cuda.get_device_name(device), f"{props.total_memory / GIB:.0f} GiB",
                 f"cuDNN {torch.backends.cudnn.version()}"]
    print("gpu_check:", ", ".join(info), flush=True)

    model = random_model(args.arch, args.landmarks, device)
    if not args.raw_head:
        smooth_output_layer(model)
    x_all, source = input_batch(args.size, max(args.batches))
    inf_rows, baseline = inference_section(args, model, device, x_all, deadline)
    eager_ms = {int(r[1]): float(r[2]) for r in inf_rows if r[0].startswith("eager fp32, TF32 off")
                and r[2][0].isdigit()}
    train_rows, train_summary, loss_name = ([], [], "-") if args.no_train else \
        training_section(args, device, deadline)
    comp_rows = [] if args.no_compile else compile_section(args, model, device, baseline, deadline, eager_ms)

    n = args.size
    md = [
        f"# GPU check: {args.arch} J={args.landmarks} at {n}x{n}" + (" (SMOKE, CPU-sized)" if args.smoke else ""),
        "",
        "- " + ", ".join(info),
        f"- inputs: {source}; inference without flip test; times are means of {args.iters} calls "
        f"after {args.warmup} warm-up calls; cudnn.benchmark on for every inference row",
        "- point differences are in heatmap (= network input) pixels against the first row of "
        "the same batch size (x S/N, about 2.9 for a 1935x2400 image at 1024, for image pixels); "
        + ("random output layer kept (--raw-head): heatmaps are pixel noise, where DARK is "
           "ill-conditioned, so trust the trained-like column (unit Gaussians at the baseline "
           "points + the measured heatmap difference)" if args.raw_head else
           "random weights except the final output layer, set to a Gaussian upsampler so "
           "heatmaps are smooth peaks (`smooth_output_layer`); trained-like column: unit "
           "Gaussians at the baseline points + the measured heatmap difference"),
        "",
        "## Inference",
        "",
        table(["variant", "batch", "ms/batch", "ms/image", "speed-up vs eager fp32 TF32 off",
               "max heatmap diff", "max point diff px", "trained-like point diff px"], inf_rows),
        "",
    ]
    if comp_rows:
        md += ["torch.compile (default mode, dynamic=False; separate process; first call = compile):",
               "",
               table(["variant", "batch", "ms/batch", "ms/image", "speed-up vs eager fp32 TF32 off",
                      "first call s", "max point diff px"], comp_rows), ""]
    if train_rows or train_summary:
        md += [
            "## Training memory (Adam step, deep-supervision loss)",
            "",
            f"- loss: {loss_name}; model in train mode, all parameters trainable, Adam state "
            "allocated (second step measured); `torch.cuda.max_memory_allocated` (tensors) and "
            "`max_memory_reserved` (allocator cache); the CUDA context (~0.5 GiB) comes on top; "
            "cudnn.benchmark off; fp16 autocast (the trainer's CUDA choice) uses the same memory as bf16",
            "",
            table(["configuration", "batch", "max allocated GiB", "max reserved GiB", "s/step"], train_rows),
            "",
            f"Largest batch under {LIMIT_GIB:g} GiB (max allocated):",
            "",
            table(["configuration", "largest measured batch", "linear estimate", "GiB at batch 1",
                   "sweep ended"], train_summary),
            "",
        ]
    md.append(f"Total run time {time.perf_counter() - t_start:.0f} s.")
    text = "\n".join(md) + "\n"
    print()
    print(text)
    out_dir = os.environ.get("OUT")
    if out_dir:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        (Path(out_dir) / "gpu_results.md").write_text(text)
        print(f"wrote {Path(out_dir) / 'gpu_results.md'}")


if __name__ == "__main__":
    main()
