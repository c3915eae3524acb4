"""Load on a MONAI Label server running the bundled model: N infer requests one after another,
then the same N with C at a time; latency percentiles, throughput, identical answers, /info
latency under load; then a short training run while infers go on (does it publish, and do the
infers after it use the published model?).

    python benchmarks/load/run_load.py --workers 1 --port 8610 --train --out benchmarks/load/w1.json
    python benchmarks/load/run_load.py --workers 2 --port 8611 --train --healthcheck 120 --out benchmarks/load/w2.json

``--workers`` is uvicorn's worker-process count (``start_server --workers``); each worker is a
whole app (own model, own train-task bookkeeping). ``--healthcheck 120`` starts uvicorn itself
(see WorkersServer). Images: ISBI 151.. from ../shared.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
from monailabel_helpers import APP_DIR, ISBI_IMAGES, Server, wait_for  # noqa: E402


class WorkersServer(Server):
    """``start_server --workers N``, or (``healthcheck_s``) uvicorn itself with MONAI Label's
    settings in the environment: start_server keeps them in-process (spawned workers do not
    see them) and cannot raise uvicorn's 5 s worker health-check timeout."""

    def __init__(self, *args, workers: int = 1, port: int = 0, healthcheck_s: int = 0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.workers, self.healthcheck_s = workers, healthcheck_s
        if port:
            self.port = port
        if healthcheck_s:
            self.env.update(MONAI_LABEL_APP_DIR=str(APP_DIR), MONAI_LABEL_STUDIES=str(self.studies),
                            MONAI_LABEL_APP_CONF=json.dumps({k: str(v) for k, v in self.conf.items()}),
                            PYTHONPATH=os.pathsep.join([os.environ.get("PYTHONPATH", ""), str(APP_DIR)]))

    def command(self) -> list[str]:
        if self.healthcheck_s:
            return [sys.executable, "-m", "uvicorn", "monailabel.app:app", "--host", "127.0.0.1",
                    "--port", str(self.port), "--workers", str(self.workers),
                    "--timeout-worker-healthcheck", str(self.healthcheck_s)]
        cmd = super().command()
        return cmd + (["--workers", str(self.workers)] if self.workers > 1 else [])


def percentiles(values: list[float]) -> dict[str, float]:
    v = sorted(values)
    q = statistics.quantiles(v, n=10, method="inclusive") if len(v) > 1 else v * 9
    return {"p50": round(statistics.median(v), 2), "p90": round(q[8], 2), "max": round(v[-1], 2),
            "min": round(v[0], 2)}


def infer(url: str, image: str) -> tuple[float, dict]:
    t0 = time.perf_counter()
    r = requests.post(f"{url}/infer/cephalometric", params={"image": image, "output": "json"},
                      data={"params": "{}"}, timeout=1800)
    r.raise_for_status()
    return time.perf_counter() - t0, r.json()


def points(res: dict) -> list:
    return [(lm["name"], lm["x"], lm["y"]) for lm in res["landmarks"]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--port", type=int, default=8610)
    ap.add_argument("--n", type=int, default=8, help="requests per phase")
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--images", type=int, default=4, help="distinct images (ISBI 151...)")
    ap.add_argument("--train", action="store_true", help="also run a 1-epoch training under load")
    ap.add_argument("--healthcheck", type=int, default=0,
                    help="run uvicorn directly with this worker health-check timeout (s), settings in the env")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    root = Path(tempfile.mkdtemp(prefix="cephmark_load_"))
    studies = root / "studies"
    studies.mkdir()
    ids = [f"{151 + i}" for i in range(args.images)]
    for i in ids:
        shutil.copy(ISBI_IMAGES / f"{i}.jpg", studies / f"{i}.jpg")
    server = WorkersServer(studies, {"models": "cephalometric", "model_dir": root / "models"}, root / "run",
                           env={"MONAI_LABEL_AUTO_UPDATE_SCORING": "false"},
                           workers=args.workers, port=args.port, healthcheck_s=args.healthcheck)
    out: dict = {"workers": args.workers, "launcher": "uvicorn" if args.healthcheck else "start_server", "n": args.n, "concurrency": args.concurrency, "images": ids}
    server.start(timeout=600)
    try:
        url = server.url
        out["start_s"] = round(server.start_seconds, 1)
        for _ in range(args.workers):  # every worker loads its model before the timing
            infer(url, ids[0])
        jobs = [ids[k % len(ids)] for k in range(args.n)]

        t0 = time.perf_counter()
        seq = [infer(url, i) for i in jobs]
        seq_wall = time.perf_counter() - t0
        out["sequential"] = {"wall_s": round(seq_wall, 1), "images_per_min": round(60 * args.n / seq_wall, 2),
                             "latency_s": percentiles([s for s, _ in seq])}

        info_times: list[float] = []
        stop = threading.Event()

        def poll_info() -> None:
            while not stop.is_set():
                t = time.perf_counter()
                requests.get(f"{url}/info/", timeout=1800).raise_for_status()
                info_times.append(time.perf_counter() - t)
                stop.wait(1.0)

        poller = threading.Thread(target=poll_info, daemon=True)
        t0 = time.perf_counter()
        poller.start()
        with ThreadPoolExecutor(args.concurrency) as pool:
            conc = list(pool.map(lambda i: infer(url, i), jobs))
        conc_wall = time.perf_counter() - t0
        stop.set()
        poller.join()
        same = all(points(a[1]) == points(b[1]) for a, b in zip(seq, conc))
        out["concurrent"] = {"wall_s": round(conc_wall, 1), "images_per_min": round(60 * args.n / conc_wall, 2),
                             "latency_s": percentiles([s for s, _ in conc]),
                             "info_latency_s": percentiles(info_times) if info_times else None,
                             "same_points_as_sequential": same}
        out["throughput_ratio"] = round(seq_wall / conc_wall, 2)

        if args.train:
            out["train"] = train_under_load(server, studies, ids, url)
    finally:
        server.stop()
        print(server.log_tail(15), file=sys.stderr)  # not in the results file: it names local paths
        shutil.rmtree(root, ignore_errors=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


def train_under_load(server: Server, studies: Path, ids: list[str], url: str) -> dict:
    """Labels for two images (the model's own markups), a 1-epoch run at 256 px, infers during
    it; then which model the infers use, asked several times (each worker answers some)."""
    client = server.client(studies.parent / "client")
    for i in ids[:2]:
        mk, _ = client.infer("cephalometric", i, {"markups": True})
        client.save_label(i, mk, tag="final")
    t0 = time.perf_counter()
    started = client.train_start("cephalometric", {"epochs": 1, "image_size": 256, "batch_size": 2,
                                                   "val_fraction": 0.0})
    result: dict = {"submitted": started.get("status")}
    during = [infer(url, ids[2])[0] for _ in range(2)]
    result["infer_during_training_s"] = [round(d, 1) for d in during]

    def finished():
        try:
            s = client.train_status()
        except Exception as exc:  # another worker may not know this run
            return {"status": f"unknown ({exc})"[:200]}
        return s if s.get("status") in ("DONE", "ERROR") else None

    try:
        status = wait_for(finished, 1200, 2.0, "training")
    except TimeoutError:
        status = {"status": "TIMEOUT"}
    result["status"] = status.get("status")
    result["train_wall_s"] = round(time.perf_counter() - t0, 1)
    published = Path(server.conf["model_dir"]) / "cephalometric.pth"
    deadline = time.time() + 600
    while not published.is_file() and time.time() < deadline:
        time.sleep(2)
    result["published"] = published.is_file()
    origins = []
    for _ in range(6):
        _, res = infer(url, ids[3 % len(ids)])
        origins.append(res.get("model_origin"))
    result["model_origin_after"] = origins
    return result


if __name__ == "__main__":
    main()
