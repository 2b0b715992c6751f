"""The prior interface."""

from __future__ import annotations

import math
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["Prior", "check_prior", "check_sigma"]


@runtime_checkable
class Prior(Protocol):
    """A denoiser used as an image prior.

    ``prior(x, sigma)`` receives a float64 image of shape ``(H, W)`` (gray) or
    ``(H, W, C)`` (colour) on the 0-1 intensity scale, and the standard
    deviation ``sigma`` (0-1 scale) of the Gaussian noise to remove; it
    returns the denoised image with the same shape. Values slightly outside
    0-1 may occur in the input and are allowed in the output. The project's
    priors refuse a ``sigma`` that is not finite or outside [0, 1]
    (:func:`check_sigma`): a noise level on the 0-255 scale would otherwise
    give a silently wrong result.
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
    ValueError
        If ``sigma`` is not a single finite number in [0, 1] (a value above 1 is
        taken for a noise level on the 0-255 scale).
    """
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
