"""Heatmap codecs: `HeatmapCodec` (the literal reference decode) and `FastHeatmapCodec` (same bits, faster)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from cephmark.util import lazy_exports

if TYPE_CHECKING:  # the real imports happen on first use (see cephmark.util.lazy_exports)
    from cephmark.codecs.fast_codec import FastHeatmapCodec
    from cephmark.codecs.heatmap_codec import DecodedLandmarks, HeatmapCodec

_EXPORTS = {
    "FastHeatmapCodec": "cephmark.codecs.fast_codec",
    "DecodedLandmarks": "cephmark.codecs.heatmap_codec",
    "HeatmapCodec": "cephmark.codecs.heatmap_codec",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = ["DecodedLandmarks", "FastHeatmapCodec", "HeatmapCodec"]
