"""The one-page report of an analysed image (PNG and PDF): the tracing on the image (named points;
S-N, FH, palatal, mandibular and occlusal planes; the SNA/SNB angles at N; incisor axes), a table
of values against norms with out-of-range values marked, and the calibration line."""
from __future__ import annotations

import math
import re
import textwrap
from pathlib import Path
from typing import Sequence

import numpy as np

from cephmark.analysis.measurements import ANALYSES
from cephmark.analysis.pipeline import AnalysisResult
from cephmark.util import atomic_open

ABBREV = {
    "sella": "S", "nasion": "N", "orbitale": "Or", "porion": "Po", "subspinale_A_point": "A",
    "supramentale_B_point": "B", "pogonion": "Pog", "menton": "Me", "gnathion": "Gn", "gonion": "Go",
    "lower_incisal_incision": "L1", "upper_incisal_incision": "U1", "upper_lip": "UL", "lower_lip": "LL",
    "subnasale": "Sn", "soft_tissue_pogonion": "Pog'", "posterior_nasal_spine": "PNS",
    "anterior_nasal_spine": "ANS", "articulare": "Ar", "upper_incisor_root_apex": "U1A",
    "lower_incisor_root_apex": "L1A", "upper_first_molar": "U6", "lower_first_molar": "L6",
    "condylion": "Co", "basion": "Ba", "pterygomaxillary_fissure": "Ptm", "soft_tissue_nasion": "N'",
    "pronasale": "Prn", "D_symphysis_center": "D", "PT_point": "PT", "bolton_point": "Bo",
    "glabella": "G", "columella": "Cm", "cervical_point": "C", "soft_tissue_gnathion": "Gn'",
    "soft_tissue_menton": "Me'", "upper_lip_vermilion_border": "ULv", "lower_lip_vermilion_border": "LLv",
}
# (name, from, to, colour): planes drawn through two points, extended a little
PLANES = [
    ("S-N", "sella", "nasion", "#00bcd4"), ("FH", "porion", "orbitale", "#ffb300"),
    ("palatal", "posterior_nasal_spine", "anterior_nasal_spine", "#66bb6a"),
    ("mandibular", "gonion", "menton", "#ef5350"),
    ("N-A", "nasion", "subspinale_A_point", "#ab47bc"), ("N-B", "nasion", "supramentale_B_point", "#7e57c2"),
    ("U1 axis", "upper_incisor_root_apex", "upper_incisal_incision", "#ffffff"),
    ("L1 axis", "lower_incisor_root_apex", "lower_incisal_incision", "#ffffff"),
]
OUT_OF_RANGE = "#c62828"


def write_report(result: AnalysisResult, pixels: np.ndarray | None, out_dir: str | Path,
                 dpi: int = 150) -> list[Path]:
    """``<stem>_report.png`` and ``.pdf`` in ``out_dir``; the same page in both."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = Path(result.landmarks.image).stem
    fig = plt.figure(figsize=(11.69, 8.27))  # A4 landscape
    _header(fig, result)
    ax_img = fig.add_axes([0.005, 0.04, 0.44, 0.85])
    _tracing(ax_img, result, pixels)
    ax_tab = fig.add_axes([0.455, 0.04, 0.535, 0.85])
    _table(ax_tab, result)
    paths = [out / f"{stem}_report.png", out / f"{stem}_report.pdf"]
    for p in paths:
        with atomic_open(p, "wb") as fh:
            fig.savefig(fh, dpi=dpi, format=p.suffix[1:])
    plt.close(fig)
    return paths


def calibration_line(result: AnalysisResult) -> str:
    c = result.calibration
    mmpx = "no mm/px (lengths in pixels)" if c.mm_per_px is None else f"{c.mm_per_px:.4f} mm/px"
    line = f"Calibration: {c.source}, {mmpx}, status {c.status.upper()}"
    if c.ruler_vs_dicom is not None:
        line += f"; ruler vs DICOM {100 * c.ruler_vs_dicom:+.1f} %"
    if c.reasons:
        line += " - " + "; ".join(c.reasons)
    if c.notes:
        line += " (" + "; ".join(c.notes) + ")"
    return line


def _header(fig, result: AnalysisResult) -> None:
    r = result.landmarks
    o = result.measurements.orientation
    fig.text(0.01, 0.975, f"Cephalometric analysis - {Path(r.image).name}", fontsize=13, weight="bold", va="top")
    colour = "black" if result.calibration.status == "ok" else OUT_OF_RANGE
    fig.text(0.01, 0.948, textwrap.fill(calibration_line(result), 185), fontsize=7.5, va="top", color=colour,
             linespacing=1.3)
    fig.text(0.01, 0.908, f"{o.to_dict()['note']}.  Values outside the norm (|deviation| > 1 SD) in red; "
             "automatic landmarks: check the tracing before clinical use.", fontsize=7.5, va="top")


def _points(result: AnalysisResult) -> dict[str, tuple[float, float]]:
    return {lm.name: (lm.x, lm.y) for lm in result.landmarks.landmarks if lm.found}


def _tracing(ax, result: AnalysisResult, pixels: np.ndarray | None) -> None:
    pts = _points(result)
    ax.set_axis_off()
    if pixels is not None:
        ax.imshow(pixels if pixels.ndim == 3 else pixels, cmap="gray")
    elif not pts:
        ax.text(0.5, 0.5, "no image, no points", ha="center", transform=ax.transAxes)
        return
    if pts:
        xy = np.array(list(pts.values()))
        lo, hi = xy.min(0), xy.max(0)
        pad = 0.12 * (hi - lo).max()
        x0, y0 = lo - pad
        x1, y1 = hi + pad
        if pixels is not None:
            h, w = pixels.shape[:2]
            x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
        ax.set_xlim(x0, x1)
        ax.set_ylim(y1, y0)
    scale = max(ax.get_xlim()[1] - ax.get_xlim()[0], 1.0)
    for label, a, b, colour in PLANES:
        if a in pts and b in pts:
            p, q = np.array(pts[a]), np.array(pts[b])
            d = q - p
            ext = 0.15 if label in ("S-N", "FH", "palatal", "mandibular") else 0.08
            s, e = p - ext * d, q + ext * d
            ax.plot([s[0], e[0]], [s[1], e[1]], color=colour, lw=1.2, alpha=0.9)
    occ = ("upper_first_molar", "lower_first_molar", "upper_incisal_incision", "lower_incisal_incision")
    if all(n in pts for n in occ):
        m = (np.array(pts[occ[0]]) + np.array(pts[occ[1]])) / 2
        i = (np.array(pts[occ[2]]) + np.array(pts[occ[3]])) / 2
        ax.plot([m[0], i[0]], [m[1], i[1]], color="#26c6da", lw=1.0, ls="--")
    _angle_arcs(ax, result, pts, scale)
    from matplotlib.lines import Line2D

    shown = [(label, colour) for label, a, b, colour in PLANES[:4] if a in pts and b in pts]
    if shown:
        ax.legend([Line2D([], [], color=c, lw=2) for _, c in shown], [f"{lbl} plane" for lbl, _ in shown],
                  loc="lower left", fontsize=6.5, framealpha=0.8)
    for name, (x, y) in pts.items():
        ax.plot(x, y, "o", ms=3.5, color="#ff1744", mec="black", mew=0.5)
        ax.annotate(ABBREV.get(name, name), (x, y), xytext=(4, -4), textcoords="offset points", fontsize=7,
                    color="yellow", weight="bold")


def _angle_arcs(ax, result: AnalysisResult, pts: dict, scale: float) -> None:
    """SNA and SNB drawn as arcs at N, labelled with their values."""
    from matplotlib.patches import Arc

    if "nasion" not in pts or "sella" not in pts:
        return
    n = np.array(pts["nasion"])
    base = math.degrees(math.atan2(pts["sella"][1] - n[1], pts["sella"][0] - n[0]))
    for k, (name, target, colour) in enumerate([("SNA", "subspinale_A_point", "#ab47bc"),
                                                 ("SNB", "supramentale_B_point", "#7e57c2")]):
        if target not in pts:
            continue
        ang = math.degrees(math.atan2(pts[target][1] - n[1], pts[target][0] - n[0]))
        lo, hi = sorted((base, ang))
        if hi - lo > 180:
            lo, hi = hi, lo + 360
        r = scale * (0.07 + 0.035 * k)
        ax.add_patch(Arc(tuple(n), 2 * r, 2 * r, theta1=lo, theta2=hi, color=colour, lw=1.2))
        try:
            value = next(v.value for v in result.measurements.values
                         if v.measurement.name == name and v.value is not None)
        except StopIteration:
            continue
        mid = math.radians((lo + hi) / 2)
        ax.annotate(f"{name} {value:.1f}\u00b0", (n[0] + r * math.cos(mid), n[1] + r * math.sin(mid)),
                    fontsize=7, color=colour, weight="bold",
                    bbox=dict(boxstyle="round,pad=0.15", fc="white", alpha=0.8, lw=0))


def _fmt(v: float | None, unit: str) -> str:
    if v is None:
        return "-"
    nd = 2 if unit == "ratio" else 1
    return f"{v:.{nd}f}"


def _table(ax, result: AnalysisResult) -> None:
    ax.set_axis_off()
    rows, colours, skipped = [], [], []
    last = None
    for v in result.measurements.values:
        m = v.measurement
        if v.value is None:
            skipped.append(v)
            continue
        group = ANALYSES[m.analysis] if m.analysis != last else ""
        last = m.analysis
        unit = {"deg": "\u00b0", "ratio": ""}.get(m.unit, f" {m.unit}")
        norm = "-" if m.norm is None else f"{_fmt(m.norm.mean, m.unit)} \u00b1 {_fmt(m.norm.sd, m.unit)}"
        dev = v.deviation_sd
        flag = "" if dev is None or abs(dev) <= 1 else (" \u25b2" if dev > 0 else " \u25bc")
        cls = v.class_rule
        rows.append([group, m.label, f"{_fmt(v.value, m.unit)}{unit}{flag}", norm,
                     "-" if dev is None else f"{dev:+.1f}", _class_text(cls)])
        colours.append(OUT_OF_RANGE if v.out_of_norm else "black")
    header = ["Analysis", "Measurement", "Value", "Norm (mean \u00b1 SD)", "Dev. SD", "Class"]
    if rows:
        table = ax.table(cellText=rows, colLabels=header, loc="upper left", cellLoc="left",
                         colWidths=[0.13, 0.17, 0.11, 0.17, 0.08, 0.31])
        table.auto_set_font_size(False)
        table.set_fontsize(7)
        table.scale(1, 1.18)
        for (r, c), cell in table.get_celld().items():
            cell.set_linewidth(0.3)
            if r == 0:
                cell.set_text_props(weight="bold")
                cell.set_facecolor("#eeeeee")
            elif c in (2, 4) and colours[r - 1] != "black":
                cell.get_text().set_color(colours[r - 1])
                cell.get_text().set_weight("bold")
    if skipped:
        ax.text(0, 0.0, _skipped_note(skipped), fontsize=6.5, va="bottom", wrap=True, transform=ax.transAxes,
                color="#555555")


def _class_text(cls) -> str:
    """ISBI-style codes (C1..C4) with their label; other classes by their label alone."""
    if cls is None:
        return ""
    return f"{cls.code} {cls.label}" if re.fullmatch(r"C\d", cls.code) else cls.label


def _skipped_note(skipped: Sequence) -> str:
    """One line per cause: missing landmarks are pooled (names of the measurements, then the points)."""
    missing: dict[str, str] = {}
    names, other = [], {}
    for v in skipped:
        found = re.findall(r"(\w+): ([^;)]+)", v.reason or "") if (v.reason or "").startswith("missing") else []
        if found:
            names.append(v.measurement.label)
            missing.update(found)
        else:
            other.setdefault(v.reason or "not measured", []).append(v.measurement.label)
    parts = []
    if names:
        why = "; ".join(f"{ABBREV.get(n, n)} ({r})" for n, r in missing.items())
        parts.append(f"{', '.join(dict.fromkeys(names))}: missing {why}")
    parts += [f"{', '.join(dict.fromkeys(n))}: {reason}" for reason, n in other.items()]
    return "Not measured - " + " | ".join(parts)
