"""Heatmap codecs: `HeatmapCodec` (the literal reference decode) and `FastHeatmapCodec` (same bits, faster)."""
from cephmark.util import lazy_exports

# module -> public names, imported on first use (a light module of this package needs no MONAI)
__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "cephmark.codecs.fast_codec": ["FastHeatmapCodec"],
    "cephmark.codecs.heatmap_codec": ["DecodedLandmarks", "HeatmapCodec"],
})
