"""Making test observations: blur, decimate and add noise to a sharp image."""

from __future__ import annotations

import numpy as np

from ._layout import from_internal, to_internal
from .operators.blur import Blur

__all__ = ["blur", "add_noise"]


def blur(x, kernel, scale=1, boundary="circular"):
    """Blur (and decimate) a public-layout image: ``(x * k)[::s, ::s]``.

    Parameters
    ----------
    x : ndarray, shape (H, W) or (H, W, C)
    kernel : array_like, shape (kh, kw)
    scale : int
    boundary : {"circular", "reflect"}
        ``"circular"`` wraps around (the model the FFT data step inverts);
        ``"reflect"`` mirrors the image at its borders first, which gives the
        realistic, non-periodic borders of a real photograph.

    Returns
    -------
    ndarray, float64, shape ``(H/s, W/s[, C])``

    Raises
    ------
    ValueError
        If ``H`` or ``W`` is not a multiple of ``scale``, or ``boundary`` is
        unknown.
    """
    xi, layout = to_internal(x, "x")
    op = Blur(kernel, scale=scale)
    if boundary == "circular":
        out = op.forward(xi)
    elif boundary == "reflect":
        op.output_shape(xi.shape)  # H, W multiples of scale: checked on the image itself, not the padded one
        p = max(op.kernel.shape)
        p += (-p) % op.scale
        xp = np.pad(xi, ((0, 0), (p, p), (p, p)), mode="symmetric")
        s = op.scale
        out = op.forward(xp)[:, p // s: p // s + xi.shape[1] // s, p // s: p // s + xi.shape[2] // s]
    else:
        raise ValueError(f"boundary must be 'circular' or 'reflect', got {boundary!r}")
    return from_internal(out, layout.__class__(layout.ndim, np.dtype(np.float64), 1.0))


def add_noise(y, sigma, seed=None):
    """Add white Gaussian noise of standard deviation ``sigma`` on the 0-1 intensity scale.

    Parameters
    ----------
    y : ndarray, shape (H, W) or (H, W, C)
        uint8, uint16 or float image. Integer images are first converted to
        the 0-1 scale (divided by 255 or 65535), as :func:`blur` and
        :func:`pnp.solve` do, so ``sigma`` means the same for every dtype.
    sigma : float
        Standard deviation on the 0-1 scale (``2.55 / 255`` is 2.55 grey
        levels of an 8-bit image); >= 0.
    seed : int or numpy.random.Generator, optional
        Seed of the noise.

    Returns
    -------
    ndarray, float64, same shape as ``y``
        On the 0-1 scale and not clipped; convert it back to integers with
        :func:`pnp.io.to_uint` if needed.
    """
    try:
        ok = not isinstance(sigma, (bool, str)) and np.ndim(sigma) == 0 and np.isfinite(float(sigma)) \
            and float(sigma) >= 0
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"sigma must be a finite number >= 0 on the 0-1 scale, got {sigma!r}")
    sigma = float(sigma)
    yi, layout = to_internal(y, "y", allowed_channels=(1, 2, 3, 4))
    y = from_internal(yi, layout.__class__(layout.ndim, np.dtype(np.float64), 1.0))
    rng = np.random.default_rng(seed)
    return y + sigma * rng.standard_normal(y.shape)
