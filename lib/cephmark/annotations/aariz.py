"""Aariz dataset layout (folder names matched case-insensitively)::

    <root>/cephalogram_machine_mappings.csv          (cephalogram_id, machine, pixel_size)
    <root>/<split>/Cephalograms/<id>.<ext>
    <root>/<split>/Annotations/Cephalometric Landmarks/{Senior,Junior} Orthodontists/<id>.json

Each JSON: {"ceph_id", "landmarks": [{"landmark_id", "title", "symbol", "value": {"x", "y"}}]}.
Landmark name = `symbol` (else `title`), ordered by `landmark_id`. `observer`: "senior",
"junior" or "mean" (per-landmark average where both have it).
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Sequence

from cephmark.annotations.types import (
    AnnotationError, AnnotationSet, PendingImage, Point, finalize, load_json, parse_points, to_float,
)

MAPPING_CSV = "cephalogram_machine_mappings.csv"
OBSERVERS = {"senior": "senior orthodontists", "junior": "junior orthodontists"}


def _child(d: Path | None, name: str) -> Path | None:
    """The entry of `d` named `name`, ignoring case (exact match preferred)."""
    if d is None or not d.is_dir():
        return None
    if (d / name).exists():
        return d / name
    return next((c for c in sorted(d.iterdir()) if c.name.lower() == name.lower()), None)


def is_aariz(path: Path) -> bool:
    """True for an Aariz root (mapping CSV or splits with Annotations) or a split dir."""
    return path.is_dir() and (_child(path, MAPPING_CSV) is not None or _child(path, "annotations") is not None
                              or any(_child(c, "annotations") for c in path.iterdir() if c.is_dir()))


def _pixel_sizes(csv_path: Path, problems: list[str]) -> dict[str, float]:
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise AnnotationError(f"{csv_path}: cannot read ({e})") from e
    sizes: dict[str, float] = {}
    for line, row in enumerate(rows, start=2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
        if "cephalogram_id" not in row or "pixel_size" not in row:
            problems.append(f"{csv_path}: needs columns cephalogram_id and pixel_size")
            break
        ps = to_float(row["pixel_size"])
        if ps is None or ps <= 0:
            problems.append(f"{csv_path}: line {line}: invalid pixel_size {row['pixel_size']!r} for {row['cephalogram_id']!r}")
            continue
        sizes[Path(row["cephalogram_id"]).stem if "." in row["cephalogram_id"] else row["cephalogram_id"]] = ps
    return sizes


def _read_json(p: Path, problems: list[str], order: dict[str, float]) -> dict[str, Point] | None:
    try:
        data = load_json(p)
    except AnnotationError as e:
        problems.extend(e.problems)
        return None
    lms = data.get("landmarks") if isinstance(data, dict) else None
    if not isinstance(lms, list):
        problems.append(f"{p}: no 'landmarks' list")
        return None
    raw: list[tuple[Any, Any, Any]] = []
    for k, lm in enumerate(lms):
        val = lm.get("value") if isinstance(lm, dict) else None
        if not isinstance(val, dict):
            problems.append(f"{p}: landmark #{k} has no 'value' with x and y")
            continue
        name = lm.get("symbol") or lm.get("title")
        raw.append((name, val.get("x"), val.get("y")))
        lid = to_float(lm.get("landmark_id"))
        if isinstance(name, str) and name.strip() and name.strip() not in order:
            order[name.strip()] = lid if lid is not None else float("inf")
    return parse_points(raw, str(p), problems)


def _split_dirs(path: Path, split: str | Sequence[str] | None, problems: list[str]) -> list[Path]:
    if _child(path, "annotations") is not None:  # `path` is a split dir
        return [path]
    found = [c for c in sorted(path.iterdir()) if c.is_dir() and _child(c, "annotations") is not None]
    if split is None:
        return found
    wanted = [split] if isinstance(split, str) else list(split)
    by_name = {c.name.lower(): c for c in found}
    for s in wanted:
        if s.lower() not in by_name:
            problems.append(f"{path}: no split {s!r} (found: {', '.join(c.name for c in found) or 'none'})")
    return [by_name[s.lower()] for s in wanted if s.lower() in by_name]


def read_aariz(path: str | Path, observer: str = "mean", split: str | Sequence[str] | None = None) -> AnnotationSet:
    """Read an Aariz tree (root or one split dir); `split` selects splits by name (default: all)."""
    path = Path(path)
    if observer not in ("senior", "junior", "mean"):
        raise AnnotationError(f"observer must be 'senior', 'junior' or 'mean', not {observer!r}")
    if not path.is_dir():
        raise AnnotationError(f"{path}: not a directory (Aariz root expected)")
    problems: list[str] = []
    csv_path = _child(path, MAPPING_CSV) or _child(path.parent, MAPPING_CSV)
    spacing = _pixel_sizes(csv_path, problems) if csv_path else {}
    observers = ["senior", "junior"] if observer == "mean" else [observer]
    order: dict[str, float] = {}
    pending: list[PendingImage] = []
    splits = _split_dirs(path, split, problems)
    if not splits and not problems:
        problems.append(f"{path}: no split directory with an Annotations folder")
    for sd in splits:
        ceph_dir = _child(sd, "cephalograms")
        lm_dir = _child(_child(sd, "annotations"), "cephalometric landmarks")
        obs_dirs = {o: _child(lm_dir, OBSERVERS[o]) for o in observers}
        for o, d in obs_dirs.items():
            if d is None:
                problems.append(f"{sd}: no 'Annotations/Cephalometric Landmarks/{OBSERVERS[o].title()}' folder")
        if ceph_dir is None:
            problems.append(f"{sd}: no 'Cephalograms' folder")
        if ceph_dir is None or any(d is None for d in obs_dirs.values()):
            continue
        files = {o: {p.stem: p for p in sorted(d.iterdir()) if p.suffix.lower() == ".json"} for o, d in obs_dirs.items()}
        images: dict[str, list[Path]] = {}
        for p in sorted(ceph_dir.iterdir()):
            if p.is_file():
                images.setdefault(p.stem, []).append(p)
        for cid in sorted(set().union(*files.values())):
            where = f"{sd.name}/{cid}"
            missing = [o for o in observers if cid not in files[o]]
            if missing:
                problems.append(f"{path}: {where}: no {' or '.join(missing)} annotation (needed for observer={observer!r})")
                continue
            pts = [_read_json(files[o][cid], problems, order) for o in observers]
            if any(p is None for p in pts):
                continue
            points = pts[0] if len(pts) == 1 else {
                n: ((x + pts[1][n][0]) / 2, (y + pts[1][n][1]) / 2) for n, (x, y) in pts[0].items() if n in pts[1]}
            cands = images.get(cid, [])
            if len(cands) > 1:
                problems.append(f"{path}: {where}: several image files for one id: {', '.join(c.name for c in cands)}")
                continue
            img = cands[0] if cands else ceph_dir / cid
            pending.append(PendingImage(cid, img, points, spacing.get(cid), where=f"{where} (image {cid!r})"))
    return finalize(pending, str(path), problems, sorted(order, key=lambda n: order[n]))
