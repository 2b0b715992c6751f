"""Unrolled torch CG data step for sparse-matrix operators."""

import numpy as np
import pytest
import torch
from scipy import sparse

from pnp.datasteps import CGDataStep
from pnp.datasteps.torch_cg import TorchCGDataStep


class SparseBlur:
    """A small random sparse operator with the operator protocol (stand-in for RotationalBlur)."""

    scale = 1

    def __init__(self, shape, seed=0):
        n = shape[0] * shape[1]
        rng = np.random.default_rng(seed)
        R = sparse.random(n, n, density=0.02, random_state=rng).tocsr()
        R = sparse.diags(1.0 / np.maximum(np.asarray(R.sum(axis=1)).ravel(), 1e-12)) @ R
        self.M = (sparse.eye(n) + 0.3 * R).tocsr()  # well conditioned: singular values in ~[0.7, 1.3]
        self.shape = shape

    def matrix(self, shape):
        return self.M

    def forward(self, x):
        return (self.M @ x.reshape(x.shape[0], -1).T).T.reshape(x.shape)

    def adjoint(self, y):
        return (self.M.T @ y.reshape(y.shape[0], -1).T).T.reshape(y.shape)

    def input_shape(self, s):
        return s

    def data_step(self, y):
        return CGDataStep(self, y, tol=1e-12, maxiter=2000)

    def initial(self, y):
        return y.copy()


@pytest.mark.parametrize("channels", [1, 3])
def test_torch_cg_matches_numpy_cg(rng, channels):
    op = SparseBlur((12, 10))
    y = rng.random((channels, 12, 10))
    v = rng.random((channels, 12, 10))
    ref = op.data_step(y)(v, 0.05)
    step = TorchCGDataStep(op.M, torch.tensor(y[None]), iters=200)
    out = step(torch.tensor(v[None]), 0.05)[0].numpy()
    assert np.linalg.norm(out - ref) <= 1e-7 * np.linalg.norm(ref)


def test_differentiable(rng):
    op = SparseBlur((6, 6))
    y = torch.tensor(rng.random((1, 1, 6, 6)))
    v = torch.tensor(rng.random((1, 1, 6, 6)), requires_grad=True)
    out = TorchCGDataStep(op.M, y, iters=5)(v, 0.3)
    out.sum().backward()
    assert torch.isfinite(v.grad).all() and v.grad.abs().sum() > 0


@pytest.mark.parametrize("per_sample", [False, True])
def test_gradients_match_dense_autograd(rng, per_sample):
    """The sparse products' custom backward (precomputed transpose) gives autograd's gradients."""
    ops = [SparseBlur((6, 5), seed=s) for s in (0, 1)]
    y = torch.tensor(rng.random((2, 3, 6, 5)))
    v0 = rng.random((2, 3, 6, 5))
    alpha = torch.tensor([0.2, 0.4], dtype=torch.float64, requires_grad=True)
    v = torch.tensor(v0, requires_grad=True)
    step = TorchCGDataStep([o.M for o in ops] if per_sample else ops[0].M, y, iters=4)
    (step(v, alpha) ** 2).sum().backward()

    # reference: the same unrolled CG with dense matrices and plain autograd
    mats = [torch.tensor((o.M if per_sample else ops[0].M).toarray()) for o in ops]
    vr = torch.tensor(v0, requires_grad=True)
    ar = alpha.detach().clone().requires_grad_(True)
    outs = []
    for b in range(2):
        A, yb, z = mats[b], y[b].reshape(3, -1).T, vr[b].reshape(3, -1).T
        rhs = A.T @ yb + ar[b] * z
        x, r = z, rhs - (A.T @ (A @ z) + ar[b] * z)
        p, rr = r, (r * r).sum()
        for _ in range(4):
            Ap = A.T @ (A @ p) + ar[b] * p
            s = rr / (p * Ap).sum()
            x, r = x + s * p, r - s * Ap
            rr_new = (r * r).sum()
            p, rr = r + rr_new / rr * p, rr_new
        outs.append(x)
    (torch.stack(outs) ** 2).sum().backward()
    torch.testing.assert_close(v.grad, vr.grad)
    torch.testing.assert_close(alpha.grad, ar.grad)


def test_solve_device_with_sparse_operator(rng):
    import pnp

    class Smooth(torch.nn.Module):
        def forward(self, x, sigma):
            return x

    from priors.torch_adapter import TorchDenoiser

    op = SparseBlur((40, 40))
    y = rng.random((40, 40))
    prior = TorchDenoiser(lambda c: Smooth())
    out = pnp.solve(y, op, prior=prior, device="cpu", noise_level=0.01, iters=2)
    ref = pnp.solve(y, op, prior=prior, noise_level=0.01, iters=2)
    assert np.abs(out - ref).max() < 1e-4


def test_one_matrix_per_sample(rng):
    ops = [SparseBlur((8, 9), seed=s) for s in range(3)]
    y = rng.random((3, 2, 8, 9))
    v = rng.random((3, 2, 8, 9))
    step = TorchCGDataStep([op.M for op in ops], torch.tensor(y), iters=150)
    out = step(torch.tensor(v), torch.tensor([0.05, 0.1, 0.2], dtype=torch.float64)).numpy()
    for b, op in enumerate(ops):
        ref = op.data_step(y[b])(v[b], [0.05, 0.1, 0.2][b])
        assert np.linalg.norm(out[b] - ref) <= 1e-7 * np.linalg.norm(ref)


@pytest.mark.parametrize("masked", ["exact", "refill"])
def test_masked_variants_match_numpy_rotational_step(rng, masked):
    from pnp.operators.rotational import RotationalBlur

    op = RotationalBlur((15.5, 14.5), np.deg2rad(12))
    y = rng.random((2, 30, 32))
    v = rng.random((2, 30, 32))
    observed = np.zeros((30, 32), dtype=bool)
    observed[4:26, 4:28] = True
    ref = op.data_step(y, observed=observed, masked=masked, tol=1e-12, maxiter=1000)(v, 0.05)
    step = TorchCGDataStep(op.matrix((30, 32)), torch.tensor(y[None]), iters=400,
                           observed=torch.tensor(observed), masked=masked)
    out = step(torch.tensor(v[None]), 0.05)[0].numpy()
    assert np.linalg.norm(out - ref) <= 1e-6 * np.linalg.norm(ref)
    with pytest.raises(ValueError, match="masked"):
        TorchCGDataStep(op.matrix((30, 32)), torch.tensor(y[None]), masked="nope")


@pytest.fixture
def pair_calls(monkeypatch):
    """Count the conversions of a scipy matrix to a torch (A, A^T) pair."""
    import pnp.datasteps.torch_cg as tcg

    calls = []
    pair = tcg.torch_matrix_pair
    monkeypatch.setattr(tcg, "torch_matrix_pair", lambda *a, **k: calls.append(1) or pair(*a, **k))
    return calls


def test_rotational_torch_data_step_keeps_its_torch_matrices(rng, pair_calls):
    import pickle

    from pnp.operators.rotational import RotationalBlur

    calls = pair_calls
    op = RotationalBlur((15.5, 14.5), np.deg2rad(12))
    y = torch.tensor(rng.random((1, 2, 30, 32)))
    v = torch.tensor(rng.random((1, 2, 30, 32)))
    observed = np.zeros((30, 32), dtype=bool)
    observed[3:27, 3:29] = True
    ref = TorchCGDataStep(op.matrix((30, 32)), y, iters=12, observed=torch.tensor(observed))(v, 0.05)
    calls.clear()
    first = op.torch_data_step(y, observed=observed, iters=12)
    second = op.torch_data_step(y, observed=observed, iters=12)
    assert len(calls) == 1 and second.A is first.A and second.At is first.At  # converted once
    torch.testing.assert_close(second(v, 0.05), ref, rtol=0, atol=0)
    op.torch_data_step(y.float(), iters=2)  # another dtype: a second pair
    assert len(calls) == 2
    assert pickle.loads(pickle.dumps(op))._torch_cache == {}


def test_prepared_matrices_are_checked(rng):
    from pnp.datasteps.torch_cg import torch_matrix_pair

    op = SparseBlur((6, 5))
    y = torch.tensor(rng.random((1, 1, 6, 5)))
    A, At = torch_matrix_pair(op.M, y.dtype, y.device)
    torch.testing.assert_close(At.to_dense(), A.to_dense().T)
    with pytest.raises(ValueError, match="either matrix or prepared"):
        TorchCGDataStep(op.M, y, prepared=(A, At))
    with pytest.raises(ValueError, match="either matrix or prepared"):
        TorchCGDataStep(None, y)
    with pytest.raises(ValueError, match="prepared matrices are torch.float32"):
        TorchCGDataStep(None, y, prepared=torch_matrix_pair(op.M, torch.float32, y.device))


def test_solve_on_torch_reuses_the_rotation_matrices(pair_calls):
    """pnp.solve(device="cpu") with a rotation: the torch loop restores about as well as the numpy
    loop, and a second solve with the same operator converts no matrix again."""
    from skimage import data

    import pnp
    from priors.registry import get_prior

    calls = pair_calls
    x = data.astronaut()[100:164, 180:244] / 255.0
    op = pnp.RotationalBlur((31.5, 31.5), np.deg2rad(8.0))
    y = pnp.add_noise(op.forward(x.transpose(2, 0, 1)).transpose(1, 2, 0), 0.01, seed=0)
    kw = dict(prior=get_prior("attention-unet"), noise_level=0.01, iters=4, progress=False)
    first = pnp.solve(y, op, device="cpu", **kw)
    second = pnp.solve(y, op, device="cpu", **kw)
    assert len(calls) == 1
    np.testing.assert_array_equal(first, second)
    numpy_loop = pnp.solve(y, op, **kw)
    p_torch, p_numpy = pnp.psnr(np.clip(first, 0, 1), x), pnp.psnr(np.clip(numpy_loop, 0, 1), x)
    assert p_torch > pnp.psnr(np.clip(y, 0, 1), x) + 6.0  # measured +9.1 dB
    assert abs(p_torch - p_numpy) < 0.3  # measured 0.10 dB


def test_construction_is_checked_like_the_fft_step(rng):
    """y, iters and the operator's shape are checked when the step is built, with torch_fft's messages."""
    op = SparseBlur((6, 5))
    y = torch.tensor(rng.random((1, 2, 6, 5)))
    with pytest.raises(ValueError, match=r"y must have shape \(B, C, h, w\), got \(2, 6, 5\)"):
        TorchCGDataStep(op.M, y[0])
    with pytest.raises(TypeError, match="y must be a float tensor"):
        TorchCGDataStep(op.M, (y * 255).to(torch.uint8))
    with pytest.raises(TypeError, match="y must be a torch tensor"):
        TorchCGDataStep(op.M, y.numpy())
    with pytest.raises(ValueError, match="y must hold finite values"):
        TorchCGDataStep(op.M, torch.where(y > 0.9, torch.nan, y))
    TorchCGDataStep(op.M, torch.where(y > 0.9, torch.nan, y), check_finite=False)  # the caller checked it
    with pytest.raises(ValueError, match="iters must be an integer >= 0, got -1"):
        TorchCGDataStep(op.M, y, iters=-1)
    with pytest.raises(TypeError, match="iters must be an integer >= 0, got 2.5"):
        TorchCGDataStep(op.M, y, iters=2.5)
    with pytest.raises(ValueError, match=r"the operator has shape \(30, 30\); y of shape \(1, 2, 6, 6\) and "
                                         r"input_shape \(6, 6\) need a matrix of shape \(36, 36\)"):
        TorchCGDataStep(op.M, torch.tensor(rng.random((1, 2, 6, 6))))  # the mat1/mat2 error of a first call
    with pytest.raises(ValueError, match=r"need 2 matrices of shape \(30, 20\)"):
        TorchCGDataStep([op.M, op.M], torch.tensor(rng.random((2, 1, 6, 5))), input_shape=(5, 4))
    with pytest.raises(ValueError, match=r"observed must be an \(h, w\) = \(6, 5\) mask"):
        TorchCGDataStep(op.M, y, observed=np.ones((5, 6), bool))
    # a mask as an array (or a 0/1 tensor) is taken as the bool mask
    mask = rng.random((6, 5)) > 0.3
    v = torch.tensor(rng.random((1, 2, 6, 5)))
    ref = TorchCGDataStep(op.M, y, iters=5, observed=torch.tensor(mask), masked="refill")(v, 0.1)
    for m in (mask, torch.tensor(mask, dtype=torch.float64)):
        torch.testing.assert_close(TorchCGDataStep(op.M, y, iters=5, observed=m, masked="refill")(v, 0.1), ref)
