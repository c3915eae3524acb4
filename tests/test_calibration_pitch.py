"""Ruler pitch along the p1 -> p2 axis on synthetic rulers with a known pitch: straight,
rotated, bent at the lower end, noisy, mislabelled by a whole mark, and no ruler at all."""
from __future__ import annotations

import math
import re

import cv2
import numpy as np
import pytest

from cephmark.calibration.pitch import PitchError, measure_pitch, snap_reference_marks, snap_to_tick

SS = 4  # supersampling of the renderer


def render_ruler(pitch: float, angle_deg: float = 0.0, bend_below: int | None = None,
                 bend_deg: float = 15.0, noise: float = 0.0, marks: int = 30, seed: int = 0,
                 shape: tuple[int, int] = (420, 320), majors: bool = True
                 ) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """A bright bar with dark slots from its right (anterior) edge every ``pitch`` px (medium
    every 5th, long every 10th), its mark 0 at the image centre, the ruler running up at
    ``angle_deg`` from vertical (clockwise); below mark ``-bend_below`` it turns by
    ``bend_deg``. Returns the uint8 image and the mark centres on the edge, by mark index."""
    h, w = shape
    ys, xs = np.mgrid[0:h * SS, 0:w * SS]
    x, y = (xs + 0.5) / SS - 0.5, (ys + 0.5) / SS - 0.5
    a = math.radians(angle_deg)
    u = np.array([math.sin(a), -math.cos(a)])  # up the ruler
    n = np.array([-u[1], u[0]])  # to the anterior (right) edge
    o = np.array([w / 2, h / 2])
    s = (x - o[0]) * u[0] + (y - o[1]) * u[1]
    t = (x - o[0]) * n[0] + (y - o[1]) * n[1]
    if bend_below is not None:  # below the bend, coordinates in the bent part's own frame
        sb = -bend_below * pitch - 0.5 * pitch
        b = math.radians(bend_deg)
        ds, dt = s - sb, t
        s2 = sb + ds * math.cos(b) - dt * math.sin(b)
        t2 = ds * math.sin(b) + dt * math.cos(b)
        below = s < sb
        s, t = np.where(below, s2, s), np.where(below, t2, t)
    k = np.round(s / pitch)
    length = np.where(k % 10 == 0, 18, np.where(k % 5 == 0, 13, 8)) if majors else np.full_like(k, 10)
    body = (t <= 0) & (t >= -26) & (s > -(marks // 2) * pitch - 12) & (s < (marks // 2) * pitch + 12)
    slot = body & (np.abs(s - k * pitch) < 1.6) & (t > -length)
    img = np.where(slot, 70.0, np.where(body, 210.0, 50.0))
    img = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
    if noise:
        img = img + np.random.default_rng(seed).normal(0, noise, img.shape)
    centres = {j: o + j * pitch * u for j in range(-(marks // 2), marks // 2 + 1)}
    return np.clip(np.round(img), 0, 255).astype(np.uint8), centres


def _err_pct(result, pitch: float) -> float:
    return 100 * abs(result.pitch_px - pitch) / pitch


@pytest.mark.parametrize("angle", [0.0, 20.0, -35.0])
def test_straight_and_rotated_rulers(angle):
    pitch = 7.87
    img, c = render_ruler(pitch, angle_deg=angle)
    r = measure_pitch(img, c[0], c[10], pitch_mm=1.0, distance_mm=10.0)
    assert _err_pct(r, pitch) < 0.1, r.pitch_px
    assert r.mm_per_px == pytest.approx(1.0 / r.pitch_px)
    assert r.source == "ruler_pitch" and r.reasons == [] and r.dark_marks
    assert r.marks > 15 and r.quality > 0.8 and r.std_error_pct < 0.2


def test_points_off_the_marks_still_give_the_pitch():
    """A network's p1/p2: 3 px off the marks, 2 px off the edge: the pitch does not depend on it."""
    pitch = 9.1
    img, c = render_ruler(pitch, angle_deg=8.0)
    r = measure_pitch(img, c[0] + (2.0, -3.0), c[10] + (-2.0, 3.0))
    assert _err_pct(r, pitch) < 0.25


def test_bent_lower_end():
    """Lower end bent 5 marks below p1 (the run by default reaches 1 mark below p1): the pitch
    of the straight part. Allowed to run far below p1, a 30 degree bend is cut off by the
    phase fit; a 15 degree one (marks ~3.4 % closer along the axis) biases it by < 0.3 %."""
    pitch = 7.87
    for bend in (15.0, 30.0):
        img, c = render_ruler(pitch, bend_below=5, bend_deg=bend)
        assert _err_pct(measure_pitch(img, c[0], c[10]), pitch) < 0.1
        far = measure_pitch(img, c[0], c[10], below_marks=15)
        assert _err_pct(far, pitch) < 0.3
        if bend == 30.0:
            assert far.span[0] > -6.5 * pitch, far.span


def test_noise_lowers_quality_not_accuracy():
    pitch = 7.87
    clean = measure_pitch(*_pts(render_ruler(pitch)))
    noisy = measure_pitch(*_pts(render_ruler(pitch, noise=40.0, seed=3)))
    assert _err_pct(noisy, pitch) < 0.5
    assert noisy.quality < clean.quality and noisy.std_error_pct > clean.std_error_pct


def _pts(rendered):
    img, c = rendered
    return img, c[0], c[10]


def test_points_a_whole_mark_off_are_reported():
    pitch = 7.87
    img, c = render_ruler(pitch)
    r = measure_pitch(img, c[0], c[11])  # p2 one mark too high: 11 marks apart
    assert _err_pct(r, pitch) < 0.15
    assert any(re.search(r"are 1[01]\.9\d|are 11\.0\d marks apart, not 10$", why) for why in r.reasons), r.reasons


def test_pitch_in_other_units():
    img, c = render_ruler(8.0)
    r = measure_pitch(img, c[0], c[10], pitch_mm=0.5, distance_mm=5.0)
    assert r.mm_per_px == pytest.approx(0.5 / 8.0, rel=2e-3)


def test_snap_moves_a_point_onto_the_mark_centre():
    pitch = 7.87
    img, c = render_ruler(pitch, angle_deg=10.0)
    r = measure_pitch(img, c[0], c[10])
    u = np.asarray(r.direction)
    for j, off in ((0, 2.5), (10, -3.0), (4, 1.0)):
        q = snap_to_tick(r, c[j] + off * u)
        assert np.hypot(*(np.asarray(q) - c[j])) < 0.2, (j, q, c[j])


def test_no_ruler_is_an_error_or_flagged():
    """Noise alone never passes as a ruler: an error, or a result with reasons and low quality."""
    rng = np.random.default_rng(0)
    for _ in range(5):
        flat = rng.normal(120, 10, (300, 300)).clip(0, 255).astype(np.uint8)
        try:
            r = measure_pitch(flat, (150, 200), (150, 120))
        except PitchError:
            continue
        assert r.reasons and r.quality < 0.5, (r.quality, r.reasons)


def test_points_too_close_or_off_the_image():
    img, _ = render_ruler(7.87)
    with pytest.raises(PitchError, match="too close"):
        measure_pitch(img, (100, 100), (101, 102))
    with pytest.raises(PitchError, match="outside"):
        measure_pitch(img, (-500, -500), (-500, -580))


@pytest.mark.parametrize("off_marks", [-2, 0, 2])
def test_reference_marks_snap_to_the_nearest_major_mark(off_marks):
    """A network's p1 two marks off and 2 px off the edge: p1 back on the major mark, p2 ten
    marks above it, both on the ruler's edge."""
    pitch = 7.87
    img, c = render_ruler(pitch, angle_deg=12.0)
    u = (c[10] - c[0]) / np.linalg.norm(c[10] - c[0])
    n = np.array([-u[1], u[0]])
    p1 = c[off_marks] + 2.0 * n + 1.5 * u
    p2 = c[10 + off_marks] - 2.0 * n
    r = measure_pitch(img, p1, p2)
    snap = snap_reference_marks(img, r, p1, p2, major_every=5, distance_marks=10)
    assert snap.major_found and snap.moved_marks == -off_marks and snap.reasons == []
    assert np.hypot(*(np.asarray(snap.p1) - c[0])) < 0.8, snap.p1  # 0.1 mm at this pitch
    assert np.hypot(*(np.asarray(snap.p2) - c[10])) < 0.8, snap.p2


def test_no_major_marks_snaps_to_the_nearest_mark_and_says_so():
    pitch = 7.87
    img, c = render_ruler(pitch, majors=False)
    r = measure_pitch(img, c[1] + (0, 2.0), c[11])
    snap = snap_reference_marks(img, r, c[1] + (0, 2.0), c[11])
    assert not snap.major_found and "not told apart" in snap.reasons[0]
    assert np.hypot(*(np.asarray(snap.p1) - c[1])) < 0.5


def test_run_ending_at_p2_is_reported():
    """p1/p2 on a ruler piece that ends (or bends away) right above p2: said so; not when the
    marks go on above p2."""
    img, c = render_ruler(7.87)
    u = (c[10] - c[0]) / np.linalg.norm(c[10] - c[0])
    end = measure_pitch(img, c[6], c[15] + 7.87 * u)  # mark 16: the last one (the bar ends 4 px above)
    assert any("ends" in why and "above p2" in why for why in end.reasons), end.reasons
    assert not any("ends" in why for why in measure_pitch(img, c[0], c[10]).reasons)
