"""Differentiable data step for operators given as sparse matrices: unrolled conjugate gradient.

Operators without a closed form in torch (e.g. :class:`pnp.RotationalBlur`,
which assembles its forward model as a :mod:`scipy.sparse` matrix) get a data
step made of a fixed number of conjugate-gradient iterations on the normal
equations, written in torch so that it runs on a GPU and is differentiable.

The inputs are checked as those of :mod:`pnp.datasteps.torch_fft`: once when
a step is built (shapes, dtypes, finite ``y``: one device synchronisation per
step), and at each call the shape of ``v`` and the shape of ``alpha``, with
the values of ``alpha`` when it is a number or a CPU tensor.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from .._checks import check_int
from .torch_fft import _check_alpha, _check_observed, _check_v, _check_y

__all__ = ["TorchCGDataStep", "sparse_to_torch", "torch_matrix_pair"]


def sparse_to_torch(matrix, dtype=torch.float32, device="cpu"):
    """A scipy.sparse matrix as a torch sparse CSR tensor."""
    m = matrix.tocsr()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(
            torch.from_numpy(m.indptr.astype(np.int64)), torch.from_numpy(m.indices.astype(np.int64)),
            torch.from_numpy(m.data).to(dtype), size=m.shape, device=device, check_invariants=False)


def torch_matrix_pair(matrix, dtype=torch.float32, device="cpu"):
    """``(A, A^T)`` of a scipy.sparse matrix as torch sparse CSR tensors on ``device``.

    The transpose is made once here (``A.T.tocsr()`` takes about a second for a
    512x512 rotational blur), so callers that solve repeatedly with one operator
    can keep the pair and pass it to :class:`TorchCGDataStep` as ``prepared``.
    """
    return sparse_to_torch(matrix, dtype, device), sparse_to_torch(matrix.T.tocsr(), dtype, device)


class _SparseMatmul(torch.autograd.Function):
    """``A @ x`` whose backward uses a precomputed ``A^T`` (torch would transpose the CSR
    tensor on every backward call, which dominated training time: 76 s against 4 s forward
    for one batch of four 120x120 rotational blurs)."""

    @staticmethod
    def forward(ctx, A, At, x):
        ctx.At = At
        return A @ x

    @staticmethod
    def backward(ctx, grad):
        return None, None, ctx.At @ grad


class TorchCGDataStep:
    r"""Approximate :math:`\arg\min_z \|y - A z\|^2 + \alpha\|z - v\|^2` by K CG iterations.

    Parameters
    ----------
    matrix : scipy.sparse matrix, shape (h*w, H*W), or a list of B of them
        The forward operator on flattened images (the same for every channel);
        a list gives one operator per sample of the batch.
    y : Tensor, shape (B, C, h, w)
        Observations, float.
    iters : int
        CG iterations per call, started from ``v`` (unrolled: fixed count,
        differentiable with respect to ``v``, ``y`` and ``alpha``), an integer >= 0.
    observed : Tensor of bool, shape (h, w), optional
        Really observed pixels (False in a padding band); see ``masked``. An
        array is converted to a tensor on ``y``'s device.
    masked : {"exact", "refill"}
        With ``observed``: ``"exact"`` (default) iterates on the masked normal
        equations :math:`(A^T M A + \alpha I) z = A^T M y + \alpha v`;
        ``"refill"`` replaces the unobserved data by ``A v`` once per call (as
        :class:`pnp.datasteps.polar.PolarDataStep` does with the same option).
    input_shape : tuple (H, W), optional
        Shape of ``z``; default that of ``y``.
    prepared : tuple of two Tensors, optional
        ``(A, A^T)`` from :func:`torch_matrix_pair`, with ``y``'s dtype and
        device, instead of ``matrix`` (pass ``matrix=None``): skips the
        transposition and the copy to the device. Also an operator pair with
        ``@``, ``shape``, ``dtype`` and ``device``, such as
        :func:`pnp.datasteps.torch_polar.torch_polar_pair` returns.
    check_finite : bool
        Check that ``y`` holds no NaN or infinity (one device synchronisation,
        here, not per call), as :class:`pnp.datasteps.torch_fft.TorchFFTDataStep` does.

    Raises
    ------
    TypeError
        If ``y`` is not a float tensor or ``iters`` not an integer.
    ValueError
        If both or neither of ``matrix`` and ``prepared`` are given, ``y``
        is not 4-D or (``check_finite``) holds NaN or infinity, a list of
        matrices does not match the batch, the operator's shape does not
        match ``y`` and ``input_shape``, ``prepared`` has another dtype or
        device than ``y``, ``iters`` is negative, ``masked`` is unknown, or
        ``observed`` is not of shape ``(h, w)`` (the last two dimensions of ``y``).
    """

    def __init__(self, matrix, y, iters=30, observed=None, input_shape=None, masked="exact", prepared=None,
                 check_finite=True):
        _check_y(y, check_finite)
        if (matrix is None) == (prepared is None):
            raise ValueError("give either matrix or prepared=(A, A^T): exactly one of them")
        self.per_sample = isinstance(matrix, (list, tuple))
        if self.per_sample:
            if len(matrix) != y.shape[0]:
                raise ValueError(f"got {len(matrix)} matrices for a batch of {y.shape[0]}")
            from scipy import sparse

            matrix = sparse.block_diag(matrix, format="csr")  # acts on (B*N, C)
        if prepared is not None:
            A, At = prepared
            if A.device != y.device or A.dtype != y.dtype or At.device != y.device or At.dtype != y.dtype:
                raise ValueError(f"prepared matrices are {A.dtype} on {A.device}; y is {y.dtype} on {y.device}")
            self.A, self.At = A, At
        else:
            self.A, self.At = torch_matrix_pair(matrix, y.dtype, y.device)
        self.y = y
        self.iters = check_int(iters, "iters", 0)
        if masked not in ("exact", "refill"):
            raise ValueError(f"masked must be 'exact' or 'refill', got {masked!r}")
        self.masked = masked
        self.observed = None if observed is None else _check_observed(observed, y)
        self.shape = tuple(y.shape[:2]) + tuple(int(n) for n in (input_shape or y.shape[-2:]))
        # A maps the (H, W) grid to the (h, w) one; a block-diagonal list does so for each sample
        n = y.shape[0] if self.per_sample else 1
        expected = (n * y.shape[-2] * y.shape[-1], n * self.shape[-2] * self.shape[-1])
        if tuple(self.A.shape) != expected:
            what = f"{n} matrices of shape {(expected[0] // n, expected[1] // n)}" if self.per_sample else \
                f"a matrix of shape {expected}"
            raise ValueError(f"the operator has shape {tuple(self.A.shape)}; y of shape {tuple(y.shape)} and "
                             f"input_shape {self.shape[-2:]} need {what} (h*w, H*W)")

    def _apply(self, M, Mt, x, shape):
        """``M`` applied to every channel of ``x`` (B, C, ...); ``Mt`` is its transpose, for the backward.

        ``M`` is a torch sparse matrix, or an operator object with ``@`` on ``(N, K)`` tensors (e.g.
        :class:`pnp.datasteps.torch_polar.TorchPolarMatrix`), which handles its own backward.
        """
        B, C = x.shape[:2]
        if not isinstance(M, torch.Tensor):
            return (M @ x.reshape(B * C, -1).T).T.reshape(B, C, *shape)

        if self.per_sample:  # block-diagonal matrix over the batch: (B*N, C) layout
            flat = x.permute(0, 2, 3, 1).reshape(-1, C)
            return _SparseMatmul.apply(M, Mt, flat).reshape(B, *shape, C).permute(0, 3, 1, 2)
        flat = x.reshape(B * C, -1).T  # (N, B*C)
        return _SparseMatmul.apply(M, Mt, flat).T.reshape(B, C, *shape)

    def forward_model(self, x):
        """``A x`` for a batch (B, C, H, W)."""
        return self._apply(self.A, self.At, x, self.y.shape[-2:])

    def adjoint(self, y):
        """``A^T y``."""
        return self._apply(self.At, self.A, y, self.shape[-2:])

    def __call__(self, v, alpha):
        """Return (approximately) ``argmin_z ||y - A z||^2 + alpha ||z - v||^2`` (masked with ``observed``).

        Parameters
        ----------
        v : Tensor, shape (B, C, H, W)
            Exactly :attr:`shape` (no broadcasting).
        alpha : float or Tensor
            Penalty, > 0 and finite: a number, or a tensor of shape (), (B,)
            or (B, 1, 1, 1) with B = 1 or the batch (values checked for a
            number or a CPU tensor, as by :class:`pnp.datasteps.torch_fft.TorchFFTDataStep`).

        Raises
        ------
        TypeError
            If ``v`` is not a float tensor or ``alpha`` not a number or tensor.
        ValueError
            If ``v`` is not of shape :attr:`shape`, or ``alpha`` has another
            shape or (checked) values that are not > 0 and finite.
        """
        _check_v(v, self.shape)
        alpha = _check_alpha(alpha, v)
        y = self.y
        if self.observed is not None and self.masked == "exact":
            m = self.observed.to(v.dtype)
            b = self.adjoint(m * y) + alpha * v

            def normal(z):
                return self.adjoint(m * self.forward_model(z)) + alpha * z
        else:
            if self.observed is not None:
                y = torch.where(self.observed, y, self.forward_model(v))
            b = self.adjoint(y) + alpha * v

            def normal(z):
                return self.adjoint(self.forward_model(z)) + alpha * z

        dims = tuple(range(1, v.ndim))
        z = v
        r = b - normal(z)
        p = r
        rr = (r * r).sum(dim=dims, keepdim=True)
        tiny = torch.finfo(v.dtype).tiny
        for _ in range(self.iters):
            Ap = normal(p)
            step = rr / ((p * Ap).sum(dim=dims, keepdim=True) + tiny)
            z = z + step * p
            r = r - step * Ap
            rr_new = (r * r).sum(dim=dims, keepdim=True)
            p = r + (rr_new / (rr + tiny)) * p
            rr = rr_new
        return z
