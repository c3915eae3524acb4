"""Shared helpers, defined once: atomic file writes, boolean parsing, readable image extensions,
lazy package exports.

Atomic write policy (every file cephmark writes in place goes through :func:`atomic_open`):
a temporary file in the target's folder, flushed and fsynced, given the mode a plain ``open()``
would give (0666 minus the umask, so shared checkpoints stay readable; ``mkstemp`` alone gives
0600), then renamed over the target. On any failure the temporary file is removed and the
target is left as it was.
"""
from __future__ import annotations

import importlib
import math
import os
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Callable, Iterator

__all__ = ["DICOM_EXTENSIONS", "IMAGE_EXTENSIONS", "TRUE_WORDS", "FALSE_WORDS", "parse_bool", "json_safe",
           "current_umask", "file_mode", "atomic_open", "atomic_write_bytes", "atomic_write_text",
           "lazy_exports"]

DICOM_EXTENSIONS = (".dcm", ".dicom")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff") + DICOM_EXTENSIONS
"""Suffixes (lower case) of files cephmark reads as images; DICOM is also found by content."""

TRUE_WORDS = frozenset({"1", "true", "yes", "y", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "n", "off"})


def parse_bool(value: Any, default: bool | None = None) -> bool:
    """``True``/``False`` from a bool, an int 0/1 or one of :data:`TRUE_WORDS`/:data:`FALSE_WORDS`
    (case and surrounding space ignored). ``None`` or an empty string give ``default`` when one
    is given; anything else raises ValueError naming the value."""
    if isinstance(value, bool):
        return value
    if value is None or (isinstance(value, str) and not value.strip()):
        if default is None:
            raise ValueError(f"not a boolean: {value!r} (use one of {sorted(TRUE_WORDS | FALSE_WORDS)})")
        return default
    word = str(value).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f"not a boolean: {value!r} (use one of {sorted(TRUE_WORDS | FALSE_WORDS)})")


def json_safe(obj: Any) -> Any:
    """Plain, strict JSON data: non-finite floats (NaN, +-Infinity) become None, numpy scalars
    plain numbers, keys strings, tuples lists, anything else its ``str``."""
    if type(obj).__module__ == "numpy" and hasattr(obj, "item") and getattr(obj, "ndim", 0) == 0:
        obj = obj.item()  # numpy scalar -> Python bool/int/float (numpy is not imported here)
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return str(obj)


def current_umask() -> int:
    """The process umask, read without changing it where Linux allows (thread-safe)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode a plain ``open(path, "w")`` would give a new file: 0666 minus the umask."""
    return 0o666 & ~current_umask()


@contextmanager
def atomic_open(path: str | Path, mode: str = "wb", **open_kwargs: Any) -> Iterator[IO]:
    """Open a temporary file beside ``path`` for writing; on a clean exit it replaces ``path``.

    ``mode`` is ``"wb"`` or ``"w"`` (text; ``open_kwargs`` such as ``newline`` or ``encoding``
    are passed on). Parent folders are created. See the module docstring for the policy.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open: mode must be 'w' or 'wb', got {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **open_kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_open`)."""
    with atomic_open(path, "wb") as fh:
        fh.write(data)
    return Path(path)


def atomic_write_text(path: str | Path, text: str, newline: str | None = "") -> Path:
    """Write ``text`` to ``path`` atomically; ``newline=""`` writes line endings as given."""
    with atomic_open(path, "w", newline=newline, encoding="utf-8") as fh:
        fh.write(text)
    return Path(path)


def lazy_exports(package: str, modules: dict[str, list[str]]
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """``__getattr__``, ``__dir__`` and ``__all__`` for a package ``__init__`` that names its public
    objects (``{"cephmark.pkg.module": ["name", ...]}``) without importing their modules until
    first use, so a light module of the package (e.g. ``cephmark.inference.fast``) imports
    without MONAI."""
    where = {name: module for module, names in modules.items() for name in names}

    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(where[name]), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(where))

    return __getattr__, __dir__, list(where)
