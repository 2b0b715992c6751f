"""RotationalBlurEstimator: blind centre and angle of a rotational blur."""

import numpy as np
import pytest
from skimage import data, transform

import pnp
from pnp.estimate.rotation import RotationalBlurEstimator, angle_autocorrelation
from pnp.operators.rotational import RotationalBlur
from pnp.synthetic import synthesize_rotational_blur

CENTER = (137.0, 121.0)
ANGLE = np.deg2rad(12.0)


@pytest.fixture(scope="module")
def scene():
    x = transform.resize(data.astronaut() / 255.0, (256, 256), anti_aliasing=True).mean(axis=-1)
    return synthesize_rotational_blur(x, CENTER, ANGLE, noise_level=2.55 / 255, seed=0)


def test_recovers_center_and_angle(scene):
    est = RotationalBlurEstimator()
    op = est.estimate(scene.blurred)
    assert isinstance(op, RotationalBlur)
    err = np.hypot(est.center_[0] - CENTER[0], est.center_[1] - CENTER[1])
    assert err < 2.0
    assert abs(est.angle_ / ANGLE - 1) < 0.10
    assert op.center == est.center_ and op.angle == pytest.approx(est.angle_)
    assert est.score_ > 0
    assert np.isfinite(est.angle_std_) and np.isfinite(est.center_std_)
    assert est.reliable_ and 0 <= est.angle_spread_ <= est.max_spread
    assert not est.second_start_used_  # reliable at once: no second start


@pytest.mark.xfail(strict=True, reason="known limitation: on the unblurred astronaut the estimator finds a 23.5 degree "
                   "'blur' with score 0.037 and band spread 0.035, which passes the reliability thresholds")
def test_unblurred_image_is_flagged_unreliable():
    x = transform.resize(data.astronaut() / 255.0, (256, 256), anti_aliasing=True).mean(axis=-1)
    y = x + 2.55 / 255 * np.random.default_rng(0).standard_normal(x.shape)
    est = RotationalBlurEstimator()
    est.estimate(y)
    assert not est.reliable_


def test_reliability_thresholds(scene):
    strict = RotationalBlurEstimator(center=CENTER, min_score=np.inf)
    strict.estimate(scene.blurred)
    assert not strict.reliable_
    loose = RotationalBlurEstimator(center=CENTER, min_score=0.0, max_spread=np.inf)
    loose.estimate(scene.blurred)
    assert loose.reliable_


def test_known_center_and_uint8_input(scene):
    y8 = np.clip(np.rint(scene.blurred * 255), 0, 255).astype(np.uint8)
    est = RotationalBlurEstimator(center=CENTER)
    est.estimate(y8)
    assert est.center_ == CENTER
    assert abs(est.angle_ / ANGLE - 1) < 0.05


def test_autocorrelation_dip_at_the_blur_angle(scene):
    lags, corr, w, radii = angle_autocorrelation(scene.blurred, CENTER, max_lag=np.deg2rad(30))
    mean = (corr * w[:, None]).sum(axis=0) / w.sum()
    far = lags > np.deg2rad(2)
    assert abs(lags[far][np.argmin(mean[far])] / ANGLE - 1) < 0.15
    assert mean[far].min() < -0.05


def test_two_frames_pooled(scene):
    x = transform.resize(data.astronaut() / 255.0, (256, 256), anti_aliasing=True).mean(axis=-1)
    from pnp.synthetic import rotate

    turned = rotate(x[None], CENTER, np.deg2rad(40))[0]
    second = synthesize_rotational_blur(turned, CENTER, ANGLE, noise_level=2.55 / 255, seed=1).blurred
    est = RotationalBlurEstimator(frames=[second])
    est.estimate(scene.blurred)
    assert np.hypot(est.center_[0] - CENTER[0], est.center_[1] - CENTER[1]) < 2.0
    assert abs(est.angle_ / ANGLE - 1) < 0.10
    with pytest.raises(ValueError, match="frames"):
        RotationalBlurEstimator().estimate(scene.blurred, second[:100])


def test_solve_with_estimator_object(scene):
    y = scene.blurred[64:192, 64:192]
    x = scene.sharp[64:192, 64:192]
    est = RotationalBlurEstimator(center=(CENTER[0] - 64, CENTER[1] - 64))
    x_hat, info = pnp.solve(y, est, prior="tv", noise_level=2.55 / 255, iters=6, return_info=True)
    assert info["estimator"] is est
    assert isinstance(info["operator"], RotationalBlur)
    assert pnp.psnr(x_hat, x) > pnp.psnr(y, x) + 3.0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(angle_range=(0.5, 0.1)), "angle_range"),
        (dict(angle_range=(0.0, 0.5)), "angle_range"),
        (dict(grid=2), "grid"),
        (dict(sign=0), "sign"),
        (dict(radius=(5, 2)), "radius"),
    ],
)
def test_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RotationalBlurEstimator(**kwargs)


def test_second_start_kept_only_if_reliable(scene):
    # min_score = inf: the voted estimate is unreliable, so the second start runs, but it cannot be
    # reliable either, so the voted estimate is kept
    base = RotationalBlurEstimator()
    base.estimate(scene.blurred)
    est = RotationalBlurEstimator(min_score=np.inf)
    est.estimate(scene.blurred)
    assert not est.second_start_used_ and "second" in est._trace
    assert est.center_ == base.center_ and est.angle_ == base.angle_


def test_centre_at_the_corner_is_not_reliable(scene):
    """No ring is half inside: the fallback to rings 10 % inside gave 20.6 deg (true 12) flagged reliable."""
    est = RotationalBlurEstimator(center=(255.0, 255.0))
    est.estimate(scene.blurred)
    assert est.score_ >= est.min_score and est.angle_spread_ <= est.max_spread  # the thresholds alone pass
    assert not est.reliable_
    inside = RotationalBlurEstimator(center=CENTER)  # rings half inside: unchanged
    inside.estimate(scene.blurred)
    assert inside.reliable_


@pytest.mark.parametrize("center", [(np.nan, np.nan), (5.0,), (1.0, np.inf), "centre", (1.0, 2.0, 3.0)])
def test_center_must_be_two_finite_numbers(center):
    """The estimator and the operator share one check: same exception, same message."""
    from pnp.operators.rotational import RotationalBlur

    expected = TypeError if isinstance(center, str) else ValueError
    with pytest.raises(expected, match=r"center must be two finite numbers \(x, y\) in pixels"):
        RotationalBlurEstimator(center=center)
    with pytest.raises(expected, match=r"center must be two finite numbers \(x, y\) in pixels"):
        RotationalBlur(center, 0.1)


def test_center_and_image_size_checked_against_the_frame(scene):
    """(1e6, 1e6) tried to allocate 86 GiB, a 16x16 image raised 'negative dimensions are not allowed'."""
    with pytest.raises(ValueError, match="outside the frame"):
        RotationalBlurEstimator(center=(1e6, 1e6)).estimate(scene.blurred)
    with pytest.raises(ValueError, match="search_margin=0.1"):
        RotationalBlurEstimator(center=(-40.0, 121.0), search_margin=0.1).estimate(scene.blurred)
    with pytest.raises(ValueError, match="too small"):
        RotationalBlurEstimator().estimate(np.random.default_rng(0).random((16, 16)))
    with pytest.raises(ValueError, match="search_margin"):
        RotationalBlurEstimator(search_margin=np.nan)


def test_angle_autocorrelation_validates_its_input(scene):
    img = np.random.default_rng(0).random((64, 64))
    img[10, 10] = np.nan
    with pytest.raises(ValueError, match="NaN"):  # float64 2-D input skipped the validation
        angle_autocorrelation(img, (32, 32))
    with pytest.raises(ValueError, match="center"):
        angle_autocorrelation(scene.blurred, (np.nan, 3.0))
    with pytest.raises(ValueError, match="no ring"):  # far outside: refused without sampling every ring
        angle_autocorrelation(scene.blurred, (1e6, 1e6))


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(refine_size=0), ValueError, r"refine_size must be an integer >= 32"),  # ZeroDivisionError at estimate
        (dict(refine_size=100.5), TypeError, "refine_size"),
        (dict(refine_radius=-5), ValueError, r"refine_radius \(pixels\) must be a finite number > 0"),
        (dict(refine_radius=np.nan), ValueError, "refine_radius"),
        (dict(min_score=np.nan), ValueError, r"min_score must be a number \(not NaN\)"),
        (dict(max_spread=np.nan), ValueError, "max_spread"),
        (dict(max_spread=-0.1), ValueError, "max_spread"),
        (dict(grid=49.5), TypeError, "grid"),
        (dict(refine="no"), TypeError, "refine must be True or False"),
        (dict(second_start="yes"), TypeError, "second_start"),
        (dict(sign=True), ValueError, "sign"),
        (dict(angle_range=(0.1, np.nan)), ValueError, "angle_range"),
        (dict(angle_range=0.1), TypeError, "angle_range"),
        (dict(search_margin="a"), TypeError, "search_margin"),
    ],
)
def test_constructor_validation(kwargs, exc, match):
    """Each was accepted (NaN, a truthy string), truncated (49.5) or failed later with another error."""
    with pytest.raises(exc, match=match):
        RotationalBlurEstimator(**kwargs)
    RotationalBlurEstimator(min_score=np.inf, max_spread=np.inf)  # inf: every estimate unreliable / no spread test


def test_documented_attributes_exist(scene):
    """The package docstring promised kernel_ and noise_level_ to every estimator; this one has operator_."""
    import re

    import pnp.estimate as E

    est = RotationalBlurEstimator(center=CENTER)
    op = est.estimate(scene.blurred)
    assert est.operator_ is op
    section = RotationalBlurEstimator.__doc__.split("Attributes\n    ----------\n", 1)[1].split("\n\n    Examples")[0]
    names = re.findall(r"^    (\w+_)(?: :|$)", section, re.M)
    assert len(names) >= 10 and all(hasattr(est, n) for n in names), names
    row = E.__doc__.split("\n:class:`RotationalBlurEstimator`", 1)[1].split("\n===")[0]
    assert "``operator_``" in row and "no ``kernel_`` and no ``noise_level_``" in row
    assert not hasattr(est, "kernel_") and not hasattr(est, "noise_level_")


def _small(name, size=96):
    from scipy import ndimage

    return ndimage.zoom(getattr(data, name)() / 255.0, size / 512, order=1)[:size, :size]


@pytest.mark.parametrize("name", ["brick", "grass"])
def test_score_of_an_unblurred_image_is_below_that_of_a_blurred_one(name):
    # the derivative along the rings (over one pixel of arc) has a corner of its own at one pixel of arc: before
    # lags under 1.5 pixels of arc were left out of the kink, unblurred images scored 0.12-0.13 at ~2 degrees,
    # above the blurred ones (0.054, 0.074)
    im = _small(name)
    sharp = im + 0.02 * np.random.default_rng(0).standard_normal(im.shape)
    blurred = synthesize_rotational_blur(im, (48, 48), np.deg2rad(10), noise_level=0.02, seed=0,
                                         progress=False).blurred
    scores = []
    for y in (sharp, blurred):
        est = RotationalBlurEstimator(center=(48, 48))
        est.estimate(y)
        scores.append(est.score_)
    assert abs(np.rad2deg(est.angle_) - 10) < 0.5
    # measured: unblurred 0.000, blurred 0.055 (brick) and 0.075 (grass)
    assert scores[0] < 0.01 and scores[1] > 0.04, scores


def test_angle_std_is_nan_without_information():
    ramp = np.tile(np.linspace(0, 1, 64), (64, 1))  # no texture: the search stops at the top of angle_range
    est = RotationalBlurEstimator(center=(32, 32), angle_range=(np.deg2rad(1), np.deg2rad(8)))
    est.estimate(ramp)
    assert np.isnan(est.angle_std_) and not est.reliable_


def test_angle_std_finite_for_a_clear_blur():
    im = _small("grass")
    y = synthesize_rotational_blur(im, (48, 48), np.deg2rad(10), noise_level=0.01, seed=0, progress=False).blurred
    est = RotationalBlurEstimator(center=(48, 48))
    est.estimate(y)
    assert np.isfinite(est.angle_std_) and 0 <= est.angle_std_ < np.deg2rad(1)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(radius="Auto"), ValueError, "radius"),
        (dict(radius="big"), ValueError, "radius"),
        (dict(radius=[1, "a"]), TypeError, "radius"),
        (dict(sign=np.array([1, -1])), ValueError, "sign"),
        (dict(sign="1"), ValueError, "sign"),
    ],
)
def test_constructor_messages_name_the_argument(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        RotationalBlurEstimator(**kwargs)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(max_lag=-1), ValueError, "max_lag"),
        (dict(max_lag=float("nan")), ValueError, "max_lag"),
        (dict(r_range=(0.9, 0.1)), ValueError, "r_range"),
        (dict(r_range=(0.0, 0.01)), ValueError, "r_range"),
        (dict(r_range=0.5), TypeError, "r_range"),
        (dict(n_angles=0), ValueError, "n_angles"),
        (dict(n_angles=2.5), TypeError, "n_angles"),
        (dict(ring_step="a"), TypeError, "ring_step"),
    ],
)
def test_angle_autocorrelation_checks_its_arguments(kwargs, exc, match):
    img = np.random.default_rng(0).random((48, 48))
    with pytest.raises(exc, match=match):
        angle_autocorrelation(img, (24, 24), **kwargs)
    lags, corr, w, radii = angle_autocorrelation(img, (24, 24), n_angles=64, r_range=(0.5, 1.0), max_lag=0.5)
    assert corr.shape == (radii.size, lags.size) and radii.size > 0 and lags[-1] <= 0.5 + 2 * np.pi / 64


@pytest.mark.parametrize("frac, angle_deg, seed, shift", [(0.4, 15, 0, (0, 0)), (0.3, 8, 1, (6, -6))])
def test_auto_radius_of_a_rotating_disk(frac, angle_deg, seed, shift):
    """radius="auto" finds the edge of the rotating disk over the static background (known centre: the radius alone)."""
    from pnp.synthetic import rotating_disk_scene

    size = 128
    sharp, center, radius = rotating_disk_scene(size, radius=frac * size, center=(0.52 * size + shift[0],
                                                                                   0.48 * size + shift[1]), seed=seed)
    y = synthesize_rotational_blur(sharp, center, np.deg2rad(angle_deg), noise_level=2.55 / 255, radius=radius,
                                   seed=seed, progress=False).blurred
    est = RotationalBlurEstimator(center=center, radius="auto")
    op = est.estimate(y)
    assert est.radius_ is not None and abs(est.radius_ / radius - 1) < 0.03  # 1.4 % and 0.3 % when written
    assert op.radius == (0.0, pytest.approx(est.radius_))


def test_auto_radius_of_a_whole_frame_rotation_is_none():
    """When the whole frame turns there is no static background: no disk radius (the operator turns everything)."""
    x = transform.resize(data.astronaut() / 255.0, (128, 128), anti_aliasing=True)
    center = (66.0, 61.0)
    y = synthesize_rotational_blur(x, center, np.deg2rad(10), noise_level=2.55 / 255, seed=0, progress=False).blurred
    est = RotationalBlurEstimator(center=center, radius="auto")
    op = est.estimate(y)
    assert est.radius_ is None and op.radius is None


def test_split_linear_constant_finds_the_step():
    from pnp.estimate.rotation import _split_linear_constant

    r = np.arange(3.0, 100.0)
    s = np.where(r < 60, 0.5 - 0.006 * r, 0.5) + 0.02 * np.random.default_rng(0).standard_normal(r.size)
    j, s_in, s_out = _split_linear_constant(r, s, np.ones_like(r), min_in=8, min_out=4)
    assert r[j - 1] == 59 and r[j] == 60
    assert s_in == pytest.approx(0.5 - 0.006 * 59, abs=0.03) and s_out == pytest.approx(0.5, abs=0.01)
    assert _split_linear_constant(r[:10], s[:10], np.ones(10), min_in=8, min_out=4) is None


@pytest.mark.parametrize("angle_deg, old_deg", [(15, 17.43), (20, 17.65)])
def test_angle_from_the_rings_inside_the_rotating_disk(angle_deg, old_deg):
    """With the disk's extent known (or estimated), the angle comes from the rings inside it only.

    The static background rings outside dilute the dip: over all rings (what ``radius`` did not change before) the
    angle was ``old_deg`` (16 % and 12 % off); inside the disk it is within 4 %.
    """
    from pnp.synthetic import rotating_disk_scene

    sharp, center, radius = rotating_disk_scene(128, seed=0)
    angle = np.deg2rad(angle_deg)
    y = synthesize_rotational_blur(sharp, center, angle, noise_level=2.55 / 255, radius=radius, seed=0,
                                   progress=False).blurred
    whole = RotationalBlurEstimator(center=center)  # radius None: all rings, as before
    whole.estimate(y)
    assert np.rad2deg(whole.angle_) == pytest.approx(old_deg, abs=0.05)
    for r in (radius, (0.0, radius), "auto"):
        est = RotationalBlurEstimator(center=center, radius=r)
        op = est.estimate(y)
        assert abs(est.angle_ / angle - 1) < 0.04, r  # 3.0 % / 1.5 % (known), 3.5 % / 1.6 % (auto) when written
        assert op.angle == pytest.approx(est.angle_)
        assert est.autocorrelation_[1].shape == whole.autocorrelation_[1].shape
    # an annulus keeps only its rings: the outer half of the disk alone still gives the angle
    est = RotationalBlurEstimator(center=center, radius=(0.5 * radius, radius))
    est.estimate(y)
    assert abs(est.angle_ / angle - 1) < 0.1


def test_whole_frame_angle_unchanged_by_radius_auto():
    """radius="auto" returning None (the whole frame turns) keeps every ring: the same estimate as radius=None."""
    x = transform.resize(data.astronaut() / 255.0, (128, 128), anti_aliasing=True)
    center = (66.0, 61.0)
    y = synthesize_rotational_blur(x, center, np.deg2rad(10), noise_level=2.55 / 255, seed=0, progress=False).blurred
    ref = RotationalBlurEstimator(center=center)
    ref.estimate(y)
    est = RotationalBlurEstimator(center=center, radius="auto")
    est.estimate(y)
    assert est.radius_ is None
    assert (est.angle_, est.score_, est.angle_spread_, est.reliable_) == (ref.angle_, ref.score_, ref.angle_spread_,
                                                                          ref.reliable_)
    np.testing.assert_array_equal(est.autocorrelation_[1], ref.autocorrelation_[1])


def test_blind_centre_refined_inside_the_rotating_disk():
    """radius="auto" refines the blind centre on the rings inside the estimated disk, then radius and angle again.

    Over all rings the static background pulled the centre 7.5 px off (radius 57.5 for 51.2, angle 13.3 for 15
    degrees); inside the disk: 0.9 px, radius 51.5, angle 15.3 when written.
    """
    from pnp.synthetic import rotating_disk_scene

    sharp, center, radius = rotating_disk_scene(128, seed=0)
    angle = np.deg2rad(15)
    y = synthesize_rotational_blur(sharp, center, angle, noise_level=2.55 / 255, radius=radius, seed=0,
                                   progress=False).blurred
    est = RotationalBlurEstimator(radius="auto")
    op = est.estimate(y)
    assert np.hypot(*np.subtract(est.center_, center)) < 2.5
    assert est.radius_ is not None and abs(est.radius_ / radius - 1) < 0.03
    assert abs(est.angle_ / angle - 1) < 0.05
    assert op.center == pytest.approx(est.center_) and op.radius == (0.0, pytest.approx(est.radius_))


def _mixer_frame(size, angle_deg, seed=0):
    """The mixer stand-in: a disk over a static brick background, turned by ``angle_deg`` during the exposure."""
    from pnp.synthetic import rotating_disk_scene

    sharp, center, radius = rotating_disk_scene(size, seed=seed)
    y = synthesize_rotational_blur(sharp, center, np.deg2rad(angle_deg), noise_level=2.55 / 255, radius=radius,
                                   seed=seed, progress=False).blurred
    return y, center, radius


def test_known_angle_is_kept_and_only_the_centre_estimated():
    """angle= (radians, e.g. from rpm and exposure) is returned as given; the centre alone is estimated."""
    y, center, radius = _mixer_frame(128, 15)
    angle = np.deg2rad(15)
    est = RotationalBlurEstimator(angle=angle, radius="auto")
    op = est.estimate(y)
    assert est.angle_ == angle and op.angle == angle and est.angle_std_ == 0.0
    assert np.hypot(*np.subtract(est.center_, center)) < 3.0
    assert est.radius_ is not None and abs(est.radius_ / radius - 1) < 0.05
    assert "angle=" in repr(est)


@pytest.mark.parametrize("angle, exc", [(0.0, ValueError), (-0.1, ValueError), (2.0, ValueError),
                                        (np.nan, ValueError), (True, TypeError), ("7", TypeError)])
def test_known_angle_validated(angle, exc):
    with pytest.raises(exc, match="angle"):
        RotationalBlurEstimator(angle=angle)


def test_auto_radius_around_a_slightly_wrong_centre_of_a_smooth_disk():
    """The mixer audit: at 7.2 degrees the disk's smooth blades show no dip of the autocorrelation at the blur
    angle (positive correlation, even at the true centre), while the static bricks outside, around a centre 7.5 px
    off, show one of 0.12 (their period). The old rule read that as "the outside is blurred too" and returned None
    (whole frame turns): the operator then blurred the static background. The dip test now needs a dip inside."""
    y, center, radius = _mixer_frame(160, 7.2)
    off = (center[0] - 1.1, center[1] - 7.5)
    est = RotationalBlurEstimator(center=off, angle=np.deg2rad(7.2), radius="auto")
    est.estimate(y)
    assert est.radius_ is not None and abs(est.radius_ - radius) < 10  # 70.5 for 64.0 when written (was None)
    assert est._radius_trace["dip_inner"] < 0 < est._radius_trace["dip_outer"]


def test_auto_radius_none_for_a_whole_frame_crop():
    """A whole frame turning (the audit's astronaut crop) still gives no radius: its inner rings do dip at the angle."""
    x = data.astronaut()[60:188, 100:292] / 255.0
    center = (110.0, 58.0)
    y = synthesize_rotational_blur(x, center, np.deg2rad(12), noise_level=2.55 / 255, seed=0, progress=False).blurred
    est = RotationalBlurEstimator(center=center, angle=np.deg2rad(12), radius="auto")
    est.estimate(y)
    assert est.radius_ is None


def test_known_angle_on_the_mixer_stand_in():
    """The mixer audit's case: 1200 rpm at 1/1000 s (7.2 degrees), the angle known, the centre not.

    The angle search fails on this scene below about 10 degrees even at the true centre (the blades' 60 degree
    pattern); with angle= the estimator finds the disk (radius 67.5 for 64.0, centre 5.8 px off when written) where
    a narrow angle_range gave radius_ None (the whole frame turning) and a restoration 4.8 dB below the input.
    """
    y, center, radius = _mixer_frame(160, 7.2)
    est = RotationalBlurEstimator(angle=np.deg2rad(7.2), radius="auto")
    est.estimate(y)
    assert est.radius_ is not None and abs(est.radius_ / radius - 1) < 0.1
    assert np.hypot(*np.subtract(est.center_, center)) < 8.0


def test_known_centre_and_angle_are_not_flagged_for_the_bands_spread():
    """With centre and angle given, reliable_ failed on the bands' spread (evidence about those two only)."""
    from skimage.transform import resize

    x = resize(data.astronaut()[50:350, 100:400].mean(-1) / 255.0, (64, 64), anti_aliasing=True)
    true = RotationalBlur((32, 30), np.deg2rad(15))
    y = true.padded(20).forward(np.pad(x, 20, mode="reflect")[None])[0, 20:84, 20:84]
    y = np.clip(y + 0.003 * np.random.default_rng(0).normal(size=y.shape), 0, 1)
    est = RotationalBlurEstimator(center=(32, 30), angle=np.deg2rad(15))
    est.estimate(y)
    assert est.angle_spread_ > est.max_spread  # 0.0445: would have failed the old test
    assert est.reliable_ and est.score_ >= est.min_score
