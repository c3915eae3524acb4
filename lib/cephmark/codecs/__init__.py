from cephmark.codecs.heatmap_codec import DecodedLandmarks, HeatmapCodec

__all__ = ["DecodedLandmarks", "HeatmapCodec"]
