"""Images that are not cephalograms, for calibrating the plausibility checks.

    python benchmarks/plausibility/make_negatives.py OUT_DIR [ISBI_IMAGE]

Blank (black, white, grey), noise (uniform, smoothed), a 1 x 1 PNG, photographs and scans
bundled with scikit-image and matplotlib (no download), and a cephalogram turned upside down
and on its side (ISBI_IMAGE, default ../shared/data/isbi2015/images/151.jpg).
"""
from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np


def main(out: Path, ceph: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    h, w = 2400, 1935  # an ISBI cephalogram's size
    rng = np.random.default_rng(0)
    images = {
        "blank_black.png": np.zeros((h, w), np.uint8),
        "blank_white.png": np.full((h, w), 255, np.uint8),
        "blank_grey.png": np.full((h, w), 128, np.uint8),
        "noise_uniform.png": rng.integers(0, 256, (h, w), dtype=np.uint8),
        "noise_smooth.png": cv2.normalize(cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), 25),
                                          None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8),
        "one_pixel.png": np.full((1, 1), 128, np.uint8),
    }
    from skimage import data

    for name in ("camera", "astronaut", "coins", "moon", "page", "chelsea", "text", "brick"):
        img = getattr(data, name)()
        images[f"skimage_{name}.png"] = img[..., ::-1] if img.ndim == 3 else img
    import matplotlib

    sample = Path(matplotlib.get_data_path()) / "sample_data"
    images["mpl_grace_hopper.png"] = cv2.imread(str(sample / "grace_hopper.jpg"))
    grey = cv2.imread(str(ceph), cv2.IMREAD_GRAYSCALE)
    images["ceph_upside_down.png"] = grey[::-1].copy()
    images["ceph_rotated_90.png"] = cv2.rotate(grey, cv2.ROTATE_90_CLOCKWISE)
    for name, img in images.items():
        assert cv2.imwrite(str(out / name), img), name
    print(f"{len(images)} images in {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2] if len(sys.argv) > 2 else "../shared/data/isbi2015/images/151.jpg"))
