"""Kernel generators: unit sum, determinism, centring and sub-pixel geometry."""

import numpy as np
import pytest

from pnp import kernels as K


def _moments(k):
    """Centre of mass relative to the origin (kh//2, kw//2) and the 2x2 covariance (row, col)."""
    r, c = np.indices(k.shape)
    r = r - k.shape[0] // 2
    c = c - k.shape[1] // 2
    mr, mc = (k * r).sum(), (k * c).sum()
    cov = np.array([[(k * (r - mr) ** 2).sum(), (k * (r - mr) * (c - mc)).sum()],
                    [(k * (r - mr) * (c - mc)).sum(), (k * (c - mc) ** 2).sum()]])
    return np.array([mr, mc]), cov


ALL = [
    lambda: K.gaussian_kernel(1.7),
    lambda: K.anisotropic_gaussian_kernel(3.0, 1.0, 30.0),
    lambda: K.disk_kernel(4.3),
    lambda: K.motion_kernel(9.4, 37.0),
    lambda: K.camera_shake_kernel(25, seed=3),
]


@pytest.mark.parametrize("make", ALL)
def test_unit_sum_float64_nonnegative(make):
    k = make()
    assert k.dtype == np.float64 and k.ndim == 2
    assert k.sum() == pytest.approx(1.0, abs=1e-12)
    assert k.min() >= 0


@pytest.mark.parametrize("make", ALL[:4])
def test_symmetric_kernels_centred_on_origin(make):
    centre, _ = _moments(make())
    np.testing.assert_allclose(centre, 0, atol=1e-9)


def test_symmetric_kernel_does_not_shift_image():
    import pnp

    x = np.zeros((41, 41))
    x[20, 20] = 1.0
    y = pnp.blur(x, K.disk_kernel(3.2))
    centre, _ = _moments(y)
    np.testing.assert_allclose(centre, 0, atol=1e-9)


def test_gaussian_variance_includes_pixel_footprint():
    _, cov = _moments(K.gaussian_kernel(2.0))
    # pixel-integrated Gaussian: sigma^2 + 1/12 per axis, no correlation
    np.testing.assert_allclose(np.diag(cov), 4 + 1 / 12, rtol=5e-3)
    assert abs(cov[0, 1]) < 1e-9


def test_anisotropic_gaussian_axes_and_angle():
    _, cov = _moments(K.anisotropic_gaussian_kernel(4.0, 1.5, 60.0, supersample=7))
    w, v = np.linalg.eigh(cov)
    assert np.sqrt(w[1] - 1 / 12) == pytest.approx(4.0, rel=0.03)
    assert np.sqrt(w[0] - 1 / 12) == pytest.approx(1.5, rel=0.03)
    row, col = v[:, 1]
    angle = np.rad2deg(np.arctan2(-row, col)) % 180
    assert angle == pytest.approx(60.0, abs=0.5)


def test_disk_second_moment_and_antialiasing():
    k = K.disk_kernel(5.5)
    _, cov = _moments(k)
    # uniform disk of radius R: R^2 / 4 per axis, plus the pixel box 1/12
    assert cov[0, 0] == pytest.approx(5.5**2 / 4 + 1 / 12, rel=0.01)
    # the edge is anti-aliased: some pixels are partially covered
    inner = k[k > 0]
    assert np.sum(inner < 0.9 * inner.max()) > 0


@pytest.mark.parametrize("length,angle", [(7.3, 0.0), (7.0, 0.0), (12.6, 33.0), (5.2, 101.0), (15.0, 90.0)])
def test_motion_length_and_angle_subpixel(length, angle):
    k = K.motion_kernel(length, angle)
    centre, cov = _moments(k)
    np.testing.assert_allclose(centre, 0, atol=1e-9)
    w, v = np.linalg.eigh(cov)
    # segment of length L (variance L^2/12) smoothed by the bilinear tent (variance 1/6 per axis)
    est_len = np.sqrt(12 * (w[1] - 1 / 6))
    assert est_len == pytest.approx(length, abs=0.05)
    row, col = v[:, 1]
    est_angle = np.rad2deg(np.arctan2(-row, col)) % 180
    diff = abs((est_angle - angle + 90) % 180 - 90)
    assert diff < 0.5


def test_motion_zero_length_is_identity():
    k = K.motion_kernel(0, 10)
    assert k[k.shape[0] // 2, k.shape[1] // 2] == pytest.approx(1.0)


def test_camera_shake_deterministic_and_varied():
    a = K.camera_shake_kernel(21, seed=7)
    b = K.camera_shake_kernel(21, seed=7)
    c = K.camera_shake_kernel(21, seed=8)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert a.shape == (21, 21)
    centre, _ = _moments(a)
    np.testing.assert_allclose(centre, 0, atol=1e-9)  # bilinear splatting keeps the centroid
    # the trajectory stays off the outer ring and covers more than a few pixels
    assert a[0].sum() == 0 and a[-1].sum() == 0 and a[:, 0].sum() == 0 and a[:, -1].sum() == 0
    assert np.count_nonzero(a) > 10


def test_trajectory_kernel_sub_pixel_position():
    # a point at a quarter pixel right of the origin splits 3:1 between two pixels
    k = K.trajectory_kernel(np.array([[0.0, 0.25]]), 5, center=False)
    assert k[2, 2] == pytest.approx(0.75)
    assert k[2, 3] == pytest.approx(0.25)


def test_trajectory_kernel_joins_sparse_vertices():
    # two vertices 6 px apart are a continuous segment, the same as the linear-motion kernel
    k = K.trajectory_kernel([[0, -3], [0, 3]], 9)
    np.testing.assert_allclose(k, K.motion_kernel(6, 0, size=9), atol=0.01)
    assert np.count_nonzero(k[4] > 0.05) == 7
    # equal time per segment: a 2 px and a 6 px segment carry the same exposure, so the
    # short one is three times as dense (1/4 and 1/12 per pixel)
    k = K.trajectory_kernel([[0, -4], [0, -2], [0, 4]], 11, center=False)
    assert k[5, 2] == pytest.approx(0.25, abs=0.01)
    np.testing.assert_allclose(k[5, 5:9], 1 / 12, atol=0.01)


@pytest.mark.parametrize(
    "call,exc,match",
    [
        (lambda: K.gaussian_kernel(-1), ValueError, "sigma"),
        (lambda: K.gaussian_kernel("2"), TypeError, "sigma"),
        (lambda: K.disk_kernel(0), ValueError, "radius"),
        (lambda: K.motion_kernel(-3, 0), ValueError, "length"),
        (lambda: K.motion_kernel(3, None), TypeError, "angle"),
        (lambda: K.gaussian_kernel(1, size="a"), TypeError, "size"),
        (lambda: K.gaussian_kernel(1, size=0), ValueError, "size"),
        (lambda: K.camera_shake_kernel(2), ValueError, "size"),
        (lambda: K.trajectory_kernel(np.zeros((3, 3)), 5), ValueError, "points"),
    ],
)
def test_input_validation(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_motion_length_convention_of_the_docs():
    # the segment is splatted bilinearly: 2 ceil(L/2) + 1 pixels wide (L + 2 for odd L, with 1/(8L)
    # in each end pixel), variance L^2/12 + 1/6 along the motion
    for length in (1, 2, 7, 7.3, 10):
        k = K.motion_kernel(length, 0)
        row = k[k.shape[0] // 2]
        assert np.count_nonzero(row) == 2 * np.ceil(length / 2) + 1
        _, cov = _moments(k)
        assert cov[1, 1] == pytest.approx(length**2 / 12 + 1 / 6, abs=1e-2)
    row = K.motion_kernel(7, 0)[5]
    assert np.count_nonzero(row) == 9
    assert row[1] == pytest.approx(1 / 56, abs=1e-6) and row[9] == pytest.approx(1 / 56, abs=1e-6)


def test_motion_and_trajectory_refuse_a_size_that_cuts_them():
    with pytest.raises(ValueError, match=r"length 20 px at 0 degrees does not fit in a kernel of size \(5, 5\).*"
                                         r"use size=\(1, 21\) or larger"):
        K.motion_kernel(20, 0, size=5)
    k = K.motion_kernel(20, 0, size=(1, 21))  # the size named fits, and is the default kernel cropped
    np.testing.assert_allclose(k[0], K.motion_kernel(20, 0)[11, 1:-1], atol=1e-12)
    with pytest.raises(ValueError, match=r"use size=\(13, 1\)"):
        K.motion_kernel(12, 90, size=(11, 11))
    with pytest.raises(ValueError, match=r"the trajectory does not fit.*use size=\(1, 31\)"):
        K.trajectory_kernel([[0, 0], [0, 30]], 5)
    with pytest.raises(ValueError, match=r"use size=\(1, 8\)"):  # an even size fits an off-centre path
        K.trajectory_kernel([[0, -4], [0, 3]], 5, center=False)
    assert K.trajectory_kernel([[0, -4], [0, 3]], (1, 8), center=False).shape == (1, 8)


def test_default_sizes_never_cut():
    for length in np.arange(0, 25, 1.3):
        for angle in range(0, 360, 37):
            K.motion_kernel(float(length), angle)
    for seed in range(4):
        for size in (3, 4, 16, (21, 15)):
            K.camera_shake_kernel(size, seed=seed)


def test_tiny_disk_is_the_identity():
    for size in (None, 4, 31):
        k = K.disk_kernel(0.01, size=size)
        assert k[k.shape[0] // 2, k.shape[1] // 2] == 1.0 and k.sum() == 1.0
    np.testing.assert_array_equal(K.disk_kernel(0.01), K.gaussian_kernel(1e-9))


def test_normalise_refuses_a_non_finite_total():
    with pytest.raises(ValueError, match="non-finite total"):
        K._normalise(np.array([[1.0, np.nan]]))


@pytest.mark.parametrize(
    "call,exc,match",
    [
        (lambda: K.anisotropic_gaussian_kernel(2, 1, float("nan")), ValueError, "angle must be a finite"),
        (lambda: K.anisotropic_gaussian_kernel(2, 1, "30"), TypeError, "angle"),
        (lambda: K.motion_kernel(3, float("inf")), ValueError, "angle must be a finite"),
        (lambda: K.random_shake_trajectory(anxiety=float("nan"), seed=0), ValueError, "anxiety"),
        (lambda: K.random_shake_trajectory(anxiety=-1, seed=0), ValueError, "anxiety"),
        (lambda: K.random_shake_trajectory(impulse_prob=float("nan"), seed=0), ValueError, "impulse_prob"),
        (lambda: K.random_shake_trajectory(n_samples=2.9, seed=0), TypeError, "n_samples must be an integer"),
        (lambda: K.random_shake_trajectory(n_samples=1, seed=0), ValueError, "n_samples must be an integer >= 2"),
        (lambda: K.anisotropic_gaussian_kernel(2, 1, 0, supersample=2.7), TypeError, "supersample"),
        (lambda: K.disk_kernel(2, supersample=0), ValueError, "supersample"),
        (lambda: K.camera_shake_kernel(15, seed=0, max_tries=0), ValueError, "max_tries must be an integer >= 1"),
        (lambda: K.camera_shake_kernel(15, seed=0, max_tries=2.5), TypeError, "max_tries"),
        (lambda: K.camera_shake_kernel((15, 4.9), seed=0), TypeError, "size"),
        (lambda: K.gaussian_kernel(1, size=(True, True)), TypeError, "size"),
        (lambda: K.gaussian_kernel(1, size=(5.9, 5.9)), TypeError, "size"),
        (lambda: K.gaussian_kernel(1, size=(5, 5, 5)), TypeError, "size"),
    ],
)
def test_input_validation_is_consistent(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_camera_shake_keeps_the_outer_ring_empty_for_even_sizes_too():
    # the origin sits at n // 2: an even size has one pixel less after it than before it
    for size in (16, 30, 31, (20, 25), (5, 6)):
        for seed in range(12):
            k = K.camera_shake_kernel(size, seed=seed)
            ring = k[0].sum() + k[-1].sum() + k[1:-1, 0].sum() + k[1:-1, -1].sum()
            assert ring == 0.0, (size, seed)
            assert k.sum() == pytest.approx(1.0)
