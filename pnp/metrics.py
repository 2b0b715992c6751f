"""Image quality metrics on the 0-1 scale.

Both metrics compare images on the 0-1 intensity scale: uint8 and uint16
images are divided by 255 and 65535 first (so a uint8 image and its float
version give the same score), float images are taken as they are. With
integer images ``data_range`` must therefore stay 1; pass floats on another
scale together with their own ``data_range``.
"""

from __future__ import annotations

import numbers

import numpy as np

from ._layout import native_with_scale

__all__ = ["psnr", "ssim"]

#: Side of the square window scikit-image's SSIM uses (its default ``win_size``).
_SSIM_WINDOW = 7


def _as_float(x, name, data_range):
    """``x`` as float64 on the 0-1 scale (integers rescaled), after checking dtype and ``data_range``."""
    x, scale = native_with_scale(np.asarray(x), name)
    if scale != 1 and data_range != 1:
        raise ValueError(
            f"{name} is a {x.dtype} image, which is compared on the 0-1 scale (divided by "
            f"{scale:.0f}); data_range must be 1 for it, got {data_range}. "
            "Leave data_range out, or pass float images on your own scale."
        )
    return x.astype(np.float64) / scale


def _check_data_range(data_range):
    if isinstance(data_range, bool) or not isinstance(data_range, numbers.Real) or not np.isfinite(data_range) \
            or data_range <= 0:
        raise ValueError(f"data_range must be a positive number (1 for 0-1 images), got {data_range!r}")


def _pair(x, reference, data_range):
    _check_data_range(data_range)
    x, r = _as_float(x, "x", data_range), _as_float(reference, "reference", data_range)
    if x.shape != r.shape:
        raise ValueError(f"shapes differ: {x.shape} vs {r.shape}")
    for name, a in (("x", x), ("reference", r)):
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name} contains NaN or infinite values; a quality score needs finite pixels")
    return x, r


def psnr(x, reference, data_range=1.0, crop=0):
    """Peak signal-to-noise ratio in dB.

    Parameters
    ----------
    x, reference : ndarray
        Images of the same shape: uint8/uint16 (rescaled to 0-1) or float.
    data_range : float
        Peak value: 1 for 0-1 images (the only value allowed when an input is
        uint8/uint16, since those are compared on the 0-1 scale).
    crop : int
        Pixels ignored at each border.

    Raises
    ------
    TypeError
        If an input is not uint8, uint16 or float.
    ValueError
        If the shapes differ, an input holds NaN or infinite values,
        ``data_range`` is not positive or not 1 for an integer input, or
        ``crop`` leaves no pixel or is given for an input of fewer than 2
        dimensions.
    """
    x, r = _pair(x, reference, data_range)
    if isinstance(crop, bool) or not isinstance(crop, numbers.Integral) or crop < 0:
        raise ValueError(f"crop must be an integer >= 0, got {crop!r}")
    if crop:
        if x.ndim < 2:
            raise ValueError(f"crop needs an image of shape (H, W) or (H, W, C), got shape {x.shape}")
        if 2 * crop >= min(x.shape[:2]):
            raise ValueError(f"crop={crop} leaves no pixel of a {x.shape[0]}x{x.shape[1]} image")
        x, r = x[crop:-crop, crop:-crop], r[crop:-crop, crop:-crop]
    mse = np.mean((x - r) ** 2)
    if mse == 0:
        return float("inf")
    return float(10 * np.log10(data_range**2 / mse))


def ssim(x, reference, data_range=1.0):
    """Structural similarity (scikit-image), colour images averaged over channels.

    Parameters
    ----------
    x, reference : ndarray, shape (H, W) or (H, W, C)
        Images of the same shape: uint8/uint16 (rescaled to 0-1) or float.
    data_range : float
        Peak value: 1 for 0-1 images (the only value allowed when an input is
        uint8/uint16).

    Raises
    ------
    TypeError
        If an input is not uint8, uint16 or float.
    ValueError
        If the shapes differ, an input holds NaN or infinite values, the
        image is smaller than 7x7 (the size of the SSIM window), or
        ``data_range`` is not positive or not 1 for an integer input.
    """
    from skimage.metrics import structural_similarity

    x, r = _pair(x, reference, data_range)
    if x.ndim < 2 or min(x.shape[:2]) < _SSIM_WINDOW:
        raise ValueError(f"ssim needs images of at least {_SSIM_WINDOW}x{_SSIM_WINDOW} pixels (its window size), "
                         f"got shape {x.shape}; use psnr for smaller images")
    channel_axis = -1 if x.ndim == 3 else None
    return float(structural_similarity(x, r, data_range=data_range, channel_axis=channel_axis))
