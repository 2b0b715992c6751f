"""Fast data step for rotational blur: the closed form in polar coordinates as a CG preconditioner.

In polar coordinates ``(r, phi)`` around the rotation centre, a rotational blur
is a 1-D circular convolution along ``phi`` with the same kernel at every
radius (the shutter profile over the rotation angle). A DFT along ``phi``
diagonalises it, so the normal equations ``(A^T A + alpha I) z = b`` have a
closed-form solution there: ``Z(r, f) = B(r, f) / (|H(f)|^2 + alpha)``.

Moving between the Cartesian pixel grid and a polar grid needs two
interpolations, which are not exact inverses. :class:`PolarDataStep` therefore
uses the polar solve as a preconditioner of a (flexible) conjugate gradient on
the exact Cartesian normal equations of the sparse operator: the first
iteration is already the polar closed form applied to the residual. Rings that
the frame border cuts are not circular convolutions; pixels outside the largest
complete ring get a diagonal step instead.

The map back from the polar grid is an interpolation, not the adjoint of the
sampling, so the preconditioner is not symmetric and the flexible CG does not
converge to tight tolerances at small penalties: on a 128x128 colour image at 10
degrees, 200 iterations stop at a relative error of 0.18 at ``alpha = 6e-4``
and 0.13 at ``1e-3`` (plain CG: 1.9e-4 and 1.1e-4), 6.9e-4 at ``1e-2`` (plain
CG 2.2e-5; the audit of 2026-11-27). It is a few-iteration step, not a solver.

Measured (``docs/benchmarks_rotation.md``): with the default 3 iterations the
step was about twice as accurate as 3 iterations of plain CG for the same time
at ``alpha = 0.05`` (512x512 colour, 10 degrees: relative error 6.9e-3 vs
1.2e-2 against CG to 1e-10, 6.0 s vs 6.7 s per call on a loaded 2-core machine,
where CG to 1e-6 took 53 s), and a TV restoration with it gains 1.1 dB over one
with 3 plain CG iterations at equal time. At DPIR's first penalties (``alpha``
about 1e-3) 3 polar iterations are no better than 3 plain ones (relative errors
0.27 / 0.20 against 0.23 / 0.20 at ``6e-4`` / ``1e-3`` on the 128x128 image), and
:func:`pnp.solve` uses plain CG to ``tol=1e-4`` by default
(:meth:`pnp.RotationalBlur.data_step`).
"""

from __future__ import annotations

import numpy as np
from scipy import fft as sfft
from scipy import sparse

__all__ = ["PolarDataStep", "PolarGrid"]


class PolarGrid:
    """A polar sampling grid around a centre that covers a ``(H, W)`` Cartesian grid.

    Parameters
    ----------
    center : (float, float)
        ``(x, y)`` in pixels.
    shape : tuple (H, W)
    oversample : float
        Samples per pixel along the radius, and along the arc at the largest radius.
    order : {1, 3}
        Interpolation order of both resamplings (bilinear or Keys bicubic).
    r_max : float, optional
        Cover only the pixels within ``r_max`` pixels of the centre (the grid
        stops a few samples beyond it; :meth:`backward` returns 0 farther
        out). Default: the whole frame.

    Attributes
    ----------
    radii : ndarray, shape (J,)
    n_angles : int
        ``M`` angles ``2 pi m / M`` (``phi = atan2(y - cy, x - cx)``, image ``y`` down).
    to_polar : scipy.sparse.csc_matrix, shape (J M, H W)
        Cartesian -> polar interpolation (outside the frame: the nearest border pixel,
        the edge extension of the operator).
    inside : ndarray of bool, shape (J, M)
        Polar samples that fall inside the frame.
    to_cartesian : scipy.sparse.csc_matrix, shape (H W, J M)
        Polar -> Cartesian interpolation (periodic in ``phi``).

    Notes
    -----
    Both matrices are stored column-compressed: their products with the
    ``(H W, C)`` blocks of :meth:`forward` and :meth:`backward` were 15 % and
    35 % faster than with row-compressed storage on the 2-core test machine
    (648x648 grid, 3 channels).
    """

    def __init__(self, center, shape, oversample=1.5, order=3, r_max=None):
        from ..operators.rotational import interpolation_matrix

        H, W = (int(s) for s in shape)
        cx, cy = center
        yy, xx = np.mgrid[0:H, 0:W].astype(np.float64)
        r = np.hypot(xx - cx, yy - cy)
        dr = 1.0 / oversample
        pad = 2 * dr if order == 1 else 3 * dr
        r_lo = max(0.0, float(r.min()) - pad)
        covered = np.ones((H, W), dtype=bool) if r_max is None else r <= r_max
        r_hi = float(r[covered].max() if covered.any() else r.min()) + pad
        J = int(np.ceil((r_hi - r_lo) / dr)) + 1
        M = sfft.next_fast_len(int(np.ceil(2 * np.pi * r_hi * oversample)), real=True)
        M = max(M, 8)
        self.shape = (H, W)
        self.radii = r_lo + dr * np.arange(J)
        self.n_angles = M
        self.dr = dr
        phi = 2 * np.pi * np.arange(M) / M
        px = cx + self.radii[:, None] * np.cos(phi)[None, :]
        py = cy + self.radii[:, None] * np.sin(phi)[None, :]
        P = interpolation_matrix(py.ravel(), px.ravel(), (H, W), order=order)
        self.inside = ((px >= -0.5) & (px <= W - 0.5) & (py >= -0.5) & (py <= H - 0.5))
        self.to_polar = P.tocsc()
        jj = np.where(covered, (r - r_lo) / dr, 0.0)
        mm = np.mod(np.arctan2(yy - cy, xx - cx), 2 * np.pi) * M / (2 * np.pi)
        Q = interpolation_matrix(jj.ravel(), mm.ravel(), (J, M), order=order, wrap_cols=True)
        if not covered.all():
            Q = sparse.diags(covered.ravel().astype(np.float64)) @ Q
            Q.eliminate_zeros()
        self.to_cartesian = Q.tocsc()

    def forward(self, x):
        """``(C, H, W)`` -> ``(C, J, M)`` polar samples."""
        return _per_channel(self.to_polar, x, (self.radii.size, self.n_angles))

    def backward(self, p):
        """``(C, J, M)`` polar samples -> ``(C, H, W)``."""
        return _per_channel(self.to_cartesian, p, self.shape)


def _per_channel(mat, x, shape):
    """``mat`` applied to every channel of ``x`` (``(C, ...)``) in one product; result ``(C, *shape)``."""
    C = x.shape[0]
    return np.ascontiguousarray((mat @ x.reshape(C, -1).T).T).reshape(C, *shape)


def angular_transfer(operator, n_angles):
    """``|H(f)|^2`` of the rotational blur on a grid of ``n_angles`` angles, shape ``(n_angles // 2 + 1,)``.

    The shutter profile is sampled finely (at least 4 samples per angular grid
    step) and spread onto the grid by linear interpolation
    (:func:`pnp.operators.polar_rotational.ring_kernel`).
    """
    from ..operators.polar_rotational import ring_kernel

    Hf = sfft.rfft(ring_kernel(operator.angle, operator.weights, 2 * np.pi / n_angles, n_angles, per_step=4))
    return (Hf * np.conj(Hf)).real


class PolarDataStep:
    r"""Solve :math:`(A^T A + \alpha I) z = A^T y + \alpha v` for a :class:`~pnp.operators.rotational.RotationalBlur`.

    Flexible preconditioned conjugate gradient on the exact (sparse) normal
    equations, started at ``v``, with the polar closed form
    :math:`\mathcal P^{-1} \mathcal F^{-1} (|H|^2 m + 1 - m + \alpha)^{-1} \mathcal F \mathcal P`
    as preconditioner (``m`` the fraction of each ring that rotates).

    Parameters
    ----------
    operator : RotationalBlur
    y : ndarray, shape (C, H, W)
        The observation.
    observed : ndarray of bool, shape (H, W), optional
        Pixels that were really observed (False in a padding band). The data
        term is then :math:`\|M(y - A z)\|^2` with the 0/1 mask ``M``; see
        ``masked``.
    tol : float
        Stop when the residual norm is below ``tol`` times the norm of the
        right-hand side.
    maxiter : int, optional
        Most preconditioned iterations per call (each costs one product with
        ``A^T A`` and one polar solve); see Notes. Default: 3 without
        ``observed`` (or with ``masked="refill"``), 20 for the exact masked
        step.
    masked : {"exact", "refill"}
        With ``observed``: ``"exact"`` (default) runs the conjugate gradient
        on the masked normal equations :math:`(A^T M A + \alpha I) z = A^T M y
        + \alpha v`; ``"refill"`` replaces the unobserved data by the
        prediction ``A v`` once per call (one majorise-minimise step: cheaper,
        but the poorly determined padding band then drifts far outside the
        image range at small ``alpha``, which hurts learned priors: 23.9 dB
        instead of 27.0 dB with the attention U-Net on a 160x160 rotation of
        10 degrees, see ``docs/benchmarks_rotation.md``).
    oversample : float
        Polar grid density (see :class:`PolarGrid`).
    order : {1, 3}, optional
        Interpolation order between the grids. Default: 1 for the exact
        masked step (its conjugate gradient corrects the interpolation error;
        the linear sampling has 4 times fewer non-zeros than the cubic one,
        needs as many iterations and restored slightly better, see
        ``docs/benchmarks_rotation.md``), 3 otherwise (the unmasked step stops
        after 3 iterations and profits from the more accurate interpolation).
    polar : bool
        Use the polar preconditioner (default); False runs plain conjugate
        gradient (the generic fallback, with the same handling of ``observed``).

    Attributes
    ----------
    last_iterations : int
    last_residual : float
        Relative residual of the latest call.

    Notes
    -----
    The exact masked step only needs the rows of ``A`` of observed pixels:
    it keeps them as a separate matrix (column-compressed, as is its
    transpose: both products were about twice as fast as with the
    row-compressed operator on the 2-core test machine) and its polar grid
    only covers the inscribed disk where the preconditioner uses it.

    With ``maxiter=1`` the step is ``v + s`` where ``s`` is the polar solve
    applied to the residual ``A^T (y - A v)`` and scaled by an exact line
    search, i.e. the pure polar closed form with one exact correction factor.
    """

    def __init__(self, operator, y, observed=None, tol=1e-3, maxiter=None, oversample=1.0, order=None, polar=True,
                 masked="exact"):
        y = np.asarray(y, dtype=np.float64)
        if y.ndim != 3:
            raise ValueError(f"y must have shape (C, H, W), got {y.shape}")
        self.operator = operator
        self.y = y
        self.shape = y.shape
        self.observed = None if observed is None else np.asarray(observed, dtype=bool)
        if self.observed is not None:
            if self.observed.shape != y.shape[-2:]:
                raise ValueError(f"observed mask has shape {self.observed.shape}, expected {y.shape[-2:]}")
            if self.observed.all():
                self.observed = None
        if masked not in ("exact", "refill"):
            raise ValueError(f"masked must be 'exact' or 'refill', got {masked!r}")
        self.masked = masked
        # 0/1 mask of the exact masked normal equations; None: unmasked (or the refill variant)
        self._mask = self.observed.astype(np.float64) if self.observed is not None and masked == "exact" else None
        self.tol = float(tol)
        self.maxiter = (20 if self._mask is not None else 3) if maxiter is None else int(maxiter)
        if self.maxiter < 1:
            raise ValueError(f"maxiter must be >= 1, got {maxiter}")
        self.polar = bool(polar)
        if order is None:
            order = 1 if self._mask is not None else 3
        if order not in (1, 3):
            raise ValueError(f"order must be 1 or 3, got {order!r}")
        self._fwd = None
        if self._mask is not None:
            M = operator.matrix(y.shape[-2:])
            if sparse.issparse(M):
                # M A keeps only the observed rows: store them (and the transpose) column-compressed
                rows = M[np.flatnonzero(self.observed.ravel())]
                self._fwd = rows.tocsc()
                self._adj = rows.T  # column-compressed view of the transposed rows
            # else an operator without a sparse matrix (PolarRotationalBlur): forward, mask, adjoint
            self._Aty = operator.adjoint(self._mask * y)
        elif self.observed is None:
            self._Aty = operator.adjoint(y)
        else:
            self._Aty = None  # refill: depends on v, computed per call
        self.last_iterations = 0
        self.last_residual = np.nan
        if not self.polar:
            return
        self._interior = _interior(operator, y.shape[-2:])[None]
        # the polar solve is only used inside the inscribed disk: no grid beyond it
        self.grid = PolarGrid(operator.center, y.shape[-2:], oversample=oversample, order=order,
                              r_max=_inscribed_radius(operator, y.shape[-2:]))
        self._H2 = angular_transfer(operator, self.grid.n_angles)[None, :]
        # exact masked step: back to the pixels with the adjoint of the sampling, weighted by the area of
        # each polar sample, which keeps the preconditioner symmetric positive definite (see precondition)
        g = self.grid
        self._area = (g.dr * g.radii * 2 * np.pi / g.n_angles)[:, None]
        self._splat = g.to_polar.T.tocsc() if self._mask is not None else None
        ring = self.grid.forward(operator.region(y.shape[-2:])[None])[0]
        self._ring = np.clip(ring.mean(axis=1), 0, 1)[:, None]
        self._colsum = self._normal(np.ones((1,) + y.shape[-2:]))

    def _normal(self, u):
        """``A^T M A u`` for the exact masked step, ``A^T A u`` otherwise."""
        if self._mask is None:
            return self.operator.normal(u)
        if self._fwd is None:
            return self.operator.adjoint(self._mask * self.operator.forward(u))
        C = u.shape[0]
        out = self._adj @ (self._fwd @ u.reshape(C, -1).T)  # one product per matrix for all channels
        return np.ascontiguousarray(out.T).reshape(u.shape)

    def precondition(self, r, alpha):
        """Approximate ``(A^T A + alpha I)^{-1} r``.

        The closed form on the polar grid for the pixels whose arcs stay inside
        the frame; for the others, a division by ``(A^T A 1 + alpha)`` (exact for
        locally constant images).

        For the exact masked step the polar solve is :math:`S^T D F^{-1} G F
        S` with ``S`` the sampling onto the polar grid, ``D`` the area of each
        polar sample and ``G`` the inverse transfer function: symmetric
        positive definite, so the conjugate gradient converges steadily.
        Interpolating back with :meth:`PolarGrid.backward` instead (not
        ``S^T D``; the unmasked step does this, it is slightly more accurate
        in its 3 iterations) made the masked step stall at small ``alpha`` on
        the padded grid: relative residual 2e-3 and 10-14 % error after 20-40
        iterations at alpha 6e-4 (512x512 colour, 10 degrees).
        """
        w = self._interior
        g = self.grid
        p = g.forward(r if self._splat is None else w * r)
        G = 1.0 / (self._ring * self._H2 + (1.0 - self._ring) + alpha)
        P = sfft.rfft(p, axis=-1, workers=-1)
        p = sfft.irfft(P * G[None], n=g.n_angles, axis=-1, workers=-1)
        if self._splat is None:
            back = g.backward(p)
        else:
            back = _per_channel(self._splat, p * self._area[None], r.shape[1:])
        return w * back + (1 - w) * r / (self._colsum + alpha)

    def __call__(self, v, alpha):
        """Return ``argmin_z ||y - A z||^2 + alpha ||z - v||^2`` (approximately, see ``tol``)."""
        alpha = float(alpha)
        if not alpha > 0:
            raise ValueError(f"alpha must be > 0, got {alpha}")
        v = np.asarray(v, dtype=np.float64)
        if v.shape != self.shape:
            raise ValueError(f"v has shape {v.shape}, expected {self.shape}")
        A = self.operator
        if self._mask is not None:
            Aty = self._Aty
            r = Aty - self._normal(v)  # b - (A^T M A + alpha) v
        else:
            Av = A.forward(v)
            Aty = self._Aty if self.observed is None else A.adjoint(np.where(self.observed, self.y, Av))
            r = Aty - A.adjoint(Av)  # b - (A^T A + alpha) v
        b = Aty + alpha * v
        bnorm = float(np.linalg.norm(b)) or 1.0
        z = v.copy()
        rnorm = float(np.linalg.norm(r))
        it = 0
        p = r_old = None
        rs = 0.0
        while it < self.maxiter and rnorm > self.tol * bnorm:
            s_new = self.precondition(r, alpha) if self.polar else r
            if p is None:
                p = s_new
            else:
                # flexible (Polak-Ribiere) update: robust to a slightly non-symmetric preconditioner
                beta = float(np.vdot(s_new, r - r_old)) / rs
                p = s_new + max(beta, 0.0) * p
            rs = float(np.vdot(s_new, r))
            q = self._normal(p) + alpha * p
            step = float(np.vdot(p, r)) / float(np.vdot(p, q))
            z += step * p
            r_old = r
            r = r - step * q
            rnorm = float(np.linalg.norm(r))
            it += 1
        self.last_iterations = it
        self.last_residual = rnorm / bnorm
        return z


def _interior(operator, shape):
    """Pixels whose whole circle around the centre lies inside a ``(H, W)`` frame (as floats 0/1).

    Only there is the blur a circular convolution along the angle; rings cut
    by the frame border are not.
    """
    return (operator.radii(shape) <= _inscribed_radius(operator, shape)).astype(np.float64)


def _inscribed_radius(operator, shape):
    """Radius (pixels) of the largest circle around the centre whose pixels all lie inside the frame."""
    H, W = shape
    cx, cy = operator.center
    return min(cx, cy, W - 1 - cx, H - 1 - cy) - 1.0
