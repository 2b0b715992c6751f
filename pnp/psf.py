"""Blur kernels (point-spread functions): validation, centring and transfer functions.

Centring convention
-------------------
A kernel ``k`` of shape ``(kh, kw)`` has its origin at index
``(kh // 2, kw // 2)``: the blurred image is

.. math:: (x * k)[i, j] = \\sum_{a, b} k[a, b]\\, x[i - a + kh//2,\\; j - b + kw//2].

For odd sizes the origin is the middle pixel, so a kernel that is symmetric
about its middle does not shift the image. For even sizes it is the pixel
just below and right of the geometric centre. A kernel with a single 1 at its
origin is the identity.
"""

from __future__ import annotations

import numpy as np

__all__ = ["validate_kernel", "kernel_origin", "psf2otf", "MAX_NEGATIVE_MASS"]

#: Largest total of negative kernel entries :func:`validate_kernel` accepts, as a fraction of the positive total.
MAX_NEGATIVE_MASS = 0.05



def real_2d(kernel, name="kernel"):
    """``kernel`` as a float64 array after checking that it is a non-empty, finite, real 2-D array.

    Raises
    ------
    TypeError
        If the dtype is not integer or float (complex, boolean, timedelta, object).
    ValueError
        If it is not 2-D, is empty, or holds NaN or infinite values.
    """
    k = np.asarray(kernel)
    if k.dtype.kind not in "iuf":  # timedelta64 counts as an integer for np.issubdtype, so test the kind
        what = "complex" if k.dtype.kind == "c" else "non-numeric"
        raise TypeError(f"{name} must be a real numeric 2-D array (integer or float), got {what} dtype {k.dtype}")
    k = k.astype(np.float64)
    if k.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (kh, kw), got shape {k.shape}")
    if k.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.all(np.isfinite(k)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return k


def validate_kernel(kernel, image_shape=None, name="kernel"):
    """Check a blur kernel and return it normalised to unit sum.

    Parameters
    ----------
    kernel : array_like, shape (kh, kw)
        Non-negative weights are expected; small negative entries (from
        estimation) are allowed as long as the sum is positive and their
        total magnitude is at most :data:`MAX_NEGATIVE_MASS` (5 %) of the
        total of the positive entries. Larger negative lobes (a sharpening or
        derivative filter, not a blur) are refused.
    image_shape : tuple of int, optional
        ``(H, W)`` of the image the kernel will blur; the kernel may not be
        larger than the image in either axis.
    name : str
        Argument name used in error messages.

    Returns
    -------
    ndarray, shape (kh, kw), float64
        ``kernel / kernel.sum()``.

    Raises
    ------
    TypeError
        If the kernel is not a real numeric array (integer or float dtype;
        complex, boolean, timedelta and object arrays are refused).
    ValueError
        If the kernel is not 2-D, is empty, holds NaN or infinite values, has
        a sum <= 0 or too much negative mass, or is larger than the image.

    Notes
    -----
    The kernel is divided by its largest magnitude before it is summed, so
    huge entries (``1e308``) do not overflow the sum and tiny ones do not
    underflow it.
    """
    k = real_2d(kernel, name)
    if not np.any(k):
        raise ValueError(f"{name} is all zeros; a blur kernel must have a positive sum")
    peak = np.abs(k).max()
    k = k / peak  # entries in [-1, 1]: the sum cannot overflow
    total = k.sum()
    if total <= 0:
        raise ValueError(f"{name} has sum {total * peak:.3g} <= 0; a blur kernel must have a positive sum")
    negative, positive = -k[k < 0].sum(), k[k > 0].sum()
    if negative > MAX_NEGATIVE_MASS * positive:
        raise ValueError(
            f"{name} has negative entries of total {negative * peak:.3g}, {100 * negative / positive:.0f} % of its "
            f"positive mass {positive * peak:.3g} (at most {100 * MAX_NEGATIVE_MASS:.0f} % is tolerated); a blur kernel "
            "has non-negative weights, this looks like a sharpening or derivative filter"
        )
    if image_shape is not None:
        H, W = image_shape[-2:]
        if k.shape[0] > H or k.shape[1] > W:
            raise ValueError(
                f"{name} of shape {k.shape} is larger than the image ({H}x{W}); "
                "crop the kernel or use a larger image"
            )
    return k / total


def kernel_origin(shape):
    """Index of a kernel's origin, ``(kh // 2, kw // 2)`` (see module notes)."""
    return (shape[0] // 2, shape[1] // 2)


def psf2otf(kernel, shape, real=True):
    """Transfer function of circular convolution with ``kernel`` on a ``shape`` grid.

    Parameters
    ----------
    kernel : ndarray, shape (kh, kw)
        The kernel, origin at :func:`kernel_origin`.
    shape : tuple of int
        ``(H, W)`` of the image grid.
    real : bool
        Return the half spectrum ``(H, W // 2 + 1)`` of ``numpy.fft.rfft2``
        (True) or the full spectrum ``(H, W)`` (False).

    Returns
    -------
    ndarray, complex128

    Raises
    ------
    ValueError
        If ``kernel`` is not 2-D or is larger than the grid.
    """
    kernel = np.asarray(kernel, dtype=np.float64)
    if kernel.ndim != 2:
        raise ValueError(f"kernel must be a 2-D array, got shape {kernel.shape}")
    H, W = shape[-2:]
    kh, kw = kernel.shape
    if kh > H or kw > W:
        raise ValueError(f"kernel of shape {kernel.shape} is larger than the image grid {H}x{W}")
    padded = np.zeros((H, W), dtype=np.float64)
    padded[:kh, :kw] = kernel
    oy, ox = kernel_origin(kernel.shape)
    padded = np.roll(padded, (-oy, -ox), axis=(0, 1))
    return np.fft.rfft2(padded) if real else np.fft.fft2(padded)
