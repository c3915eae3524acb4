"""Prediction results and their stable JSON / CSV forms.

JSON: ``{"images": [{"image", "width", "height", "spacing_mm", "spacing_source",
"status", "reasons", "landmarks": [{"name", "x", "y", "score", "found", "x_mm", "y_mm",
"status", "reasons"}]}]}``; pixel coordinates use OpenCV's convention (integer = pixel
centre, origin top-left); ``x``/``y`` are null for a landmark that was not found (heatmap
maximum <= 0; one decoded outside the image keeps them, with ``found: false``), ``x_mm``/``y_mm`` are null without a known pixel
spacing; ``status``/``reasons``: see :mod:`cephmark.inference.plausibility`.
"""
from __future__ import annotations

import csv
import json
import math
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Sequence

from cephmark.util import file_mode, json_safe


@dataclass
class LandmarkResult:
    name: str
    x: float | None
    y: float | None
    score: float
    found: bool
    x_mm: float | None = None
    y_mm: float | None = None
    status: str = "ok"  # ok | check | not_found (see cephmark.inference.plausibility)
    reasons: list[str] = field(default_factory=list)


@dataclass
class ImageResult:
    image: str
    width: int
    height: int
    spacing_mm: float | None
    spacing_source: str | None
    landmarks: list[LandmarkResult] = field(default_factory=list)
    status: str = "ok"  # ok | check | not_a_cephalogram
    reasons: list[str] = field(default_factory=list)

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


def to_json(data: Any, **kwargs: Any) -> str:
    """Strict JSON text (no NaN/Infinity tokens)."""
    return json.dumps(json_safe(data), allow_nan=False, **kwargs)


CSV_COLUMNS = ["image", "width", "height", "spacing_mm", "spacing_source",
               "name", "x", "y", "score", "found", "x_mm", "y_mm", "status", "reasons", "image_status"]


def csv_rows(results: Iterable[ImageResult]) -> Iterable[list]:
    for r in results:
        for lm in r.landmarks:
            yield [r.image, r.width, r.height, r.spacing_mm, r.spacing_source, lm.name,
                   lm.x, lm.y, lm.score, lm.found, lm.x_mm, lm.y_mm, lm.status,
                   "; ".join(lm.reasons), r.status]


class ResultStream:
    """Results written as they come, so that an interrupted batch keeps what it computed.

    ``path`` None: one JSON document on ``stdout``, each image flushed as it is written.
    ``*.jsonl``: one JSON object per line; ``*.csv``: CSV rows (``csv_columns`` /
    ``csv_rows``); anything else: ``{"images": [...]}``. A file is written as
    ``<path>.partial`` and renamed to ``path`` by ``close(complete=True)``; after
    ``close(complete=False)`` the partial file stays, valid in its format, and says in its
    name that it is incomplete. Opening checks the location at once (before any inference).
    File mode: :func:`cephmark.util.file_mode` (0666 less the umask, 0644 usually).
    """

    def __init__(self, path: str | Path | None, stdout: IO[str] | None = None,
                 csv_columns: Sequence[str] = CSV_COLUMNS,
                 csv_rows: Callable[[Iterable[Any]], Iterable[list]] = csv_rows) -> None:
        self.path = Path(path) if path is not None else None
        self.count = 0
        name = self.path.name.lower() if self.path else ""
        self.kind = "csv" if name.endswith(".csv") else "jsonl" if name.endswith(".jsonl") else "json"
        self._csv_rows = csv_rows
        if self.path is None:
            self.partial, self._fh = None, stdout or sys.stdout
        else:
            if self.path.is_dir():
                raise ValueError(f"{self.path}: is a folder; --out needs a file name (.json, .jsonl or .csv)")
            self.partial = self.path.with_name(self.path.name + ".partial")
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fh = open(self.partial, "w", newline="", encoding="utf-8")
            except OSError as exc:
                raise ValueError(f"{self.path}: cannot write results here "
                                 f"({exc.strerror or exc})") from exc
        if self.kind == "csv":
            self._csv = csv.writer(self._fh)
            self._csv.writerow(list(csv_columns))
        elif self.kind == "json":
            self._fh.write('{"images": [')
        self._fh.flush()

    @property
    def location(self) -> str:
        """Where the results are now (the partial file until a complete close)."""
        return "standard output" if self.path is None else str(self.partial or self.path)

    def write(self, result: Any) -> None:
        """One image's result (an object with ``to_dict()``, or a dict)."""
        record = result.to_dict() if hasattr(result, "to_dict") else result
        if self.kind == "csv":
            self._csv.writerows([["" if v is None or (isinstance(v, float) and not math.isfinite(v))
                                  else v for v in row] for row in self._csv_rows([result])])
        elif self.kind == "jsonl":
            self._fh.write(to_json(record) + "\n")
        else:
            item = "\n".join("  " + line for line in to_json(record, indent=2).splitlines())
            self._fh.write(("," if self.count else "") + "\n" + item)
        self.count += 1
        self._fh.flush()

    def close(self, complete: bool = True) -> None:
        """Finish the document; rename the file to its final name if ``complete``."""
        if self.kind == "json":
            self._fh.write("\n]}\n" if self.count else "]}\n")
        self._fh.flush()
        if self.path is None:
            return
        os.fsync(self._fh.fileno())
        self._fh.close()
        os.chmod(self.partial, file_mode())  # the one policy of cephmark.util (0644 usually)
        if complete:
            os.replace(self.partial, self.path)
            self.partial = None


def write_results(results: Sequence[ImageResult], path: str | Path) -> None:
    """All ``results`` to ``path`` (by extension: ``.csv``, ``.jsonl``, else JSON)."""
    stream = ResultStream(path)
    for r in results:
        stream.write(r)
    stream.close()
