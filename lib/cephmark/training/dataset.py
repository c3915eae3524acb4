"""Training data: cached, pre-resized images, MONAI augmentation, landmark targets.

Every image is decoded once. A uint8 copy area-averaged (``cv2.INTER_AREA``) by
``f = min(1, image_size / max(w, h))`` is kept in memory (and, with ``cache_dir``, on disk as
``.npz`` keyed by path, mtime, byte size and N), made by the same `area_downscale` as the
``preprocess.antialias`` inference path. The reference's square box is computed for the
original image and scaled into the cached one (`Box.scaled`), so an un-augmented training
input is bit-identical to ``cephmark predict``'s with ``antialias`` on (which is why the
checkpoints record ``antialias: true``). Points map with ``x' = (x + 0.5) * fx - 0.5`` per axis
(fx, fy = cached / original size: cv2.resize's exact grid).

Per item: ``image`` (3, N, N) float32 normalised, ``xy`` (J, 2) input-pixel landmark
positions, ``weight`` (J,) 1 for a labelled landmark inside the input and 0 otherwise (a
missing landmark never drops the image), and for validation ``gt`` (J, 2) original pixels
(NaN = missing), ``box`` (cached-image box), ``scale`` (fx, fy) and ``spacing`` (mm/px or NaN).
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Hashable, Mapping, Sequence

import numpy as np
import torch
from monai.transforms import (
    Compose, MapTransform, NormalizeIntensityd, RandAdjustContrastd, Randomizable,
    RandGaussianNoised, RandHistogramShiftd, RandScaleIntensityd,
)
from monai.utils import convert_to_tensor
from torch.utils.data import Dataset

from cephmark.annotations import AnnotationSet
from cephmark.config import CephConfig
from cephmark.io import read_image
from cephmark.transforms import Box, ToTensorCHWd, TopDownAffined
from cephmark.transforms.affine import apply_matrix, area_downscale, warp_image, warp_matrix
from cephmark.util import atomic_open

log = logging.getLogger(__name__)


# -- image cache ------------------------------------------------------------------------
@dataclass
class CachedImage:
    pixels: np.ndarray  # uint8 (h', w', 3), resized
    width: int  # original size
    height: int
    spacing_mm: float  # from the file (DICOM) or NaN
    factor: float = 1.0  # area_downscale's factor (= w' / width)

    @property
    def scale(self) -> tuple[float, float]:
        """(fx, fy): resized / original size per axis (cv2.resize's exact grid scale)."""
        return self.pixels.shape[1] / self.width, self.pixels.shape[0] / self.height


def resize_factor(width: int, height: int, image_size: int, crop_size: int | None = None) -> float:
    """Cache factor: N over the image's longer side, or over ``crop_size`` for crop refiners
    (their N x N input covers crop_size original pixels), never above 1."""
    return min(1.0, image_size / (crop_size if crop_size else max(width, height)))


def to_cached(xy: np.ndarray, scale: tuple[float, float]) -> np.ndarray:
    """Original pixels -> cached-image pixels (pixel-centre convention, per-axis scale)."""
    return (np.asarray(xy, dtype=np.float64) + 0.5) * np.asarray(scale) - 0.5


def from_cached(xy: np.ndarray, scale: tuple[float, float]) -> np.ndarray:
    return (np.asarray(xy, dtype=np.float64) + 0.5) / np.asarray(scale) - 0.5


class ImageCache:
    """Decoded, pre-resized images in memory, optionally persisted in ``cache_dir``."""

    def __init__(self, image_size: int, cache_dir: str | Path | None = None,
                 crop_size: int | None = None) -> None:
        self.image_size = int(image_size)
        self.crop_size = int(crop_size) if crop_size else None
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self._mem: dict[str, CachedImage] = {}

    def __len__(self) -> int:
        return len(self._mem)

    def _disk_key(self, path: Path) -> Path | None:
        # f is a function of the file's pixel size (fixed by path + mtime + byte size) and N
        if self.cache_dir is None:
            return None
        st = path.stat()
        text = f"{path.resolve()}|{st.st_mtime_ns}|{st.st_size}|N={self.image_size}"
        if self.crop_size:
            text += f"|crop={self.crop_size}"
        return self.cache_dir / (hashlib.sha1(text.encode()).hexdigest() + ".npz")

    def get(self, path: str | Path) -> CachedImage:
        key = str(Path(path).resolve())
        item = self._mem.get(key)
        if item is None:
            item = self._load(Path(path))
            self._mem[key] = item
        return item

    def _load(self, path: Path) -> CachedImage:
        disk = self._disk_key(path)
        if disk is not None and disk.is_file():
            try:
                with np.load(disk) as z:
                    return CachedImage(np.ascontiguousarray(z["pixels"]), int(z["width"]),
                                       int(z["height"]), float(z["spacing_mm"]), float(z["factor"]))
            except Exception as exc:  # noqa: BLE001 - a damaged cache entry is rebuilt
                log.warning("ignoring unreadable cache entry %s: %s", disk, exc)
        img = read_image(path)
        h, w = img.pixels.shape[:2]
        pixels, f = area_downscale(img.pixels, resize_factor(w, h, self.image_size, self.crop_size))
        sp = float(np.mean(img.spacing_xy_mm)) if img.spacing_xy_mm else float("nan")
        item = CachedImage(np.ascontiguousarray(pixels), w, h, sp, float(f))
        if disk is not None:
            self._save(disk, item)
        return item

    @staticmethod
    def _save(disk: Path, item: CachedImage) -> None:
        with atomic_open(disk, "wb") as fh:
            np.savez(fh, pixels=item.pixels, width=item.width, height=item.height,
                     spacing_mm=item.spacing_mm, factor=item.factor)


# -- transforms -------------------------------------------------------------------------
class CachedTopDownAffined(TopDownAffined):
    """`TopDownAffined` on a cached, resized image: the box is the original image's box
    scaled by the cache factor (``meta["source_size"]``, ``meta["source_factor"]``), exactly
    as the antialiased inference path frames it; random rotation / scale / shift as usual.

    With ``crop_size`` (crop refiners) the box is ``crop_size`` original pixels centred on
    ``meta["crop_center"]`` (original pixels), and the random shift is up to
    ``translate_frac * crop_size`` per axis (pass ``crop_jitter`` as ``translate_frac``)."""

    def __init__(self, *args: Any, crop_size: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.crop_size = crop_size

    def __call__(self, data: Mapping[Hashable, Any]) -> dict:
        d = dict(data)
        self.randomize()
        rot, scale, tx, ty = self._params
        meta = dict(d.get(self.meta_key) or {})
        for key in self.key_iterator(d):
            w, h = meta["source_size"]
            if self.crop_size:
                cx, cy = meta["crop_center"]
                base = Box(float(cx), float(cy), float(self.crop_size)).scaled(meta["source_factor"])
            else:
                base = Box.whole_image(w, h, self.padding).scaled(meta["source_factor"])
            box = Box(base.cx + tx * base.size, base.cy + ty * base.size, base.size * scale)
            matrix = warp_matrix(box, self.n, rot)
            d[key] = warp_image(d[key], matrix, self.n)
            meta.update(box=(box.cx, box.cy, box.size), warp_matrix=matrix, image_size=self.n)
            if d.get(self.landmark_key) is not None:
                d[self.landmark_key] = apply_matrix(matrix, d[self.landmark_key]).astype(np.float32)
        d[self.meta_key] = meta
        return d


class RandFlipPairsd(MapTransform, Randomizable):
    """Horizontal flip of the warped (N x N) image, mirroring x and swapping landmark pairs."""

    def __init__(self, keys, pairs: Sequence[tuple[int, int]], prob: float = 0.5,
                 landmark_key: str = "landmarks") -> None:
        super().__init__(keys)
        self.pairs, self.prob, self.landmark_key = list(pairs), prob, landmark_key
        self._do = False

    def randomize(self, data: Any = None) -> None:
        self._do = self.R.rand() < self.prob

    def __call__(self, data: Mapping[Hashable, Any]) -> dict:
        d = dict(data)
        self.randomize()
        if not self._do:
            return d
        for key in self.key_iterator(d):
            n = d[key].shape[1]
            d[key] = np.ascontiguousarray(d[key][:, ::-1])
        lm = d.get(self.landmark_key)
        if lm is not None:
            lm = np.array(lm, dtype=np.float32)
            lm[:, 0] = n - 1 - lm[:, 0]
            for a, b in self.pairs:
                lm[[a, b]] = lm[[b, a]]
            d[self.landmark_key] = lm
        return d


class ClipIntensityd(MapTransform):
    """Clip to [lo, hi] (after intensity augmentation, before normalisation)."""

    def __init__(self, keys, lo: float = 0.0, hi: float = 255.0) -> None:
        super().__init__(keys)
        self.lo, self.hi = lo, hi

    def __call__(self, data: Mapping[Hashable, Any]) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = d[key].clamp(self.lo, self.hi) if isinstance(d[key], torch.Tensor) \
                else np.clip(d[key], self.lo, self.hi)
        return d


def flip_pair_indices(names: Sequence[str], pairs: Sequence[Sequence[str]] | None) -> list[tuple[int, int]]:
    out = []
    for pair in pairs or []:
        if len(pair) != 2 or any(p not in names for p in pair):
            raise ValueError(f"flip pair {pair!r}: both names must be trained landmarks ({', '.join(names)})")
        out.append((list(names).index(pair[0]), list(names).index(pair[1])))
    return out


def intensity_transforms(k: float) -> list:
    """Random brightness, gamma and noise; ``k`` scales their ranges (1: the default; 2: strong,
    for another X-ray unit: gamma 0.49..2.25, +-30 % scale, noise sd 8, plus a random smooth
    grey-level curve with probability 0.3 (k - 1))."""
    k = float(k)
    if k <= 0:
        return []
    xs: list = [
        RandScaleIntensityd("image", factors=0.15 * k, prob=min(1.0, 0.5 * k)),
        RandAdjustContrastd("image", gamma=(0.7 ** k, 1.5 ** k), prob=min(1.0, 0.5 * k)),
        RandGaussianNoised("image", mean=0.0, std=4.0 * k, prob=min(1.0, 0.3 * k)),
    ]
    if k > 1:
        xs.append(RandHistogramShiftd("image", num_control_points=(5, 10), prob=min(1.0, 0.3 * (k - 1))))
    return xs + [ClipIntensityd("image", 0.0, 255.0)]


def build_transforms(cfg: CephConfig, names: Sequence[str], train: bool) -> Compose:
    """uint8 cached image + cached-pixel landmarks -> normalised (3, N, N) + input-pixel landmarks."""
    t, p = cfg.train, cfg.preprocess
    augment = train and t.augment
    xs: list = [CachedTopDownAffined("image", image_size=p.image_size, padding=p.padding,
                                     rotation_deg=t.rotation_deg, scale_range=t.scale_range,
                                     translate_frac=t.crop_jitter if t.crop_size else t.translate_frac,
                                     prob=1.0 if augment else 0.0, crop_size=t.crop_size)]
    pairs = flip_pair_indices(names, t.flip_pairs)
    if augment and pairs:
        xs.append(RandFlipPairsd("image", pairs, prob=0.5))
    xs.append(ToTensorCHWd("image"))
    if augment:
        xs += intensity_transforms(t.intensity_augment)
    xs.append(NormalizeIntensityd("image", subtrahend=p.mean, divisor=p.std))
    return Compose(xs)


# -- dataset ----------------------------------------------------------------------------
class LandmarkDataset(Dataset):
    """Annotated images for the landmarks ``names`` (in model output order)."""

    def __init__(self, annotations: AnnotationSet, names: Sequence[str], cfg: CephConfig,
                 train: bool, cache: ImageCache | None = None, preload: bool = True) -> None:
        self.items = list(annotations.images)
        self.names = list(names)
        self.image_size = cfg.preprocess.image_size
        self.crop_size = cfg.train.crop_size
        self.cache = cache or ImageCache(self.image_size, cfg.train.cache_dir, self.crop_size)
        self.transforms = build_transforms(cfg, self.names, train)
        self.train = train
        if preload:
            self.preload()

    def __len__(self) -> int:
        return len(self.items)

    def preload(self) -> None:
        """Decode every image now (in this process, so DataLoader workers inherit the cache)."""
        for it in self.items:
            self.cache.get(it.image_path)

    def set_random_state(self, seed: int) -> None:
        self.transforms.set_random_state(seed=int(seed) % (2**32))

    def points(self, i: int) -> np.ndarray:
        """(J, 2) original-pixel landmarks of item ``i``, NaN where not labelled."""
        pts = self.items[i].points
        return np.array([pts.get(n, (np.nan, np.nan)) for n in self.names], dtype=np.float64).reshape(-1, 2)

    def __getitem__(self, i: int) -> dict[str, Any]:
        it = self.items[i]
        cached = self.cache.get(it.image_path)
        gt = self.points(i)
        scale = cached.scale
        meta = {"source_size": (cached.width, cached.height), "source_factor": cached.factor}
        if self.crop_size:
            meta["crop_center"] = crop_center(gt, cached.width, cached.height)
        d = self.transforms({"image": cached.pixels, "landmarks": to_cached(gt, scale), "meta": meta})
        xy = np.asarray(d["landmarks"], dtype=np.float32)
        n = self.image_size
        inside = np.isfinite(xy).all(axis=1) & (xy >= 0).all(axis=1) & (xy <= n - 1).all(axis=1)
        spacing = it.spacing_mm if it.spacing_mm else cached.spacing_mm
        return {
            "image": convert_to_tensor(d["image"], dtype=torch.float32, track_meta=False),
            "xy": torch.from_numpy(np.where(np.isfinite(xy), xy, 0.0).astype(np.float32)),
            "weight": torch.from_numpy(inside.astype(np.float32)),
            "gt": torch.from_numpy(gt),
            "box": torch.tensor(d["meta"]["box"], dtype=torch.float64),
            "scale": torch.tensor(scale, dtype=torch.float64),
            "spacing": torch.tensor(float(spacing) if spacing else float("nan"), dtype=torch.float64),
            "index": i,
        }


def crop_center(points: np.ndarray, width: int, height: int) -> tuple[float, float]:
    """A crop refiner's box centre: the mean of the labelled points (original pixels), or the
    image centre when none is labelled (such an item has weight 0 everywhere)."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    ok = np.isfinite(pts).all(axis=1)
    if not ok.any():
        return width * 0.5, height * 0.5
    c = pts[ok].mean(axis=0)
    return float(c[0]), float(c[1])


def worker_init_fn(worker_id: int) -> None:
    """Seed a DataLoader worker's MONAI transforms, numpy and random from its torch seed.

    The torch seed is the loader's per-epoch base seed + worker id, so runs (and resumed
    runs) with the same seed and worker count draw the same augmentations.
    """
    import random

    seed = torch.initial_seed() % (2**32)
    np.random.seed(seed)
    random.seed(seed)
    info = torch.utils.data.get_worker_info()
    ds = info.dataset if info is not None else None
    while isinstance(ds, torch.utils.data.Subset):
        ds = ds.dataset
    if hasattr(ds, "set_random_state"):
        ds.set_random_state(seed)
