"""Noise-level estimation for :func:`pnp.solve` when ``noise_level=None``."""

from __future__ import annotations

import numpy as np

__all__ = ["estimate_noise"]


def estimate_noise(y):
    """Estimate the standard deviation of additive white Gaussian noise.

    Uses the robust wavelet estimator of Donoho & Johnstone: the median
    absolute deviation of the finest diagonal Daubechies wavelet
    coefficients divided by 0.6745 (``skimage.restoration.estimate_sigma``),
    averaged over channels.

    Parameters
    ----------
    y : ndarray, shape (C, H, W)
        Image on the 0-1 scale (internal layout).

    Returns
    -------
    float
        Estimated sigma on the 0-1 scale.

    Notes
    -----
    Fine texture leaks into the finest wavelet band, so the estimate is biased
    upwards on textured images (by roughly 0.5-1/255 on natural photos at low
    noise); on strongly blurred images it is close to unbiased because blur
    removes that texture.
    """
    from skimage.restoration import estimate_sigma

    y = np.asarray(y, dtype=np.float64)
    return float(np.mean([estimate_sigma(c) for c in y]))
