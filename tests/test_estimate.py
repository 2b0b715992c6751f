"""Blind estimators: noise level, Gaussian/disk width, linear motion, camera shake, and pnp.solve composition."""

import warnings

import numpy as np
import pytest
from skimage import color, data

import pnp
from pnp import kernels as K
from pnp.estimate import (
    CameraShakeEstimator,
    GaussianBlurEstimator,
    LinearMotionEstimator,
    NoiseEstimator,
    default_estimator,
    luminance,
)
from pnp.estimate.gaussian import spectral_weight
from pnp.estimate.shake import _Grid, center_kernel, project_kernel


@pytest.fixture(scope="module")
def images():
    return {
        "camera": data.camera()[::2, ::2] / 255.0,
        "astronaut": color.rgb2gray(data.astronaut())[::2, ::2],
        "moon": data.moon()[::2, ::2] / 255.0,
        "brick": data.brick()[::2, ::2] / 255.0,
    }


# -- noise --------------------------------------------------------------------------------
LEVELS = [1.0, 2.55, 7.65, 15.0, 25.0]


def test_noise_estimator_accuracy_across_levels(images):
    """Median relative error < 10 % over 4 images x 5 levels, and every level >= 7.65 within 10 %."""
    est = NoiseEstimator()
    errs = []
    for name, x in images.items():
        for i, s in enumerate(LEVELS):
            y = pnp.add_noise(x, s / 255, seed=i)
            e = est.estimate(y) * 255
            rel = abs(e - s) / s
            errs.append(rel)
            if s >= 7.65:
                assert rel < 0.10, (name, s, e)
    assert np.median(errs) < 0.10


def test_noise_estimator_beats_wavelet_mad_on_sharp_images(images):
    from pnp.noise import estimate_noise

    est = NoiseEstimator()
    ours, mad = [], []
    for x in images.values():
        for i, s in enumerate([1.0, 2.55]):
            y = pnp.add_noise(x, s / 255, seed=10 + i)
            ours.append(abs(est.estimate(y) * 255 - s) / s)
            mad.append(abs(estimate_noise(y) * 255 - s) / s)
    assert np.median(ours) < np.median(mad)


def test_noise_estimator_layouts_and_diagnostics():
    rgb = data.astronaut()[:128, :128]
    est = NoiseEstimator()
    s = est.estimate(rgb)  # uint8 colour: quantisation noise only, ~0.3/255 of luminance
    assert 0 <= s < 3 / 255
    assert est.noise_level_ == s
    assert est.eigenvalues_.shape == (49,)
    assert est.n_patches_ > 0
    with pytest.raises(ValueError, match="too small"):
        est.estimate(np.zeros((8, 8)))
    with pytest.raises(ValueError, match="patch_size"):
        NoiseEstimator(patch_size=1)


def test_colour_noise_level_is_per_channel():
    """Independent noise of sigma in each channel: sigma, not the lower noise of the luminance."""
    rgb = data.astronaut()[::2, ::2] / 255.0
    y = pnp.add_noise(rgb, 10 / 255, seed=6)
    est = NoiseEstimator()
    assert est.estimate(y) * 255 == pytest.approx(10, rel=0.1)
    assert len(est.channel_noise_levels_) == 3
    motion = LinearMotionEstimator()
    yb = pnp.add_noise(pnp.blur(rgb, K.motion_kernel(12, 60), boundary="reflect"), 2 / 255, seed=7)
    motion.estimate(yb)
    assert motion.noise_level_ * 255 == pytest.approx(2, rel=0.15)
    assert abs(motion.length_ - 12) <= 1


def test_luminance_layouts():
    rgb = data.astronaut()[:16, :16]
    lum = luminance(rgb)
    assert lum.shape == (16, 16) and lum.dtype == np.float64
    np.testing.assert_allclose(lum, color.rgb2gray(rgb), atol=1e-6)
    with pytest.raises(TypeError, match="dtype"):
        luminance(np.zeros((16, 16), dtype=np.int32))


# -- Gaussian / disk ----------------------------------------------------------------------
def test_gaussian_width_median_error_below_10_percent(images):
    """Median relative error < 10 % over 3 images x 3 widths; no case off by more than 30 %."""
    est = GaussianBlurEstimator()
    errs = []
    for i, name in enumerate(["camera", "astronaut", "moon"]):
        for j, width in enumerate([1.5, 2.5, 4.0]):
            x = images[name]
            y = pnp.add_noise(pnp.blur(x, K.gaussian_kernel(width), boundary="reflect"), 1 / 255, seed=3 * i + j)
            k = est.estimate(y)
            assert k.sum() == pytest.approx(1.0)
            errs.append(abs(est.width_ - width) / width)
    assert np.median(errs) < 0.10
    assert max(errs) < 0.30
    assert est.noise_level_ == pytest.approx(1 / 255, rel=0.3)
    assert est.edge_width_ is not None and est.spectral_width_ > 0


def test_disk_radius_within_10_percent():
    x = data.camera() / 255.0
    y = pnp.add_noise(pnp.blur(x, K.disk_kernel(4.5), boundary="reflect"), 1 / 255, seed=2)
    est = GaussianBlurEstimator(kind="disk")
    est.estimate(y)
    assert abs(est.width_ - 4.5) / 4.5 < 0.10


def test_gaussian_texture_does_not_fool_the_edge_estimate(images):
    """On brick the edge width is far too small (texture); the combined estimate drops it."""
    y = pnp.add_noise(pnp.blur(images["brick"], K.gaussian_kernel(3.0), boundary="reflect"), 1 / 255, seed=1)
    est = GaussianBlurEstimator()
    est.estimate(y)
    assert est.edge_width_ is not None and est.edge_width_ < est.spectral_width_ / 1.4
    assert not est.edge_used_ and est.width_ == est.spectral_width_
    assert abs(est.width_ - 3.0) <= 0.3


def test_gaussian_wide_blur_leans_on_the_spectrum(images):
    """Moon at 4 px: few edges, the edge estimate is low (~3.2 px); the width-weighted mean stays within 10 %."""
    y = pnp.add_noise(pnp.blur(images["moon"], K.gaussian_kernel(4.0), boundary="reflect"), 1 / 255, seed=4)
    est = GaussianBlurEstimator()
    est.estimate(y)
    assert est.edge_used_ and est.edge_width_ < 0.85 * 4.0
    assert abs(est.width_ - 4.0) / 4.0 <= 0.10
    # the spectral weight: equal up to 1.5 px, 0.8 from 4 px, monotone between
    ws = [spectral_weight(w) for w in (0.5, 1.5, 2.0, 3.0, 4.0, 8.0)]
    assert ws[0] == ws[1] == 0.5 and ws[-2] == ws[-1] == pytest.approx(0.8)
    assert np.all(np.diff(ws) >= 0)


def test_gaussian_estimator_validation():
    with pytest.raises(ValueError, match="kind"):
        GaussianBlurEstimator(kind="box")
    with pytest.raises(ValueError, match="widths"):
        GaussianBlurEstimator(widths=[-1.0])
    with pytest.raises(ValueError, match="max_disagreement"):
        GaussianBlurEstimator(max_disagreement=0.5)
    with pytest.raises(ValueError, match="method"):
        GaussianBlurEstimator(method="fourier")
    with pytest.raises(ValueError, match="combined"):
        GaussianBlurEstimator(kind="disk", method="combined")
    with pytest.raises(ValueError, match="too small"):
        GaussianBlurEstimator().estimate(np.zeros((16, 16)))


# -- linear motion --------------------------------------------------------------------------
@pytest.mark.parametrize("length,angle,name", [(9.0, 20.0, "camera"), (14.5, 118.0, "astronaut"), (19.0, 75.0, "brick")])
def test_linear_motion_recovered(images, length, angle, name):
    x = images[name]
    y = pnp.add_noise(pnp.blur(x, K.motion_kernel(length, angle), boundary="reflect"), 1 / 255, seed=3)
    est = LinearMotionEstimator()
    k = est.estimate(y)
    assert abs(est.length_ - length) <= 1.0
    assert abs((est.angle_ - angle + 90) % 180 - 90) <= 3.0
    assert k.sum() == pytest.approx(1.0)
    assert est.score_.shape == (len(est.angles_), len(est.lengths_))


@pytest.mark.parametrize("length,angle,name", [(6.0, 33.0, "astronaut"), (5.5, 20.0, "brick")])
def test_short_linear_motion_angle_refined(images, length, angle, name):
    """Short motions (few broad stripes): the 2D spectrum fit keeps the angle within 3 deg.

    (brick 5.5 px at 20 deg: 0.3 deg off; 5.2 deg with ``refine="none"``, measured).
    """
    x = images[name]
    y = pnp.add_noise(pnp.blur(x, K.motion_kernel(length, angle), boundary="reflect"), 1 / 255, seed=7)
    est = LinearMotionEstimator()
    est.estimate(y)
    assert abs(est.length_ - length) <= 1.0
    assert abs((est.angle_ - angle + 90) % 180 - 90) <= 3.0


def test_linear_motion_validation():
    with pytest.raises(ValueError, match="t_range"):
        LinearMotionEstimator(t_range=(0.3, 0.1))
    with pytest.raises(ValueError, match="angle_step"):
        LinearMotionEstimator(angle_step=0)
    with pytest.raises(ValueError, match="refine"):
        LinearMotionEstimator(refine="cepstrum")
    with pytest.raises(ValueError, match="refine_window"):
        LinearMotionEstimator(refine_window=0)


# -- camera shake ---------------------------------------------------------------------------
def test_kernel_step_recovers_kernel_from_true_latent():
    """Noise-free circular blur, true latent: the masked PCG kernel step returns the kernel."""
    x = data.camera()[:96, :96] / 255.0
    k = K.camera_shake_kernel(11, seed=3)
    y = pnp.Blur(k).forward(x[None])[0]
    est = CameraShakeEstimator(kernel_size=11, gamma=1e-6, threshold=0.0)
    k0 = np.zeros_like(k)
    k0[5, 5] = 1
    k_hat = est._kernel(_Grid(x.shape), x, y, np.ones_like(x), k0, cg_iters=60)
    assert np.abs(k_hat - k).sum() < 0.02


def test_project_and_center_kernel():
    k = np.zeros((9, 9))
    k[2:5, 2] = [0.3, 0.4, 0.3]
    k[8, 8] = 0.01  # isolated speck: removed
    k[0, 0] = -0.2  # negative: clipped
    p = project_kernel(k)
    assert p.min() >= 0 and p.sum() == pytest.approx(1.0)
    assert p[8, 8] == 0
    c = center_kernel(p)
    r, cc = np.indices(c.shape)
    assert abs((c * r).sum() - 4) <= 0.5 and abs((c * cc).sum() - 4) <= 0.5


def _ssd_up_to_shift(a, b, crop=10, shift=3):
    best = np.inf
    for dy in range(-shift, shift + 1):
        for dx in range(-shift, shift + 1):
            d = np.roll(a, (dy, dx), axis=(0, 1))[crop:-crop, crop:-crop] - b[crop:-crop, crop:-crop]
            best = min(best, float(np.sum(d * d)))
    return best


def test_camera_shake_error_ratio_small_case():
    x = data.camera()[40:168, 150:278] / 255.0
    k = K.camera_shake_kernel(11, seed=5)
    y = pnp.add_noise(pnp.blur(x, k, boundary="reflect"), 1 / 255, seed=0)
    est = CameraShakeEstimator(kernel_size=15)
    k_hat = est.estimate(y)
    assert k_hat.shape == (15, 15) and k_hat.sum() == pytest.approx(1.0)
    assert est.noise_level_ == pytest.approx(1 / 255, rel=0.3)
    opts = dict(prior="tv", noise_level=1 / 255, iters=8, progress=False)
    ratio = _ssd_up_to_shift(pnp.solve(y, k_hat, **opts), x) / _ssd_up_to_shift(pnp.solve(y, k, **opts), x)
    assert ratio < RATIO_THRESHOLD


RATIO_THRESHOLD = 3.0  # measured 2.78 for this case (seed 5) on the dev machine; 2.25 with refine_iters=0


def test_refine_weights_spare_faint_ridges():
    """The refinement's prior penalises spread beside a stroke, not a faint stroke of its own."""
    k = np.zeros((15, 15))
    k[3:10, 4] = 1.0  # bright stroke
    k[3:10, 5] = 0.05  # spread beside it
    k[12, 2:12] = 0.08  # faint separate ridge
    w = CameraShakeEstimator(kernel_size=15)._refine_weights(k)
    assert w[5, 5] > 20 * w[12, 6]
    assert w[12, 6] == pytest.approx(w[5, 4], rel=0.5)
    assert CameraShakeEstimator(kernel_size=15, refine_weight=0)._refine_weights(k) is None


def test_camera_shake_validation():
    with pytest.raises(ValueError, match="odd"):
        CameraShakeEstimator(kernel_size=10)
    with pytest.raises(ValueError, match="kernel_size"):
        CameraShakeEstimator(kernel_size=1)
    with pytest.raises(ValueError, match="too small"):
        CameraShakeEstimator(kernel_size=31).estimate(np.zeros((40, 40)))
    with pytest.raises(ValueError, match="refine_p"):
        CameraShakeEstimator(refine_p=1.5)
    with pytest.raises(ValueError, match="refine_iters"):
        CameraShakeEstimator(refine_iters=-1)
    with pytest.raises(ValueError, match="refine_weight"):
        CameraShakeEstimator(refine_weight=-1.0)


# -- composition with pnp.solve ---------------------------------------------------------------
def test_solve_with_linear_motion_estimator_gains_psnr(images):
    x = images["camera"]
    y = pnp.add_noise(pnp.blur(x, K.motion_kernel(11.0, 40.0), boundary="reflect"), 1 / 255, seed=4)
    x_hat, info = pnp.solve(y, LinearMotionEstimator(), prior="tv", iters=8, progress=False, return_info=True)
    assert pnp.psnr(x_hat, x) > pnp.psnr(y, x) + 3.0
    est = info["estimator"]
    assert isinstance(est, LinearMotionEstimator)
    assert est.kernel_.sum() == pytest.approx(1.0)
    assert info["noise_level"] == est.noise_level_


def test_solve_kernel_estimate_uses_default_estimator():
    x = data.camera()[40:168, 150:278] / 255.0
    y = pnp.add_noise(pnp.blur(x, K.motion_kernel(7.0, 0.0), boundary="reflect"), 1 / 255, seed=5)
    x_hat, info = pnp.solve(y, "estimate", prior="tv", iters=6, progress=False, return_info=True)
    assert x_hat.shape == y.shape
    assert isinstance(info["estimator"], CameraShakeEstimator)
    assert pnp.psnr(x_hat, x) > pnp.psnr(y, x)


def test_default_estimator_scale():
    assert isinstance(default_estimator(), CameraShakeEstimator)
    with pytest.raises(NotImplementedError, match="scale"):
        default_estimator(scale=2)


# -- audit fixes ------------------------------------------------------------------------------
def _blown_out(frac, seed=0):
    """camera/2 with the top ``frac`` of its rows over-exposed (clipped to white), noise 10/255, uint8."""
    x = data.camera()[::2, ::2] / 255.0
    n = int(frac * x.shape[0])
    xx = x.copy()
    xx[:n] = 1.5
    rng = np.random.default_rng(seed)
    return (np.clip(xx + 10 / 255 * rng.standard_normal(xx.shape), 0, 1) * 255).round().astype(np.uint8), n


def test_noise_estimator_leaves_out_clipped_patches():
    """Saturated regions are the flattest patches: with 30 % of the rows blown out the estimate was 1.18/255."""
    y8, n = _blown_out(0.3)
    est = NoiseEstimator()
    s = est.estimate(y8) * 255
    assert abs(s - 10) / 10 < 0.15
    assert est.clipped_fraction_ > 0.3
    # the same patches as the unsaturated part alone
    assert s == pytest.approx(NoiseEstimator().estimate(y8[n:]) * 255, rel=1e-9)
    # float input clipped with np.clip: the same
    assert est.estimate(y8 / 255.0) * 255 == pytest.approx(s, rel=1e-9)
    with pytest.raises(ValueError, match="clipped"):
        est.estimate(_blown_out(0.97)[0])  # 8 unsaturated rows: 500 patches


def test_solve_estimates_noise_without_clipped_patches():
    x = data.camera()[::4, ::4] / 255.0
    xx = x.copy()
    xx[:32] = 1.5
    k = K.gaussian_kernel(1.5)
    rng = np.random.default_rng(0)
    y8 = (np.clip(pnp.blur(xx, k, boundary="reflect") + 10 / 255 * rng.standard_normal(xx.shape), 0, 1) * 255)
    y8 = y8.round().astype(np.uint8)
    _, info = pnp.solve(y8, k, prior="tv", iters=1, boundary="reflect", progress=False, return_info=True)
    assert info["noise_level"] * 255 == pytest.approx(10, rel=0.1)
    with pytest.raises(ValueError, match="noise_level"):
        pnp.solve(np.zeros((64, 64)), k, prior="tv", iters=1, progress=False)


def test_noise_estimator_refuses_too_few_patches():
    """16x16 pure noise has 100 patches of 7x7 for a 49-dim covariance: the estimate was 32-50 % low."""
    est = NoiseEstimator()
    for n in (16, 24, 31):
        with pytest.raises(ValueError, match="32x32"):
            est.estimate(0.5 + 0.05 * np.random.default_rng(n).standard_normal((n, n)))
    vals = [est.estimate(0.5 + 0.05 * np.random.default_rng(s).standard_normal((32, 32))) for s in range(3)]
    assert all(abs(v / 0.05 - 1) < 0.2 for v in vals)
    # many patches in a long strip are enough
    assert est.estimate(0.5 + 0.05 * np.random.default_rng(0).standard_normal((16, 400))) / 0.05 == \
        pytest.approx(1, abs=0.2)


def test_estimate_noise_takes_public_layouts():
    from pnp.noise import _estimate_noise_chw

    x = data.camera()[::2, ::2] / 255.0
    y = np.clip(x + 10 / 255 * np.random.default_rng(0).standard_normal(x.shape), 0, 1)
    ref = _estimate_noise_chw(y[None])
    assert pnp.estimate_noise(y) == pytest.approx(ref)  # HxW float: not rows as 1-D signals
    assert pnp.estimate_noise(np.repeat(y[..., None], 3, axis=2)) == pytest.approx(ref)  # HxWx3: not 5e-16
    y8 = (y * 255).round().astype(np.uint8)
    assert pnp.estimate_noise(y8) == pytest.approx(ref, rel=0.05)  # uint8 rescaled to 0-1
    assert 9 < ref * 255 < 13
    with pytest.raises(ValueError, match="NaN"):
        pnp.estimate_noise(np.full((64, 64), np.nan))
    with pytest.raises(TypeError, match="dtype"):
        pnp.estimate_noise(np.zeros((64, 64), dtype=np.int32))


class _ArrayEstimator:
    def estimate(self, y):
        return np.ones((3, 3)) / 9


def test_make_operator_checks_estimators():
    y = pnp.add_noise(pnp.blur(data.camera()[::4, ::4] / 255.0, K.gaussian_kernel(2.0), boundary="reflect"),
                      1 / 255, seed=0)
    with pytest.raises(TypeError, match=r"pass an instance, e\.g\. GaussianBlurEstimator\(\)"):
        pnp.make_operator(y, GaussianBlurEstimator)
    with pytest.raises(TypeError, match="NoiseEstimator.estimate.*noise_level"):
        pnp.make_operator(y, NoiseEstimator())
    # an estimated kernel belongs to the low-resolution grid: not usable as the kernel of scale=2
    with pytest.raises(NotImplementedError, match="scale=2"):
        pnp.make_operator(y, _ArrayEstimator(), scale=2)
    with pytest.raises(NotImplementedError, match="scale=2"):
        pnp.solve(y, GaussianBlurEstimator(), prior="tv", iters=1, scale=2, progress=False)
    op, est = pnp.make_operator(y, _ArrayEstimator())
    assert isinstance(op, pnp.Blur) and isinstance(est, _ArrayEstimator)


class _FlaggedEstimator:
    def __init__(self, reliable):
        self.reliable = reliable

    def estimate(self, y):
        self.reliable_ = self.reliable
        return K.gaussian_kernel(1.0)


def test_an_estimate_flagged_unreliable_is_not_used_silently():
    """pnp.solve used an estimate that its estimator had flagged reliable_=False without a word."""
    y = np.full((32, 32), 0.5)
    with pytest.warns(RuntimeWarning, match=r"_FlaggedEstimator flags its estimate as unreliable") as caught:
        pnp.solve(y, _FlaggedEstimator(False), prior="tv", iters=1, noise_level=0.01, progress=False)
    assert [w.filename for w in caught if "reliable_" in str(w.message)] == [__file__]  # the caller's line
    with pytest.warns(RuntimeWarning, match="unreliable") as caught:
        pnp.make_operator(y, _FlaggedEstimator(False))  # a direct call of the public helper too
    assert [w.filename for w in caught if "reliable_" in str(w.message)] == [__file__]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pnp.solve(y, _FlaggedEstimator(True), prior="tv", iters=1, noise_level=0.01, progress=False)
        pnp.make_operator(y, _ArrayEstimator())  # no reliable_ at all: no warning


@pytest.mark.parametrize("cls", [GaussianBlurEstimator, pnp.RotationalBlurEstimator])
def test_library_estimators_refuse_scale_before_running(cls, monkeypatch):
    """A library estimator with scale > 1 was run (seconds to minutes) before its result was refused."""
    calls = []
    monkeypatch.setattr(cls, "estimate", lambda self, *a, **k: calls.append(1))
    y = np.full((32, 32), 0.5)
    with pytest.raises(NotImplementedError, match="scale=3.*low-resolution"):
        pnp.make_operator(y, cls(), scale=3)
    assert calls == []


def test_linear_motion_confidence_is_the_score_of_the_estimate():
    """After the 2D refinement confidence_ was read from another candidate (-1 here)."""
    from pnp.estimate.gaussian import power_spectrum
    from pnp.estimate.noise import luminance_and_noise

    x = data.camera()[::2, ::2] / 255.0
    y = pnp.add_noise(pnp.blur(x, K.motion_kernel(4, 100), boundary="reflect"), 1 / 255, seed=0)
    est = LinearMotionEstimator()
    est.estimate(y)
    assert abs(est.length_ - 4) <= 0.5 and abs(est.angle_ - 100) <= 4
    img, sigma_n, _ = luminance_and_noise(y)
    P, fy, fx = power_spectrum(img)
    lo, hi = est.t_range
    nb = max(32, min(img.shape) // 2)
    t_edges = np.linspace(lo, hi, int(nb * (hi - lo) / 0.5) + 1)
    s, _ = est._search(P, max(sigma_n**2, 1e-10), fy, fx, np.array([est.angle_]), np.array([est.length_]), t_edges)
    assert est.confidence_ == pytest.approx(s[0, 0])
    assert est.confidence_ > 0.5


def test_linear_motion_unscorable_images_raise_and_length_stays_in_range():
    est = LinearMotionEstimator()
    with pytest.raises(ValueError, match="could be scored"):
        est.estimate(np.full((128, 128), 0.5))
    with pytest.raises(ValueError, match="could be scored"):  # was length_ 1.3 px, below the 2 px candidates
        est.estimate(0.5 + 0.05 * np.random.default_rng(0).standard_normal((128, 128)))
    x = data.camera()[::2, ::2] / 255.0
    y = pnp.add_noise(pnp.blur(x, K.motion_kernel(5, 30), boundary="reflect"), 1 / 255, seed=0)
    est = LinearMotionEstimator(lengths=np.arange(5.5, 12.0, 0.25))
    est.estimate(y)  # the refinement went to 5.0 px, outside the candidates
    assert 5.5 <= est.length_ <= 12.0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(lambda_grad=0.0), "lambda_grad"),
        (dict(lambda_min=0.0), "lambda_min"),
        (dict(lambda_min=-1e-4), "lambda_min"),
        (dict(coarsest_kernel=0), "coarsest_kernel"),
        (dict(coarsest_kernel=-3), "coarsest_kernel"),
        (dict(coarsest_kernel=2), "coarsest_kernel"),
    ],
)
def test_camera_shake_weight_validation(kwargs, match):
    """lambda_grad=0 and lambda_min=0 divided by zero, lambda_min<0 never returned, coarsest_kernel<3 was taken."""
    with pytest.raises(ValueError, match=match):
        CameraShakeEstimator(**kwargs)


# -- known noise level, constructor checks, featureless images, documented attributes ----------------
def _document(seed=0):
    """A clean text-like page (mostly white, clipped at 1): too few unclipped patches for a noise estimate."""
    x = np.ones((128, 128))
    x[20:108:12, 10:118] = 0
    x[:, 60:62] = 0
    rng = np.random.default_rng(seed)
    return np.clip(pnp.blur(x, K.motion_kernel(7, 20), boundary="reflect") + 0.01 * rng.standard_normal(x.shape),
                   0, 1)


class _NoNoiseEstimate:
    """A noise estimator that must not be called (the level is known)."""

    def estimate(self, y):
        raise AssertionError("the noise level was estimated although it was given")


def _small_shake(**kwargs):
    return CameraShakeEstimator(kernel_size=15, iters_per_scale=2, refine_iters=1, **kwargs)


@pytest.mark.parametrize("make", [GaussianBlurEstimator, LinearMotionEstimator])
def test_spectral_estimators_use_a_known_noise_level(make):
    """On a clean document the noise estimate fails: a given noise_level was ignored and they raised."""
    y = _document()
    with pytest.raises(ValueError, match="clipped"):
        NoiseEstimator().estimate(y)
    with pytest.raises(ValueError, match=r"clipped.*pass it \(pnp\.solve\(\.\.\., noise_level=.*noise_estimator"):
        make().estimate(y)
    est = make(noise_estimator=_NoNoiseEstimate())
    k = est.estimate(y, noise_level=0.01)
    assert k.sum() == pytest.approx(1.0) and est.noise_level_ == 0.01
    # what pnp.solve hands on
    est = make(noise_estimator=_NoNoiseEstimate())
    op, used = pnp.make_operator(y, est, noise_level=0.01)
    assert used is est and est.noise_level_ == 0.01 and isinstance(op, pnp.Blur)
    with pytest.raises(ValueError, match="noise_level"):
        est.estimate(y, noise_level=np.nan)
    with pytest.raises(ValueError, match="0-1 intensity scale"):
        pnp.make_operator(y, est, noise_level=2.55)
    # keyword-only: pnp.frames.build_operator must not take it for a second frame
    from pnp.frames import _accepts_several

    assert not _accepts_several(est.estimate)


def test_camera_shake_does_not_need_the_noise_level():
    """The kernel does not use it: a failed noise estimate stopped the estimator, even in pnp.solve(noise_level=)."""
    y = _document()
    est = _small_shake()
    k = est.estimate(y)
    assert k.shape == (15, 15) and k.sum() == pytest.approx(1.0)
    assert est.noise_level_ is None
    est = _small_shake(noise_estimator=_NoNoiseEstimate())
    est.estimate(y, noise_level=0.01)
    assert est.noise_level_ == 0.01
    _, info = pnp.solve(y, _small_shake(), prior="tv", noise_level=0.01, iters=2, boundary="reflect",
                        progress=False, return_info=True)
    assert info["noise_level"] == 0.01
    from pnp.frames import _accepts_several

    assert not _accepts_several(est.estimate)


def test_known_noise_level_of_a_colour_image():
    """Per-channel level given: the luminance floor is the level times the norm of the BT.709 weights."""
    from pnp.estimate.noise import luminance_and_noise

    rgb = pnp.add_noise(np.repeat(data.camera()[::4, ::4, None] / 255.0, 3, axis=2), 0.02, seed=1)
    _, sigma_n, level = luminance_and_noise(rgb)
    _, sigma_known, level_known = luminance_and_noise(rgb, noise_level=0.02)
    assert level_known == 0.02 and level == pytest.approx(0.02, rel=0.1)
    assert sigma_known == pytest.approx(sigma_n, rel=0.1)
    assert luminance_and_noise(rgb[..., :1], noise_level=0.02)[1] == 0.02


def test_make_operator_noise_level_and_estimators_without_it():
    y = _document()
    op, est = pnp.make_operator(y, _ArrayEstimator(), noise_level=0.01)  # estimate(y) only: not passed
    assert isinstance(op, pnp.Blur) and isinstance(est, _ArrayEstimator)
    with pytest.raises(TypeError, match="noise_level"):
        pnp.make_operator(y, np.ones((3, 3)) / 9, noise_level="0.01")


@pytest.mark.parametrize(
    "make, kwargs, exc, match",
    [
        (NoiseEstimator, dict(patch_size=7.9), TypeError, r"patch_size must be an integer >= 2"),
        (NoiseEstimator, dict(patch_size=True), TypeError, "patch_size"),
        (NoiseEstimator, dict(max_patches=np.inf), TypeError, r"max_patches must be an integer >= 100"),
        (NoiseEstimator, dict(seed=-1), ValueError, r"seed must be an integer >= 0"),
        (NoiseEstimator, dict(seed=1.5), TypeError, "seed"),
        (NoiseEstimator, dict(quantile=np.nan), ValueError, r"quantile must be a finite number in \(0, 1\)"),
        (NoiseEstimator, dict(quantile="a"), TypeError, "quantile"),
        (NoiseEstimator, dict(iterations=2.5), TypeError, "iterations"),
        (GaussianBlurEstimator, dict(snr_floor=np.nan), ValueError, r"snr_floor must be a finite number > 1"),
        (GaussianBlurEstimator, dict(snr_floor=np.inf), ValueError, "snr_floor"),
        (GaussianBlurEstimator, dict(rho_min=0.7), ValueError, r"rho_min must be a finite number in \[0, 0.5\)"),
        (GaussianBlurEstimator, dict(rho_min=np.nan), ValueError, "rho_min"),
        (GaussianBlurEstimator, dict(rho_min=-0.1), ValueError, "rho_min"),
        (GaussianBlurEstimator, dict(max_disagreement=np.inf), ValueError, "max_disagreement"),
        (GaussianBlurEstimator, dict(widths=["a"]), TypeError, "widths"),
        (GaussianBlurEstimator, dict(noise_estimator=NoiseEstimator), TypeError, "not an instance"),
        (GaussianBlurEstimator, dict(noise_estimator=0.01), TypeError, "noise_estimator"),
        (LinearMotionEstimator, dict(snr_floor=np.nan), ValueError, "snr_floor"),
        (LinearMotionEstimator, dict(refine_max_length=np.nan), ValueError,
         r"refine_max_length \(pixels\) must be a finite number >= 0"),
        (LinearMotionEstimator, dict(refine_max_length=-1), ValueError, "refine_max_length"),
        (LinearMotionEstimator, dict(angle_step=np.nan), ValueError, "angle_step"),
        (LinearMotionEstimator, dict(angle_window=True), TypeError, "angle_window"),
        (LinearMotionEstimator, dict(refine_window=np.nan), ValueError, "refine_window"),
        (LinearMotionEstimator, dict(t_range=(0.1,)), TypeError, "t_range"),
        (LinearMotionEstimator, dict(t_range=(0.1, np.nan)), ValueError, "t_range"),
        (LinearMotionEstimator, dict(lengths=[3.0, np.nan]), ValueError, "lengths"),
        (LinearMotionEstimator, dict(noise_estimator="pca"), TypeError, "noise_estimator"),
        (CameraShakeEstimator, dict(edge_ratio=np.nan), ValueError, r"edge_ratio must be a finite number >= 0"),
        (CameraShakeEstimator, dict(edge_ratio=-1), ValueError, "edge_ratio"),
        (CameraShakeEstimator, dict(gamma="a"), TypeError, r"gamma must be a finite number >= 0"),
        (CameraShakeEstimator, dict(gamma=np.inf), ValueError, "gamma"),
        (CameraShakeEstimator, dict(lambda_grad=True), TypeError, "lambda_grad"),
        (CameraShakeEstimator, dict(lambda_decay=np.nan), ValueError, "lambda_decay"),
        (CameraShakeEstimator, dict(lambda_intensity=np.nan), ValueError, "lambda_intensity"),
        (CameraShakeEstimator, dict(threshold=np.nan), ValueError, "threshold"),
        (CameraShakeEstimator, dict(iters_per_scale=2.5), TypeError, "iters_per_scale"),
        (CameraShakeEstimator, dict(iters_per_scale=0), ValueError, "iters_per_scale"),
        (CameraShakeEstimator, dict(max_size=100.5), TypeError, "max_size"),
        (CameraShakeEstimator, dict(max_size=16), ValueError, "max_size"),
        (CameraShakeEstimator, dict(refine_iters=1.5), TypeError, "refine_iters"),
        (CameraShakeEstimator, dict(refine_weight=np.nan), ValueError, "refine_weight"),
        (CameraShakeEstimator, dict(refine_p=np.nan), ValueError, "refine_p"),
        (CameraShakeEstimator, dict(refine_window=0), ValueError, "refine_window"),
        (CameraShakeEstimator, dict(refine_window=3.5), TypeError, "refine_window"),
        (CameraShakeEstimator, dict(noise_estimator=object()), TypeError, "noise_estimator"),
    ],
)
def test_estimator_constructor_validation(make, kwargs, exc, match):
    """Each was accepted, truncated or failed later (NaN, inf, floats for integers, strings, bools).

    A few cases were already refused before; they stay as guards of the shared checks.
    """
    with pytest.raises(exc, match=match):
        make(**kwargs)


@pytest.mark.filterwarnings("error")
def test_camera_shake_refuses_a_featureless_image():
    """A constant image gave an arbitrary 3x3 blob with divide-by-zero warnings."""
    est = CameraShakeEstimator(kernel_size=9)
    for y in (np.full((64, 64), 0.5), np.full((64, 64, 3), 128, dtype=np.uint8),
              pnp.blur(np.full((64, 64), 0.5), K.motion_kernel(5, 30), boundary="reflect")):
        with pytest.raises(ValueError, match="no structure"):
            est.estimate(y)


def _documented_attributes(doc):
    """Names of the ``Attributes`` section of a numpy-style class docstring."""
    import re

    section = doc.split("Attributes\n    ----------\n", 1)[1]
    section = re.split(r"\n\n    \w[\w ]*\n    ---", section)[0]
    names = []
    for line in section.splitlines():
        m = re.match(r"    (\w+(?:, \w+)*) :", line) or re.match(r"    (\w+_)$", line)
        if m:
            names += m.group(1).split(", ")
    return names


def test_documented_attributes_exist_after_estimate(images):
    """The package docstring listed kernel_, noise_level_, score_ for every estimator (not all have them)."""
    import pnp.estimate as E

    y = pnp.add_noise(pnp.blur(images["camera"][:96, :96], K.motion_kernel(5, 30), boundary="reflect"), 0.01,
                      seed=0)
    for est in (NoiseEstimator(), GaussianBlurEstimator(), LinearMotionEstimator(), _small_shake()):
        est.estimate(y)
        names = _documented_attributes(type(est).__doc__)
        assert names and all(hasattr(est, n) for n in names), (type(est).__name__, names)
        # the package table lists, per class, only attributes it has (after "no": ones it has not)
        row = E.__doc__.split(f"\n:class:`{type(est).__name__}`", 1)[1].split("\n:class:", 1)[0].split("\n===")[0]
        listed = [n for n in row.split("``")[1::2] if n.endswith("_")]
        absent = [n for n in listed if f"no ``{n}``" in row]
        assert listed and all(hasattr(est, n) for n in listed if n not in absent), (type(est).__name__, listed)
        assert not any(hasattr(est, n) for n in absent)
    for method in (GaussianBlurEstimator.estimate, CameraShakeEstimator.estimate):
        assert "Raises\n        ------\n        " in method.__doc__
