"""Blind estimation of the blur kernel and noise level, as objects that compose with :func:`pnp.solve`.

Every estimator has ``estimate(y)``, where ``y`` is a public image (HxW or
HxWxC, uint8, uint16 or float 0-1; colour images are estimated on their
luminance); it returns a 2-D kernel (the kernel estimators), a
:class:`pnp.RotationalBlur` operator (:class:`RotationalBlurEstimator`) or a
noise level (:class:`NoiseEstimator`), and keeps diagnostics as attributes
ending in ``_`` after the call. They differ between classes (each class's
``Attributes`` section lists its own):

==================================  ==========  ====================================================================
:class:`NoiseEstimator`             sigma       Gaussian noise level (PCA of weak-texture patches): ``noise_level_``,
                                                ``eigenvalues_``, ``n_patches_``, ...
:class:`GaussianBlurEstimator`      kernel      isotropic Gaussian or disk (defocus) width from the spectrum:
                                                ``kernel_``, ``width_``, ``noise_level_``, ``score_``, ...
:class:`LinearMotionEstimator`      kernel      linear motion length and angle from the power spectrum: ``kernel_``,
                                                ``length_``, ``angle_``, ``noise_level_``, ``score_``,
                                                ``confidence_``, ...
:class:`CameraShakeEstimator`       kernel      general kernels, coarse-to-fine L0 alternating MAP: ``kernel_``,
                                                ``noise_level_`` (None when it cannot be estimated),
                                                ``latent_``, ``kernels_``, ``time_``; no ``score_``
:class:`RotationalBlurEstimator`    operator    rotational blur (see :mod:`pnp.estimate.rotation`): ``operator_``,
                                                ``center_``, ``angle_``, ``score_``, ``reliable_``, ...;
                                                no ``kernel_`` and no ``noise_level_``
==================================  ==========  ====================================================================

Pass an estimator as the ``kernel`` of :func:`pnp.solve`, or
``kernel="estimate"`` for :func:`default_estimator`. A known noise level
(``pnp.solve(..., noise_level=...)``, which hands it on through
:func:`pnp.make_operator`, or ``estimate(y, noise_level=...)``) is used by
the kernel estimators instead of an estimate, so they also work on images
whose noise level cannot be estimated (mostly clipped, e.g. a clean
document). With ``noise_level=None``, ``pnp.solve`` uses the estimator's
``noise_level_`` when it has one that is not None, and otherwise estimates
the noise level of ``y`` with :class:`NoiseEstimator`.

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
