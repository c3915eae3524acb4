"""Annotation data classes, `AnnotationError` and the validation every reader shares.

Readers turn their format into `PendingImage` entries (points already checked with
`parse_points`), collect format-specific problems in a list, then call `finalize`, which adds
the checks common to all formats (image found and readable, size, points inside the image,
the same image twice, empty result) and raises one `AnnotationError` listing every problem.
"""
from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable, Sequence

Point = tuple[float, float]
log = logging.getLogger(__name__)


class AnnotationError(ValueError):
    """Invalid annotations; `problems` holds one message per problem (also the str, one a line)."""

    def __init__(self, problems: Sequence[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        n = len(self.problems)
        head = f"{n} annotation problem{'s' if n != 1 else ''}:\n" if n > 1 else ""
        super().__init__(head + "\n".join(self.problems))


@dataclass
class AnnotatedImage:
    """One image with its landmarks in original-image pixels (integer = pixel centre)."""

    image_path: Path
    points: dict[str, Point]
    spacing_mm: float | None = None
    width: int | None = None
    height: int | None = None


@dataclass
class AnnotationSet:
    """Annotated images read from one source, with landmark names in a stable order."""

    images: list[AnnotatedImage]
    landmark_names: list[str]
    source: str

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, names: Sequence[str]) -> AnnotationSet:
        """Keep only `names` (in that order); images keep their other fields, even if left empty."""
        names = list(names)
        occurring = {n for im in self.images for n in im.points}
        problems = [f"{self.source}: landmark {n!r} never occurs (available: {', '.join(self.landmark_names)})"
                    for n in dict.fromkeys(names) if n not in occurring]
        problems += [f"{self.source}: landmark {n!r} requested more than once"
                     for n in dict.fromkeys(names) if names.count(n) > 1]
        problems += self._near_misses(names)
        if problems:
            raise AnnotationError(problems)
        self._warn_ignored(names)
        images = [replace(im, points={n: im.points[n] for n in names if n in im.points})
                  for im in self.images]
        return AnnotationSet(images=images, landmark_names=names, source=self.source)

    def _near_misses(self, names: Sequence[str]) -> list[str]:
        """Labels that differ from a requested name only in case or spaces ("P2 " for "p2")."""
        key = {n.strip().casefold(): n for n in names}
        return [f"{self.source}: {im.image_path.name}: label {label!r} is not {key[k]!r} (case or "
                f"spaces differ): correct the label"
                for im in self.images for label in im.points
                if label not in names and (k := label.strip().casefold()) in key]

    def _warn_ignored(self, names: Sequence[str]) -> None:
        """Name the labels that are not requested, and the images they leave short."""
        ignored: dict[str, list[str]] = {}
        for im in self.images:
            for label in im.points:
                if label not in names:
                    ignored.setdefault(label, []).append(im.image_path.name)
        for label, where in ignored.items():
            short = [w for w, im in zip(where, (i for i in self.images if label in i.points))
                     if any(n not in im.points for n in names)]
            log.warning("%s: label %r is not among the requested landmarks (%s): ignored on %d "
                        "image(s) (%s)%s", self.source, label, ", ".join(names), len(where),
                        ", ".join(where[:5]) + (" ..." if len(where) > 5 else ""),
                        f"; {len(short)} of them lack a requested landmark (trained without it): "
                        f"{', '.join(short[:5])}" if short else "")


@dataclass
class PendingImage:
    """A reader's entry before the shared checks: `path` is where the image should be."""

    name: str  # how the annotation file refers to the image (for messages)
    path: Path
    points: dict[str, Point]
    spacing_mm: float | None = None
    width: int | None = None  # size declared by the format, checked against the file
    height: int | None = None
    where: str = ""  # location in the source, e.g. "task 12"


def to_float(v: Any) -> float | None:
    """A finite float from a number or numeric string, else None (bools are not numbers)."""
    if isinstance(v, bool) or v is None:
        return None
    try:
        f = float(v.strip() if isinstance(v, str) else v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def parse_points(raw: Iterable[tuple[Any, Any, Any]], where: str, problems: list[str]) -> dict[str, Point]:
    """Check (label, x, y) triples of one annotation: non-empty names, numeric x/y, no duplicates."""
    points: dict[str, Point] = {}
    seen: set[str] = set()
    for label, x, y in raw:
        if not isinstance(label, str) or not label.strip():
            problems.append(f"{where}: invalid landmark name {label!r}")
            continue
        label = label.strip()
        if label in seen:
            problems.append(f"{where}: duplicate label {label!r} (landmark labelled twice)")
            continue
        seen.add(label)
        fx, fy = to_float(x), to_float(y)
        if fx is None or fy is None:
            problems.append(f"{where}: landmark {label!r} has non-numeric coordinates ({x!r}, {y!r})")
            continue
        points[label] = (fx, fy)
    return points


def parse_spacing(v: Any, where: str, problems: list[str]) -> float | None:
    """A pixel spacing in mm (positive number), None when absent/empty; else a problem."""
    if v is None or (isinstance(v, str) and not v.strip()):
        return None
    if isinstance(v, (list, tuple)) and v:
        vals = [f for f in map(to_float, v) if f is not None and f > 0]
        if len(vals) == len(v) and max(vals) - min(vals) <= 1e-6 * max(vals):
            return vals[0]
        problems.append(f"{where}: pixel spacing {v!r} is not one positive number (anisotropic?)")
        return None
    f = to_float(v)
    if f is None or f <= 0:
        problems.append(f"{where}: invalid pixel spacing {v!r}")
        return None
    return f


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) of an image file without decoding pixels; ValueError/OSError if unreadable."""
    try:
        from cephmark.io import image_size as io_image_size  # type: ignore[attr-defined]
    except ImportError:
        io_image_size = None
    if io_image_size is not None:
        w, h = io_image_size(path)
        return int(w), int(h)
    pil_error: Exception | None = None
    if path.suffix.lower() not in (".dcm", ".dicom"):
        try:
            from PIL import Image

            with Image.open(path) as im:
                return im.size
        except Exception as e:  # noqa: BLE001 - fall back to DICOM below
            pil_error = e
    try:
        import pydicom

        ds = pydicom.dcmread(str(path), stop_before_pixels=True, force=pil_error is None)
        return int(ds.Columns), int(ds.Rows)
    except Exception as e:  # noqa: BLE001
        raise ValueError(f"unreadable image ({pil_error or e})") from e


def finalize(pending: Sequence[PendingImage], source: str, problems: list[str],
             order: Sequence[str] | None = None) -> AnnotationSet:
    """Shared checks; returns the set or raises one AnnotationError with all problems.

    `order` is the format's landmark order (names not occurring are dropped); without it,
    names are ordered by first appearance.
    """
    problems = list(problems)
    images: list[AnnotatedImage] = []
    seen: dict[Path, str] = {}
    for p in pending:
        label = f"{source}: {p.where or 'image ' + repr(p.name)}"
        if not p.path.is_file():
            problems.append(f"{label}: not found in {p.path.parent}")
            continue
        path = p.path.resolve()
        if path in seen:
            problems.append(f"{label}: the same image is annotated twice ({path}; also {seen[path]})")
            continue
        seen[path] = p.where or p.name
        try:
            w, h = image_size(path)
        except Exception as e:  # noqa: BLE001 - any failure means the image is unreadable
            problems.append(f"{label}: cannot read image {path}: {e}")
            continue
        if (p.width is not None and p.width != w) or (p.height is not None and p.height != h):
            problems.append(f"{label}: annotated for size {p.width}x{p.height} but the file is {w}x{h}")
            continue
        if not p.points:
            problems.append(f"{label}: no landmark labelled")
        for name, (x, y) in p.points.items():
            if not (-0.5 <= x <= w - 0.5 and -0.5 <= y <= h - 0.5):
                problems.append(f"{label}: landmark {name!r} at ({x:.3f}, {y:.3f}) is outside the {w}x{h} image")
        images.append(AnnotatedImage(path, dict(p.points), p.spacing_mm, w, h))
    if not pending and not problems:
        problems.append(f"{source}: no annotated image found")
    if problems:
        raise AnnotationError(problems)
    occurring = list(dict.fromkeys(n for im in images for n in im.points))
    names = [n for n in dict.fromkeys(order) if n in occurring] if order is not None else []
    names += [n for n in occurring if n not in names]
    return AnnotationSet(images=images, landmark_names=names, source=source)


def load_json(path: Path) -> Any:
    """Parse a JSON file; AnnotationError naming the file and the syntax error."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise AnnotationError(f"{path}: invalid JSON ({e})") from e
    except (OSError, UnicodeDecodeError) as e:
        raise AnnotationError(f"{path}: cannot read ({e})") from e
