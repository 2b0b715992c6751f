"""Generic data step: conjugate gradient on the normal equations of any linear operator."""

from __future__ import annotations

import numpy as np

def _dot(a, b):
    """Inner product of two real arrays (without BLAS, whose threads stall on a busy machine)."""
    return float(np.multiply(a, b).sum())


__all__ = ["CGDataStep"]


class CGDataStep:
    r"""Solve :math:`(A^T A + \alpha I) z = A^T y + \alpha v` by conjugate gradient.

    Works for any operator that provides ``forward`` and ``adjoint`` (for
    example operators with no closed form, such as rotational blur).

    Parameters
    ----------
    operator : object
        Has ``forward(x)`` and ``adjoint(y)`` on ``(C, H, W)`` arrays.
    y : ndarray, shape (C, h, w)
        The observation.
    tol : float
        Stop when the residual norm falls below ``tol`` times the norm of
        the right-hand side.
    maxiter : int
        Maximum CG iterations per call.

    Attributes
    ----------
    last_iterations : int
        CG iterations used by the latest call.
    last_residual : float
        Relative residual reached by the latest call.
    """

    def __init__(self, operator, y, tol=1e-6, maxiter=100):
        self.operator = operator
        self.y = np.asarray(y, dtype=np.float64)
        self.tol = float(tol)
        self.maxiter = int(maxiter)
        self._Aty = operator.adjoint(self.y)
        self.shape = self._Aty.shape
        self.last_iterations = 0
        self.last_residual = np.nan

    def __call__(self, v, alpha, x0=None):
        """Return ``argmin_z ||y - A z||^2 + alpha ||z - v||^2`` (warm start at ``v``)."""
        alpha = float(alpha)
        if not alpha > 0:
            raise ValueError(f"alpha must be > 0, got {alpha}")
        v = np.asarray(v, dtype=np.float64)
        A = self.operator
        b = self._Aty + alpha * v

        def normal(z):
            return A.adjoint(A.forward(z)) + alpha * z

        z = v.copy() if x0 is None else np.array(x0, dtype=np.float64)
        r = b - normal(z)
        p = r.copy()
        rr = _dot(r, r)
        bnorm = float(np.linalg.norm(b)) or 1.0
        it = 0
        while it < self.maxiter and np.sqrt(rr) > self.tol * bnorm:
            Ap = normal(p)
            step = rr / _dot(p, Ap)
            z += step * p
            r -= step * Ap
            rr_new = _dot(r, r)
            p = r + (rr_new / rr) * p
            rr = rr_new
            it += 1
        self.last_iterations = it
        self.last_residual = np.sqrt(rr) / bnorm
        return z
