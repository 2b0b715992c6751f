"""Image quality metrics on the 0-1 scale."""

from __future__ import annotations

import numpy as np

__all__ = ["psnr", "ssim"]


def _as_float(x):
    x = np.asarray(x)
    if x.dtype == np.uint8:
        return x / 255.0
    if x.dtype == np.uint16:
        return x / 65535.0
    return x.astype(np.float64)


def psnr(x, reference, data_range=1.0, crop=0):
    """Peak signal-to-noise ratio in dB.

    Parameters
    ----------
    x, reference : ndarray
        Images of the same shape; uint8/uint16 are rescaled to 0-1.
    data_range : float
        Peak value (1 for 0-1 images).
    crop : int
        Pixels ignored at each border.
    """
    x, r = _as_float(x), _as_float(reference)
    if x.shape != r.shape:
        raise ValueError(f"shapes differ: {x.shape} vs {r.shape}")
    if crop:
        x, r = x[crop:-crop, crop:-crop], r[crop:-crop, crop:-crop]
    mse = np.mean((x - r) ** 2)
    if mse == 0:
        return float("inf")
    return float(10 * np.log10(data_range**2 / mse))


def ssim(x, reference, data_range=1.0):
    """Structural similarity (scikit-image), colour images averaged over channels."""
    from skimage.metrics import structural_similarity

    x, r = _as_float(x), _as_float(reference)
    channel_axis = -1 if x.ndim == 3 else None
    return float(structural_similarity(x, r, data_range=data_range, channel_axis=channel_axis))
