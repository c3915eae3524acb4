"""COCO keypoints as MMPose / CL-Detection write them.

`images[]` (`id`, `file_name`, `width`, `height`, optional `spacing` or `pixel_spacing` in mm),
`annotations[]` (`image_id`, flat `keypoints` [x, y, v] * K; v = 0: not labelled),
`categories[].keypoints` = landmark names (the format's order). Coordinates are taken as pixels.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from cephmark.annotations.types import (
    AnnotationError, AnnotationSet, PendingImage, finalize, load_json, parse_points, parse_spacing, to_float,
)


def read_coco(path: str | Path, image_dir: str | Path | None = None) -> AnnotationSet:
    """Read a COCO keypoint file; `file_name`s are resolved in `image_dir` (default: the file's dir)."""
    path = Path(path)
    image_dir = Path(image_dir) if image_dir is not None else path.parent
    data = load_json(path)
    if not isinstance(data, dict) or not all(isinstance(data.get(k), list) for k in ("images", "annotations", "categories")):
        raise AnnotationError(f"{path}: not a COCO keypoint file (needs lists 'images', 'annotations', 'categories')")
    problems: list[str] = []
    cats: dict[Any, list[str]] = {}
    for c in data["categories"]:
        kps = c.get("keypoints") if isinstance(c, dict) else None
        if not isinstance(kps, list) or not kps or not all(isinstance(k, str) for k in kps):
            problems.append(f"{path}: category {c.get('id') if isinstance(c, dict) else c!r} has no list of keypoint names")
            continue
        cats[c.get("id")] = kps
    if not cats:
        raise AnnotationError(problems or [f"{path}: no category with keypoint names"])
    default_names = next(iter(cats.values()))
    order = list(dict.fromkeys(n for kps in cats.values() for n in kps))

    images: dict[Any, dict[str, Any]] = {}
    for im in data["images"]:
        if not isinstance(im, dict) or not isinstance(im.get("file_name"), str) or "id" not in im:
            problems.append(f"{path}: image entry {im!r:.80} lacks 'id' or 'file_name'")
        elif im["id"] in images:
            problems.append(f"{path}: image id {im['id']!r} appears twice in images[]")
        else:
            images[im["id"]] = im
    annotated: dict[Any, int] = {}
    pending: list[PendingImage] = []
    for k, ann in enumerate(data["annotations"]):
        if not isinstance(ann, dict):
            problems.append(f"{path}: annotation #{k} is not an object")
            continue
        im = images.get(ann.get("image_id"))
        if im is None:
            problems.append(f"{path}: annotation {ann.get('id', '#' + str(k))} refers to unknown image_id {ann.get('image_id')!r}")
            continue
        where = f"image {im['file_name']!r} (id {im['id']!r})"
        if im["id"] in annotated:
            problems.append(f"{path}: {where}: the same image is annotated twice (annotations #{annotated[im['id']]} and #{k})")
            continue
        annotated[im["id"]] = k
        names = cats.get(ann.get("category_id"), default_names)
        kps = ann.get("keypoints")
        if not isinstance(kps, list) or len(kps) != 3 * len(names):
            n = len(kps) if isinstance(kps, list) else kps
            problems.append(f"{path}: {where}: keypoints has length {n}, expected 3 x {len(names)} = {3 * len(names)}")
            continue
        raw = [(name, kps[3 * i], kps[3 * i + 1]) for i, name in enumerate(names)
               if to_float(kps[3 * i + 2]) != 0]
        points = parse_points(raw, f"{path}: {where}", problems)
        spacing = parse_spacing(im.get("spacing", im.get("pixel_spacing")), f"{path}: {where}", problems)
        w, h = im.get("width"), im.get("height")
        pending.append(PendingImage(im["file_name"], image_dir / im["file_name"], points, spacing,
                                    int(w) if to_float(w) else None, int(h) if to_float(h) else None, where))
    problems += [f"{path}: image {im['file_name']!r} (id {i!r}) has no annotation"
                 for i, im in images.items() if i not in annotated]
    return finalize(pending, str(path), problems, order)
