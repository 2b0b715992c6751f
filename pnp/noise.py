"""Wavelet (Donoho-Johnstone) noise-level estimate: :func:`estimate_noise`; :func:`check_noise_level`.

:func:`pnp.solve` with ``noise_level=None`` does not use it: it uses
:class:`pnp.estimate.NoiseEstimator` (PCA of weak-texture patches), which is
less biased on sharp, textured images (see ``docs/benchmarks_blind.md``).
"""

from __future__ import annotations

import numbers

import numpy as np

from ._layout import to_internal

__all__ = ["estimate_noise", "check_noise_level"]


def check_noise_level(noise_level, name="noise_level"):
    """A noise standard deviation on the 0-1 intensity scale, checked; the one check of the library.

    Parameters
    ----------
    noise_level : float
        Standard deviation of Gaussian noise, 0-1 scale (2.55/255 = 0.01).
    name : str
        Argument name used in the messages.

    Returns
    -------
    float

    Raises
    ------
    TypeError
        If it is not a real number (``bool`` included).
    ValueError
        If it is negative, NaN or infinite, or above 1: a value on the 0-255
        scale (``2.55`` for 2.55/255) would otherwise add 255 times the noise.
    """
    if isinstance(noise_level, bool) or not isinstance(noise_level, numbers.Real):
        raise TypeError(f"{name} must be a number on the 0-1 intensity scale, got {noise_level!r}")
    value = float(noise_level)
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0 (0-1 scale), got {noise_level!r}")
    if value > 1:
        raise ValueError(f"{name}={value} is on the wrong scale: give it on the 0-1 intensity scale "
                         "(e.g. 2.55/255 for sigma 2.55 of 8-bit values)")
    return value


def estimate_noise(y):
    """Estimate the standard deviation of additive white Gaussian noise.

    Uses the robust wavelet estimator of Donoho & Johnstone: the median
    absolute deviation of the finest diagonal Daubechies wavelet
    coefficients divided by 0.6745 (``skimage.restoration.estimate_sigma``),
    averaged over channels.

    Parameters
    ----------
    y : ndarray, shape (H, W) or (H, W, C)
        Public image layout: uint8, uint16 or float on the 0-1 scale; ``C``
        is 1 or 3.

    Returns
    -------
    float
        Estimated sigma on the 0-1 scale (for colour images the mean of the
        per-channel estimates).

    Raises
    ------
    TypeError
        If the dtype is not uint8, uint16 or floating point.
    ValueError
        If ``y`` is not ``(H, W)`` or ``(H, W, C)``, or contains NaN or
        infinity.

    Notes
    -----
    Fine texture leaks into the finest wavelet band, so the estimate is biased
    upwards on textured images (by roughly 0.5-1/255 on natural photos at low
    noise); on strongly blurred images it is close to unbiased because blur
    removes that texture.

    Examples
    --------
    >>> import numpy as np, pnp
    >>> from skimage import data
    >>> y = data.camera() / 255.0 + 10 / 255 * np.random.default_rng(0).standard_normal((512, 512))
    >>> 9 < pnp.estimate_noise(y) * 255 < 12
    True
    """
    x, _ = to_internal(y, "y")
    return _estimate_noise_chw(x)


def _estimate_noise_chw(x):
    """:func:`estimate_noise` of an internal ``(C, H, W)`` float image on the 0-1 scale (no validation)."""
    from skimage.restoration import estimate_sigma

    x = np.asarray(x, dtype=np.float64)
    return float(np.mean([estimate_sigma(c) for c in x]))
