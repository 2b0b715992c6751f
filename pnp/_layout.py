"""Conversion between the public image layouts and the internal one.

The public API accepts ``HxW`` (gray) and ``HxWxC`` (colour) arrays in uint8,
uint16 or floating point. Internally every image is a float64 array of shape
``(C, H, W)`` on the 0-1 intensity scale, so that FFTs run over the last two
axes and colour channels form a batch.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

__all__ = ["ImageLayout", "to_internal", "from_internal", "chw_to_public", "public_to_chw"]


@dataclass(frozen=True)
class ImageLayout:
    """What is needed to give an internal ``(C, H, W)`` array back its public form.

    Attributes
    ----------
    ndim : int
        2 for ``HxW`` input, 3 for ``HxWxC`` input.
    dtype : numpy.dtype
        The dtype of the input array (in native byte order).
    scale : float
        The value of full intensity in the input dtype (255 for uint8, 65535
        for uint16, 1 for floats).
    """

    ndim: int
    dtype: np.dtype
    scale: float


_INT_SCALES = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}


def native_with_scale(image, name):
    """``(image, scale)``: an array in native byte order and its full-intensity value.

    ``scale`` is 255 for uint8, 65535 for uint16 and 1 for floats; other dtypes
    (bool, other integers, complex) raise ``TypeError`` naming ``name``.
    """
    if image.dtype.kind in "uif" and not image.dtype.isnative:
        image = image.astype(image.dtype.newbyteorder("="))  # big-endian data, e.g. from a FITS or TIFF reader
    if image.dtype == np.bool_ or not (image.dtype in _INT_SCALES or np.issubdtype(image.dtype, np.floating)):
        raise TypeError(
            f"{name} must have dtype uint8, uint16 or float, got {image.dtype}; "
            "convert it first, e.g. skimage.util.img_as_float(image)"
        )
    return image, _INT_SCALES.get(image.dtype, 1.0)


#: Float images with values outside this range are taken to be on another scale (e.g. 0-255): a warning.
OFF_SCALE = (-0.5, 1.5)


def check_float_image(x, name, consequence=None, stacklevel=1):
    """Check a float image on the 0-1 scale: the one check of :func:`to_internal` and :mod:`pnp.io`.

    Parameters
    ----------
    x : ndarray
        Float image (any shape).
    name : str
        Argument name used in messages.
    consequence : str, optional
        What happens to values off the 0-1 scale, appended to the warning
        (e.g. ``", so values outside 0-1 are clipped"``); None: no range check.
    stacklevel : int
        Stack level of the warning, counted from the caller of this function.

    Raises
    ------
    ValueError
        If ``x`` holds NaN or infinite values.

    Warns
    -----
    UserWarning
        With ``consequence``, if values lie outside :data:`OFF_SCALE` (far
        off 0-1: the image is on another scale); small overshoots, such as
        the ringing of a restored image, pass silently.
    """
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or infinite values; expected finite floats on the 0-1 scale")
    if consequence is None or x.size == 0:
        return
    lo, hi = float(x.min()), float(x.max())
    if lo < OFF_SCALE[0] or hi > OFF_SCALE[1]:
        warnings.warn(
            f"{name} is a float image with values in [{lo:.3g}, {hi:.3g}]; pnp expects float images on the "
            f"0-1 scale{consequence}. Divide by the white level first (e.g. 255).",
            UserWarning, stacklevel=stacklevel + 1,
        )


def to_internal(image, name="y", allowed_channels=(1, 3)):
    """Validate a public image and convert it to the internal layout.

    Parameters
    ----------
    image : array_like, shape (H, W) or (H, W, C)
        uint8, uint16 or floating point image, in either byte order. Float
        images are taken to be on the 0-1 intensity scale.
    name : str
        Argument name used in error messages.
    allowed_channels : tuple of int
        Accepted values of ``C``.

    Returns
    -------
    x : ndarray, shape (C, H, W), float64
        The image on the 0-1 scale.
    layout : ImageLayout
        What :func:`from_internal` needs to restore the public form.

    Raises
    ------
    TypeError
        If the dtype is not uint8, uint16 or floating point.
    ValueError
        If the array is empty, has the wrong number of dimensions or channels,
        or contains NaN or infinity. A channels-first array (``(3, H, W)``,
        ``(1, H, W)``: a first axis of 1-4 in front of a last axis longer than
        4) is named as such, with the fix (``np.moveaxis(image, 0, -1)``).
        Shapes that are valid ``(H, W, C)`` images, such as ``(3, 64, 3)``,
        are accepted as they are.
    """
    if not isinstance(image, np.ndarray):
        if hasattr(image, "__array__") or isinstance(image, (list, tuple)):
            image = np.asarray(image)
        else:
            raise TypeError(f"{name} must be a numpy array of shape (H, W) or (H, W, C), got {type(image).__name__}")
    image, scale = native_with_scale(image, name)
    if image.ndim not in (2, 3):
        raise ValueError(f"{name} must have shape (H, W) or (H, W, C), got shape {image.shape}")
    if image.size == 0:
        raise ValueError(f"{name} is empty: shape {image.shape}; expected at least 2x2 pixels")
    if image.ndim == 3 and image.shape[2] not in allowed_channels:
        raise ValueError(_channels_message(image.shape, name, allowed_channels))
    if min(image.shape[:2]) < 2:
        raise ValueError(f"{name} is empty or degenerate: shape {image.shape}; expected at least 2x2 pixels")
    x = image.astype(np.float64) / scale
    check_float_image(x, name, " (noise levels and priors assume it)" if scale == 1.0 else None, stacklevel=3)
    layout = ImageLayout(ndim=image.ndim, dtype=image.dtype, scale=scale)
    return public_to_chw(x), layout


#: Channel counts of images (gray, gray + alpha, RGB, RGBA): a first axis of this size in front of a
#: longer last axis is taken for a channels-first ``(C, H, W)`` array.
_CHANNEL_COUNTS = (1, 2, 3, 4)


def _channels_message(shape, name, allowed_channels):
    """The error for a 3-D ``shape`` whose last axis is not an accepted channel count, with the right hint."""
    c_first, c_last = shape[0], shape[2]
    if c_first in _CHANNEL_COUNTS and c_last not in _CHANNEL_COUNTS:
        # (3, 64, 64) or (1, 64, 64): a torch-style CHW array, not an image 3 pixels high with 64 channels
        hint = f"move the channels last with np.moveaxis({name}, 0, -1)"
        if c_first in (2, 4) and c_first - 1 in allowed_channels:
            hint += f", then drop the alpha channel with [..., :{c_first - 1}]"
        return (f"{name} has shape {shape}, which looks channels-first (C, H, W) with C={c_first}; pnp expects "
                f"(H, W) or (H, W, C) with C in {allowed_channels}: {hint}.")
    msg = (f"{name} has {c_last} channels (shape {shape}); expected one of {allowed_channels} "
           "in the last axis (H, W, C).")
    if c_last in (2, 4) and c_last - 1 in allowed_channels:
        what = "gray + alpha" if c_last == 2 else "RGBA"
        msg += f" This looks like {what}: drop the alpha channel with {name}[..., :{c_last - 1}]."
    return msg


def public_to_chw(x):
    """``(H, W)`` -> ``(1, H, W)``, ``(H, W, C)`` -> ``(C, H, W)`` (a view when possible)."""
    x = np.asarray(x)
    if x.ndim == 2:
        return x[None]
    return np.moveaxis(x, -1, 0)


def chw_to_public(x, ndim):
    """Inverse of :func:`public_to_chw` for an image that had ``ndim`` dimensions."""
    if ndim == 2:
        return x[0]
    return np.moveaxis(x, 0, -1)


def from_internal(x, layout):
    """Convert an internal ``(C, H, W)`` float image back to the public form.

    Integer dtypes are clipped to their range and rounded; float dtypes keep
    their values (no clipping) and are cast to the input's float precision.
    """
    out = chw_to_public(x, layout.ndim)
    if layout.dtype in _INT_SCALES:
        # in place on one temporary: keeps the peak memory of large images low
        out = np.multiply(out, layout.scale)
        np.rint(out, out=out)
        np.clip(out, 0, layout.scale, out=out)
        out = out.astype(layout.dtype)
    else:
        out = np.ascontiguousarray(out, dtype=layout.dtype)
    return out
