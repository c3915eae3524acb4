"""Plain CSV, one landmark a row: header `image,landmark,x,y` (+ optional `spacing_mm`).

`image` is a file name or path relative to `image_dir` (or absolute); x, y in pixels.
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from cephmark.annotations.types import AnnotationError, AnnotationSet, PendingImage, finalize, parse_points, parse_spacing

REQUIRED = ("image", "landmark", "x", "y")


def read_csv_points(path: str | Path, image_dir: str | Path | None = None) -> AnnotationSet:
    """Read a landmark CSV; images are resolved in `image_dir` (default: the file's dir)."""
    path = Path(path)
    image_dir = Path(image_dir) if image_dir is not None else path.parent
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise AnnotationError(f"{path}: cannot read CSV ({e})") from e
    if not rows:
        raise AnnotationError(f"{path}: empty CSV (header {','.join(REQUIRED)} required)")
    header = [c.strip().lower() for c in rows[0]]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise AnnotationError(f"{path}: missing column(s) {', '.join(missing)} in header {rows[0]} "
                              f"(required: {','.join(REQUIRED)}; optional: spacing_mm)")
    col = {c: header.index(c) for c in (*REQUIRED, "spacing_mm") if c in header}
    problems: list[str] = []
    groups: dict[str, list[tuple[int, list[str]]]] = {}
    for line, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue  # blank line
        if len(row) != len(header):
            problems.append(f"{path}: line {line}: {len(row)} fields, header has {len(header)}")
            continue
        image = row[col["image"]].strip()
        if not image:
            problems.append(f"{path}: line {line}: empty image name")
            continue
        groups.setdefault(image, []).append((line, row))
    pending: list[PendingImage] = []
    for image, items in groups.items():
        where = f"image {image!r}"
        raw: list[tuple[Any, Any, Any]] = [(r[col["landmark"]], r[col["x"]], r[col["y"]]) for _, r in items]
        points = parse_points(raw, f"{path}: {where} (lines {items[0][0]}-{items[-1][0]})", problems)
        spacings = {r[col["spacing_mm"]].strip() for _, r in items} if "spacing_mm" in col else {""}
        spacing = None
        if len(spacings) > 1:
            problems.append(f"{path}: {where}: rows disagree on spacing_mm ({', '.join(sorted(spacings))})")
        else:
            spacing = parse_spacing(spacings.pop(), f"{path}: {where}", problems)
        pending.append(PendingImage(image, image_dir / image, points, spacing, where=where))
    return finalize(pending, str(path), problems)
