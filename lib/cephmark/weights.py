"""The bundled starter model (trained only on the shared ISBI 2015 data; how, and its results: benchmarks/starter/RESULTS.md)."""
from __future__ import annotations

from pathlib import Path

WEIGHTS_DIR = Path(__file__).parent / "weights"
STARTER = WEIGHTS_DIR / "starter_isbi19_512.pth"


def default_checkpoint() -> Path:
    """Path of the bundled model; a clear error when this installation lacks it."""
    if not STARTER.is_file():
        raise FileNotFoundError(
            f"no --checkpoint given and the bundled starter model is missing ({STARTER})")
    return STARTER


def resolve_checkpoint(path: str | Path) -> Path:
    """``"starter"`` names the bundled model (so configs need no install path); else ``path``."""
    return default_checkpoint() if str(path) == "starter" else Path(path)
