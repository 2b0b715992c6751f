"""Boundary handling: real photographs are not periodic, FFT data steps assume they are.

:func:`pad_observation` extends the observation to a larger grid on which a
periodic model is harmless, :func:`pnp.solve` restores on that grid and crops
back. In the padded modes the pad is marked as unobserved: the data step solves the
masked data term (:class:`pnp.datasteps.MaskedDataStep` for kernels; the
one-pass refill of :class:`pnp.datasteps.FFTDataStep` with
:class:`pnp.ClosedFormBlur`), so the padding only serves as a starting guess
and the restoration is driven by the real pixels alone.

Modes:

``"circular"``
    No padding: the image is treated as one period. Exact for synthetic
    circular blur, rings at the borders of real images.
``"reflect"``
    Mirror padding. Continuous at the image border, but the padded grid still
    wraps around with a jump between opposite pads.
``"taper"`` (default)
    Mirror padding whose outer part fades into a strongly smoothed periodic
    version of itself, so the padded image is continuous across the wrap as
    well (an edge-taper). This removes border ringing on real photos.
"""

from __future__ import annotations

import numpy as np
from scipy import fft as sfft
from scipy import ndimage

__all__ = ["BOUNDARIES", "pad_observation", "fft_friendly_pads", "default_margin", "wrap_ratio"]

BOUNDARIES = ("taper", "reflect", "circular")


def default_margin(kernel_shape, scale=1):
    """Pad width (observation pixels) for a kernel of ``kernel_shape`` on the fine grid.

    The kernel's full extent, at least 8 pixels.
    """
    return max(8, int(np.ceil(max(kernel_shape) / scale)))


def fft_friendly_pads(shape, pads):
    """The pads ``(top, bottom, left, right)`` that :func:`pad_observation` applies to an ``(h, w)`` frame.

    ``pads`` (non-negative ints) with the bottom and right pads enlarged so that
    the padded size is FFT friendly (:func:`scipy.fft.next_fast_len`).
    """
    h, w = (int(n) for n in shape[-2:])
    top, bottom, left, right = (int(q) for q in pads)
    H2 = sfft.next_fast_len(h + top + bottom, real=True)
    W2 = sfft.next_fast_len(w + left + right, real=True)
    return top, H2 - h - top, left, W2 - w - left


def pad_observation(y, margin, mode="taper"):
    """Pad an observation ``(C, h, w)`` for periodic deconvolution.

    Parameters
    ----------
    y : ndarray, shape (C, h, w)
    margin : int or tuple of 4 int
        Minimum pad on every side, or on each side ``(top, bottom, left,
        right)``, in observation pixels. The bottom/right pads are enlarged so
        that the padded size is FFT friendly.
    mode : {"taper", "reflect", "circular"}

    Returns
    -------
    yp : ndarray, shape (C, h2, w2)
        The padded observation.
    crop : tuple of (int, int)
        ``(top, left)`` offset of the original image inside ``yp``.
    """
    if mode not in BOUNDARIES:
        raise ValueError(f"boundary must be one of {BOUNDARIES}, got {mode!r}")
    if np.ndim(margin) == 0:
        top = bottom = left = right = int(margin)
    else:
        top, bottom, left, right = (int(m) for m in margin)
    if mode == "circular" or max(top, bottom, left, right) <= 0:
        return y, (0, 0)
    top, bottom, left, right = (max(m, 0) for m in (top, bottom, left, right))
    _, bottom2, _, right2 = fft_friendly_pads(y.shape[-2:], (top, bottom, left, right))
    C, h, w = y.shape
    yp = np.pad(y, ((0, 0), (top, bottom2), (left, right2)), mode="symmetric")
    H2, W2 = yp.shape[-2:]
    if mode == "reflect":
        return yp, (top, left)
    # Fade the pads into a smooth periodic image (Gaussian blur with wrap-around).
    smooth = ndimage.gaussian_filter(yp, sigma=(0, max(top, bottom) / 2, max(left, right) / 2), mode="wrap")
    wy = _fade(H2, h, top)
    wx = _fade(W2, w, left)
    weight = wy[:, None] * wx[None, :]
    return weight * yp + (1 - weight) * smooth, (top, left)


def _fade(n_total, n_inner, margin):
    """Weights along one axis: 1 on the image, a cosine fall-off to 0 across each pad.

    The image occupies ``margin .. margin + n_inner - 1``; the pad before it
    has ``margin`` entries, the pad after it ``n_total - n_inner - margin``
    (longer when the padded size was rounded up to an FFT-friendly length).
    Each pad fades over its own length, so the weight is 0 at both the first
    and the last entry: there the padded image equals the smooth periodic
    image, and it is continuous across the wrap-around.
    """
    idx = np.arange(n_total)
    after_len = n_total - n_inner - margin
    t = np.zeros(n_total)
    before = idx < margin
    after = idx >= margin + n_inner
    t[before] = (margin - idx[before]) / max(margin, 1)
    t[after] = (idx[after] - (margin + n_inner - 1)) / max(after_len, 1)
    return 0.5 * (1 + np.cos(np.pi * np.clip(t, 0, 1)))


def wrap_ratio(y, band=3):
    """How continuous an observation is across its wrap-around, per axis; the larger of the two.

    The mean absolute difference between the first and last row (column)
    divided by the mean absolute difference between neighbouring rows
    (columns) within ``band`` pixels of the two borders. About 1 for an image
    blurred with circular convolution (its borders join smoothly), much larger
    for a real photograph, whose opposite borders show unrelated content.

    Parameters
    ----------
    y : ndarray, shape (C, h, w)

    Returns
    -------
    float
        ``inf`` along an axis whose border bands are flat (no variation to
        compare with, so no evidence of periodicity: a flat image is not
        reported as periodic).
    """
    ratios = []
    for axis in (1, 2):
        a = np.moveaxis(y, axis, 0)
        wrap = np.abs(a[0] - a[-1]).mean()
        local = 0.5 * (np.abs(np.diff(a[: band + 1], axis=0)).mean() + np.abs(np.diff(a[-band - 1:], axis=0)).mean())
        ratios.append(np.inf if local <= 1e-12 else wrap / local)
    return float(max(ratios))
