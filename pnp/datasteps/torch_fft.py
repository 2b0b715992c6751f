"""Differentiable closed-form data step in torch (``torch.fft``), batched, CPU or GPU.

The same mathematics as :class:`pnp.datasteps.FFTDataStep` (Wiener-type formula
for ``s = 1``, USRNet's closed form for ``s > 1``), written with torch so that
it runs on a GPU, processes a batch with one kernel per sample, and lets
gradients flow to its inputs (the unfolded network trains through it).

The inputs are checked once, when a step is built (shapes, dtypes, finite
values: one device synchronisation per step); each call checks the shape of
``v`` and the shape of ``alpha``, and the values of ``alpha`` when it is a
number or a CPU tensor (a check of a GPU tensor's values would synchronise the
device at every call of a training loop).
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["TorchFFTDataStep", "TorchMaskedDataStep", "psf2otf_torch"]


def _check_kernel_tensor(kernel, shape, name="kernel"):
    """``kernel`` as a (B, kh, kw) tensor, checked: 2-D or 3-D, non-empty, no larger than the ``(H, W)`` grid."""
    if not torch.is_tensor(kernel):
        raise TypeError(f"{name} must be a torch tensor of shape (B, kh, kw) or (kh, kw), "
                        f"got {type(kernel).__name__}")
    if kernel.ndim not in (2, 3) or 0 in kernel.shape:
        raise ValueError(f"{name} must have shape (B, kh, kw) or (kh, kw), got {tuple(kernel.shape)}")
    if kernel.ndim == 2:
        kernel = kernel[None]
    H, W = (int(n) for n in shape)
    kh, kw = kernel.shape[-2:]
    if kh > H or kw > W:
        raise ValueError(f"{name} of size {kh}x{kw} is larger than the image grid {H}x{W} it blurs: "
                         "use a kernel no larger than the (high-resolution) image")
    return kernel


def psf2otf_torch(kernel, shape):
    """Full 2-D transfer functions of a batch of kernels.

    Parameters
    ----------
    kernel : Tensor, shape (B, kh, kw) or (kh, kw)
        Kernels with origin at ``(kh // 2, kw // 2)`` (the convention of :mod:`pnp.psf`).
    shape : tuple of int
        ``(H, W)`` of the image grid.

    Returns
    -------
    Tensor, complex, shape (B, 1, H, W)

    Raises
    ------
    TypeError
        If ``kernel`` is not a torch tensor.
    ValueError
        If it is not 2-D or 3-D, is empty, or is larger than ``shape`` in either axis.
    """
    kernel = _check_kernel_tensor(kernel, shape)
    B, kh, kw = kernel.shape
    H, W = shape
    padded = kernel.new_zeros((B, H, W))
    padded[:, :kh, :kw] = kernel
    padded = torch.roll(padded, shifts=(-(kh // 2), -(kw // 2)), dims=(1, 2))
    return torch.fft.fft2(padded)[:, None]


def _block_mean(X, s):
    B, C, H, W = X.shape
    return X.reshape(B, C, s, H // s, s, W // s).mean(dim=(2, 4))


def _check_y(y, check_finite=True):
    """Refuse a ``y`` that is not a 4-D float tensor, or (``check_finite``) holds NaN or infinity."""
    if not torch.is_tensor(y):
        raise TypeError(f"y must be a torch tensor of shape (B, C, h, w), got {type(y).__name__}")
    if y.ndim != 4 or 0 in y.shape:
        raise ValueError(f"y must have shape (B, C, h, w), got {tuple(y.shape)}")
    if not y.is_floating_point():
        raise TypeError(f"y must be a float tensor (0-1 scale), got dtype {y.dtype}")
    if check_finite and not bool(torch.isfinite(y).all()):  # one sync
        raise ValueError("y must hold finite values, got NaN or infinity")


def _check_step_inputs(kernel, y, scale, check_finite=True):
    """Validated ``(kernel (B', kh, kw) in y's dtype and device, scale)`` of a step on ``y`` (B, C, h, w)."""
    from ..operators.blur import check_scale

    _check_y(y, check_finite=False)
    s = check_scale(scale)
    B, _, h, w = y.shape
    kernel = _check_kernel_tensor(kernel, (h * s, w * s))
    if not kernel.is_floating_point():
        raise TypeError(f"kernel must be a float tensor, got dtype {kernel.dtype}")
    if kernel.shape[0] not in (1, B):
        raise ValueError(f"kernel must hold one kernel or one per sample (B={B}), got shape {tuple(kernel.shape)}")
    kernel = kernel.to(device=y.device, dtype=y.dtype)
    if check_finite and not bool(torch.isfinite(y).all() & torch.isfinite(kernel).all()):  # one sync
        which = "y" if not bool(torch.isfinite(y).all()) else "kernel"
        raise ValueError(f"{which} must hold finite values, got NaN or infinity")
    return kernel, s


def _check_observed(observed, y):
    """``observed`` as a bool tensor on ``y``'s device, checked to be an ``(h, w)`` mask (array_like accepted)."""
    observed = torch.as_tensor(observed, device=y.device)
    if tuple(observed.shape) != tuple(y.shape[-2:]):
        raise ValueError(f"observed must be an (h, w) = {tuple(y.shape[-2:])} mask like the last two "
                         f"dimensions of y, got shape {tuple(observed.shape)}")
    return observed.to(torch.bool)


def _check_v(v, shape):
    if not torch.is_tensor(v):
        raise TypeError(f"v must be a torch tensor of shape {shape}, got {type(v).__name__}")
    if tuple(v.shape) != shape:
        raise ValueError(f"v has shape {tuple(v.shape)}, expected {shape}")
    if not v.is_floating_point():
        raise TypeError(f"v must be a float tensor, got dtype {v.dtype}")


def _check_alpha(alpha, v):
    """``alpha`` as a tensor broadcastable to (B, 1, 1, 1), checked: batch 1 or B; > 0 and finite.

    The values of a number or a CPU tensor are checked; those of a tensor on
    another device are not (that would synchronise the device at every call).
    """
    B = v.shape[0]
    if isinstance(alpha, np.ndarray):  # e.g. a schedule's array of per-sample penalties (checked on the CPU)
        alpha = torch.as_tensor(alpha)
    if not torch.is_tensor(alpha):
        from .._checks import check_real

        alpha = check_real(alpha, "alpha", 0, low_open=True, expected="> 0 and finite")
        return torch.as_tensor(alpha, dtype=v.dtype, device=v.device)
    shape = tuple(alpha.shape)
    if alpha.ndim == 1 and shape[0] in (1, B):
        alpha = alpha.view(-1, 1, 1, 1)
    elif not (alpha.ndim == 0 or (alpha.ndim == 4 and shape[0] in (1, B) and shape[1:] == (1, 1, 1))):
        raise ValueError(f"alpha must be a number or a tensor of shape (), (n,) or (n, 1, 1, 1) with n = 1 or the "
                         f"batch size {B}, got shape {shape}")
    if not alpha.is_floating_point():
        alpha = alpha.to(v.dtype)
    if alpha.device.type == "cpu":
        a = alpha.detach()
        if not bool((torch.isfinite(a) & (a > 0)).all()):
            raise ValueError(f"alpha must be > 0 and finite, got {a.flatten().tolist()}")
    return alpha.to(v.device)


class TorchFFTDataStep:
    r"""Batched minimiser of :math:`\|y - (z * k)\downarrow_s\|^2 + \alpha \|z - v\|^2`.

    Parameters
    ----------
    kernel : Tensor, shape (B, kh, kw), (1, kh, kw) or (kh, kw)
        One kernel per sample (or one for all), normalised to unit sum, float,
        no larger than the (high-resolution) grid ``(h * s, w * s)``.
    y : Tensor, shape (B, C, h, w)
        Observations, float.
    scale : int
        Downsampling factor ``s`` (top-left pixel of each ``s x s`` block kept),
        an integer >= 1 (:func:`pnp.operators.blur.check_scale`: ``2.7`` is refused).
    observed : Tensor or array of bool, shape (h, w), optional
        Really observed pixels; the others are refilled with the current
        prediction at each call (see :class:`pnp.datasteps.FFTDataStep`). An
        array is converted to a tensor on ``y``'s device.
    check_finite : bool
        Check that ``y`` and ``kernel`` hold no NaN or infinity (one device
        synchronisation, here, not per call). Callers that checked them
        already (:class:`pnp.unfolded.UnfoldedHQS`) pass False.

    Raises
    ------
    TypeError
        If ``y`` or ``kernel`` is not a float tensor, or ``scale`` not a number.
    ValueError
        If ``y`` is not 4-D, ``kernel`` not 2-D or 3-D with a batch of 1 or B,
        larger than the grid, NaN or infinite values (``check_finite``), a
        ``scale`` that is not an integer >= 1, or ``observed`` not of shape (h, w).

    Notes
    -----
    Differentiable with respect to ``y``, ``kernel``, ``v`` and ``alpha``.
    """

    def __init__(self, kernel, y, scale=1, observed=None, check_finite=True):
        kernel, s = _check_step_inputs(kernel, y, scale, check_finite=check_finite)
        self.scale = s
        B, C, h, w = y.shape
        self.y = y
        self.shape = (B, C, h * s, w * s)
        self.K = psf2otf_torch(kernel, self.shape[-2:])
        self.K2 = (self.K.abs() ** 2)
        self.observed = None if observed is None else _check_observed(observed, y)
        self.KFy = self._spectrum_term(y)
        if s > 1:
            self.K2_mean = _block_mean(self.K2.expand(-1, C, -1, -1), s)

    def upsample_zero(self, y):
        s = self.scale
        if s == 1:
            return y
        up = y.new_zeros(y.shape[:2] + (y.shape[2] * s, y.shape[3] * s))
        up[..., ::s, ::s] = y
        return up

    def forward_model(self, x):
        """``(x * k)↓s`` for a batch ``x`` of shape (B, C, H, W)."""
        s = self.scale
        return torch.fft.ifft2(torch.fft.fft2(x) * self.K).real[..., ::s, ::s]

    def _spectrum_term(self, y):
        """``conj(F(k)) F(y)`` for ``s = 1``; ``F(y↑s)⇓s`` for ``s > 1`` (see :class:`pnp.datasteps.FFTDataStep`)."""
        if self.scale == 1:
            return torch.conj(self.K) * torch.fft.fft2(y)
        return _block_mean(torch.fft.fft2(self.upsample_zero(y)), self.scale)

    def __call__(self, v, alpha):
        """Return ``argmin_z ||y - A z||^2 + alpha ||z - v||^2``.

        Parameters
        ----------
        v : Tensor, shape (B, C, H, W)
            Exactly :attr:`shape` (no broadcasting).
        alpha : float or Tensor
            Penalty, > 0 and finite: a number, or a tensor of shape (), (B,)
            or (B, 1, 1, 1) with B = 1 or the batch (values checked for a
            number or a CPU tensor).

        Raises
        ------
        TypeError
            If ``v`` is not a float tensor or ``alpha`` not a number or tensor.
        ValueError
            If ``v`` is not of shape :attr:`shape`, or ``alpha`` has another
            shape or (checked) values that are not > 0 and finite.
        """
        _check_v(v, self.shape)
        return self._solve(v, _check_alpha(alpha, v))

    def _solve(self, v, alpha):
        """:meth:`__call__` without the checks (``alpha`` a tensor broadcastable to (B, 1, 1, 1))."""
        KFy = self.KFy
        if self.observed is not None:
            KFy = self._spectrum_term(torch.where(self.observed, self.y, self.forward_model(v)))
        s = self.scale
        Fv = torch.fft.fft2(v)
        if s == 1:
            return torch.fft.ifft2((KFy + alpha * Fv) / (self.K2 + alpha)).real
        # the Woodbury form without a division by alpha (accurate in float32 at small alpha)
        corr = (KFy - _block_mean(self.K * Fv, s)) / (self.K2_mean + alpha)
        return torch.fft.ifft2(Fv + torch.conj(self.K) * corr.repeat(1, 1, s, s)).real


class TorchMaskedDataStep:
    r"""Torch twin of :class:`pnp.datasteps.masked.MaskedDataStep`.

    Minimises :math:`\|M(y - A z)\|^2 + \alpha\|z - v\|^2` by conjugate gradient
    preconditioned with the closed form :math:`(A^T A + \alpha I)^{-1}`,
    started from the refill (majorise-minimise) step; a fixed maximum of
    iterations, so it stays differentiable. Each sample of the batch has its
    own CG (step sizes, directions and stopping test): a sample's result does
    not depend on the others.

    Parameters
    ----------
    kernel, y, scale, check_finite
        As for :class:`TorchFFTDataStep`.
    observed : Tensor or array of bool, shape (h, w)
        Really observed pixels (an array is converted to a tensor on ``y``'s device).
    maxiter : int
        Most CG iterations per call (an integer >= 0).
    tol : float
        Relative preconditioned-residual tolerance, checked per sample (a
        sample that meets it stops changing; the loop ends when all have).
    compute_dtype : torch.dtype or None
        Float dtype of the conjugate gradient (default ``torch.float64``);
        None: that of ``y``. The result is returned in ``v``'s dtype. At the
        small penalties of DPIR's first iterations (``alpha`` about 1e-5) the
        round-off of a float32 CG made the step differ from the float64
        :class:`~pnp.datasteps.masked.MaskedDataStep` by up to 4e-2 relative
        (1e-5 in float64).

    Raises
    ------
    TypeError, ValueError
        As :class:`TorchFFTDataStep`; also for ``observed`` not of shape
        (h, w), ``maxiter`` not an integer >= 0, ``tol`` not a finite number >= 0
        or ``compute_dtype`` not a real float dtype.
    """

    def __init__(self, kernel, y, observed, scale=1, maxiter=15, tol=1e-3, check_finite=True,
                 compute_dtype=torch.float64):
        from .._checks import check_int, check_real

        kernel, scale = _check_step_inputs(kernel, y, scale, check_finite=check_finite)
        if compute_dtype is not None:
            if not (isinstance(compute_dtype, torch.dtype) and compute_dtype.is_floating_point):  # complex: False
                raise TypeError(f"compute_dtype must be a torch float dtype (e.g. torch.float64) or None, "
                                f"got {compute_dtype!r}")
            y, kernel = y.to(compute_dtype), kernel.to(compute_dtype)
        self.y = y
        self.mask = _check_observed(observed, y).to(y.dtype)
        self._zero = TorchFFTDataStep(kernel, torch.zeros_like(y), scale=scale, check_finite=False)
        self.shape = self._zero.shape
        self.maxiter = check_int(maxiter, "maxiter", 0)
        self.tol = check_real(tol, "tol", 0)
        self._Amy = self.adjoint(self.mask * y)

    def forward_model(self, x):
        return self._zero.forward_model(x)

    def adjoint(self, r):
        up = self._zero.upsample_zero(r)
        return torch.fft.ifft2(torch.conj(self._zero.K) * torch.fft.fft2(up)).real

    def _precond(self, r, alpha):
        return self._zero._solve(r / alpha, alpha)

    def __call__(self, v, alpha):
        """Return (approximately) ``argmin_z ||M (y - A z)||^2 + alpha ||z - v||^2``.

        ``v`` and ``alpha`` as for :meth:`TorchFFTDataStep.__call__` (same checks).
        """
        _check_v(v, self.shape)
        alpha = _check_alpha(alpha, v)
        out_dtype = v.dtype
        v = v.to(self.y.dtype)
        alpha = alpha.to(self.y.dtype) if torch.is_tensor(alpha) else alpha
        fill = self.mask * self.y + (1 - self.mask) * self.forward_model(v)
        z = self._precond(self.adjoint(fill) + alpha * v, alpha)
        b = self._Amy + alpha * v

        def normal(u):
            return self.adjoint(self.mask * self.forward_model(u)) + alpha * u

        # one CG per sample: every scalar is a (B, 1, 1, 1) tensor of per-sample sums
        dims = (1, 2, 3)
        r = b - normal(z)
        d = self._precond(r, alpha)
        p = d
        rd = (r * d).sum(dim=dims, keepdim=True)
        target = (self.tol ** 2) * rd
        for _ in range(self.maxiter):
            active = (rd > target) & (rd > 0)
            if not bool(active.any()):
                break
            Ap = normal(p)
            pAp = (p * Ap).sum(dim=dims, keepdim=True)
            step = torch.where(active, rd / torch.where(active, pAp, torch.ones_like(pAp)), torch.zeros_like(rd))
            z = z + step * p
            r = r - step * Ap
            d = self._precond(r, alpha)
            rd_new = (r * d).sum(dim=dims, keepdim=True)
            beta = torch.where(active, rd_new / torch.where(active, rd, torch.ones_like(rd)), torch.zeros_like(rd))
            p = d + beta * p
            rd = torch.where(active, rd_new, rd)
        return z.to(out_dtype)
