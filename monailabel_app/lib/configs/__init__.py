"""One file per model: ``lib/configs/<task>.py`` defines ``SPEC = ModelSpec(...)`` (see :mod:`lib.spec`).

To add a model, add a file here, e.g. ``lib/configs/incisors.py``::

    from lib.spec import ModelSpec

    SPEC = ModelSpec(name="incisors", description="Incisor tips (fine-tuned model)",
                     checkpoint_option="incisors_model", landmarks=("upper_incisal_incision",
                                                                    "lower_incisal_incision"))

and start the server with ``--conf incisors_model PATH`` (or train the ``incisors`` task). The
infer task, the train task, ``--conf models`` and /info pick it up; nothing else changes.
"""
from __future__ import annotations

import importlib
from pathlib import Path

from ..spec import ModelSpec

__all__ = ["collect_specs"]


def collect_specs(folder: str | Path | None = None) -> list[ModelSpec]:
    """Every ``SPEC`` in ``lib/configs/*.py``, in ``order`` then name; names must be unique."""
    folder = Path(folder) if folder else Path(__file__).parent
    specs: list[ModelSpec] = []
    for path in sorted(folder.glob("*.py")):
        if path.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{path.stem}")
        spec = getattr(module, "SPEC", None)
        if not isinstance(spec, ModelSpec):
            raise TypeError(f"{path}: defines no SPEC = ModelSpec(...)")
        specs.append(spec)
    names = [s.name for s in specs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"{folder}: model name(s) declared twice: {', '.join(dup)}")
    return sorted(specs, key=lambda s: (s.order, s.name))
