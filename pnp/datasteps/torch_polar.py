"""The polar rotational blur on torch tensors, for the unrolled conjugate-gradient data step.

:class:`~pnp.operators.polar_rotational.PolarRotationalBlur` factorises the
blur as ``A x = m (S C P x) + (1 - m) x`` (its module docstring): two sparse
interpolation matrices ``P`` and ``S`` and a ring correlation ``C`` done with
one real FFT pair per block of rings. :class:`TorchPolarMatrix` holds the same
factors on a torch device and applies them with ``torch.fft``, so that
:class:`~pnp.datasteps.torch_cg.TorchCGDataStep` runs on it as on a sparse
matrix: on a GPU, and differentiable (the sparse products keep their
transposes, as :class:`~pnp.datasteps.torch_cg.TorchCGDataStep` does for the
arcs' matrix).
"""

from __future__ import annotations

import numpy as np
import torch

from .torch_cg import _SparseMatmul, torch_matrix_pair

__all__ = ["TorchPolarMatrix", "torch_polar_pair"]


class TorchPolarMatrix:
    """``M @ X`` of a polar rotational blur for ``X`` of shape ``(H W, K)`` (torch); ``M.T`` its adjoint.

    Build it with :func:`torch_polar_pair` from the operator's
    ``matrix(shape)``; the forward operator and its adjoint share the stored
    factors.

    Attributes
    ----------
    shape : tuple (H W, H W)
    dtype : torch.dtype
        ``float32`` or ``float64``.
    device : torch.device
    """

    def __init__(self, factors, transposed=False, pair=None):
        self._f = factors
        self._transposed = transposed
        self._pair = pair
        self.shape = factors["shape"]
        self.dtype = factors["dtype"]
        self.device = factors["device"]

    @property
    def T(self):
        """The adjoint (the same stored factors, applied in reverse order)."""
        if self._pair is None:
            self._pair = TorchPolarMatrix(self._f, transposed=not self._transposed, pair=self)
        return self._pair

    def _rings(self, Z, conj):
        """The correlation along every ring (``conj``: its adjoint) of ``Z`` (samples x K)."""
        out = []
        for off, J, N, Hf in self._f["bands"]:
            F = torch.fft.rfft(Z[off:off + J * N].reshape(J, N, -1), dim=1)
            F = F * (Hf.conj() if conj else Hf)[:, None]
            out.append(torch.fft.irfft(F, n=N, dim=1).reshape(J * N, -1))
        return torch.cat(out, dim=0) if out else Z.clone()  # no band: nothing in the frame turns

    def __matmul__(self, X):
        f = self._f
        if X.ndim != 2 or X.shape[0] != self.shape[1]:
            raise ValueError(f"expected a ({self.shape[1]}, K) tensor, got shape {tuple(X.shape)}")
        m = f["m"]  # None when the whole grid rotates
        if not self._transposed:
            out = _SparseMatmul.apply(f["S"], f["St"], self._rings(_SparseMatmul.apply(f["P"], f["Pt"], X), False))
            return out if m is None else m * out + (1 - m) * X
        Xm = X if m is None else m * X
        out = _SparseMatmul.apply(f["Pt"], f["P"], self._rings(_SparseMatmul.apply(f["St"], f["S"], Xm), True))
        return out if m is None else out + (1 - m) * X


def torch_polar_pair(polar_matrix, dtype=torch.float32, device="cpu"):
    """``(M, M^T)`` of a polar operator (``PolarRotationalBlur.matrix(shape)``) on a torch device.

    Parameters
    ----------
    polar_matrix : the operator's ``matrix(shape)``
        Holds ``P``, ``S`` (scipy.sparse), ``bands`` and the region ``m``.
    dtype : torch.dtype
        ``torch.float32`` or ``torch.float64``; the ring transfer functions
        become ``complex64`` or ``complex128``.
    device : str or torch.device

    Returns
    -------
    tuple of two TorchPolarMatrix
        The operator and its adjoint. Memory: the two interpolation matrices
        and their transposes as torch CSR tensors with int64 indices (12 bytes
        per stored entry in float32, 16 in float64, twice): about 1.3 or
        1.7 KB per pixel with the defaults.

    Raises
    ------
    TypeError
        If ``dtype`` is not ``torch.float32`` or ``torch.float64``.
    """
    if dtype not in (torch.float32, torch.float64):
        raise TypeError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
    device = torch.device(device)
    cdtype = torch.complex64 if dtype == torch.float32 else torch.complex128
    P, Pt = torch_matrix_pair(polar_matrix.P, dtype, device)
    S, St = torch_matrix_pair(polar_matrix.S, dtype, device)
    m = np.asarray(polar_matrix.m, dtype=np.float64)
    factors = dict(
        P=P, Pt=Pt, S=S, St=St, shape=tuple(polar_matrix.shape), dtype=dtype, device=P.device,  # "cuda" -> "cuda:0"
        m=None if np.all(m == 1) else torch.as_tensor(m[:, None], dtype=dtype, device=device),
        bands=[(int(off), int(J), int(N), torch.as_tensor(np.asarray(Hf), dtype=cdtype, device=device))
               for off, J, N, Hf in polar_matrix.bands])
    M = TorchPolarMatrix(factors)
    return M, M.T
