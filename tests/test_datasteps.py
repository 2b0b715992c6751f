"""Data steps: optimality of the closed form, agreement with CG, plan reuse."""

import numpy as np
import pytest

from pnp import fft as pfft
from pnp.datasteps import CGDataStep
from pnp.operators import Blur


def _gradient(op, y, z, v, alpha):
    return op.adjoint(op.forward(z) - y) + alpha * (z - v)


@pytest.mark.parametrize("scale", [1, 2, 3, 4])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("alpha", [1e-3, 0.3])
def test_fft_step_is_optimal(rng, scale, channels, alpha):
    op = Blur(rng.random((7, 8)), scale=scale)
    y = rng.random((channels, 11, 13))
    v = rng.random(op.input_shape(y.shape))
    z = op.data_step(y)(v, alpha)
    g = _gradient(op, y, z, v, alpha)
    rel = np.linalg.norm(g) / np.linalg.norm(op.adjoint(y) + alpha * v)
    assert rel < 1e-6


@pytest.mark.parametrize("scale", [1, 2, 3])
@pytest.mark.parametrize("channels", [1, 3])
def test_fft_step_agrees_with_cg(rng, scale, channels):
    op = Blur(rng.random((5, 5)), scale=scale)
    y = rng.random((channels, 10, 12))
    v = rng.random(op.input_shape(y.shape))
    z_fft = op.data_step(y)(v, 0.05)
    cg = CGDataStep(op, y, tol=1e-12, maxiter=2000)
    z_cg = cg(v, 0.05)
    assert cg.last_residual < 1e-11
    assert np.linalg.norm(z_fft - z_cg) <= 1e-6 * np.linalg.norm(z_cg)


def test_masked_step_is_optimal(rng):
    """The masked step (preconditioned CG) satisfies the optimality condition of the masked objective."""
    from pnp.datasteps.masked import MaskedDataStep

    op = Blur(rng.random((5, 5)))
    y = rng.random((2, 16, 16))
    mask = np.zeros((16, 16), bool)
    mask[3:13, 2:14] = True
    v = rng.random(y.shape)
    step = MaskedDataStep(op, y, mask, maxiter=200, tol=1e-10)
    z = step(v, 0.1)
    g = op.adjoint(mask * (op.forward(z) - y)) + 0.1 * (z - v)
    assert np.linalg.norm(g) < 1e-7 * np.linalg.norm(op.adjoint(mask * y) + 0.1 * v)
    assert step.last_iterations < 60  # the closed-form preconditioner makes it converge fast


def test_masked_step_decreases_masked_objective(rng):
    op = Blur(rng.random((5, 5)))
    y = rng.random((1, 16, 16))
    mask = rng.random((16, 16)) > 0.3
    v = rng.random(y.shape)
    alpha = 0.1

    def objective(z):
        r = (op.forward(z) - y)[:, mask]
        return np.sum(r**2) + alpha * np.sum((z - v) ** 2)

    z = op.data_step(y, observed=mask)(v, alpha)
    assert objective(z) <= objective(v)


def test_fft_matches_numpy(rng):
    x = rng.random((3, 20, 18))
    plan = pfft.get_fft(x.shape, real=True)
    np.testing.assert_allclose(plan.forward(x), np.fft.rfft2(x), atol=1e-10)
    np.testing.assert_allclose(plan.inverse(plan.forward(x)), x, atol=1e-12)
    cplan = pfft.get_fft(x.shape, real=False)
    np.testing.assert_allclose(cplan.forward(x.astype(complex)), np.fft.fft2(x), atol=1e-10)


def test_plans_are_built_once_and_outputs_are_copies(rng):
    pfft.clear_cache()
    x = rng.random((1, 24, 24))
    a = pfft.get_fft(x.shape)
    b = pfft.get_fft(x.shape)
    assert a is b
    f1 = a.forward(x)
    f2 = a.forward(2 * x)
    np.testing.assert_allclose(f2, 2 * f1)  # f1 not overwritten by the second call
    op = Blur(np.ones((3, 3)))
    step = op.data_step(x)
    step(x, 0.1)
    step(x, 0.2)
    assert pfft.get_fft(x.shape) is a


def test_alpha_must_be_positive(rng):
    op = Blur(np.ones((3, 3)))
    step = op.data_step(rng.random((1, 8, 8)))
    with pytest.raises(ValueError, match="alpha"):
        step(np.zeros((1, 8, 8)), 0.0)
