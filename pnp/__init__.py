"""pnp-deblur: plug-and-play image deblurring.

The main entry point is :func:`pnp.solve`. Submodules are imported lazily so
``import pnp`` stays fast; torch, deepinv and bm3d load only when a prior that
needs them is used.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "make_operator": "pnp.api:make_operator",
    "Blur": "pnp.operators.blur:Blur",
    "RotationalBlur": "pnp.operators.rotational:RotationalBlur",
    "PolarRotationalBlur": "pnp.operators.polar_rotational:PolarRotationalBlur",
    "RotationalBlurEstimator": "pnp.estimate.rotation:RotationalBlurEstimator",
    "CameraShakeEstimator": "pnp.estimate.shake:CameraShakeEstimator",
    "LinearMotionEstimator": "pnp.estimate.motion:LinearMotionEstimator",
    "GaussianBlurEstimator": "pnp.estimate.gaussian:GaussianBlurEstimator",
    "NoiseEstimator": "pnp.estimate.noise:NoiseEstimator",
    "deblur_frames": "pnp.frames:deblur_frames",
    "deblur_batch": "pnp.batch:deblur_batch",
    "ClosedFormBlur": "pnp.datasteps.fft:ClosedFormBlur",
    "FFTDataStep": "pnp.datasteps.fft:FFTDataStep",
    "CGDataStep": "pnp.datasteps.cg:CGDataStep",
    "PolarDataStep": "pnp.datasteps.polar:PolarDataStep",
    "synthesize_rotational_blur": "pnp.synthetic:synthesize_rotational_blur",
    "rotating_disk_scene": "pnp.synthetic:rotating_disk_scene",
    "DPIRSchedule": "pnp.schedules:DPIRSchedule",
    "ConstantSchedule": "pnp.schedules:ConstantSchedule",
    "GeometricSchedule": "pnp.schedules:GeometricSchedule",
    "LearnedSchedule": "pnp.learned_schedule:LearnedSchedule",
    "estimate_noise": "pnp.noise:estimate_noise",
    "psnr": "pnp.metrics:psnr",
    "ssim": "pnp.metrics:ssim",
    "blur": "pnp.simulate:blur",
    "add_noise": "pnp.simulate:add_noise",
}

from .api import solve  # noqa: E402  (light: numpy, scipy, pyfftw)

__all__ = sorted(_EXPORTS) + ["solve", "__version__"]


def __getattr__(name):
    spec = _EXPORTS.get(name)
    if spec is None:
        raise AttributeError(f"module 'pnp' has no attribute {name!r}")
    module, _, attr = spec.partition(":")
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__():
    return sorted(list(globals()) + list(_EXPORTS))
