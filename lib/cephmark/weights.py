"""The bundled models, trained only on the shared ISBI 2015 data: the starter landmark model
(how, and its results: benchmarks/starter/RESULTS.md) and the ruler (p1/p2) model
(benchmarks/p1p2/RESULTS.md)."""
from __future__ import annotations

from pathlib import Path

WEIGHTS_DIR = Path(__file__).parent / "weights"
STARTER = WEIGHTS_DIR / "starter_isbi19_512.pth"
RULER = WEIGHTS_DIR / "ruler_isbi_p1p2.pth"  # p1/p2 cascade (coarse + refiner), fp16, shared backbone


def default_checkpoint() -> Path:
    """Path of the bundled model; a clear error when this installation lacks it."""
    if not STARTER.is_file():
        raise FileNotFoundError(
            f"no --checkpoint given and the bundled starter model is missing ({STARTER})")
    return STARTER


def bundled_ruler_checkpoint() -> Path:
    """Path of the bundled ruler model (p1/p2 cascade file; benchmarks/p1p2/RESULTS.md); a clear
    error when this installation lacks it."""
    if not RULER.is_file():
        raise FileNotFoundError(f"the bundled ruler model is missing ({RULER})")
    return RULER


default_ruler_checkpoint = bundled_ruler_checkpoint  # the name `cephmark analyze` looks up


def resolve_checkpoint(path: str | Path) -> Path:
    """``"starter"`` / ``"ruler"`` name the bundled models (so configs need no install path);
    else ``path``."""
    if str(path) == "ruler":
        return bundled_ruler_checkpoint()
    return default_checkpoint() if str(path) == "starter" else Path(path)
