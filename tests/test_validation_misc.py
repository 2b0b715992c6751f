"""Input validation and small behaviours of pnp.boundary, pnp.psf, pnp.simulate, pnp.synthetic and pnp.metrics."""

import numpy as np
import pytest
from scipy import fft as sfft
from skimage import data, transform

import pnp
from pnp import boundary
from pnp.psf import validate_kernel
from pnp.synthetic import rotating_disk_scene, synthesize_rotational_blur


# -- pnp.boundary -----------------------------------------------------------------------
@pytest.mark.parametrize("h,margin", [(100, 8), (120, 8), (1000, 8), (100, 20)])
def test_fade_reaches_zero_on_both_sides_of_the_wrap(h, margin):
    n = sfft.next_fast_len(h + 2 * margin, real=True)
    f = boundary._fade(n, h, margin)
    assert f[0] == pytest.approx(0, abs=1e-12) and f[-1] == pytest.approx(0, abs=1e-12)
    np.testing.assert_array_equal(f[margin:margin + h], 1.0)
    assert np.all(np.diff(f[:margin + 1]) >= 0) and np.all(np.diff(f[margin + h - 1:]) <= 0)


def test_taper_padding_is_continuous_across_the_wrap():
    # the bottom/right pads are longer (FFT-friendly size); each fades over its own length, so the
    # first and last rows both sit on the smooth periodic image and join like neighbouring rows
    img = transform.resize(data.camera() / 255.0, (120, 120), anti_aliasing=True)[None]
    yp, crop = boundary.pad_observation(img, 8, "taper")
    assert yp.shape[1] - 120 - 8 > 8  # the case the old shared fade got wrong
    for axis in (1, 2):
        a = np.moveaxis(yp[0], axis - 1, 0)
        wrap = np.abs(a[0] - a[-1]).mean()
        neighbours = np.abs(np.diff(a, axis=0)).mean()
        assert wrap < 1.5 * neighbours
    assert boundary.wrap_ratio(yp) < 1.3
    np.testing.assert_array_equal(yp[:, 8:128, 8:128], img)  # the image itself is untouched


def test_a_flat_image_is_not_reported_as_periodic():
    import warnings

    import pnp

    assert boundary.wrap_ratio(np.full((1, 32, 32), 0.5)) == np.inf  # 0 / 0 read as "periodic" before
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pnp.solve(np.full((32, 32), 0.5), np.ones((3, 3)) / 9, prior="tv", noise_level=0.01, iters=2,
                  progress=False)


# -- pnp.psf ----------------------------------------------------------------------------
@pytest.mark.parametrize("kernel,match", [
    (np.array([[0, 1j, 0], [1, 1 + 5j, 1], [0, 1, 0]]), "complex dtype"),
    (np.ones((3, 3), dtype="m8[s]"), "non-numeric dtype timedelta64"),
    (np.ones((3, 3), dtype=bool), "non-numeric dtype bool"),
])
def test_validate_kernel_refuses_non_real_dtypes(kernel, match):
    with pytest.raises(TypeError, match=match):
        validate_kernel(kernel)
    with pytest.raises(TypeError, match=match):
        pnp.blur(np.random.default_rng(0).random((16, 16)), kernel)


def test_validate_kernel_does_not_overflow_or_underflow():
    np.testing.assert_allclose(validate_kernel(np.full((3, 3), 1e308)), 1 / 9)
    np.testing.assert_allclose(validate_kernel(np.full((3, 3), 5e-324)), 1 / 9)
    k = 1e308 * np.array([[1, 2 / 3], [1, 1]])  # the plain sum is inf
    np.testing.assert_allclose(validate_kernel(k), np.array([[3, 2], [3, 3]]) / 11)
    with pytest.raises(ValueError, match=r"sum -1e\+308 <= 0"):
        validate_kernel(np.array([[-1e308, 0.0]]))


# -- pnp.simulate -----------------------------------------------------------------------
def test_blur_reflect_reports_the_image_size_not_the_padded_one():
    x = np.random.default_rng(0).random((33, 33))
    k = np.ones((5, 5)) / 25
    for bnd in ("circular", "reflect"):
        with pytest.raises(ValueError, match="image size 33x33 is not a multiple of scale 2"):
            pnp.blur(x, k, scale=2, boundary=bnd)


# -- pnp.synthetic ----------------------------------------------------------------------
@pytest.mark.parametrize("kw,match", [
    (dict(noise_level=float("nan")), "noise_level must be a finite number >= 0"),
    (dict(noise_level=-0.1), "noise_level must be a finite number >= 0"),
    (dict(noise_level=float("inf")), "noise_level must be a finite number >= 0"),
    (dict(noise_level=2.55), "on the wrong scale"),  # 2.55/255 meant: 255x the noise otherwise
    (dict(supersample=1.5), "supersample must be an integer >= 1"),
    (dict(supersample=2.0), "supersample must be an integer >= 1"),
    (dict(supersample=0), "supersample must be an integer >= 1"),
])
def test_synthesize_rotational_blur_validates(kw, match):
    with pytest.raises(ValueError, match=match):
        synthesize_rotational_blur(np.zeros((32, 32)), (16, 16), 0.05, **kw)


@pytest.mark.parametrize("radius", [-5, 0, float("nan"), float("inf")])
def test_rotating_disk_scene_needs_a_positive_radius(radius):
    with pytest.raises(ValueError, match="radius must be a finite number of pixels > 0"):
        rotating_disk_scene(64, radius=radius)


def test_synthesize_rotational_blur_progress_bar(capsys):
    x = np.linspace(0, 1, 32 * 32).reshape(32, 32)
    a = synthesize_rotational_blur(x, (16, 16), 0.05, seed=0, progress=True)
    assert "rotational blur" in capsys.readouterr().err
    b = synthesize_rotational_blur(x, (16, 16), 0.05, seed=0, progress=False)
    assert "rotational blur" not in capsys.readouterr().err
    np.testing.assert_array_equal(a.blurred, b.blurred)


# -- pnp.metrics ------------------------------------------------------------------------
@pytest.mark.parametrize("metric", [pnp.psnr, pnp.ssim])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_metrics_refuse_non_finite_inputs(metric, bad):
    a = np.random.default_rng(0).random((16, 16))
    b = a.copy()
    b[3, 4] = bad
    with pytest.raises(ValueError, match="x contains NaN or infinite values"):
        metric(b, a)
    with pytest.raises(ValueError, match="reference contains NaN or infinite values"):
        metric(a, b)


def test_ssim_needs_7x7_images():
    a = np.random.default_rng(0).random((6, 40, 3))
    with pytest.raises(ValueError, match=r"ssim needs images of at least 7x7 pixels.*got shape \(6, 40, 3\)"):
        pnp.ssim(a, a)
    assert pnp.ssim(a[:, :7].repeat(2, axis=0)[:7], a[:, :7].repeat(2, axis=0)[:7]) == pytest.approx(1.0)
    assert pnp.psnr(a, a) == float("inf")  # psnr has no size limit


def test_psnr_crop_of_a_1d_input_and_psf2otf_of_a_list_are_handled():
    from pnp import metrics
    from pnp.psf import psf2otf

    with pytest.raises(ValueError, match="crop needs an image of shape"):  # was a bare IndexError
        metrics.psnr(np.ones(5), np.full(5, 0.9), crop=1)
    assert metrics.psnr(np.ones(5), np.full(5, 0.9)) == pytest.approx(20.0)
    k = [[0, 1, 0], [1, 4, 1], [0, 1, 0]]  # a list: was an AttributeError
    np.testing.assert_allclose(psf2otf(k, (8, 8)), psf2otf(np.array(k, float), (8, 8)))
    with pytest.raises(ValueError, match="kernel must be a 2-D array"):
        psf2otf(np.ones(3), (8, 8))


# -- priors and schedules (audit of 2026-11-27) -------------------------------------------
def test_bm3d_handles_gray_stored_as_rgb_and_tiny_images():
    pytest.importorskip("bm3d")
    from priors.bm3d import BM3D

    g = np.random.default_rng(0).random((16, 16))
    out = BM3D()(np.dstack([g] * 3), 0.05)  # CBM3D gave all NaN (0/0 on flat chroma)
    assert np.all(np.isfinite(out)) and out.shape == (16, 16, 3)
    assert np.abs(out - g[..., None]).mean() < np.abs(g - g.mean()).mean()
    for shape in [(8, 8), (1, 1), (7, 9), (3, 5, 3)]:  # (8, 8) crashed the process; below 8 an unclear error
        x = np.random.default_rng(1).random(shape)
        y = BM3D()(x, 0.05)
        assert y.shape == shape and np.all(np.isfinite(y))


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(strength=-1), ValueError, "strength must be a finite number >= 0"),
    (dict(strength=float("nan")), ValueError, "strength"),
    (dict(strength="a"), TypeError, "strength"),
    (dict(max_num_iter=0), ValueError, "max_num_iter must be an integer >= 1"),
    (dict(max_num_iter=2.5), TypeError, "max_num_iter"),
])
def test_tv_parameters_are_checked(kwargs, exc, match):
    from priors.tv import TV

    with pytest.raises(exc, match=match):
        TV(**kwargs)


def test_prior_registry_refuses_bad_names_factories_and_classes():
    import pnp
    from priors import register_prior
    from priors.registry import _FACTORIES, get_prior
    from priors.tv import TV

    with pytest.raises(ValueError, match="self-ensemble suffix"):
        register_prior("foo+x8", TV)
    with pytest.raises(ValueError, match="'default' cannot be registered"):
        register_prior("default", TV)
    with pytest.raises(TypeError, match="factory must be callable"):
        register_prior("mine", 42)
    register_prior("five-test", lambda **kw: 5)
    try:
        with pytest.raises(TypeError, match="registered as prior 'five-test' returned 5, not a prior"):
            get_prior("five-test")
    finally:
        _FACTORIES.pop("five-test")
    with pytest.raises(TypeError, match=r"pass an instance, e.g. prior=TV\(\)"):
        pnp.solve(np.random.default_rng(0).random((16, 16)), np.ones((3, 3)) / 9, prior=TV, noise_level=0.01,
                  iters=1, boundary="circular", progress=False)


@pytest.mark.parametrize("make, exc, match", [
    (lambda: __import__("pnp").schedules.GeometricSchedule(sigma_end=0), ValueError, "sigma_end must be"),
    (lambda: __import__("pnp").schedules.GeometricSchedule(sigma_start=0), ValueError, "sigma_start must be"),
    (lambda: __import__("pnp").schedules.ConstantSchedule("a", 0.1), TypeError, "alpha must be"),
    (lambda: __import__("pnp").schedules.ConstantSchedule(0.1, -0.1), ValueError, "sigma must be"),
    (lambda: __import__("pnp").schedules.DPIRSchedule(lam=float("nan")), ValueError, "lam must be"),
])
def test_schedule_parameters_are_checked(make, exc, match):
    import pnp.schedules  # noqa: F401

    with pytest.raises(exc, match=match):
        make()


def test_network_priors_refuse_arrays_of_other_dimensions():
    from priors.registry import get_prior

    p = get_prior("attention-unet", weights="small", threads=1)
    for bad in (np.zeros((1, 16, 16, 3)), np.zeros(16)):
        with pytest.raises(ValueError, match=r"x must have shape \(H, W\) or \(H, W, C\)"):
            p(bad, 0.05)


@pytest.mark.parametrize("bad", [float("inf"), float("nan"), np.float32("inf")])
def test_blur_refuses_non_finite_scales_with_a_value_error(bad):
    from pnp.operators.blur import check_scale

    with pytest.raises(ValueError, match="scale must be an integer >= 1"):
        pnp.Blur(np.ones((3, 3)), scale=bad)
    with pytest.raises(ValueError, match="scale must be an integer >= 1"):
        check_scale(bad)
    assert check_scale(2.0) == 2 and check_scale(np.int64(3)) == 3 and check_scale(10**30) == 10**30


def test_channels_first_arrays_are_named_by_every_public_image_function():
    chw = np.random.default_rng(0).random((3, 32, 32))
    for call in (pnp.estimate_noise, lambda a: pnp.add_noise(a, 0.01, seed=0)):
        with pytest.raises(ValueError, match=r"looks channels-first.*np\.moveaxis\(y, 0, -1\)"):
            call(chw)
    assert pnp.estimate_noise(np.moveaxis(chw, 0, -1)) > 0  # the fix the message gives works
