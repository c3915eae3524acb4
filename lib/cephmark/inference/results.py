"""Prediction results and their stable JSON / CSV forms.

JSON: ``{"images": [{"image", "width", "height", "spacing_mm", "spacing_source",
"landmarks": [{"name", "x", "y", "score", "found", "x_mm", "y_mm"}]}]}``; pixel
coordinates use OpenCV's convention (integer = pixel centre, origin top-left); ``x``/``y``
are null for a landmark that was not found (heatmap maximum <= 0), ``x_mm``/``y_mm`` are
null without a known pixel spacing.
"""
from __future__ import annotations

import csv
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from cephmark.util import atomic_write_text


@dataclass
class LandmarkResult:
    name: str
    x: float | None
    y: float | None
    score: float
    found: bool
    x_mm: float | None = None
    y_mm: float | None = None


@dataclass
class ImageResult:
    image: str
    width: int
    height: int
    spacing_mm: float | None
    spacing_source: str | None
    landmarks: list[LandmarkResult] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def point(self, name: str) -> LandmarkResult:
        for lm in self.landmarks:
            if lm.name == name:
                return lm
        raise KeyError(f"{self.image}: no landmark named {name!r}")


def ruler_mm_per_px(result: ImageResult, p1: str = "p1", p2: str = "p2",
                    distance_mm: float = 10.0) -> float | None:
    """mm/px from the ruler marks: 10 / |p1 - p2| (None when a mark was not found)."""
    a, b = result.point(p1), result.point(p2)
    if not (a.found and b.found):
        return None
    d = math.hypot(a.x - b.x, a.y - b.y)
    return distance_mm / d if d > 0 else None


def write_json(results: Sequence[ImageResult], path: str | Path) -> None:
    text = json.dumps({"images": [r.to_dict() for r in results]}, indent=2)
    atomic_write_text(path, text + "\n")


CSV_COLUMNS = ["image", "width", "height", "spacing_mm", "spacing_source",
               "name", "x", "y", "score", "found", "x_mm", "y_mm"]


def csv_rows(results: Iterable[ImageResult]) -> Iterable[list]:
    for r in results:
        for lm in r.landmarks:
            yield [r.image, r.width, r.height, r.spacing_mm, r.spacing_source, lm.name,
                   lm.x, lm.y, lm.score, lm.found, lm.x_mm, lm.y_mm]


def write_csv(results: Sequence[ImageResult], path: str | Path) -> None:
    import io

    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(CSV_COLUMNS)
    writer.writerows(["" if v is None else v for v in row] for row in csv_rows(results))
    atomic_write_text(path, buf.getvalue())


def write_results(results: Sequence[ImageResult], path: str | Path) -> None:
    """By extension: ``.csv`` -> CSV, anything else -> JSON."""
    (write_csv if str(path).lower().endswith(".csv") else write_json)(results, path)
