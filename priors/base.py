"""The prior interface."""

from __future__ import annotations

import math
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["Prior", "check_prior", "check_sigma", "check_image", "PRIOR_CHANNELS"]

#: Channel counts named in the layout messages of the priors: gray, gray + alpha, RGB, RGBA. The
#: network priors run 1- and 3-channel images natively and any other count channel by channel.
PRIOR_CHANNELS = (1, 2, 3, 4)


@runtime_checkable
class Prior(Protocol):
    """A denoiser used as an image prior.

    ``prior(x, sigma)`` receives a float image of shape ``(H, W)`` (gray) or
    ``(H, W, C)`` (channels last; :func:`pnp.solve` passes float64 with ``C``
    1 or 3) on the 0-1 intensity scale, and the standard deviation ``sigma``
    (0-1 scale) of the Gaussian noise to remove; it returns the denoised image
    with the same shape. Values slightly outside 0-1 may occur in the input
    and are allowed in the output.

    The project's priors (TV, BM3D, the network priors and their
    self-ensembles) follow these rules:

    - the output has the same shape and the same float dtype as ``x``
      (float32 in, float32 out; float64 in, float64 out), whatever precision
      the prior computes in;
    - ``x`` is checked by :func:`check_image`: not a float array, not 2-D or
      3-D, empty, channels-first (``(3, H, W)``) or holding NaN / infinity
      raises;
    - ``sigma`` is checked by :func:`check_sigma`: a value that is not finite
      or outside [0, 1] raises, as a noise level on the 0-255 scale would
      otherwise give a silently wrong result.
    """

    def __call__(self, x: np.ndarray, sigma: float) -> np.ndarray:  # pragma: no cover - protocol
        ...


def check_prior(prior):
    """Raise TypeError unless ``prior`` is callable as ``prior(x, sigma)`` (an instance, not a class)."""
    if isinstance(prior, type):
        name = prior.__name__
        raise TypeError(f"prior is the class {name}, not an instance of it: pass an instance, e.g. prior={name}()")
    if not callable(prior):
        raise TypeError(
            f"prior must be a name or a callable prior(x, sigma) -> x, got {type(prior).__name__}"
        )
    return prior


def check_sigma(sigma):
    """Check a prior's noise level and return it as a float.

    Parameters
    ----------
    sigma : float
        Standard deviation of the noise to remove, on the 0-1 intensity scale.

    Returns
    -------
    float

    Raises
    ------
    TypeError
        If ``sigma`` is a ``bool`` or a string (``"0.1"`` is not a number).
    ValueError
        If ``sigma`` is not a single finite number in [0, 1] (a value above 1 is
        taken for a noise level on the 0-255 scale).
    """
    if isinstance(sigma, (bool, np.bool_, str, bytes)):
        raise TypeError(f"sigma must be a single number (the noise level, 0-1 scale), got {sigma!r}")
    if np.ndim(sigma) != 0:
        raise ValueError(f"sigma must be a single number (the noise level, 0-1 scale), got {sigma!r}")
    try:
        value = float(sigma)
    except (TypeError, ValueError):
        raise ValueError(f"sigma must be a single number (the noise level, 0-1 scale), got {sigma!r}") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"sigma must be a finite noise level >= 0 (0-1 scale), got {value}")
    if value > 1:
        raise ValueError(
            f"sigma={value:g} is on the wrong scale: give the noise level on the 0-1 intensity scale "
            f"(e.g. 25/255 for sigma 25 of 8-bit values)"
        )
    return value


def check_image(x, name="x"):
    """Check the image handed to a prior; the one layout check of the project's priors.

    Parameters
    ----------
    x : array_like
        Float image of shape ``(H, W)`` or ``(H, W, C)`` (channels last), 0-1
        scale. Any ``C`` is accepted (1 and 3, and others such as 2 or 4 that
        the network priors run channel by channel), and so are narrow images
        such as ``(3, 64, 3)`` or ``(9, 1, 3)``.
    name : str
        Argument name used in the messages.

    Returns
    -------
    ndarray
        ``x`` as an array (not copied).

    Raises
    ------
    TypeError
        If ``x`` does not have a floating-point dtype (an integer image on the
        0-255 scale would give a silently wrong result).
    ValueError
        If ``x`` is not 2-D or 3-D, is empty, contains NaN or infinity, or
        looks channels-first: a first axis of 1-4 in front of a last axis
        longer than 4, e.g. ``(3, 64, 64)`` (the message is that of
        :func:`pnp.solve`, with the fix ``np.moveaxis(x, 0, -1)``).
    """
    from pnp._layout import _CHANNEL_COUNTS, _channels_message, check_float_image

    x = np.asarray(x)
    if x.dtype.kind != "f":
        raise TypeError(f"{name} must be a float image on the 0-1 scale, got dtype {x.dtype}; convert it "
                        f"first, e.g. skimage.util.img_as_float({name})")
    if x.ndim not in (2, 3):
        raise ValueError(f"{name} must have shape (H, W) or (H, W, C), got shape {x.shape}")
    if x.size == 0:
        raise ValueError(f"{name} is empty: shape {x.shape}")
    # the rule of pnp._layout.to_internal: (3, H, W) with W > 4 is a channels-first array, not an
    # image 3 pixels high with W channels; the message (and its fix) is pnp.solve's
    if x.ndim == 3 and x.shape[0] in _CHANNEL_COUNTS and x.shape[2] not in _CHANNEL_COUNTS:
        raise ValueError(_channels_message(x.shape, name, PRIOR_CHANNELS))
    check_float_image(x, name)
    return x
