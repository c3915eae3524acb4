"""Landmarks as a 3D Slicer markups point list (``.mrk.json``) and back.

Positions are physical LPS coordinates computed with the image's ITK geometry
(``origin + direction @ (x * sx, y * sy[, 0])``, see :mod:`cephmark.app.geometry`), so the points
land on the right pixels of the image as Slicer loads it. Landmarks that were not found are
kept as ``positionStatus: "undefined"`` points (Slicer lists them, unplaced).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from cephmark.app.geometry import ImageGeometry
from cephmark.inference.results import ImageResult

__all__ = ["SCHEMA", "to_markups", "write_markups", "read_markups_points", "is_markups"]

SCHEMA = ("https://raw.githubusercontent.com/Slicer/Slicer/main/Modules/Loadable/Markups/Resources/"
          "Schema/markups-schema-v1.0.0.json#")


def to_markups(result: ImageResult, geometry: ImageGeometry, name: str = "cephmark") -> dict:
    """A markups JSON document with one point list holding every landmark of ``result``."""
    points = []
    for k, lm in enumerate(result.landmarks):
        found = lm.found and lm.x is not None and lm.y is not None
        position = list(geometry.index_to_lps(lm.x, lm.y)) if found else [0.0, 0.0, 0.0]
        points.append({
            "id": str(k + 1),
            "label": lm.name,
            "description": f"score {lm.score:.4f}",
            "associatedNodeID": "",
            "position": position,
            "orientation": [-1.0, -0.0, -0.0, -0.0, -1.0, -0.0, 0.0, 0.0, 1.0],
            "selected": True,
            "locked": False,
            "visibility": True,
            "positionStatus": "defined" if found else "undefined",
        })
    return {
        "@schema": SCHEMA,
        "markups": [{
            "type": "Fiducial",
            "name": name,
            "coordinateSystem": "LPS",
            "coordinateUnits": "mm",
            "locked": False,
            "fixedNumberOfControlPoints": False,
            "labelFormat": "%N-%d",
            "lastUsedControlPointNumber": len(points),
            "controlPoints": points,
        }],
    }


def write_markups(doc: Mapping[str, Any], path: str | Path) -> Path:
    path = Path(path)
    path.write_text(json.dumps(doc, indent=2) + "\n")
    return path


def is_markups(path: str | Path) -> bool:
    return str(path).lower().endswith(".json")


def read_markups_points(source: str | Path | Mapping[str, Any],
                        geometry: ImageGeometry) -> dict[str, tuple[float, float]]:
    """``{label: (x, y)}`` in the image's pixels from a markups JSON file or document.

    Every point list in the document counts; points without a label or whose position is not
    defined are skipped; ``coordinateSystem`` RAS is converted to LPS (x and y negated).
    """
    if isinstance(source, Mapping):
        doc, where = source, "markups"
    else:
        where = str(source)
        try:
            doc = json.loads(Path(source).read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"{where}: cannot read markups JSON ({exc})") from exc
    lists = doc.get("markups") if isinstance(doc, Mapping) else None
    if not isinstance(lists, list):
        raise ValueError(f"{where}: not a Slicer markups file (no 'markups' list)")
    points: dict[str, tuple[float, float]] = {}
    for mk in lists:
        if not isinstance(mk, Mapping):
            continue
        system = str(mk.get("coordinateSystem", "LPS")).upper()
        if system not in ("LPS", "RAS"):
            raise ValueError(f"{where}: unknown coordinateSystem {system!r}")
        for cp in mk.get("controlPoints") or []:
            label = str(cp.get("label") or "").strip()
            pos = cp.get("position")
            if not label or not isinstance(pos, (list, tuple)) or len(pos) < 2:
                continue
            if str(cp.get("positionStatus", "defined")).lower() not in ("defined", "preview"):
                continue
            p = [float(v) for v in pos[:3]] + [0.0] * (3 - len(pos[:3]))
            if system == "RAS":
                p[0], p[1] = -p[0], -p[1]
            x, y, _ = geometry.lps_to_index(p)
            points[label] = (x, y)
    return points
