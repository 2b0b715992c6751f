"""pnp.solve: input validation, layouts and dtypes, solvers, callbacks, boundary handling."""

import numpy as np
import pytest

import pnp

K5 = np.ones((5, 5)) / 25.0


@pytest.fixture
def small(rng):
    from skimage import data

    x = data.camera()[200:264, 200:264] / 255.0
    y = pnp.blur(x, K5, boundary="reflect") + 0.01 * rng.standard_normal(x.shape)
    return x, y


def _solve(y, **kw):
    kw.setdefault("prior", "tv")
    kw.setdefault("noise_level", 0.01)
    kw.setdefault("iters", 3)
    return pnp.solve(y, kw.pop("kernel", K5), **kw)


# -- input validation -----------------------------------------------------------
@pytest.mark.parametrize(
    "y, exc, match",
    [
        (np.full((16, 16), np.nan), ValueError, "NaN"),
        (np.full((16, 16), np.inf), ValueError, "NaN or infinite"),
        (np.zeros((0, 16)), ValueError, "empty"),
        (np.zeros((16, 16, 4)), ValueError, "channels"),
        (np.zeros((16, 16, 3, 1)), ValueError, r"\(H, W\)"),
        (np.zeros((16, 16), dtype=np.int32), TypeError, "dtype"),
        ("image.png", TypeError, "numpy array"),
    ],
)
def test_bad_images(y, exc, match):
    with pytest.raises(exc, match=match):
        _solve(y)


@pytest.mark.parametrize(
    "kernel, match",
    [
        (np.zeros((3, 3)), "all zeros"),
        (-K5, "sum"),
        (np.ones((40, 40)), "larger than the image"),
        (np.ones(5), "2-D"),
        ("gaussian", "kernel must be"),
    ],
)
def test_bad_kernels(kernel, match):
    with pytest.raises(ValueError, match=match):
        _solve(np.zeros((32, 32)), kernel=kernel)


@pytest.mark.parametrize(
    "kw, exc, match",
    [
        (dict(scale=0), ValueError, "scale"),
        (dict(scale=1.5), ValueError, "scale"),
        (dict(scale="2"), TypeError, "scale"),
        (dict(prior="nope"), ValueError, "unknown prior"),
        (dict(prior=42), TypeError, "prior"),
        (dict(solver="pgd"), ValueError, "unknown solver"),
        (dict(noise_level=2.55), ValueError, "0-1 intensity scale"),
        (dict(noise_level=-0.1), ValueError, "noise_level"),
        (dict(noise_level="low"), TypeError, "noise_level"),
        (dict(iters=0), ValueError, "iters"),
        (dict(boundary="zero"), ValueError, "boundary"),
        (dict(x_true=np.zeros((8, 8))), ValueError, "x_true"),
    ],
)
def test_bad_arguments(kw, exc, match):
    with pytest.raises(exc, match=match):
        _solve(np.zeros((32, 32)), **kw)


# -- layouts and dtypes ------------------------------------------------------------
@pytest.mark.filterwarnings("ignore:y looks periodic")  # random test images have no real borders
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32, np.float64])
@pytest.mark.parametrize("shape", [(32, 40), (32, 40, 3), (32, 40, 1)])
def test_layout_and_dtype_round_trip(rng, dtype, shape):
    y = rng.random(shape)
    if np.issubdtype(dtype, np.integer):
        y = (y * np.iinfo(dtype).max).astype(dtype)
    else:
        y = y.astype(dtype)
    out = _solve(y, iters=2)
    assert out.shape == shape and out.dtype == np.dtype(dtype)


@pytest.mark.filterwarnings("ignore:y looks periodic")
@pytest.mark.parametrize("scale", [2, 3])
def test_superresolution_output_shape(rng, scale):
    y = rng.random((20, 24, 3))
    out = _solve(y, scale=scale, iters=2)
    assert out.shape == (20 * scale, 24 * scale, 3)


# -- behaviour -----------------------------------------------------------------------
@pytest.mark.parametrize("solver", ["hqs", "admm"])
def test_solvers_improve_psnr(small, solver):
    x, y = small
    out = _solve(y, solver=solver, iters=8)
    assert pnp.psnr(out, x) > pnp.psnr(y, x) + 2.0


def test_callback_and_history(small):
    x, y = small
    seen = []
    out, info = _solve(y, iters=4, x_true=x, return_info=True,
                       callback=lambda k, xk, a, s: seen.append((k, xk.shape, a, s)))
    assert [s[0] for s in seen] == [0, 1, 2, 3]
    assert all(s[1] == x.shape for s in seen)
    np.testing.assert_allclose([s[2] for s in seen], info["alphas"])
    np.testing.assert_allclose([s[3] for s in seen], info["sigmas"])
    assert len(info["history"]["psnr"]) == 4
    assert info["history"]["psnr"][-1] == pytest.approx(pnp.psnr(np.clip(out, 0, 1), x), abs=1e-9)


def test_custom_prior_and_schedule(small):
    x, y = small
    calls = []

    def identity_prior(img, sigma):
        calls.append(sigma)
        return img

    out = _solve(y, prior=identity_prior, schedule=[(0.01, 0.1), (0.02, 0.05)], iters=2)
    assert calls == [0.1, 0.05]
    assert out.shape == x.shape


def test_noise_level_is_estimated(small):
    x, y = small
    _, info = _solve(y, noise_level=None, return_info=True)
    assert 0.005 < info["noise_level"] < 0.02  # true 0.01


def test_default_boundary_beats_circular_on_real_borders(rng):
    """On a non-periodic image (blurred as a crop of a larger scene) padding wins clearly."""
    from skimage import data

    k = np.zeros((15, 15))
    k[7, :] = 1.0  # horizontal motion: strong wrap-around artefacts if treated as periodic
    full = data.camera() / 255.0
    x = full[100:228, 100:228]
    y = pnp.blur(full, k)[100:228, 100:228] + 0.01 * rng.standard_normal(x.shape)
    p_default = pnp.psnr(_solve(y, kernel=k, iters=8), x)
    p_circular = pnp.psnr(_solve(y, kernel=k, iters=8, boundary="circular"), x)
    assert p_default > p_circular + 3.0


def test_input_is_not_modified(small):
    _, y = small
    y0 = y.copy()
    _solve(y)
    np.testing.assert_array_equal(y, y0)


def test_import_is_fast_and_light():
    import subprocess
    import sys

    # CPU time of the import (wall time swings with the machine's load)
    code = ("import time, sys; t=time.process_time(); import pnp; pnp.solve; dt=time.process_time()-t; "
            "print(dt, any(m in sys.modules for m in ('torch', 'deepinv', 'bm3d')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert float(out[0]) < 1.0
    assert out[1] == "False"


def test_warns_on_periodic_observation_with_default_boundary(small):
    x, _ = small
    k = K5
    y_circ = pnp.blur(x, k)  # circular convolution: the borders join smoothly
    with pytest.warns(UserWarning, match="boundary='circular'"):
        pnp.solve(y_circ, k, prior="tv", noise_level=0.01, iters=1)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pnp.solve(y_circ, k, prior="tv", noise_level=0.01, iters=1, boundary="circular")
        pnp.solve(y_circ, k, prior="tv", noise_level=0.01, iters=1, boundary="taper")  # explicit choice
        y_real = pnp.blur(x, k, boundary="reflect")
        pnp.solve(y_real, k, prior="tv", noise_level=0.01, iters=1)


def test_public_exports_resolve():
    for name in pnp.__all__:
        assert getattr(pnp, name) is not None, name


@pytest.mark.parametrize("solver", ["hqs", "admm"])
def test_prior_returning_a_wrong_shape_is_an_error(small, solver):
    x, y = small

    def cropping_prior(img, sigma):
        return img[:, :0]

    with pytest.raises(ValueError, match=r"prior 'cropping_prior' returned an array of shape \(64, 0\) "
                                         r"for an input of shape \(64, 64\)"):
        _solve(y[:, :64], prior=cropping_prior, solver=solver, iters=2, boundary="circular")



@pytest.mark.parametrize("bad, exc, match", [
    (lambda img, sigma: img * np.nan, ValueError, "NaN or infinite"),
    (lambda img, sigma: np.round(img * 255).astype(np.uint8), TypeError, "dtype uint8"),
])
def test_prior_returning_non_finite_or_integer_values_is_an_error(small, bad, exc, match):
    x, y = small
    with pytest.raises(exc, match=match):
        _solve(y, prior=bad, iters=2)


@pytest.mark.parametrize("solver", ["hqs", "admm"])
def test_a_callback_editing_its_array_does_not_change_the_solve(small, solver):
    x, y = small
    ref = _solve(y, solver=solver, iters=4)
    seen = []

    def scaling_callback(k, xk, alpha, sigma):
        xk *= 255.0  # e.g. a display conversion done in place
        seen.append(xk)

    out = _solve(y, solver=solver, iters=4, callback=scaling_callback)
    np.testing.assert_array_equal(out, ref)
    assert not np.shares_memory(seen[-1], out)


def test_a_callback_that_is_not_callable_is_refused_before_solving(small):
    x, y = small
    with pytest.raises(TypeError, match="callback must be callable"):
        _solve(y, callback="print")


def test_a_schedule_class_instead_of_an_instance_is_refused(small):
    x, y = small
    with pytest.raises(TypeError, match=r"pass an instance, e.g. schedule=DPIRSchedule\(\)"):
        _solve(y, schedule=pnp.DPIRSchedule)


def test_admm_keeps_a_converged_iterate_when_the_penalty_changes():
    """Scaled-form ADMM must rescale u when alpha changes; without it a converged iterate moves away."""
    from solvers import admm

    rng = np.random.default_rng(0)
    n = 32
    y = rng.standard_normal((1, n, n))
    lap = np.zeros((n, n))
    lap[0, 0], lap[0, 1], lap[1, 0], lap[0, -1], lap[-1, 0] = 4, -1, -1, -1, -1
    L2 = np.abs(np.fft.fft2(lap)) ** 2
    w = 0.5  # objective ||y - x||^2 + w ||L x||^2, exact minimiser by FFT
    x_star = np.real(np.fft.ifft2(np.fft.fft2(y[0]) / (1 + w * L2)))[None]

    def data_step(v, alpha):  # argmin ||y - x||^2 + alpha ||x - v||^2
        return (y + alpha * v) / (1 + alpha)

    def prior(z, sigma):  # prox of (w / (alpha sigma^2))... written with the penalty: alpha * sigma^2 = 1 below
        alpha = 1.0 / sigma**2
        return np.real(np.fft.ifft2(alpha * np.fft.fft2(z[0]) / (alpha + w * L2)))[None]

    alphas = [0.5] * 200 + [2.0] * 5  # alpha * sigma^2 = 1: the same objective throughout
    sigmas = [1 / np.sqrt(a) for a in alphas]
    before = admm(data_step, prior, alphas[:200], sigmas[:200], np.zeros_like(y))
    after = admm(data_step, prior, alphas, sigmas, np.zeros_like(y))
    err_before = np.linalg.norm(before - x_star) / np.linalg.norm(x_star)
    err_after = np.linalg.norm(after - x_star) / np.linalg.norm(x_star)
    assert err_before < 1e-8
    assert err_after < 1e-8  # measured 1e-3 without the rescaling


def test_solvers_refuse_schedules_of_different_lengths():
    from solvers import admm, hqs

    for solver in (hqs, admm):
        with pytest.raises(ValueError, match="2 penalties alpha_k but 3 noise levels"):
            solver(lambda v, a: v, lambda x, s: x, [1.0, 2.0], [0.1, 0.1, 0.1], np.zeros((1, 4, 4)))

# -- metrics and test observations ----------------------------------------------
def test_metrics_compare_integer_images_on_the_0_1_scale(rng):
    from skimage import data

    x8 = data.camera()[:64, :64]
    noisy8 = np.clip(x8 + rng.normal(0, 20, x8.shape), 0, 255).astype(np.uint8)
    expected = pnp.psnr(noisy8 / 255.0, x8 / 255.0)
    assert 15 < expected < 30
    assert pnp.psnr(noisy8, x8) == pytest.approx(expected)
    # a data_range meant for 0-255 would give a silently wrong score (70 dB): refused
    for metric in (pnp.psnr, pnp.ssim):
        with pytest.raises(ValueError, match="compared on the 0-1 scale.*data_range must be 1"):
            metric(noisy8, x8, data_range=255)
    # floats on their own scale keep their data_range
    assert pnp.psnr(noisy8.astype(float), x8.astype(float), data_range=255) == pytest.approx(expected)
    # big-endian integers (from some TIFF / FITS readers) are the same image
    big = (x8.astype(np.uint16) * 257).astype(">u2")
    assert pnp.psnr(big, x8) == float("inf")
    assert pnp.ssim(big, x8) == pytest.approx(1.0)
    for bad in (x8.astype(np.int32), x8 > 100, x8.astype(np.int8)):
        with pytest.raises(TypeError, match="uint8, uint16 or float"):
            pnp.psnr(bad, x8)
    with pytest.raises(ValueError, match="crop=40 leaves no pixel"):
        pnp.psnr(x8, x8, crop=40)


def test_add_noise_sigma_is_on_the_0_1_scale_for_every_dtype():
    from skimage import data

    x8 = data.camera()[:64, :64]
    for img in (x8, x8.astype(np.uint16) * 257, x8 / 255.0):
        noisy = pnp.add_noise(img, 0.05, seed=0)
        assert noisy.dtype == np.float64 and noisy.shape == x8.shape
        assert np.std(noisy - x8 / 255.0) == pytest.approx(0.05, rel=0.05)
    np.testing.assert_array_equal(pnp.add_noise(x8, 0.05, seed=1), pnp.add_noise(x8 / 255.0, 0.05, seed=1))
    for sigma in (-0.1, np.nan, "0.1"):
        with pytest.raises(ValueError, match="sigma must be a finite number >= 0"):
            pnp.add_noise(x8, sigma)


@pytest.mark.filterwarnings("ignore:y looks periodic")
def test_big_endian_integer_images_are_accepted(rng):
    y = (rng.random((32, 40)) * 65535).astype(np.uint16)
    out = _solve(y.astype(">u2"), iters=1)
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out, _solve(y, iters=1))


def test_sharpening_kernels_are_refused():
    from pnp.psf import validate_kernel

    sharpen = np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]])
    with pytest.raises(ValueError, match="negative entries of total 4, 80 % of its positive mass"):
        validate_kernel(sharpen)
    with pytest.raises(ValueError, match="sharpening or derivative filter"):
        _solve(np.zeros((32, 32)), kernel=sharpen)
    small_lobes = K5.copy()  # a few tiny negative entries, as estimation leaves them: still a blur
    small_lobes[0, :2] -= 0.05  # negative mass 2 % of the positive mass
    np.testing.assert_allclose(validate_kernel(small_lobes), small_lobes / small_lobes.sum())


# -- early and accurate validation (audit of pnp.solve) --------------------------------------
class _SpyEstimator:
    """A user's kernel estimator that records its calls: validation must come before it runs."""

    def __init__(self):
        self.calls = 0

    def estimate(self, y):
        self.calls += 1
        return K5


@pytest.mark.parametrize("cls", ["DPIRSchedule", "GeometricSchedule", "LearnedSchedule"])
def test_every_schedule_class_is_refused_first_with_the_instance_hint(small, cls):
    x, y = small
    schedule = getattr(pnp, cls)
    spy = _SpyEstimator()
    with pytest.raises(TypeError, match=rf"got the class {cls}: pass an instance, e.g. schedule={cls}\(\)"):
        _solve(y, kernel=spy, schedule=schedule)
    assert spy.calls == 0  # refused before the kernel estimation


class _NoiseReadingEstimator:
    """A kernel estimator that converts ``y`` again (and so would repeat its scale warning)."""

    def estimate(self, y):
        self.noise_level_ = pnp.estimate_noise(y)
        return K5


@pytest.mark.parametrize("kernel", ["array", "estimator"])
def test_a_float_image_on_the_255_scale_is_named_once_as_such(small, kernel):
    import warnings

    x, y = small
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ValueError, match=r"y is not on the 0-1 intensity scale: its values lie in") as info:
            _solve(y * 255, noise_level=None, kernel=K5 if kernel == "array" else _NoiseReadingEstimator())
    msg = str(info.value)
    assert "Divide a float y by its white level" in msg and "noise_level=None" in msg
    assert "is on the wrong scale" not in msg  # the old message blamed noise_level, which was not passed
    scale_warnings = [w for w in caught if "y is a float image with values in" in str(w.message)]
    assert len(scale_warnings) == 1


@pytest.mark.parametrize("bad", [float("inf"), float("-inf"), float("nan"), np.float64("inf")])
def test_non_finite_scales_are_a_value_error_naming_scale(bad):
    with pytest.raises(ValueError, match="scale must be an integer >= 1"):
        _solve(np.zeros((32, 32)), scale=bad)


@pytest.mark.parametrize("shape", [(3, 32, 32), (1, 32, 32), (4, 32, 40)])
def test_channels_first_images_are_named_with_the_fix(shape):
    with pytest.raises(ValueError, match=r"looks channels-first \(C, H, W\).*np\.moveaxis\(y, 0, -1\)") as info:
        _solve(np.zeros(shape))
    msg = str(info.value)
    assert "degenerate" not in msg
    if shape[0] != 4:
        assert "alpha" not in msg  # the old hint image[..., :3] turned (3, H, W) into a garbage (3, H, 3)
    else:
        assert "then drop the alpha channel with [..., :3]" in msg


@pytest.mark.parametrize("shape, hint", [((32, 32, 4), r"RGBA: drop the alpha channel with y\[\.\.\., :3\]"),
                                         ((32, 32, 2), r"gray \+ alpha: drop the alpha channel with y\[\.\.\., :1\]"),
                                         ((32, 32, 5), r"channels \(shape \(32, 32, 5\)\); expected one of \(1, 3\)")])
def test_the_alpha_hint_is_given_only_where_it_is_right(shape, hint):
    with pytest.raises(ValueError, match=hint) as info:
        _solve(np.zeros(shape))
    if shape[2] == 5:
        assert "alpha" not in str(info.value) and "channels-first" not in str(info.value)


@pytest.mark.filterwarnings("ignore:y looks periodic")
def test_a_narrow_colour_image_is_still_an_image(rng):
    y = rng.random((3, 32, 3))  # 3 pixels high, 32 wide, RGB: ambiguous-looking but legal
    out = _solve(y, kernel=np.ones((3, 3)) / 9, iters=1)
    assert out.shape == (3, 32, 3)


@pytest.mark.parametrize("name", ["x_true", "init"])
def test_output_shaped_arguments_are_checked_before_kernel_estimation(small, monkeypatch, name):
    from pnp.estimate.shake import CameraShakeEstimator

    def not_now(self, y, noise_level=None):
        raise AssertionError("the kernel was estimated before the arguments were checked")

    monkeypatch.setattr(CameraShakeEstimator, "estimate", not_now)
    x, y = small
    with pytest.raises(ValueError, match=rf"{name} has shape \(5, 64\), expected the output shape \(64, 64\)"):
        _solve(y, kernel="estimate", **{name: x[:5]})
    with pytest.raises(ValueError, match=rf"{name} has shape \(64, 64\), expected the output shape \(128, 128\)"):
        _solve(y, scale=2, **{name: x})  # kernel array with scale 2: the output is 2x the input


def test_a_users_estimator_gets_its_shape_check_after_estimation(small):
    x, y = small  # a user's estimator may return an operator of another scale: checked once it is known
    spy = _SpyEstimator()
    with pytest.raises(ValueError, match=r"x_true has shape \(5, 64\)"):
        _solve(y, kernel=spy, x_true=x[:5])
    assert spy.calls == 1


def test_callback_and_prior_arity_are_checked_before_any_work(small):
    x, y = small
    spy = _SpyEstimator()
    with pytest.raises(TypeError, match=r"callback must accept 4 positional arguments, as "
                                        r"callback\(k, x, alpha_k, sigma_k\); <lambda>\(x\) cannot"):
        _solve(y, kernel=spy, callback=lambda x: None)
    with pytest.raises(TypeError, match=r"prior must accept 2 positional arguments, as prior\(x, sigma\)"):
        _solve(y, kernel=spy, prior=lambda img: img)
    with pytest.raises(TypeError, match=r"prior must accept 2 positional arguments"):
        _solve(y, kernel=spy, prior=lambda img, sigma, strength: img)
    assert spy.calls == 0


def test_callbacks_and_priors_of_other_valid_signatures_still_run(small):
    x, y = small
    seen = []

    class Opaque:  # inspect.signature cannot read it: not checked, called as usual
        __signature__ = "unreadable"

        def __call__(self, k, x, alpha, sigma):
            seen.append(("opaque", k))

    def prior_with_options(img, sigma, *, extra=None):
        return img

    _solve(y, iters=2, callback=lambda *args: seen.append(("args", args[0])))
    _solve(y, iters=2, callback=Opaque(), prior=prior_with_options)
    _solve(y, iters=1, callback=lambda k, xk, a, s, extra=None: seen.append(("default", k)))
    assert seen == [("args", 0), ("args", 1), ("opaque", 0), ("opaque", 1), ("default", 0)]


@pytest.mark.filterwarnings("ignore:y looks periodic")
@pytest.mark.parametrize("boundary", [None, "reflect", "circular"])
@pytest.mark.parametrize("form", ["array", "Blur"])
def test_a_kernel_larger_than_the_image_gets_one_rule_whatever_its_form(form, boundary):
    k = np.ones((9, 9))
    kernel = k if form == "array" else pnp.Blur(k)
    with pytest.raises(ValueError, match=r"kernel of shape \(9, 9\) is larger than the image \(8x8\); crop"):
        _solve(np.full((8, 8), 0.5), kernel=kernel, boundary=boundary)
    with pytest.raises(ValueError, match=r"larger than the image \(8x8\)"):  # the fine grid of a 4x4 at scale 2
        _solve(np.full((4, 4), 0.5), kernel=pnp.Blur(k, scale=2), boundary=boundary)
    same = np.ones((8, 8))  # the size of the image: accepted in both forms
    a = _solve(np.full((8, 8), 0.5), kernel=same, boundary=boundary, iters=1)
    b = _solve(np.full((8, 8), 0.5), kernel=pnp.Blur(same), boundary=boundary, iters=1)
    np.testing.assert_allclose(a, b)


class _BadTorchPrior:
    """A torch prior (``denoise_tensor``) that misbehaves in one chosen way; its numpy ``__call__`` does the same."""

    def __init__(self, mode):
        self.mode = mode

    def denoise_tensor(self, x, sigma):
        import torch

        if self.mode == "nan":
            return torch.full_like(x, float("nan"))
        if self.mode == "one_channel":
            return x.mean(dim=1, keepdim=True)  # (B, 1, H, W) for a colour input
        if self.mode == "cropped":
            return x[..., :-1, :-1]
        if self.mode == "int":
            return (x * 255).round().to(torch.int64)
        if self.mode == "numpy":
            return x.numpy()
        return x.double()  # "float64": accepted, used in the loop's dtype

    def __call__(self, x, sigma):
        import torch

        t = torch.from_numpy(np.ascontiguousarray(np.moveaxis(np.atleast_3d(x), -1, 0)))[None]
        out = np.moveaxis(np.asarray(self.denoise_tensor(t, sigma))[0], 0, -1)
        return out[..., 0] if x.ndim == 2 and out.shape[-1] == 1 else out


@pytest.mark.parametrize("mode, exc, match", [
    ("nan", ValueError, r"prior '_BadTorchPrior' returned NaN or infinite values at sigma="),
    ("one_channel", ValueError, r"prior '_BadTorchPrior' returned a tensor of shape \(1, 1, 40, 40\) for an input "
                                r"of shape \(1, 3, 40, 40\); a prior must return the denoised image in the shape"),
    ("cropped", ValueError, r"returned a tensor of shape \(1, 3, 39, 39\) for an input of shape \(1, 3, 40, 40\)"),
    ("int", TypeError, r"prior '_BadTorchPrior' returned a tensor of dtype torch.int64; a prior must return the "
                       "denoised image as floats on the 0-1 scale"),
    ("numpy", TypeError, "returned a ndarray from denoise_tensor; a torch prior must return"),
])
def test_torch_path_checks_the_prior_output_like_the_numpy_path(mode, exc, match):
    """pnp.solve(device="cpu") refuses what the numpy path refuses, with the same messages."""
    pytest.importorskip("torch")
    y = np.random.default_rng(0).random((40, 40, 3))
    kw = dict(prior=_BadTorchPrior(mode), noise_level=0.01, iters=2, boundary="circular", progress=False)
    with pytest.raises(exc, match=match):
        pnp.solve(y, np.ones((3, 3)) / 9, device="cpu", **kw)
    if mode != "numpy":  # the numpy path: the same message, about an array in the public layout
        numpy_match = match.replace("a tensor", "an array").replace("torch.int64", "int64")
        numpy_match = numpy_match.replace(r"\(1, 1, 40, 40\)", r"\(40, 40, 1\)").replace(
            r"\(1, 3, 40, 40\)", r"\(40, 40, 3\)").replace(r"\(1, 3, 39, 39\)", r"\(39, 39, 3\)")
        with pytest.raises(exc, match=numpy_match):
            pnp.solve(y, np.ones((3, 3)) / 9, **kw)


def test_torch_path_takes_a_float64_prior_output():
    pytest.importorskip("torch")
    y = np.random.default_rng(0).random((40, 40))
    kw = dict(prior=_BadTorchPrior("float64"), noise_level=0.01, iters=2, boundary="circular", progress=False)
    out = pnp.solve(y, np.ones((3, 3)) / 9, device="cpu", **kw)
    np.testing.assert_allclose(out, pnp.solve(y, np.ones((3, 3)) / 9, **kw), atol=1e-5)


@pytest.mark.parametrize("device, exc, match", [
    (True, TypeError, r"device must be None \(numpy\), a torch device name such as 'cpu', 'cuda' or 'cuda:1', or "
                      r"a torch.device; got True \(bool\)"),
    (1.5, TypeError, r"device must be None .* got 1.5 \(float\)"),
    (0, TypeError, r"device must be None .* got 0 \(int\)"),
    ("meta", ValueError, r"device='meta' is torch's meta device, which holds shapes but no data"),
    ("gpu", ValueError, r"torch device 'gpu' is not available"),
])
def test_solve_refuses_a_device_that_cannot_run_it_before_any_work(device, exc, match):
    """device=True / 1.5 gave torch's raw TypeError, "meta" 'Tensor.item() cannot be called on meta tensors'."""
    torch = pytest.importorskip("torch")
    y = np.random.default_rng(0).random((48, 48))
    # "estimate" on a 48x48 image fails in the estimator: the device is refused before it runs
    with pytest.raises(exc, match=match):
        pnp.solve(y, "estimate", prior="drunet", noise_level=0.01, iters=2, device=device, progress=False)
    out = pnp.solve(y, np.ones((3, 3)) / 9, prior=_BadTorchPrior("float64"), noise_level=0.01, iters=2,
                    device=torch.device("cpu"), boundary="circular", progress=False)
    assert out.shape == y.shape


@pytest.mark.parametrize("ensemble", [False, True])
def test_torch_path_explains_a_colour_only_prior_on_a_gray_image_like_the_numpy_path(tmp_path, ensemble):
    """The torch path raised a bare WeightsChannelsError ('weights ... are for 3-channel images, got 1')."""
    import json

    torch = pytest.importorskip("torch")
    from deepinv.models import DRUNet as Net

    from priors.drunet import DRUNet
    from priors.ensemble import SelfEnsemble
    from priors.torch_adapter import WeightsChannelsError

    arch = dict(nc=[8, 16, 32, 64], nb=1)
    path = tmp_path / "colour.pt"
    torch.save(Net(in_channels=3, out_channels=3, pretrained=None, **arch).state_dict(), path)
    path.with_suffix(".json").write_text(json.dumps(dict(arch, in_channels=3, out_channels=3, residual=False)))
    prior = DRUNet(weights=path)
    prior = SelfEnsemble(prior, n=2) if ensemble else prior
    y = np.random.default_rng(0).random((40, 40))
    kw = dict(prior=prior, noise_level=0.01, iters=2, boundary="circular", progress=False)
    messages = {}
    for dev in (None, "cpu"):
        with pytest.raises(ValueError, match=r"x is a gray image \(shape \(40, 40\)\); DRUNet.*its weights "
                                             rf".*{path.name} are for 3-channel images only") as info:
            pnp.solve(y, np.ones((3, 3)) / 9, device=dev, **kw)
        assert not isinstance(info.value, WeightsChannelsError)
        messages[dev] = str(info.value)
    assert messages["cpu"] == messages[None]
