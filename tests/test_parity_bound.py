"""tests/parity.py's point tolerance: a real bound (random heatmap changes stay within it) that
still catches a wrong point."""
from __future__ import annotations

import numpy as np
import pytest

from cephmark.codecs import HeatmapCodec
from parity import HEAT_TOL, assert_points_match, dark_tolerance


@pytest.mark.parametrize("key", ["heatmaps_single_pass", "heatmaps_flip_averaged",
                                 "heatmaps_flipped_input_flipped_back"])
def test_decoded_points_stay_within_the_bound(tiny_reference_dirs, key):
    codec, rng = HeatmapCodec(), np.random.default_rng(0)
    for ref in tiny_reference_dirs.values():
        heat = ref.arrays()[key]
        for heat_tol in (1e-6, HEAT_TOL):
            bound = dark_tolerance(heat, heat_tol)
            base = codec.decode(heat).xy
            for trial in range(40):
                noise = rng.uniform(-heat_tol, heat_tol, heat.shape).astype(np.float32)
                if trial % 2:
                    noise = np.sign(noise) * np.float32(heat_tol)  # the largest change everywhere
                moved = np.abs(codec.decode(heat + noise).xy - base).max(axis=1)
                assert np.all(moved <= bound), (ref.name, heat_tol, moved, bound)


def test_flat_peaks_get_wide_tolerances_and_wrong_points_fail(tiny_reference_dirs):
    ref = tiny_reference_dirs["tiny_j3_256"]
    heat = ref.arrays()["heatmaps_single_pass"]
    bound = dark_tolerance(heat, 1e-6)
    assert np.isfinite(bound).all() and bound.max() > 1e-2 > bound.min()  # conditioning differs
    xy = HeatmapCodec().decode(heat).xy.astype(np.float64)
    assert_points_match(xy, xy, heat, 1.0, 1e-6)
    wrong = xy.copy()
    wrong[int(bound.argmin())] += 0.5  # half a heatmap pixel on the best-conditioned peak
    with pytest.raises(AssertionError, match="points off"):
        assert_points_match(wrong, xy, heat, 1.0, 1e-6)
    tied = np.zeros((1, 16, 16), np.float32)
    tied[0, 5, 5] = tied[0, 9, 9] = 1.0  # two equal maxima: argmax may switch, not compared
    assert dark_tolerance(tied, 1e-6)[0] == np.inf
