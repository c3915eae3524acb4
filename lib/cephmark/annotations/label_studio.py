"""Label Studio full JSON export (a list of tasks) with `keypointlabels` results.

Pixel x = value.x / 100 * original_width, y = value.y / 100 * original_height (no half-pixel
shift). Per task the latest annotation not cancelled counts (by `updated_at`/`created_at`, else
highest `id`). Images are matched in `image_dir` by original name: `file_upload` without its
`<8 hex>-` prefix, else `data.image`'s basename (prefix-stripped), else the name as is.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from cephmark.annotations.types import (
    AnnotationError, AnnotationSet, PendingImage, finalize, image_size, load_json, parse_points, to_float,
)

_PREFIX = re.compile(r"^[0-9a-f]{8}-")


def _candidates(task: dict[str, Any]) -> list[str]:
    """Image file names to try, in order of preference."""
    names: list[str] = []
    upload = task.get("file_upload")
    if isinstance(upload, str) and upload:
        base = Path(upload).name
        names += [_PREFIX.sub("", base), base]
    image = (task.get("data") or {}).get("image") if isinstance(task.get("data"), dict) else None
    if isinstance(image, str) and image:
        url = urlparse(image)
        ref = parse_qs(url.query).get("d", [url.path])[0]  # local-files URLs: ?d=<path>
        base = Path(unquote(ref)).name
        names += [_PREFIX.sub("", base), base]
    return [n for n in dict.fromkeys(names) if n]


def _time(s: Any) -> float | None:
    if not isinstance(s, str):
        return None
    try:
        t = datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (t if t.tzinfo else t.replace(tzinfo=timezone.utc)).timestamp()


def _latest(annotations: list[Any]) -> dict[str, Any] | None:
    """The latest annotation not cancelled, or None."""
    valid = [a for a in annotations if isinstance(a, dict) and not a.get("was_cancelled")]

    def key(a: dict[str, Any]) -> tuple[float, float]:
        t = _time(a.get("updated_at")) or _time(a.get("created_at"))
        i = to_float(a.get("id"))
        return (t if t is not None else float("-inf"), i if i is not None else float("-inf"))

    return max(valid, key=key) if valid else None


def read_label_studio(path: str | Path, image_dir: str | Path | None = None) -> AnnotationSet:
    """Read a Label Studio JSON export; images are looked up in `image_dir` (default: the file's dir)."""
    path = Path(path)
    image_dir = Path(image_dir) if image_dir is not None else path.parent
    tasks = load_json(path)
    if not isinstance(tasks, list):
        raise AnnotationError(f"{path}: expected a list of tasks (Label Studio JSON export), got {type(tasks).__name__}")
    problems: list[str] = []
    pending: list[PendingImage] = []
    for k, task in enumerate(tasks):
        if not isinstance(task, dict):
            problems.append(f"{path}: task #{k} is not an object")
            continue
        where = f"task {task.get('id', '#' + str(k))}"
        names = _candidates(task)
        if not names:
            problems.append(f"{path}: {where}: no image name (neither file_upload nor data.image)")
            continue
        found = next((n for n in names if (image_dir / n).is_file()), names[0])
        where = f"{where} ({found})"
        ann = _latest(task.get("annotations") or [])
        if ann is None:
            problems.append(f"{path}: {where}: no annotation that is not cancelled")
            continue
        raw: list[tuple[Any, Any, Any]] = []
        sizes: set[tuple[int, int]] = set()
        for j, res in enumerate(ann.get("result") or []):
            if not isinstance(res, dict) or res.get("type") != "keypointlabels":
                continue
            val = res.get("value")
            labels = val.get("keypointlabels") if isinstance(val, dict) else None
            if not isinstance(val, dict) or not isinstance(labels, list) or not labels:
                problems.append(f"{path}: {where}: result #{j} has no value with keypointlabels")
                continue
            w, h = res.get("original_width"), res.get("original_height")
            if w is None and h is None:
                try:
                    w, h = image_size(image_dir / found)
                except (ValueError, OSError):
                    continue  # finalize reports the unreadable or missing image
            fw, fh = to_float(w), to_float(h)
            if fw is None or fh is None or fw <= 0 or fh <= 0:
                problems.append(f"{path}: {where}: result #{j} has invalid original_width/height ({w!r}, {h!r})")
                continue
            sizes.add((int(fw), int(fh)))
            px, py = to_float(val.get("x")), to_float(val.get("y"))
            raw.append((labels[0], px / 100 * fw if px is not None else val.get("x"),
                        py / 100 * fh if py is not None else val.get("y")))
        if len(sizes) > 1:
            problems.append(f"{path}: {where}: results disagree on the image size {sorted(sizes)}")
        size = sizes.pop() if len(sizes) == 1 else (None, None)
        points = parse_points(raw, f"{path}: {where}", problems)
        pending.append(PendingImage(found, image_dir / found, points, None, *size, where=where))
    return finalize(pending, str(path), problems)
