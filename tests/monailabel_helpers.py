"""Helpers for the MONAI Label app tests: a real server process, Orthanc, DX DICOM files.

Not a test module: imported by tests/test_monailabel_*.py.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import requests

from conftest import ISBI_IMAGES, SHARED  # noqa: F401  (../shared, resolved once)

REPO = Path(__file__).resolve().parents[1]
APP_DIR = REPO / "monailabel_app"
ORTHANC_PLUGINS = (Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so"),)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tiny_checkpoint(path: Path, seed: int = 0, num_landmarks: int = 38) -> Path:
    """A tiny random model in the reference's container (state_dict + meta)."""
    import torch

    from cephmark.models.arch import ModelArch
    from cephmark.models.cldetection import CLDetectionModel

    torch.manual_seed(seed)
    m = CLDetectionModel(ModelArch.preset("tiny", num_landmarks))
    torch.save({"state_dict": m.state_dict(), "meta": {}}, path)
    return path


def tiny_cephmark_checkpoint(path: Path, names: Sequence[str], seed: int = 0, **extra) -> Path:
    """A tiny random model in cephmark's own container, with landmark names (e.g. p1, p2) and
    any ``extra`` entries (``preprocess={"crop_size": ...}`` makes a crop refiner)."""
    import torch

    from cephmark.models.arch import ModelArch
    from cephmark.models.checkpoint import make_checkpoint
    from cephmark.models.cldetection import CLDetectionModel

    torch.manual_seed(seed)
    m = CLDetectionModel(ModelArch.preset("tiny", len(names)))
    torch.save(make_checkpoint(m, list(names), **extra), path)
    return path


SOP_CLASSES = {"DX": "1.2.840.10008.5.1.4.1.1.1.1", "CR": "1.2.840.10008.5.1.4.1.1.1",
               "SC": "1.2.840.10008.5.1.4.1.1.7", "CT": "1.2.840.10008.5.1.4.1.1.2"}


def write_dicom(src: Path, dst: Path, modality: str = "DX", spacing: float | None = 0.1,
                position: Sequence[float] | None = None, orientation: Sequence[float] | None = None,
                patient: str = "CEPH1"):
    """A single-frame 8-bit MONOCHROME2 DICOM of ``src`` (greyscale) with PixelSpacing."""
    import cv2
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    grey = cv2.imread(str(src), cv2.IMREAD_GRAYSCALE)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SOP_CLASSES[modality]
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(dst), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientID, ds.PatientName, ds.Modality = patient, f"Test^{patient}", modality
    ds.StudyDate, ds.StudyTime, ds.SeriesNumber, ds.InstanceNumber = "20240101", "120000", 1, 1
    ds.Rows, ds.Columns = grey.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    if spacing:
        ds.PixelSpacing = [spacing, spacing]
    if position is not None:
        ds.ImagePositionPatient = [float(v) for v in position]
    if orientation is not None:
        ds.ImageOrientationPatient = [float(v) for v in orientation]
    ds.PixelData = grey.tobytes()
    ds.is_little_endian, ds.is_implicit_VR = True, False
    ds.save_as(str(dst), write_like_original=False)
    return ds


def wait_for(check: Callable[[], Any], timeout: float, interval: float = 0.5, what: str = "condition"):
    end = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < end:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


class Server:
    """``python -m monailabel.main start_server --app monailabel_app ...`` on a loopback port."""

    def __init__(self, studies: str, conf: Mapping[str, str], workdir: Path,
                 env: Mapping[str, str] | None = None) -> None:
        self.studies = str(studies)
        self.conf = dict(conf)
        self.workdir = Path(workdir)
        self.env = dict(env or {})
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.log_path = self.workdir / f"server-{self.port}.log"
        self.start_seconds = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "monailabel.main", "start_server", "--app", str(APP_DIR),
               "--studies", self.studies, "--host", "127.0.0.1", "--port", str(self.port)]
        for k, v in self.conf.items():
            cmd += ["--conf", k, str(v)]
        return cmd

    def start(self, timeout: float = 180) -> "Server":
        self.workdir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "MONAI_LABEL_SESSION_PATH": str(self.workdir / "sessions"),
               "PYTHONUNBUFFERED": "1", **self.env}
        t0 = time.monotonic()
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.command(), cwd=self.workdir, env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

        def ready() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                return requests.get(f"{self.url}/info/", timeout=5).status_code == 200
            except requests.RequestException:
                return False

        try:
            wait_for(ready, timeout, 1.0, "the MONAI Label server")
        except TimeoutError:
            self.stop()
            raise TimeoutError(f"server not ready in {timeout}s:\n{self.log_tail()}") from None
        self.start_seconds = time.monotonic() - t0
        return self

    def log_tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.log.close()
        self.proc = None

    def client(self, tmpdir: Path):
        from monailabel.client import MONAILabelClient

        Path(tmpdir).mkdir(parents=True, exist_ok=True)
        return MONAILabelClient(self.url, tmpdir=str(tmpdir))


def orthanc_binary() -> str | None:
    return shutil.which("Orthanc") or ("/usr/sbin/Orthanc" if Path("/usr/sbin/Orthanc").exists() else None)


def orthanc_plugin() -> Path | None:
    for p in ORTHANC_PLUGINS + tuple(Path("/usr/lib/orthanc").glob("libOrthancDicomWeb.so*")):
        if p.exists():
            return p
    return None


class Orthanc:
    """A private Orthanc started with scripts/start_orthanc.sh (loopback only, temp storage)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir)
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def dicomweb(self) -> str:
        return f"{self.url}/dicom-web"

    def start(self, timeout: float = 60) -> "Orthanc":
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log = open(self.workdir / "orthanc.log", "ab")
        self.proc = subprocess.Popen(["bash", str(REPO / "scripts" / "start_orthanc.sh"), str(self.workdir),
                                      str(self.port), "0"], stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

        def ready() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Orthanc exited with {self.proc.returncode}: "
                                   f"{(self.workdir / 'orthanc.log').read_text(errors='replace')[-3000:]}")
            try:
                return requests.get(f"{self.url}/system", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        wait_for(ready, timeout, 0.5, "Orthanc")
        return self

    def upload(self, path: Path) -> dict:
        r = requests.post(f"{self.url}/instances", data=Path(path).read_bytes(), timeout=30)
        r.raise_for_status()
        return r.json()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        if self.proc:
            self.log.close()
        self.proc = None
