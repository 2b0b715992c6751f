"""RotationalBlur: adjoint, masks, conventions, data steps, synthetic data and pnp.solve."""

import numpy as np
import pytest
from skimage import data, transform

import pnp
from pnp.datasteps.polar import PolarDataStep, PolarGrid
from pnp.operators.rotational import RotationalBlur
from pnp.synthetic import rotating_disk_scene, synthesize_rotational_blur


def _image(n, color=False):
    x = transform.resize(data.astronaut() / 255.0, (n, n), anti_aliasing=True)
    return x if color else x.mean(axis=-1)


def _chw(x):
    return x[None] if x.ndim == 2 else np.moveaxis(x, -1, 0)


def _masked_problem():
    """A 40x40 gray image, a 10-degree rotation about its centre and a 30x30 observed window."""
    x = _chw(_image(40))
    op = RotationalBlur((19.5, 19.5), np.deg2rad(10))
    observed = np.zeros((40, 40), dtype=bool)
    observed[5:35, 5:35] = True
    return x, op, observed


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("center", [(20.3, 17.8), (-25.0, 70.0), (50.0, -10.0)])
def test_adjoint(channels, center):
    rng = np.random.default_rng(1)
    op = RotationalBlur(center, np.deg2rad(17))
    x = rng.random((channels, 40, 52))
    y = rng.random((channels, 40, 52))
    lhs = np.vdot(op.forward(x), y)
    rhs = np.vdot(x, op.adjoint(y))
    assert abs(lhs - rhs) <= 1e-5 * abs(lhs)


def test_adjoint_with_mask_and_weights():
    rng = np.random.default_rng(2)
    mask = rng.random((30, 30))
    op = RotationalBlur((14.5, 14.5), -0.4, weights=[0.2, 1.0, 0.5], mask=mask)
    x, y = rng.random((3, 30, 30)), rng.random((3, 30, 30))
    assert abs(np.vdot(op.forward(x), y) - np.vdot(x, op.adjoint(y))) <= 1e-5 * abs(np.vdot(op.forward(x), y))


def test_rows_sum_to_one_and_constant_is_kept():
    op = RotationalBlur((10.0, 40.0), np.deg2rad(30))
    x = np.full((1, 32, 48), 0.7)
    np.testing.assert_allclose(op.forward(x), x, atol=1e-12)


def test_direction_counter_clockwise_on_screen():
    # a bright point right of the centre, rotated by 90 degrees counter-clockwise on screen, moves up
    n = 41
    x = np.zeros((1, n, n))
    x[0, 20, 30] = 1.0
    op = RotationalBlur((20, 20), np.pi / 2)
    y = op.forward(x)[0]
    assert y[20 - 10, 20] > 0  # the end of the arc: above the centre
    assert y[20 + 10, 20] == 0  # not below
    # the arc passes through the upper-right quadrant
    assert y[20 - 7, 27] > 0 and y[20 + 7, 27] == 0


def test_disk_mask_leaves_background_unchanged():
    rng = np.random.default_rng(3)
    x = rng.random((3, 64, 64))
    op = RotationalBlur.disk((30.0, 33.0), np.deg2rad(20), radius=20)
    y = op.forward(x)
    m = op.region((64, 64))
    assert np.array_equal(y[:, m == 0], x[:, m == 0])
    assert np.abs(y[:, m == 1] - x[:, m == 1]).mean() > 0.05
    # an annulus leaves the hub sharp too
    ann = RotationalBlur((30.0, 33.0), np.deg2rad(20), radius=(8, 20))
    ya = ann.forward(x)
    hub = ann.radii((64, 64)) < 7
    assert np.array_equal(ya[:, hub], x[:, hub])


def test_user_mask():
    rng = np.random.default_rng(4)
    mask = np.zeros((40, 40), dtype=bool)
    mask[5:20, 5:35] = True
    op = RotationalBlur((20, 20), 0.3, mask=mask)
    x = rng.random((1, 40, 40))
    y = op.forward(x)
    assert np.array_equal(y[:, ~mask], x[:, ~mask])
    with pytest.raises(ValueError, match="mask has shape"):
        op.forward(rng.random((1, 30, 40)))


def test_from_rpm():
    op = RotationalBlur.from_rpm(1500, 1 / 500, center=(0, 0))
    assert op.angle == pytest.approx(2 * np.pi * 1500 / 60 / 500)
    assert np.rad2deg(op.angle) == pytest.approx(18.0)
    assert RotationalBlur.from_rpm(-600, 0.001, (0, 0)).angle < 0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(center=(1,), angle=0.1), "center"),
        (dict(center=(1, 2), angle="a"), "angle"),
        (dict(center=(1, 2), angle=7.0), "angle"),
        (dict(center=(1, 2), angle=0.1, weights=[-1, 1]), "weights"),
        (dict(center=(1, 2), angle=0.1, radius=(5, 2)), "radius"),
        (dict(center=(1, 2), angle=0.1, mask=np.full((4, 4), 2.0)), "mask"),
        (dict(center=(1, 2), angle=0.1, mask=np.ones((4, 4)), radius=3), "either mask or radius"),
    ],
)
def test_validation(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        RotationalBlur(**kwargs)


def test_from_rpm_validation():
    with pytest.raises(ValueError, match="exposure_s"):
        RotationalBlur.from_rpm(100, -1, (0, 0))


def test_padded_matches_interior():
    rng = np.random.default_rng(5)
    op = RotationalBlur((25.0, 22.0), np.deg2rad(12))
    x = rng.random((1, 48, 50))
    pad = 10
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad)), mode="symmetric")
    yp = op.padded(pad).forward(xp)[:, pad:-pad, pad:-pad]
    y = op.forward(x)
    inner = op.radii((48, 50)) < 18  # arcs stay far inside the frame
    np.testing.assert_allclose(yp[:, inner], y[:, inner], atol=1e-12)
    assert op.boundary_margin((48, 50)) >= int(op.max_displacement((48, 50)))
    assert RotationalBlur.disk((25, 25), 0.3, radius=15).boundary_margin((51, 51)) == 0


def _normal_residual(op, y, z, v, alpha):
    return op.adjoint(op.forward(z) - y) + alpha * (z - v)


def test_exact_step_optimality():
    x = _chw(_image(48))
    op = RotationalBlur((23.5, 23.5), np.deg2rad(15))
    rng = np.random.default_rng(6)
    y = op.forward(x) + 0.01 * rng.standard_normal(x.shape)
    v = x + 0.05 * rng.standard_normal(x.shape)
    alpha = 0.05
    step = op.data_step(y, method="cg", tol=1e-10, maxiter=2000)
    z = step(v, alpha)
    g = _normal_residual(op, y, z, v, alpha)
    assert np.linalg.norm(g) <= 1e-8 * np.linalg.norm(op.adjoint(y) + alpha * v)


def test_polar_step_agrees_with_cg_and_beats_plain_cg():
    x = _chw(_image(64))
    op = RotationalBlur((31.5, 31.5), np.deg2rad(10))
    rng = np.random.default_rng(7)
    y = op.forward(x) + 0.01 * rng.standard_normal(x.shape)
    v = x + 0.05 * rng.standard_normal(x.shape)
    alpha = 0.1
    z_ref = op.data_step(y, method="cg", tol=1e-10, maxiter=2000)(v, alpha)
    err = {}
    for method in ("polar", "cg"):
        z = op.data_step(y, method=method, tol=1e-12, maxiter=3)(v, alpha)
        err[method] = np.linalg.norm(z - z_ref) / np.linalg.norm(z_ref)
    assert err["polar"] < 1.1e-2  # measured 8.3e-3, plain CG 1.2e-2 (see docs/benchmarks_rotation.md)
    assert err["polar"] < 0.8 * err["cg"]
    # converges to the exact solution with enough iterations
    z = op.data_step(y, tol=1e-7, maxiter=200)(v, alpha)
    assert np.linalg.norm(z - z_ref) / np.linalg.norm(z_ref) < 1e-5


def test_polar_step_observed_mask_refill_variant():
    x, op, observed = _masked_problem()
    y = op.forward(x)
    v = x * 0.9
    alpha = 0.2
    z = op.data_step(y, observed=observed, masked="refill", tol=1e-10, maxiter=500)(v, alpha)
    filled = np.where(observed, y, op.forward(v))
    g = _normal_residual(op, filled, z, v, alpha)
    assert np.linalg.norm(g) <= 1e-7 * np.linalg.norm(op.adjoint(filled) + alpha * v)
    with pytest.raises(ValueError, match="observed"):
        op.data_step(y, observed=np.ones((3, 3), dtype=bool))
    with pytest.raises(ValueError, match="masked"):
        op.data_step(y, observed=observed, masked="partial")


@pytest.mark.parametrize("polar", [True, False])
def test_polar_step_observed_mask_exact_optimality(polar):
    # gradient of ||M(y - A z)||^2 + alpha ||z - v||^2 vanishes at the exact masked step
    x, op, observed = _masked_problem()
    rng = np.random.default_rng(3)
    y = op.forward(x) + 0.01 * rng.standard_normal(x.shape)
    m = observed.astype(float)
    v = x * 0.9
    alpha = 0.05
    step = op.data_step(y, observed=observed, method="polar" if polar else "cg", tol=1e-10, maxiter=500)
    z = step(v, alpha)
    g = op.adjoint(m * (op.forward(z) - y)) + alpha * (z - v)
    assert np.linalg.norm(g) <= 1e-7 * np.linalg.norm(op.adjoint(m * y) + alpha * v)
    # the refill variant stops at a different (majorise-minimise) point
    z_refill = op.data_step(y, observed=observed, masked="refill", tol=1e-10, maxiter=500)(v, alpha)
    assert np.linalg.norm(z_refill - z) > 1e-3 * np.linalg.norm(z)
    with pytest.raises(TypeError, match="method='cg'"):
        op.data_step(y, polar=False)
    # defaults: plain CG to 1e-4 (at most 40 iterations) for the exact masked step and without a
    # mask; 20 iterations of the polar preconditioner when it is asked for
    default = op.data_step(y, observed=observed)
    assert (default.polar, default.tol, default.maxiter) == (False, 1e-4, 40)
    assert op.data_step(y, observed=observed, method="polar").maxiter == 20
    assert op.data_step(y, observed=observed, maxiter=7).maxiter == 7
    plain = op.data_step(y)
    assert (plain.polar, plain.tol, plain.maxiter) == (False, 1e-4, 40)
    assert op.data_step(y, method="polar").polar and op.data_step(y, method="polar").maxiter == 3
    with pytest.raises(ValueError, match="method"):
        op.data_step(y, method="fft")


def test_default_masked_step_is_more_accurate_at_small_alpha():
    # the first DPIR iterations (alpha ~ 6e-4 at noise 2.55/255): the default plain CG to 1e-4 ends
    # closer to the exact masked step than 20 iterations of the polar preconditioner at 1e-3
    x, op, observed = _masked_problem()
    y = op.forward(x) + 0.01 * np.random.default_rng(4).standard_normal(x.shape)
    v, alpha = x * 0.9, 6e-4
    exact = op.data_step(y, observed=observed, method="cg", tol=1e-11, maxiter=5000)(v, alpha)
    err = {m: np.linalg.norm(op.data_step(y, observed=observed, method=m)(v, alpha) - exact)
           for m in (None, "polar")}
    assert err[None] < 0.5 * err["polar"]


def test_synthetic_close_to_but_not_the_operator():
    x = _image(64, color=True)
    angle = np.deg2rad(10)
    syn = synthesize_rotational_blur(x, (31.5, 31.5), angle, noise_level=0.0, seed=0)
    assert syn.blurred.shape == x.shape and syn.sharp.shape == x.shape
    assert pnp.psnr(syn.sharp, x) > 35  # the fine-grid scene integrates back to the image
    op = syn.operator()
    pad = op.boundary_margin((64, 64))
    xp = np.pad(_chw(syn.sharp), ((0, 0), (pad, pad), (pad, pad)), mode="symmetric")
    y_op = np.moveaxis(op.padded(pad).forward(xp)[:, pad:-pad, pad:-pad], 0, -1)
    close = pnp.psnr(syn.blurred, y_op)
    assert 35 < close < 80  # close, not identical (no inverse crime)
    assert pnp.psnr(syn.blurred, syn.sharp) < close - 10


def test_disk_scene_background_static():
    img, center, radius = rotating_disk_scene(64)
    syn = synthesize_rotational_blur(img, center, np.deg2rad(20), noise_level=0.0, radius=radius)
    bg = syn.mask == 0
    assert np.abs(syn.blurred - syn.sharp)[bg].max() < 0.02
    # away from the disk's soft edge the static background is exactly the returned ground truth
    # (the blurred scene and the truth come from one clipped fine-grid scene)
    from scipy import ndimage

    far = ~ndimage.binary_dilation(syn.mask > 0, iterations=2)
    assert np.abs(syn.blurred - syn.sharp)[far].max() < 1e-12
    assert syn.blurred.min() >= 0 and syn.blurred.max() <= 1
    assert np.abs(syn.blurred - syn.sharp)[syn.mask == 1].mean() > 0.02


@pytest.mark.parametrize("solver", ["hqs", "admm"])
def test_solve_with_tv_gains(solver):
    x = _image(64)
    syn = synthesize_rotational_blur(x, (31.5, 31.5), np.deg2rad(10), noise_level=2.55 / 255, seed=0)
    op = RotationalBlur(syn.center, syn.angle)
    x_hat = pnp.solve(syn.blurred, op, prior="tv", solver=solver, noise_level=2.55 / 255, iters=8)
    assert x_hat.shape == x.shape
    gain = pnp.psnr(x_hat, syn.sharp) - pnp.psnr(syn.blurred, syn.sharp)
    assert gain > GAIN_DB[solver]


# measured gains on this case (see docs/benchmarks_rotation.md), thresholds with margin
GAIN_DB = {"hqs": 8.0, "admm": 7.0}  # measured 11.0 and 9.8 dB


def test_pickle_drops_the_cached_matrix():
    import pickle

    op = RotationalBlur((10.0, 12.0), 0.2)
    x = np.random.default_rng(8).random((1, 24, 24))
    y = op.forward(x)
    assert op._cache
    op.padded(3).forward(np.pad(x, ((0, 0), (3, 3), (3, 3))))
    op2 = pickle.loads(pickle.dumps(op))
    assert op2._cache == {} and op2._padded == {}
    np.testing.assert_array_equal(op2.forward(x), y)


def test_repeated_solves_build_the_matrix_once(monkeypatch):
    # pnp.solve works on a padded copy of the operator; that copy (and its matrix) is cached
    calls = []
    build = RotationalBlur._build

    def counting_build(self, shape, *args, **kwargs):
        calls.append(tuple(shape))
        return build(self, shape, *args, **kwargs)

    monkeypatch.setattr(RotationalBlur, "_build", counting_build)
    x = _image(48)
    op = RotationalBlur((23.5, 23.5), np.deg2rad(8))
    y = op.forward(x.transpose(2, 0, 1) if x.ndim == 3 else x[None])
    y = y.transpose(1, 2, 0) if x.ndim == 3 else y[0]
    first = pnp.solve(y, op, prior="tv", noise_level=2.55 / 255, iters=2)
    n_first = len(calls)
    assert n_first >= 1
    second = pnp.solve(y, op, prior="tv", noise_level=2.55 / 255, iters=2)
    assert len(calls) == n_first  # no rebuild
    np.testing.assert_allclose(second, first, rtol=0, atol=1e-12)
    assert op.padded(5) is op.padded(5) and op.padded(0) is op


def test_learned_prior_restores_rotation_with_padding_band():
    # regression: the padding band that solve() adds must not drift (refill step) and ruin
    # learned priors; measured 128x128, 10 deg: attention U-Net 26.86 dB (refill step 23.97), TV 25.65 (24.78)
    from skimage import color, data, transform

    x = color.rgb2gray(transform.resize(data.astronaut() / 255.0, (128, 128), anti_aliasing=True))
    c = (63.5, 63.5)
    y = synthesize_rotational_blur(x, c, np.deg2rad(10), noise_level=2.55 / 255, seed=0).blurred
    op = RotationalBlur(c, np.deg2rad(10))
    out = {p: pnp.psnr(pnp.solve(y, op, prior=p, noise_level=2.55 / 255, iters=8, progress=False), x)
           for p in ("tv", "attention-unet")}
    assert out["attention-unet"] > pnp.psnr(y, x) + 7
    assert out["attention-unet"] > out["tv"] + 0.6


def test_exact_masked_step_products_and_symmetric_preconditioner():
    # the observed-rows matrices give A^T M A for all channels at once; the masked preconditioner is SPD
    x = _chw(_image(40, color=True))
    op = RotationalBlur((19.5, 19.5), np.deg2rad(10))
    observed = np.zeros((40, 40), dtype=bool)
    observed[6:34, 5:35] = True
    step = PolarDataStep(op, op.forward(x), observed=observed)
    rng = np.random.default_rng(5)
    u, w = rng.standard_normal((2,) + x.shape)
    ref = op.adjoint(observed * op.forward(u))
    assert np.allclose(step._normal(u), ref, rtol=0, atol=1e-12 * np.abs(ref).max())
    Pu, Pw = step.precondition(u, 0.01), step.precondition(w, 0.01)
    assert abs(np.vdot(w, Pu) - np.vdot(u, Pw)) < 1e-10 * abs(np.vdot(u, Pu))
    assert np.vdot(u, Pu) > 0 and np.vdot(w, Pw) > 0


def test_polar_grid_r_max_covers_only_the_disk():
    full = PolarGrid((20.0, 18.0), (40, 44), oversample=1.0)
    part = PolarGrid((20.0, 18.0), (40, 44), oversample=1.0, r_max=12.0)
    assert part.radii.size < full.radii.size and part.n_angles <= full.n_angles
    r = RotationalBlur((20.0, 18.0), 0.1).radii((40, 44))
    rows = np.diff(part.to_cartesian.tocsr().indptr).reshape(40, 44)
    assert np.all(rows[r > 12.0] == 0) and np.all(rows[r <= 12.0] > 0)
    # inside the disk the round trip is as good as on the full grid
    img = np.cos(r / 5.0)[None]
    err = np.abs(part.backward(part.forward(img)) - img)[0][r <= 10]
    assert err.max() < 0.05


def test_exact_masked_step_linear_sampling_by_default():
    # the exact masked step samples its polar grid linearly (<= 4 pixels per sample), the unmasked one cubically
    x, op, observed = _masked_problem()
    y = op.forward(x)
    taps = lambda step: np.diff(step.grid.to_polar.tocsr().indptr).max()  # noqa: E731
    linear = PolarDataStep(op, y, observed=observed, tol=1e-10, maxiter=500)
    cubic = PolarDataStep(op, y, observed=observed, order=3, tol=1e-10, maxiter=500)
    assert taps(linear) <= 4 and taps(cubic) > 4
    assert taps(PolarDataStep(op, y)) > 4
    # both orders converge to the same exact masked solution
    v, alpha = 0.9 * x, 0.05
    z1, z3 = linear(v, alpha), cubic(v, alpha)
    assert np.linalg.norm(z1 - z3) <= 1e-6 * np.linalg.norm(z3)
    with pytest.raises(ValueError, match="order must be 1 or 3"):
        PolarDataStep(op, y, order=2)


def test_forward_refuses_an_hwc_image_instead_of_blurring_the_wrong_axes():
    op = RotationalBlur((15.5, 15.5), np.deg2rad(5.0))
    x = np.random.default_rng(0).random((32, 32, 3))
    with pytest.raises(ValueError, match=r"looks like an \(H, W, C\) image"):
        op.forward(x)
    with pytest.raises(ValueError, match=r"looks like an \(H, W, C\) image"):
        op.adjoint(x)
    assert op.forward(x.transpose(2, 0, 1)).shape == (3, 32, 32)  # the (C, H, W) layout works


def test_user_mask_reaching_the_border_solves_on_an_fft_friendly_padded_grid():
    # regression: solve() enlarges the bottom/right pads to an FFT-friendly size; the padded mask
    # must follow (it was padded by the same margin on every side: "mask has shape (84, 84), the
    # image is 90x90")
    x = _image(64)
    x = x.mean(axis=2) if x.ndim == 3 else x
    mask = np.zeros((64, 64))
    mask[:, 20:] = 1.0  # reaches the top, bottom and right borders
    op = RotationalBlur((40.0, 30.0), np.deg2rad(8), mask=mask)
    y = op.forward(x[None])[0]
    out = pnp.solve(y, op, prior="tv", noise_level=1 / 255, iters=3)
    assert out.shape == x.shape
    assert pnp.psnr(out, x) > pnp.psnr(y, x) + 1.0
    pad = (3, 5, 2, 7)
    big = op.padded(pad)
    assert big.mask.shape == (64 + 8, 64 + 9) and big.center == (42.0, 33.0)
    assert op.padded(pad) is big and op.padded((0, 0, 0, 0)) is op
    # the padded operator agrees with the original away from the border (arcs <= 7 px at 8 deg here)
    xp = np.pad(x, ((3, 5), (2, 7)))
    assert op.max_displacement((64, 64)) < 10
    np.testing.assert_allclose(big.forward(xp[None])[0, 13:-15, 12:-17], op.forward(x[None])[0, 10:-10, 10:-10],
                               atol=1e-12)
    with pytest.raises(ValueError, match="top, bottom, left, right"):
        op.padded((1, 2))
    with pytest.raises(ValueError, match=">= 0"):
        op.padded((1, -2, 0, 0))


# -- shutter profile: every sub-angle gets the exposure integrated over its time slice ----------------------------


def test_shutter_weights_integrate_the_profile_over_each_sub_angle():
    from pnp.operators.rotational import rotation_sample_angles

    # two slices [3, 1] read by four sub-angles: each half of a slice gets half of its exposure
    _, w = rotation_sample_angles(1.0, 4, [3.0, 1.0])
    np.testing.assert_allclose(w, [3 / 8, 3 / 8, 1 / 8, 1 / 8], atol=1e-12)
    # a flash in the first of 100 slices, read by 6 sub-angles (a ring of small radius): the first sub-angle
    # covers slices 0..15 and 2/3 of slice 16, so it keeps the flash (the linear interpolation gave it 1/6)
    prof = np.array([100.0] + [1.0] * 99)
    _, w = rotation_sample_angles(1.0, 6, prof)
    np.testing.assert_allclose(w[0], (100 + 15 + 2 / 3) / prof.sum(), atol=1e-12)
    np.testing.assert_allclose(w[1:], (100 / 6) / prof.sum(), atol=1e-12)
    # light only in the last quarter, two sub-angles: all of it in the second
    np.testing.assert_allclose(rotation_sample_angles(1.0, 2, [0, 0, 0, 1.0])[1], [0.0, 1.0], atol=1e-12)
    # at every radius of an operator, the exposure up to the end of each sub-angle's slice is the profile's
    cum = np.concatenate([[0.0], np.cumsum(prof)]) / prof.sum()
    op = RotationalBlur((24, 24), np.deg2rad(20), weights=prof)
    for r in (4, 8, 16, 32):
        th, w = op.sample_angles(r)
        edges = np.arange(1, th.size + 1) / th.size
        np.testing.assert_allclose(np.cumsum(w), np.interp(edges, np.arange(101) / 100, cum), atol=1e-12)


def test_uniform_shutter_profile_matches_no_profile():
    op = RotationalBlur((20.3, 17.8), np.deg2rad(15))
    for K in (1, 3, 7, 100):
        M = RotationalBlur((20.3, 17.8), np.deg2rad(15), weights=np.full(K, 2.5)).matrix((40, 36))
        assert abs(M - op.matrix((40, 36))).max() < 1e-12


def test_synthetic_generator_and_operator_agree_for_a_non_uniform_shutter():
    # 48x48 camera, a flash in the first of 100 time slices plus dim light, 20 degrees; the generator uses
    # >= 64 sub-steps (supersampled, independent interpolation), the operator as few as 1 to 12 sub-angles
    img = transform.resize(data.camera() / 255.0, (48, 48), anti_aliasing=True)
    prof = np.array([100.0] + [1.0] * 99)
    c, a = (24, 24), np.deg2rad(20)
    syn = synthesize_rotational_blur(img, c, a, weights=prof, noise_level=0.0, progress=False)
    inner = (slice(8, 40), slice(8, 40))  # arcs inside the frame (the operator renormalises at the border)

    def rms(op):
        return float(np.sqrt(np.mean((syn.blurred - op.forward(img[None])[0])[inner] ** 2)))

    err, err_uniform = rms(RotationalBlur(c, a, weights=prof)), rms(RotationalBlur(c, a))
    # measured: 0.0107 against 0.068 for a uniform shutter (0.068 before the fix: the profile was ignored)
    assert err < 0.02 and err < 0.3 * err_uniform, (err, err_uniform)


# -- argument checks that name the argument -------------------------------------------------------------------------


@pytest.mark.parametrize("rpm, exposure_s", [(0, 1 / 500), (1200, 0), (0.0, 0.0)])
def test_from_rpm_refuses_no_rotation(rpm, exposure_s):
    with pytest.raises(ValueError, match="rpm=.*exposure_s=.*not a blur"):
        RotationalBlur.from_rpm(rpm, exposure_s, (10, 10))


def test_from_rpm_too_large_names_rpm_and_exposure():
    with pytest.raises(ValueError, match=r"rpm=1200 and exposure_s=1 s .*20 revolutions \(7200 degrees, 125.66"):
        RotationalBlur.from_rpm(1200, 1, (10, 10))  # 1 ms meant
    assert RotationalBlur.from_rpm(-60, 1.0, (10, 10)).angle == pytest.approx(-2 * np.pi)  # one turn: accepted


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(weights="ab"), TypeError, "weights"),
        (dict(weights=[[1.0, 2.0]]), ValueError, "weights"),
        (dict(weights=[1.0, np.nan]), ValueError, "weights"),
        (dict(radius="big"), TypeError, "radius"),
    ],
)
def test_constructor_messages_name_the_argument(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        RotationalBlur((10, 10), 0.2, **kwargs)


def test_torch_data_step_checks_the_observed_shape_up_front():
    torch = pytest.importorskip("torch")
    op = RotationalBlur((24, 24), 0.2)
    y = torch.zeros(1, 1, 48, 48, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"observed must be an \(H, W\) = \(48, 48\).*\(10, 10\)"):
        op.torch_data_step(y, observed=np.ones((10, 10), bool))
    with pytest.raises(ValueError, match="observed"):
        op.torch_data_step(y, observed=np.ones((1, 48, 48), bool))
    from pnp.datasteps.torch_cg import TorchCGDataStep

    with pytest.raises(ValueError, match="observed"):
        TorchCGDataStep(op.matrix((48, 48)), y, observed=torch.ones(48, 47, dtype=torch.bool))
    step = op.torch_data_step(y, observed=np.ones((48, 48), bool))
    assert step(torch.zeros_like(y), 0.1).shape == y.shape


@pytest.mark.parametrize("substeps, exc", [("a", TypeError), (float("nan"), TypeError), (2.7, TypeError),
                                           (True, TypeError), (0, ValueError), (-5, ValueError)])
def test_synthesize_checks_substeps(substeps, exc):
    img = np.random.default_rng(0).random((32, 32))
    with pytest.raises(exc, match="substeps"):
        synthesize_rotational_blur(img, (16, 16), 0.2, substeps=substeps, progress=False)


def test_synthesize_raises_few_substeps_to_64():
    img = np.random.default_rng(0).random((32, 32))
    kw = dict(noise_level=0.0, progress=False)
    a = synthesize_rotational_blur(img, (16, 16), 0.2, substeps=10, **kw).blurred
    b = synthesize_rotational_blur(img, (16, 16), 0.2, substeps=np.int64(64), **kw).blurred
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("center, exc", [((np.nan, 20), ValueError), ((1, 2, 3), ValueError),
                                         ((np.inf, 3), ValueError), ("middle", TypeError)])
def test_rotating_disk_scene_checks_center(center, exc):
    with pytest.raises(exc, match="center"):
        rotating_disk_scene(64, center=center)


def test_circular_boundary_and_unpadded_taper_solve_the_same_problem_alike():
    # regression: with a disk inside the frame no padding is needed (margin 0), so boundary="circular"
    # and the default pose the same problem; without a mask the numpy data step used to default to
    # 3 polar iterations (6.5 dB worse on this scene than the CG of the masked path and the torch path)
    from skimage import data

    x = data.camera()[200:264, 200:264] / 255.0
    op = RotationalBlur.disk((32, 32), 0.3, radius=24)
    assert op.boundary_margin((64, 64)) == 0
    y = pnp.add_noise(op.forward(x[None])[0], 0.01, seed=0)
    kw = dict(prior="tv", noise_level=0.01, iters=4, progress=False)
    taper = pnp.solve(y, op, **kw)
    circular = pnp.solve(y, op, boundary="circular", **kw)
    assert pnp.psnr(circular, x) > pnp.psnr(taper, x) - 0.1
    np.testing.assert_allclose(circular, taper, atol=2e-3)


# -- a centre outside the frame: per-side pads and a visible cost (mixer audit of 2026-11-27) -----------

def _offframe_case(deg=6.0, dist=150.0, n=64, pad=120):
    """A 64x64 camera crop whose rotation centre lies ``dist`` px left of the frame, blurred on a far
    larger scene (content rotates in from outside the frame), noise 0.01 with seed 0."""
    from skimage import data

    big = data.camera()[150:150 + n + 2 * pad, 150:150 + n + 2 * pad] / 255.0
    op_big = RotationalBlur((pad - dist, pad + n / 2), np.deg2rad(deg))
    crop = (slice(pad, pad + n), slice(pad, pad + n))
    y = pnp.add_noise(op_big.forward(big[None])[0][crop], 0.01, seed=0)
    return big[crop], y, RotationalBlur((-dist, n / 2), np.deg2rad(deg))


def test_margins_per_side_follow_the_motion_of_an_offframe_centre():
    # centre 150 px left of a 64x64 frame, 6 degrees: the frame moves ~20 px down, ~3 px sideways
    op = RotationalBlur((-150.0, 32.0), np.deg2rad(6))
    assert op.boundary_margin((64, 64)) == 25  # the old symmetric pad: the largest displacement
    top, bottom, left, right = op.boundary_margins((64, 64))
    assert top == 0 and 20 <= bottom <= 25 and 0 < left <= 8 and 0 < right <= 8
    # the sign of the angle swaps top and bottom
    assert RotationalBlur((-150.0, 32.0), -np.deg2rad(6)).boundary_margins((64, 64)) == (bottom, top, left, right)
    # the pads hold every source of the frame: on the frame, the padded operator is the operator of a
    # much larger scene (no sample dropped, none clamped to the border)
    rng = np.random.default_rng(3)
    big = rng.random((1, 64 + 120, 64 + 120))
    op_big = RotationalBlur((60 - 150.0, 60 + 32.0), np.deg2rad(6))
    xp = big[:, 60 - top:60 + 64 + bottom, 60 - left:60 + 64 + right]
    y_pad = op.padded((top, bottom, left, right)).forward(xp)[:, top:top + 64, left:left + 64]
    np.testing.assert_allclose(y_pad, op_big.forward(big)[:, 60:124, 60:124], atol=1e-12)
    # the audit's case: 128x128 frame, centre 2000 px left, 7.2 degrees; solve pads to an FFT-friendly
    # size. The symmetric pad gave a 675x675 grid (200 M matrix entries, 7 GiB at its peak, 67 s)
    from pnp.boundary import pad_observation

    far = RotationalBlur((-2000.0, 64.0), np.deg2rad(7.2))
    m = far.boundary_margin((128, 128))
    assert pad_observation(np.zeros((1, 128, 128)), m)[0].shape[-2:] == (675, 675)
    shape = pad_observation(np.zeros((1, 128, 128)), far.boundary_margins((128, 128)))[0].shape[-2:]
    assert shape == (400, 160) and shape[0] * shape[1] < 675 * 675 / 7


def test_margins_of_centred_and_disk_rotations():
    # a centred whole-frame rotation: the same pad on every side, within the old symmetric one (the
    # corners' arcs reach about 1/sqrt(2) of their displacement beyond the sides at small angles)
    op = RotationalBlur((31.5, 31.5), np.deg2rad(10))
    margins = op.boundary_margins((64, 64))
    assert len(set(margins)) == 1 and 5 <= margins[0] <= op.boundary_margin((64, 64)) == 10
    # a disk inside the frame needs no pad; one that crosses the right border only a right pad
    assert RotationalBlur.disk((25, 25), 0.3, radius=15).boundary_margins((51, 51)) == (0, 0, 0, 0)
    top, bottom, left, right = RotationalBlur.disk((40, 25), 0.3, radius=15).boundary_margins((51, 51))
    assert top == bottom == left == 0 < right
    assert RotationalBlur((31.5, 31.5), 0.1, mask=np.zeros((64, 64))).boundary_margins() == (0, 0, 0, 0)


def test_pad_observation_takes_four_margins():
    from pnp.boundary import pad_observation

    y = np.random.default_rng(0).random((2, 30, 40))
    for mode in ("taper", "reflect"):
        a, crop_a = pad_observation(y, 7, mode)
        b, crop_b = pad_observation(y, (7, 7, 7, 7), mode)
        np.testing.assert_array_equal(a, b)
        assert crop_a == crop_b == (7, 7)
        c, crop = pad_observation(y, (0, 9, 3, 0), mode)
        assert crop == (0, 3) and c.shape[-2] >= 39 and c.shape[-1] >= 43
        np.testing.assert_allclose(c[:, :30, 3:43], y)
    assert pad_observation(y, (0, 0, 0, 0))[0] is y


def test_adjoint_of_the_padded_operator_with_asymmetric_pads():
    rng = np.random.default_rng(4)
    op = RotationalBlur((-40.0, 12.0), np.deg2rad(9), weights=[1.0, 0.3, 2.0])
    pads = op.boundary_margins((24, 30))
    assert len(set(pads)) > 1
    big = op.padded(pads)
    shape = (3, 24 + pads[0] + pads[1], 30 + pads[2] + pads[3])
    x, y = rng.random(shape), rng.random(shape)
    lhs = np.vdot(big.forward(x), y)
    assert abs(lhs - np.vdot(x, big.adjoint(y))) <= 1e-10 * abs(lhs)


def test_solve_with_an_offframe_centre_pads_little_and_restores_as_before():
    x, y, op = _offframe_case()
    out = pnp.solve(y, op, prior="tv", noise_level=0.01, iters=8, progress=False)
    # solved on a 90x80 grid; the symmetric pad of 25 px on every side made it 120x120
    (padded,) = op._padded.values()
    assert list(padded._cache) == [(90, 80)]
    # measured: blurred 15.03 dB; restored 24.71 dB with the old symmetric pad, 24.80 dB with the per-side pads
    assert pnp.psnr(y, x) < 15.1
    assert pnp.psnr(out, x) > 24.66


def test_a_large_matrix_build_warns_and_shows_progress(monkeypatch):
    import warnings

    import tqdm.auto

    import pnp.operators.rotational as rot

    disable = []  # the disable argument of every progress bar

    class Bar:
        def __init__(self, *args, **kwargs):
            disable.append(kwargs.get("disable", False))

        def update(self, n):
            pass

        def close(self):
            pass

    monkeypatch.setattr(tqdm.auto, "tqdm", Bar)
    op = RotationalBlur((-150.0, 16.0), np.deg2rad(6))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        op.matrix((32, 32))  # small: quiet
    assert disable == [True]
    monkeypatch.setattr(rot, "WARN_BYTES", 1000)
    monkeypatch.setattr(rot, "PROGRESS_ENTRIES", 1000)
    with pytest.warns(UserWarning, match=r"32x33 grid.*million entries.*GiB.*motion_kernel"):
        op.matrix((32, 33))
    assert disable == [True, None]  # None: tqdm shows it on a terminal
    with pytest.warns(UserWarning, match="34x33 grid"):
        op.matrix((34, 33), progress=False)
    assert disable == [True, None, True]  # progress=False: never
    # pnp.solve(progress=False) (and the CLI's --quiet / --no-progress) builds it without its bar
    with pytest.warns(UserWarning, match="million entries"):
        pnp.solve(np.full((20, 20), 0.5), RotationalBlur((10.0, 10.0), 0.3), prior="tv", iters=1,
                  noise_level=0.01, progress=False)
    assert len(disable) > 3 and all(d is True for d in disable[3:])
