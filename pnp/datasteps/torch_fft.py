"""Differentiable closed-form data step in torch (``torch.fft``), batched, CPU or GPU.

The same mathematics as :class:`pnp.datasteps.FFTDataStep` (Wiener-type formula
for ``s = 1``, USRNet's closed form for ``s > 1``), written with torch so that
it runs on a GPU, processes a batch with one kernel per sample, and lets
gradients flow to its inputs (the unfolded network trains through it).
"""

from __future__ import annotations

import torch

__all__ = ["TorchFFTDataStep", "TorchMaskedDataStep", "psf2otf_torch"]


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
    """
    if kernel.ndim == 2:
        kernel = kernel[None]
    B, kh, kw = kernel.shape
    H, W = shape
    padded = kernel.new_zeros((B, H, W))
    padded[:, :kh, :kw] = kernel
    padded = torch.roll(padded, shifts=(-(kh // 2), -(kw // 2)), dims=(1, 2))
    return torch.fft.fft2(padded)[:, None]


def _block_mean(X, s):
    B, C, H, W = X.shape
    return X.reshape(B, C, s, H // s, s, W // s).mean(dim=(2, 4))


class TorchFFTDataStep:
    r"""Batched minimiser of :math:`\|y - (z * k)\downarrow_s\|^2 + \alpha \|z - v\|^2`.

    Parameters
    ----------
    kernel : Tensor, shape (B, kh, kw) or (kh, kw)
        One kernel per sample (or one for all), normalised to unit sum.
    y : Tensor, shape (B, C, h, w)
        Observations.
    scale : int
        Downsampling factor ``s`` (top-left pixel of each ``s x s`` block kept).
    observed : Tensor of bool, shape (h, w), optional
        Really observed pixels; the others are refilled with the current
        prediction at each call (see :class:`pnp.datasteps.FFTDataStep`).

    Notes
    -----
    Differentiable with respect to ``y``, ``kernel``, ``v`` and ``alpha``.
    """

    def __init__(self, kernel, y, scale=1, observed=None):
        self.scale = s = int(scale)
        B, C, h, w = y.shape
        self.y = y
        self.shape = (B, C, h * s, w * s)
        self.K = psf2otf_torch(kernel.to(y.dtype), self.shape[-2:]).to(y.device)
        self.K2 = (self.K.abs() ** 2)
        self.observed = observed
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

        ``alpha`` is a float or a tensor broadcastable to (B, 1, 1, 1).
        """
        if not torch.is_tensor(alpha):
            alpha = torch.as_tensor(float(alpha), dtype=v.dtype, device=v.device)
        if alpha.ndim == 1:
            alpha = alpha.view(-1, 1, 1, 1)
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
    iterations, so it stays differentiable.

    Parameters
    ----------
    kernel, y, scale
        As for :class:`TorchFFTDataStep`.
    observed : Tensor of bool, shape (h, w)
        Really observed pixels.
    maxiter : int
    tol : float
        Relative preconditioned-residual tolerance (checked on the whole batch).
    """

    def __init__(self, kernel, y, observed, scale=1, maxiter=15, tol=1e-3):
        self.y = y
        self.mask = observed.to(y.dtype)
        self._zero = TorchFFTDataStep(kernel, torch.zeros_like(y), scale=scale)
        self.shape = self._zero.shape
        self.maxiter, self.tol = int(maxiter), float(tol)
        self._Amy = self.adjoint(self.mask * y)

    def forward_model(self, x):
        return self._zero.forward_model(x)

    def adjoint(self, r):
        up = self._zero.upsample_zero(r)
        return torch.fft.ifft2(torch.conj(self._zero.K) * torch.fft.fft2(up)).real

    def _precond(self, r, alpha):
        return self._zero(r / alpha, alpha)

    def __call__(self, v, alpha):
        if not torch.is_tensor(alpha):
            alpha = torch.as_tensor(float(alpha), dtype=v.dtype, device=v.device)
        if alpha.ndim == 1:
            alpha = alpha.view(-1, 1, 1, 1)
        fill = self.mask * self.y + (1 - self.mask) * self.forward_model(v)
        z = self._precond(self.adjoint(fill) + alpha * v, alpha)
        b = self._Amy + alpha * v

        def normal(u):
            return self.adjoint(self.mask * self.forward_model(u)) + alpha * u

        r = b - normal(z)
        d = self._precond(r, alpha)
        p = d
        rd = (r * d).sum()
        rd0 = rd
        for _ in range(self.maxiter):
            if not (rd > (self.tol ** 2) * rd0 and rd > 0):
                break
            Ap = normal(p)
            step = rd / (p * Ap).sum()
            z = z + step * p
            r = r - step * Ap
            d = self._precond(r, alpha)
            rd_new = (r * d).sum()
            p = d + (rd_new / rd) * p
            rd = rd_new
        return z
