"""Overlay PNGs: the image with each landmark drawn and named."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from cephmark.inference.results import ImageResult


def draw_landmarks(pixels: np.ndarray, result: ImageResult,
                   truth: dict[str, tuple[float, float]] | None = None) -> np.ndarray:
    """RGB uint8 copy of ``pixels`` with predictions (red) and optional truth (green)."""
    canvas = pixels.copy()
    r = max(3, int(round(max(canvas.shape[:2]) / 300)))
    font = max(0.4, max(canvas.shape[:2]) / 2500)
    for name, (x, y) in (truth or {}).items():
        cv2.circle(canvas, (int(round(x)), int(round(y))), r, (0, 255, 0), -1, cv2.LINE_AA)
    for lm in result.landmarks:
        if not lm.found:
            continue
        p = (int(round(lm.x)), int(round(lm.y)))
        cv2.circle(canvas, p, r, (255, 40, 40), -1, cv2.LINE_AA)
        cv2.putText(canvas, lm.name, (p[0] + r + 2, p[1] - r - 2), cv2.FONT_HERSHEY_SIMPLEX,
                    font, (255, 255, 0), max(1, int(font * 2)), cv2.LINE_AA)
    return canvas


def save_overlay(pixels: np.ndarray, result: ImageResult, out_dir: str | Path,
                 truth: dict[str, tuple[float, float]] | None = None) -> Path:
    out = Path(out_dir) / (Path(result.image).stem + "_landmarks.png")
    out.parent.mkdir(parents=True, exist_ok=True)
    bgr = cv2.cvtColor(draw_landmarks(pixels, result, truth), cv2.COLOR_RGB2BGR)
    if not cv2.imwrite(str(out), bgr):
        raise OSError(f"{out}: could not write overlay")
    return out
