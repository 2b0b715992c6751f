"""Blind estimation of the blur kernel and noise level, as objects that compose with :func:`pnp.solve`.

Every estimator has ``estimate(y) -> kernel`` (or ``-> sigma`` for
:class:`NoiseEstimator`) where ``y`` is a public image (HxW or HxWxC, uint8,
uint16 or float 0-1; colour images are estimated on their luminance), and
keeps diagnostics as attributes ending in ``_`` after the call
(``kernel_``, ``noise_level_``, ``score_``...). Pass an estimator as the
``kernel`` of :func:`pnp.solve`, or ``kernel="estimate"`` for
:func:`default_estimator`; ``pnp.solve`` uses the estimator's
``noise_level_`` when ``noise_level=None``.

==================================  ===========================================================
:class:`NoiseEstimator`             Gaussian noise level (PCA of weak-texture patches)
:class:`GaussianBlurEstimator`      isotropic Gaussian or disk (defocus) width from the spectrum
:class:`LinearMotionEstimator`      linear motion length and angle from the power spectrum
:class:`CameraShakeEstimator`       general kernels: coarse-to-fine L0 alternating MAP
:class:`RotationalBlurEstimator`    rotational blur (see :mod:`pnp.estimate.rotation`)
==================================  ===========================================================

Submodules load on first use, so ``import pnp.estimate`` is cheap.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "NoiseEstimator": "pnp.estimate.noise:NoiseEstimator",
    "luminance": "pnp.estimate.noise:luminance",
    "GaussianBlurEstimator": "pnp.estimate.gaussian:GaussianBlurEstimator",
    "LinearMotionEstimator": "pnp.estimate.motion:LinearMotionEstimator",
    "CameraShakeEstimator": "pnp.estimate.shake:CameraShakeEstimator",
    "RotationalBlurEstimator": "pnp.estimate.rotation:RotationalBlurEstimator",
}

__all__ = sorted(_EXPORTS) + ["default_estimator"]


def default_estimator(scale=1):
    """The estimator behind ``pnp.solve(y, kernel="estimate")``.

    A :class:`CameraShakeEstimator` with its default settings (it covers
    Gaussian, defocus and linear-motion blur as well as camera shake, at the
    price of speed: use a parametric estimator when the blur family is known).

    Parameters
    ----------
    scale : int
        Super-resolution factor of the solve; only ``1`` is supported (blind
        estimation of a kernel on the fine grid of a downsampled observation
        is not implemented).
    """
    if scale != 1:
        raise NotImplementedError(
            f"kernel='estimate' with scale={scale} is not supported: blind estimation gives the kernel of the "
            f"low-resolution image, not the high-resolution kernel that scale={scale} needs; pass the "
            "high-resolution kernel as an array"
        )
    from .shake import CameraShakeEstimator

    return CameraShakeEstimator()


def __getattr__(name):
    spec = _EXPORTS.get(name)
    if spec is None:
        raise AttributeError(f"module 'pnp.estimate' has no attribute {name!r}")
    module, _, attr = spec.partition(":")
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
