"""Shared fixtures: the shared data/reference folders, tiny random models, small test images.

The shared folder sits beside the repository (``../shared``; ``CEPHMARK_SHARED`` names another
place). Tests that need it are skipped when it is absent, so the suite still runs on a bare
checkout. Test modules take these paths from here (``from conftest import SHARED``).
"""
from __future__ import annotations

import copy
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

SHARED = Path(os.environ.get("CEPHMARK_SHARED") or Path(__file__).resolve().parents[1].parent / "shared")
REFERENCE = SHARED / "reference" / "cldetection2023"
ISBI_IMAGES = SHARED / "data" / "isbi2015" / "images"
ISBI_001 = ISBI_IMAGES / "001.jpg"


@dataclass(frozen=True)
class TinyReference:
    """One folder of reference vectors and how it was produced."""

    name: str
    dir: Path
    image: Path  # the cephalogram the reference pipeline ran on
    image_size: int  # N
    num_landmarks: int  # J

    @property
    def checkpoint(self) -> Path:
        return self.dir / "checkpoint.pth"

    def arrays(self) -> dict[str, np.ndarray]:
        with np.load(self.dir / "reference.npz") as z:
            return {k: z[k] for k in z.files}


# name -> (input image, N, J), as documented in the reference README
TINY_REFERENCES = {
    "tiny_j3_256": (ISBI_001, 256, 3),
    "tiny_j2_384": (REFERENCE / "tiny_j2_384" / "input_150_gray.png", 384, 2),
}
TINY_NAMES = list(TINY_REFERENCES)


def _require(*paths: Path) -> None:
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        pytest.skip(f"shared data not available: {', '.join(missing)}")


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    _require(SHARED)
    return SHARED


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """The CL-Detection 2023 reference folder (README, key list, tiny test vectors)."""
    _require(REFERENCE)
    return REFERENCE


@pytest.fixture(scope="session")
def isbi_image() -> Path:
    """A real cephalogram (ISBI 2015 image 001, 1935 x 2400 JPEG)."""
    _require(ISBI_001)
    return ISBI_001


@pytest.fixture(scope="session")
def tiny_reference_dirs() -> dict[str, TinyReference]:
    """Both folders of reference vectors, by name (``tiny_j3_256``, ``tiny_j2_384``)."""
    out = {}
    for name, (image, n, j) in TINY_REFERENCES.items():
        d = REFERENCE / name
        _require(d / "checkpoint.pth", d / "reference.npz", image)
        out[name] = TinyReference(name, d, image, n, j)
    return out


@pytest.fixture(scope="module")
def torch_threads():
    """One intra-op thread while a module runs (restored after).

    The models here are tiny: with several threads, OpenMP spin-waiting on a busy 2-core
    machine makes a 30 ms forward pass take seconds.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def small_ceph_png(tmp_path_factory, isbi_image) -> Path:
    """ISBI image 001 resized to 322 x 400 (grey PNG): a quick real input for CLI tests.

    Its values span 0..255 exactly, so a DICOM holding the same values reads back unchanged
    (DICOM without a window is min-max stretched).
    """
    import cv2

    grey = cv2.imread(str(isbi_image), cv2.IMREAD_GRAYSCALE)
    small = cv2.resize(grey, (322, 400), interpolation=cv2.INTER_AREA)
    small = cv2.normalize(small, None, 0, 255, cv2.NORM_MINMAX)
    assert small.min() == 0 and small.max() == 255
    path = tmp_path_factory.mktemp("images") / "ceph_small.png"
    assert cv2.imwrite(str(path), small)
    return path


def randomise_model(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Every parameter and BatchNorm statistic random and non-trivial; eval mode.

    Default initialisation leaves BatchNorm at identity (weight 1, bias 0, mean 0, var 1)
    and several biases at zero, which would hide mistakes in how blocks are copied.
    """
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            fan_in = max(1, p[0].numel()) if p.dim() > 1 else 1
            scale = 1.0 / np.sqrt(fan_in) if p.dim() > 1 else 0.1
            p.copy_(torch.randn(p.shape, generator=g) * scale)
            if name.endswith(".weight") and p.dim() == 1:  # norm scales: around 1
                p.add_(1.0)
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
                m.num_batches_tracked.fill_(7)
    return model.eval()


@pytest.fixture(scope="session")
def tiny_model_factory():
    """``make(num_landmarks, seed=0)`` -> a randomised tiny `CLDetectionModel` in eval mode."""
    from cephmark.models.arch import ModelArch
    from cephmark.models.cldetection import CLDetectionModel

    cache: dict[tuple[int, int], torch.nn.Module] = {}

    def make(num_landmarks: int, seed: int = 0) -> torch.nn.Module:
        key = (num_landmarks, seed)
        if key not in cache:
            torch.manual_seed(seed)
            model = CLDetectionModel(ModelArch.preset("tiny", num_landmarks))
            cache[key] = randomise_model(model, seed)
        return copy.deepcopy(cache[key])

    return make


def save_reference_container(model: torch.nn.Module, path: Path, dataset_meta: dict | None = None) -> Path:
    """Save ``model`` as the reference release does: ``state_dict`` + ``meta`` with numpy arrays."""
    j = model.num_landmarks
    meta = {
        "epoch": 100, "iter": 15000, "mmengine_version": "0.10.7", "seed": 0,
        "dataset_meta": dataset_meta if dataset_meta is not None else {
            "dataset_name": "cephalometric", "num_keypoints": j, "flip_indices": list(range(j)),
            "sigmas": np.full(j, 0.025, dtype=np.float32),
            "keypoint_colors": np.zeros((j, 3), dtype=np.uint8),
        },
    }
    torch.save({"state_dict": model.state_dict(), "meta": meta}, path)
    return path


@pytest.fixture
def reference_container():
    """The `save_reference_container` helper, as a fixture."""
    return save_reference_container


@pytest.fixture
def app_lib(monkeypatch):
    """The MONAI Label app's ``lib`` package, freshly imported from monailabel_app/ (and removed
    from sys.modules again afterwards)."""
    from monailabel_helpers import APP_DIR

    monkeypatch.syspath_prepend(str(APP_DIR))
    for name in [m for m in sys.modules if m == "lib" or m.startswith("lib.")]:
        monkeypatch.delitem(sys.modules, name)
    import lib.configs.cephalometric
    import lib.datastore
    import lib.options
    import lib.trainers.landmarks

    return lib
