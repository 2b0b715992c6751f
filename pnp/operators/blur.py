"""Shift-invariant blur with optional s-fold downsampling: ``y = (x * k)↓s``."""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from ..fft import get_fft
from ..psf import psf2otf, validate_kernel

__all__ = ["Blur", "check_scale"]


def check_scale(scale):
    """Validate a downsampling factor and return it as an int >= 1.

    Parameters
    ----------
    scale : int or float
        An integer, or a float with an integer value (``2.0``).

    Returns
    -------
    int

    Raises
    ------
    TypeError
        If ``scale`` is not a real number (``bool`` and strings included).
    ValueError
        If it is NaN or infinite, not a whole number, or below 1.
    """
    if isinstance(scale, bool) or not isinstance(scale, (int, np.integer, float, np.floating)):
        raise TypeError(f"scale must be a positive integer, got {scale!r}")
    if isinstance(scale, (int, np.integer)):
        value = int(scale)  # not through float: a huge int would overflow it
    else:
        # finiteness first: int(inf) raises OverflowError and int(nan) a ValueError about conversion
        f = float(scale)
        value = int(f) if math.isfinite(f) and f.is_integer() else 0
    if value < 1:
        raise ValueError(f"scale must be an integer >= 1, got {scale!r}")
    return value


class Blur:
    """Circular convolution with a kernel followed by s-fold decimation.

    ``A x = (x * k)[..., ::s, ::s]``: the observation keeps the top-left pixel
    of every ``s x s`` block (USRNet's convention). The kernel origin follows
    :mod:`pnp.psf` (index ``(kh // 2, kw // 2)``), so a centred symmetric
    kernel does not shift the image.

    Parameters
    ----------
    kernel : array_like, shape (kh, kw)
        Blur kernel of any odd or even size; normalised to unit sum. It may not
        be larger than the (high-resolution) image it blurs: :func:`pnp.solve`
        refuses a larger one, as it refuses the same kernel given as an array.
    scale : int
        Downsampling factor ``s >= 1``.
    threads : int, optional
        FFTW threads (default: all cores).

    Notes
    -----
    Arrays are ``(C, H, W)`` (channels first); the same kernel blurs every
    channel. Boundaries are periodic on the grid the operator sees;
    :func:`pnp.solve` pads real images first (see :mod:`pnp.boundary`).
    """

    def __init__(self, kernel, scale=1, threads=None):
        self.kernel = validate_kernel(kernel)
        self.scale = check_scale(scale)
        self.threads = threads
        self._otf_cache = {}

    def __repr__(self):
        return f"Blur(kernel={self.kernel.shape[0]}x{self.kernel.shape[1]}, scale={self.scale})"

    # -- shapes ---------------------------------------------------------------
    def input_shape(self, y_shape):
        """Shape of ``x`` for an observation of shape ``y_shape`` ``(C, h, w)``."""
        *lead, h, w = y_shape
        return (*lead, h * self.scale, w * self.scale)

    def output_shape(self, x_shape):
        """Shape of ``A x`` for ``x`` of shape ``(C, H, W)``; H and W must be multiples of ``scale``."""
        *lead, H, W = x_shape
        s = self.scale
        if H % s or W % s:
            raise ValueError(f"image size {H}x{W} is not a multiple of scale {s}")
        return (*lead, H // s, W // s)

    def otf(self, shape, real=True):
        """Transfer function on a ``(H, W)`` grid (cached per grid)."""
        key = (tuple(shape[-2:]), real)
        if key not in self._otf_cache:
            self._otf_cache[key] = psf2otf(self.kernel, shape[-2:], real=real)
        return self._otf_cache[key]

    # -- operator -------------------------------------------------------------
    def convolve(self, x):
        """Circular convolution ``x * k`` over the last two axes (no decimation)."""
        fft = get_fft(x.shape, real=True, threads=self.threads)
        return fft.inverse(fft.forward(x) * self.otf(x.shape))

    def correlate(self, x):
        """Adjoint of :meth:`convolve`: circular correlation with ``k``."""
        fft = get_fft(x.shape, real=True, threads=self.threads)
        return fft.inverse(fft.forward(x) * np.conj(self.otf(x.shape)))

    def forward(self, x):
        """``A x``: blur then keep every ``scale``-th pixel. ``(C, H, W)`` -> ``(C, H/s, W/s)``."""
        self.output_shape(x.shape)
        s = self.scale
        return self.convolve(np.asarray(x, dtype=np.float64))[..., ::s, ::s]

    def upsample_zero(self, y):
        """``S^T y``: put ``y`` on the fine grid at the kept pixels, zeros elsewhere."""
        s = self.scale
        if s == 1:
            return np.asarray(y, dtype=np.float64)
        up = np.zeros(self.input_shape(y.shape), dtype=np.float64)
        up[..., ::s, ::s] = y
        return up

    def adjoint(self, y):
        """``A^T y``: zero-insertion upsampling then correlation with ``k``."""
        return self.correlate(self.upsample_zero(y))

    def data_step(self, y, observed=None):
        """Proximal data step for observation ``y``.

        Without ``observed``: the closed form (:class:`pnp.datasteps.FFTDataStep`).
        With a boolean ``(h, w)`` mask of the really observed pixels: the exact
        masked step (:class:`pnp.datasteps.masked.MaskedDataStep`, CG
        preconditioned by the closed form).
        """
        from ..datasteps.fft import FFTDataStep

        if observed is None:
            return FFTDataStep(self, y)
        from ..datasteps.masked import MaskedDataStep

        return MaskedDataStep(self, y, observed)

    def torch_data_step(self, y, observed=None):
        """The same data step in torch for a ``(1, C, h, w)`` tensor (see :mod:`pnp.datasteps.torch_fft`).

        With ``observed``, the exact masked step (:class:`~pnp.datasteps.torch_fft.TorchMaskedDataStep`),
        as in :meth:`data_step`.
        """
        import torch

        from ..datasteps.torch_fft import TorchFFTDataStep

        k = torch.as_tensor(self.kernel, dtype=y.dtype, device=y.device)
        if observed is None:
            return TorchFFTDataStep(k, y, scale=self.scale)
        from ..datasteps.torch_fft import TorchMaskedDataStep

        mask = torch.as_tensor(observed, device=y.device)
        return TorchMaskedDataStep(k, y, mask, scale=self.scale)

    def initial(self, y):
        """Starting estimate: ``y`` itself for ``scale == 1``, a cubic upsampling otherwise."""
        y = np.asarray(y, dtype=np.float64)
        s = self.scale
        if s == 1:
            return y.copy()
        # cubic zoom, aligned so that fine pixel s*i sits on coarse pixel i
        out = np.empty(self.input_shape(y.shape))
        H, W = out.shape[-2:]
        rows = np.arange(H) / s
        cols = np.arange(W) / s
        grid = np.meshgrid(rows, cols, indexing="ij")
        for c in range(y.shape[0]):
            out[c] = ndimage.map_coordinates(y[c], grid, order=3, mode="reflect")
        return out

    def boundary_margin(self, shape=None):
        """Pad width (observation pixels) used by :func:`pnp.solve` for non-circular boundaries.

        ``shape`` (the observation's ``(h, w)``) is accepted for the operator protocol; a
        shift-invariant blur's margin depends on the kernel only.
        """
        from ..boundary import default_margin

        return default_margin(self.kernel.shape, self.scale)

    def padded(self, pad):
        """The same operator on a padded grid: a shift-invariant blur is unchanged."""
        return self
