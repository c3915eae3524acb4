"""What the trainer decides after each epoch: best checkpoint, early stopping, stop or restart.

:class:`Selection` keeps the best-so-far and the early-stopping counter (saved in checkpoints
under ``trainer`` so a resumed run decides the same way); :class:`EpochDecision` is what every
rank does next.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Mapping


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


@dataclass
class EpochDecision:
    """After an epoch: go on, stop (``early``: by patience), or start again (``restart``: why)."""

    stop: bool = False
    early: bool = False
    restart: str | None = None


@dataclass
class Selection:
    """Best epoch by validation MRE (mm when every image has a spacing, else px; fewer missed
    landmarks first), by loss when there are no validation points; early stopping watches the
    validation loss (training loss without validation)."""

    best_key: list[float] | None = None
    best_epoch: int | None = None
    best_monitor: float | None = None
    bad_epochs: int = 0

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Selection":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in dataclasses.asdict(self).items()}

    def update(self, row: Mapping[str, Any], validated: bool) -> bool:
        """Take an epoch's metrics ``row``; True when it is the new best."""
        if validated and row.get("n", 0) > 0:
            use_mm = row.get("n_mm", 0) == row["n"] and _finite(row.get("mre_mm"))
            mre = row["mre_mm"] if use_mm else row["mre_px"]
            key = [float(row.get("missed", 0)), mre if _finite(mre) else math.inf]
            monitor = row["val_loss"]
        else:
            monitor = row["val_loss"] if _finite(row.get("val_loss")) else row["train_loss"]
            key = [0.0, monitor if _finite(monitor) else math.inf]
        is_best = self.best_key is None or tuple(key) < tuple(self.best_key)
        if is_best:
            self.best_key, self.best_epoch = key, row["epoch"]
        if _finite(monitor) and (self.best_monitor is None or monitor < self.best_monitor):
            self.best_monitor, self.bad_epochs = float(monitor), 0
        else:
            self.bad_epochs = int(self.bad_epochs) + 1
        return is_best

    def patience_exhausted(self, patience: int | None, epochs_done: int, min_epochs: int) -> bool:
        return bool(patience and patience > 0 and self.bad_epochs >= patience and epochs_done >= min_epochs)
