"""Per-epoch outputs: ``metrics.csv``, ``learning_curve.png`` and the log line (rank 0 only)."""
from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Sequence

from cephmark.util import atomic_write_bytes

CSV_COLUMNS = ["epoch", "train_loss", "val_loss", "mre_px", "mre_mm", "sdr_2", "sdr_2.5",
               "sdr_3", "sdr_4", "lr", "stage"]


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return "" if math.isnan(v) else f"{v:.6g}"
    return str(v)


def write_metrics_csv(history: Sequence[dict], path: str | Path,
                      columns: Sequence[str] = CSV_COLUMNS) -> None:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(columns)
    for row in history:
        w.writerow([_cell(row.get(c)) for c in columns])
    atomic_write_bytes(path, buf.getvalue().encode())


def read_metrics_csv(path: str | Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def plot_learning_curve(history: Sequence[dict], path: str | Path) -> None:
    """Losses (log scale) and validation MRE per epoch; matplotlib's Agg canvas, no pyplot."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    def series(key):
        pts = [(h["epoch"], h.get(key)) for h in history]
        return [(e, v) for e, v in pts if isinstance(v, (int, float)) and math.isfinite(v)]

    fig = Figure(figsize=(9, 3.6), dpi=100)
    FigureCanvasAgg(fig)
    ax1, ax2 = fig.subplots(1, 2)
    for key, label in (("train_loss", "train"), ("val_loss", "validation")):
        pts = series(key)
        if pts:
            ax1.plot(*zip(*pts), marker=".", label=label)
    if series("train_loss") or series("val_loss"):
        ax1.set_yscale("log")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("heatmap loss")
    if ax1.get_legend_handles_labels()[0]:
        ax1.legend(loc="upper right")
    ax1.grid(alpha=0.3)
    unit = "mm" if series("mre_mm") else "px"
    pts = series(f"mre_{unit}")
    if pts:
        ax2.plot(*zip(*pts), marker=".", color="tab:green")
    ax2.set_xlabel("epoch")
    ax2.set_ylabel(f"validation MRE ({unit})")
    ax2.grid(alpha=0.3)
    for e in [h["epoch"] for h in history if h.get("stage") == 2][:1]:
        for ax in (ax1, ax2):
            ax.axvline(e - 0.5, color="gray", linestyle="--", linewidth=0.8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    atomic_write_bytes(path, buf.getvalue())


def _finite_number(v) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def summary_line(h: dict, epochs: int) -> str:
    def f(key, fmt):
        v = h.get(key)
        return fmt % v if isinstance(v, (int, float)) and math.isfinite(v) else "-"

    parts = [f"epoch {h['epoch']}/{epochs}", f"stage {h['stage']}",
             f"train_loss {f('train_loss', '%.4g')}", f"val_loss {f('val_loss', '%.4g')}",
             f"MRE {f('mre_px', '%.2f')} px"]
    if isinstance(h.get("mre_mm"), float) and math.isfinite(h["mre_mm"]):
        parts.append(f"{h['mre_mm']:.3f} mm, SDR2 {f('sdr_2', '%.1f')}% SDR4 {f('sdr_4', '%.1f')}%")
    if h.get("missed"):
        parts.append(f"{h['missed']} not found")
    if h.get("flat"):
        parts.append(f"{h['flat']} flat")
    parts += [f"lr {h['lr']:.3g}", f"{h['time_s']:.1f}s"]
    if _finite_number(h.get("gpu_mem_gb")):
        parts.append(f"{h['gpu_mem_gb']:.1f} GiB")
    if h.get("best"):
        parts.append("*best*")
    return "  ".join(parts)
