from cephmark.codecs.fast_codec import FastHeatmapCodec
from cephmark.codecs.heatmap_codec import DecodedLandmarks, HeatmapCodec

__all__ = ["DecodedLandmarks", "FastHeatmapCodec", "HeatmapCodec"]
