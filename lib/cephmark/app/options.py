"""String/JSON options (MONAI Label ``--conf`` values, request params) -> `CephConfig` entries.

Keys are dotted config entries (``train.epochs``, ``preprocess.image_size``) or bare names
resolved in this order: an alias (``image_size`` -> ``preprocess.image_size``, ``max_epochs`` ->
``train.epochs``), then a field of the preferred section, then of any section. Values given as
strings (every ``--conf`` value is one) are converted by the field's declared type.
"""
from __future__ import annotations

import dataclasses
import json
from typing import Any, Iterable, Mapping

from cephmark.config import CephConfig
from cephmark.util import parse_bool

__all__ = ["ALIASES", "resolve_key", "coerce", "config_updates", "field_type"]

ALIASES = {
    "image_size": "preprocess.image_size",
    "flip_test": "preprocess.flip_test",
    "max_epochs": "train.epochs",
}
_SECTIONS = ("train", "preprocess", "codec", "infer")


def _fields(cfg: CephConfig, section: str) -> dict[str, dataclasses.Field]:
    part = getattr(cfg, section, None)
    if part is None or not dataclasses.is_dataclass(part):
        return {}
    return {f.name: f for f in dataclasses.fields(part)}


def resolve_key(key: str, prefer: str = "train", cfg: CephConfig | None = None) -> str | None:
    """Dotted config key for ``key``, or None when no config entry has that name."""
    cfg = cfg or CephConfig()
    if "." in key:
        section, name = key.split(".", 1)
        return key if name in _fields(cfg, section) else None
    if key in ALIASES:
        return ALIASES[key]
    for section in (prefer, *[s for s in _SECTIONS if s != prefer]):
        if key in _fields(cfg, section):
            return f"{section}.{key}"
    return None


def field_type(dotted: str, cfg: CephConfig | None = None) -> str:
    section, name = dotted.split(".", 1)
    f = _fields(cfg or CephConfig(), section)[name]
    return f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))


def coerce(dotted: str, value: Any, cfg: CephConfig | None = None) -> Any:
    """Convert ``value`` to the type the config field declares (strings parsed, lists split)."""
    kind = field_type(dotted, cfg).replace(" ", "")
    optional = "None" in kind or "Optional" in kind
    base = kind[: -len("|None")] if kind.endswith("|None") else kind
    if isinstance(value, str):
        s = value.strip()
        if optional and s.lower() in ("", "none", "null"):
            return None
        try:
            if base == "bool":
                return parse_bool(s)
            if base == "int":
                return int(s)
            if base == "float":
                return float(s)
            if base.startswith("list[list"):
                return json.loads(s)
            if base.startswith("list"):
                if s.startswith("["):
                    return json.loads(s)
                items = [t.strip() for t in s.split(",") if t.strip()]
                return [None if "None" in base and t.lower() in ("none", "fresh", "null") else t for t in items]
        except (ValueError, json.JSONDecodeError) as exc:
            raise ValueError(f"{dotted}: cannot use {value!r} as {kind} ({exc})") from exc
        return s
    if base == "float" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if base == "int" and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def config_updates(options: Mapping[str, Any], prefer: str = "train", ignore: Iterable[str] = (),
                   cfg: CephConfig | None = None) -> tuple[dict[str, Any], list[str]]:
    """``({"section.key": typed value}, [unknown keys])`` for the given options."""
    cfg = cfg or CephConfig()
    skip = set(ignore)
    updates: dict[str, Any] = {}
    unknown: list[str] = []
    for key, value in options.items():
        if key in skip:
            continue
        dotted = resolve_key(key, prefer, cfg)
        if dotted is None:
            unknown.append(key)
            continue
        updates[dotted] = coerce(dotted, value, cfg)
    return updates, unknown
