"""The prior interface."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["Prior", "check_prior"]


@runtime_checkable
class Prior(Protocol):
    """A denoiser used as an image prior.

    ``prior(x, sigma)`` receives a float64 image of shape ``(H, W)`` (gray) or
    ``(H, W, C)`` (colour) on the 0-1 intensity scale, and the standard
    deviation ``sigma`` (0-1 scale) of the Gaussian noise to remove; it
    returns the denoised image with the same shape. Values slightly outside
    0-1 may occur in the input and are allowed in the output.
    """

    def __call__(self, x: np.ndarray, sigma: float) -> np.ndarray:  # pragma: no cover - protocol
        ...


def check_prior(prior):
    """Raise TypeError unless ``prior`` is callable as ``prior(x, sigma)``."""
    if not callable(prior):
        raise TypeError(
            f"prior must be a name or a callable prior(x, sigma) -> x, got {type(prior).__name__}"
        )
    return prior
