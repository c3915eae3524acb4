"""On-disk cache of converted networks (OpenVINO IR, ONNX, AOTInductor packages).

A network is converted once per (weights, architecture, input size, engine version) and kept
under `cache_root` in a folder named by `fingerprint`; later processes load it instead of
converting again. Entries are published atomically: written to a temporary folder beside the
final one, then renamed, so a reader sees a whole entry or none.
"""
from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

import torch
from torch import nn

log = logging.getLogger(__name__)

ENV_CACHE = "CEPHMARK_CACHE_DIR"


def cache_root(configured: str | None = None) -> Path:
    """``infer.cache_dir``, else ``$CEPHMARK_CACHE_DIR``, else ``$XDG_CACHE_HOME/cephmark``
    (``~/.cache/cephmark``)."""
    if configured:
        return Path(configured).expanduser()
    if os.environ.get(ENV_CACHE):
        return Path(os.environ[ENV_CACHE]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "cephmark"


def fingerprint(model: nn.Module, input_shape: tuple[int, ...], *extra: str) -> str:
    """SHA-256 (24 hex digits) of the weights and buffers, their names, the module structure,
    the input shape and ``extra`` (engine name and version)."""
    h = hashlib.sha256()
    h.update(repr(model).encode())
    h.update(repr(tuple(input_shape)).encode())
    for part in extra:
        h.update(part.encode())
    for name, t in model.state_dict().items():
        h.update(name.encode())
        h.update(str(t.dtype).encode() + repr(tuple(t.shape)).encode())
        h.update(t.detach().cpu().flatten().contiguous().view(torch.uint8).numpy().tobytes()
                 if t.numel() else b"")
    return h.hexdigest()[:24]


def cached_entry(root: Path, key: str, build: Callable[[Path], None]) -> Path:
    """The folder ``root/key``, made by ``build(tmp_folder)`` when absent (atomic publish).

    Raises OSError when the cache folder cannot be written (the caller decides what then).
    """
    final = root / key
    if final.is_dir():
        return final
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=root))
    try:
        build(tmp)
        try:
            os.rename(tmp, final)
        except OSError:
            if not final.is_dir():  # not a lost race with another process
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("converted network cached in %s", final)
    return final
