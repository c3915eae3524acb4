"""Batch inference over DICOMweb vs the same images as local files, side by side.

N ISBI images (../shared) are written as 8-bit DX DICOM files (PixelSpacing 0.1 mm, one study
and series each) and uploaded to a private Orthanc on loopback (scripts/start_orthanc.sh). Then,
alternating in each round, the same ``cephmark predict`` (bundled starter model, CPU) runs on:

* ``local``:    the folder of DICOM files;
* ``dicomweb``: ``--dicomweb URL`` (QIDO query by modality, WADO-RS fetch one series ahead);
* ``store-sr``: ``--dicomweb URL --store-sr --redo`` (also builds and STOWs one SR per image).

Wall time of the whole command (model load included, equal for all three) -> images/minute.
Usage: benchmarks/dicomweb/bench_dicomweb.py [--images 16] [--rounds 2] [--port 8540]
Writes benchmarks/dicomweb/results.json and prints a Markdown table.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import requests

REPO = Path(__file__).resolve().parents[2]
ISBI = REPO.parent / "shared" / "data" / "isbi2015" / "images"


def write_dx(src: Path, dst: Path) -> None:
    """An 8-bit DX (PixelSpacing 0.1 mm), written by the tests' helper."""
    sys.path.insert(0, str(REPO / "tests"))
    from monailabel_helpers import write_dicom

    write_dicom(src, dst, modality="DX", spacing=0.1, patient=src.stem)


def start_orthanc(work: Path, port: int) -> subprocess.Popen:
    proc = subprocess.Popen(["bash", str(REPO / "scripts" / "start_orthanc.sh"), str(work), str(port), "0"],
                            stdout=open(work / "orthanc.log", "wb"), stderr=subprocess.STDOUT, start_new_session=True)
    for _ in range(120):
        try:
            if requests.get(f"http://127.0.0.1:{port}/system", timeout=2).ok:
                return proc
        except requests.RequestException:
            time.sleep(0.5)
    proc.terminate()
    raise RuntimeError(f"Orthanc did not start: {(work / 'orthanc.log').read_text()[-2000:]}")


def run(cmd: list[str], out: Path) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "cephmark", "predict", *cmd, "--device", "cpu", "--out", str(out)],
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO / "lib")})
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--port", type=int, default=8540)
    args = ap.parse_args()
    sources = sorted(ISBI.glob("*.jpg"))[: args.images]
    if len(sources) < args.images:
        sys.exit(f"need {args.images} images in {ISBI}")
    work = Path(tempfile.mkdtemp(prefix="cephmark-bench-dicomweb-"))
    orthanc = None
    try:
        local = work / "dx"
        local.mkdir()
        for src in sources:
            write_dx(src, local / f"{src.stem}.dcm")
        (work / "orthanc").mkdir()
        orthanc = start_orthanc(work / "orthanc", args.port)
        for f in sorted(local.glob("*.dcm")):
            requests.post(f"http://127.0.0.1:{args.port}/instances", data=f.read_bytes(), timeout=60).raise_for_status()
        url = f"http://127.0.0.1:{args.port}/dicom-web"
        modes = {"local": [str(local)], "dicomweb": ["--dicomweb", url],
                 "store-sr": ["--dicomweb", url, "--store-sr", "--redo"]}
        times: dict[str, list[float]] = {m: [] for m in modes}
        for r in range(args.rounds):
            order = list(modes) if r % 2 == 0 else list(reversed(modes))
            for mode in order:
                times[mode].append(run(modes[mode], work / f"{mode}.json"))
                n = len(json.loads((work / f"{mode}.json").read_text())["images"])
                assert n == args.images, f"{mode}: {n} results for {args.images} images"
                print(f"round {r + 1} {mode}: {times[mode][-1]:.1f} s", file=sys.stderr)
        rate = {m: 60 * args.images / (sum(t) / len(t)) for m, t in times.items()}
        result = {"images": args.images, "rounds": args.rounds, "seconds": times,
                  "images_per_minute": rate, "ratio_vs_local": {m: rate[m] / rate["local"] for m in rate},
                  "image_size": f"{cv2.imread(str(sources[0])).shape[1]}x{cv2.imread(str(sources[0])).shape[0]}"}
        Path(__file__).with_name("results.json").write_text(json.dumps(result, indent=2) + "\n")
        print("| mode | mean wall time (s) | images/min | vs local |\n| --- | --- | --- | --- |")
        for m, t in times.items():
            print(f"| {m} | {sum(t) / len(t):.1f} | {rate[m]:.1f} | {rate[m] / rate['local']:.2f}x |")
    finally:
        if orthanc is not None:
            orthanc.terminate()
            orthanc.wait(30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
