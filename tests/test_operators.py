"""Forward model: adjoint tests, kernel centring, decimation convention."""

import numpy as np
import pytest
from scipy import ndimage

from pnp.operators import Blur
from pnp.psf import psf2otf, validate_kernel


@pytest.mark.parametrize("scale", [1, 2, 3, 4])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("ksize", [(5, 5), (6, 4), (9, 8)])
def test_adjoint(rng, scale, channels, ksize):
    op = Blur(rng.random(ksize), scale=scale)
    x = rng.standard_normal((channels, 12 * scale, 10 * scale))
    y = rng.standard_normal(op.output_shape(x.shape))
    lhs = np.vdot(op.forward(x), y)
    rhs = np.vdot(x, op.adjoint(y))
    assert abs(lhs - rhs) <= 1e-10 * abs(lhs)


@pytest.mark.parametrize("ksize", [(5, 5), (4, 4), (6, 3), (1, 1)])
def test_centred_delta_is_identity(rng, ksize):
    k = np.zeros(ksize)
    k[ksize[0] // 2, ksize[1] // 2] = 1.0
    x = rng.random((1, 20, 24))
    np.testing.assert_allclose(Blur(k).forward(x), x, atol=1e-12)


def test_symmetric_kernel_does_not_shift():
    """A centred symmetric kernel keeps the centre of mass of a point source in place."""
    yy, xx = np.mgrid[-7:8, -7:8]
    k = np.exp(-(xx**2 + yy**2) / 8.0)
    x = np.zeros((1, 40, 40))
    x[0, 17, 23] = 1.0
    y = Blur(k).forward(x)[0]
    com = ndimage.center_of_mass(y)
    np.testing.assert_allclose(com, (17, 23), atol=1e-9)


def test_matches_scipy_wrap_convolution(rng):
    k = rng.random((7, 7))
    x = rng.random((1, 30, 26))
    ours = Blur(k).forward(x)[0]
    ref = ndimage.convolve(x[0], k / k.sum(), mode="wrap")
    np.testing.assert_allclose(ours, ref, atol=1e-12)


def test_decimation_keeps_top_left_pixel(rng):
    k = np.zeros((3, 3))
    k[1, 1] = 1
    x = rng.random((1, 12, 12))
    np.testing.assert_allclose(Blur(k, scale=3).forward(x), x[:, ::3, ::3])


def test_psf2otf_real_and_full_agree(rng):
    k = validate_kernel(rng.random((5, 4)))
    full = psf2otf(k, (16, 12), real=False)
    half = psf2otf(k, (16, 12), real=True)
    np.testing.assert_allclose(full[:, :7], half, atol=1e-12)


@pytest.mark.parametrize(
    "kernel, match",
    [
        (np.zeros((3, 3)), "all zeros"),
        (-np.ones((3, 3)), "sum"),
        (np.full((3, 3), np.nan), "NaN"),
        (np.ones((3, 3, 3)), "2-D"),
        (np.ones((0, 3)), "empty"),
    ],
)
def test_kernel_validation(kernel, match):
    with pytest.raises(ValueError, match=match):
        validate_kernel(kernel)


def test_kernel_larger_than_image():
    with pytest.raises(ValueError, match="larger than the image"):
        validate_kernel(np.ones((9, 9)), image_shape=(8, 20))


@pytest.mark.parametrize("scale", [0, -1, 1.5])
def test_bad_scale(scale):
    with pytest.raises(ValueError, match="scale"):
        Blur(np.ones((3, 3)), scale=scale)


def test_scale_must_divide_image():
    with pytest.raises(ValueError, match="multiple of scale"):
        Blur(np.ones((3, 3)), scale=3).forward(np.zeros((1, 10, 9)))
