"""``pnp.solve`` (this module is ``pnp.api``): the one-call entry point (validation, boundary handling, solver loop)."""

from __future__ import annotations

import inspect
import numbers
import warnings

import numpy as np

from ._layout import chw_to_public, from_internal, public_to_chw, to_internal
from .boundary import BOUNDARIES, pad_observation, wrap_ratio
from .operators.blur import Blur, check_scale
from .psf import validate_kernel
from .schedules import resolve_schedule

__all__ = ["solve", "make_operator"]

#: Below this :func:`pnp.boundary.wrap_ratio` an observation is taken to be periodic (circularly blurred).
#: Measured: circular blur of skimage images gives 1.0-1.7 (noisy: ~1), real borders 2-600.
PERIODIC_WRAP_RATIO = 1.5


def _is_operator(obj):
    return all(hasattr(obj, a) for a in ("forward", "adjoint", "data_step"))


def run_estimator(estimator, frames, noise_level=None):
    """``estimator.estimate(*frames)``, with ``noise_level=`` when it is known and the method takes it.

    The estimators of :mod:`pnp.estimate` then use the known level instead of
    estimating it; other estimators (user-written ones, those without the
    keyword) are called as before. Used by :func:`make_operator` (one image)
    and :func:`pnp.frames.build_operator` (the frames of a sequence).
    """
    if noise_level is not None:
        try:
            param = inspect.signature(estimator.estimate).parameters.get("noise_level")
        except (TypeError, ValueError):  # no signature (a builtin): it does not take one
            param = None
        if param is not None and param.kind in (param.KEYWORD_ONLY, param.POSITIONAL_OR_KEYWORD):
            return estimator.estimate(*frames, noise_level=noise_level)
    return estimator.estimate(*frames)


def make_operator(y, kernel, scale=1, noise_level=None):
    """Build the forward operator described by ``kernel`` for the public image ``y``.

    Parameters
    ----------
    y : ndarray, shape (H, W) or (H, W, C)
        The observation (public layout); used by estimators and for size checks.
    kernel : array_like, operator, estimator or ``"estimate"``
        A 2-D blur kernel; an operator with ``forward``/``adjoint``/``data_step``
        (e.g. :class:`pnp.RotationalBlur`); an object (an instance, not the
        class) with ``estimate(y)`` returning either; or ``"estimate"`` for the
        default kernel estimator.
    scale : int
        Downsampling factor for a kernel given as an array.
    noise_level : float, optional
        Known noise level of ``y`` (0-1 scale, per channel; :func:`pnp.solve`
        passes its own). Handed on as ``estimate(y, noise_level=...)`` to an
        estimator whose ``estimate`` takes a ``noise_level`` keyword (the
        kernel estimators of :mod:`pnp.estimate`), which then uses it instead
        of estimating it; other estimators get ``estimate(y)``.

    Returns
    -------
    operator : object
    estimator : object or None
        The estimator used, if any (its diagnostics stay on it).

    Raises
    ------
    TypeError
        If ``kernel`` is an estimator or operator class instead of an
        instance, or an estimator returns neither a 2-D kernel nor an operator
        (e.g. :class:`pnp.estimate.NoiseEstimator`, which returns a noise level).
    TypeError, ValueError
        If ``noise_level`` is not None and not a number in [0, 1]
        (:func:`pnp.noise.check_noise_level`).
    NotImplementedError
        If an estimator returns a kernel array and ``scale != 1``: the kernel
        it estimates belongs to the low-resolution grid of ``y``, not to the
        high-resolution grid the super-resolution model needs.
    """
    estimator = None
    if noise_level is not None:
        noise_level = _check_noise_level(noise_level)
    if isinstance(kernel, type) and (hasattr(kernel, "estimate") or _is_operator(kernel)):
        name = kernel.__name__
        raise TypeError(f"kernel is the class {name}, not an instance of it: pass an instance, e.g. {name}()")
    if isinstance(kernel, str):
        if kernel != "estimate":
            raise ValueError(f"kernel must be an array, an operator, an estimator or 'estimate'; got {kernel!r}")
        try:
            from .estimate import default_estimator
        except ImportError as exc:  # pragma: no cover - until the estimators land
            raise NotImplementedError("kernel='estimate' needs pnp.estimate, which is not available") from exc
        kernel = default_estimator(scale=scale)
    if hasattr(kernel, "estimate") and not _is_operator(kernel):
        estimator = kernel
        name = type(estimator).__name__
        kernel = run_estimator(estimator, [y], noise_level)
        if not _is_operator(kernel):
            if np.ndim(kernel) != 2:
                if isinstance(kernel, (numbers.Real, np.number)):
                    got = f"the number {float(kernel):.4g} (a noise level, not a kernel? pass it as noise_level)"
                elif isinstance(kernel, (np.ndarray, list, tuple)):
                    got = f"an array of shape {np.shape(kernel)}"
                else:
                    got = f"a {type(kernel).__name__}"
                raise TypeError(
                    f"{name}.estimate(y) returned {got}; an estimator passed as kernel must return a 2-D kernel "
                    "array or an operator (with forward, adjoint and data_step)")
            if scale != 1:
                raise NotImplementedError(
                    f"kernel estimation with scale={scale} is not supported: {name} estimated the kernel of "
                    f"the low-resolution image y, not the high-resolution kernel that scale={scale} needs; "
                    "pass the high-resolution kernel as an array")
    if _is_operator(kernel):
        op_scale = getattr(kernel, "scale", 1)
        if scale != 1 and op_scale != scale:
            raise ValueError(f"scale={scale} conflicts with the operator's scale {op_scale}")
        return kernel, estimator
    if kernel is None:
        raise TypeError("kernel is required: a 2-D array, an operator, an estimator or 'estimate'")
    shape = np.shape(y)[:2]
    k = validate_kernel(kernel, image_shape=(shape[0] * scale, shape[1] * scale))
    return Blur(k, scale=scale), estimator


def _check_noise_level(noise_level):
    from .noise import check_noise_level

    return check_noise_level(noise_level)


def solve(
    y,
    kernel,
    prior="default",
    solver="hqs",
    noise_level=None,
    iters=8,
    scale=1,
    schedule=None,
    boundary=None,
    callback=None,
    x_true=None,
    init=None,
    progress=None,
    return_info=False,
    device=None,
):
    """Restore a blurred (and possibly downsampled) image with plug-and-play optimisation.

    Parameters
    ----------
    y : ndarray, shape (H, W) or (H, W, C)
        Observation, uint8, uint16 or float (0-1 scale); ``C`` is 1 or 3.
    kernel : ndarray, operator, estimator or ``"estimate"``
        A 2-D blur kernel (any size up to the image size; normalised to unit
        sum; origin at ``(kh // 2, kw // 2)``, see :mod:`pnp.psf`), a forward
        operator such as :class:`pnp.RotationalBlur`, an estimator object with
        ``estimate(y)``, or ``"estimate"``.
    prior : str or callable
        A registered prior name (``priors.available_priors()``), ``"default"``
        (the best prior shipped with the package), or any ``prior(x, sigma)``.
    solver : {"hqs", "admm"} or callable
        The splitting scheme (see :mod:`solvers`).
    noise_level : float, optional
        Standard deviation of the noise on the 0-1 scale. ``None`` takes the
        level found by a kernel estimator (when ``kernel`` is one), else
        estimates it from ``y`` with :class:`pnp.estimate.NoiseEstimator`
        (PCA of weak-texture patches; for colour, the mean of the channels).
    iters : int
        Number of iterations ``K``.
    scale : int
        Downsampling factor ``s`` (super-resolution); the output is ``s`` times
        larger than ``y``.
    schedule : callable or sequence, optional
        ``(alpha_k, sigma_k)`` per iteration (see :mod:`pnp.schedules`);
        default :class:`pnp.schedules.DPIRSchedule`. A schedule with a
        ``for_operator(operator, shape)`` method (e.g. a
        :class:`pnp.learned_schedule.LearnedSchedule` trained with blur
        descriptors) is first specialised to the blur of this call.
    boundary : {"taper", "reflect", "circular"}, optional
        How the non-periodic image border is handled (see :mod:`pnp.boundary`).
        Default ``"taper"``: pad, treat the pad as unobserved, crop; right for
        real photographs. Use ``"circular"`` for observations synthesised
        with circular convolution: left at the default on an observation whose
        borders join smoothly across the wrap-around (the mark of circular
        blur), ``solve`` warns. Operators without a ``padded`` method ignore it;
        ``padded(pad)`` receives an int, or ``(top, bottom, left, right)`` when the
        padded size is enlarged to an FFT-friendly one.
    callback : callable, optional
        ``callback(k, x, alpha_k, sigma_k)`` after each iteration, ``x`` the
        current estimate as a float array in the output layout.
    x_true : ndarray, optional
        Ground truth (output shape) to track PSNR per iteration in the info.
    init : ndarray, optional
        Starting estimate (output shape); default from the operator.
    progress : bool, optional
        Show a progress bar (default: only on a terminal).
    device : str, optional
        ``None`` (default): numpy arrays and the pyFFTW data step. A torch
        device (``"cpu"``, ``"cuda"``, ...): the whole loop runs on torch
        tensors on that device (torch data step, prior network), with no
        round trip to numpy inside the loop. Needs a torch prior (one with
        ``denoise_tensor``, e.g. ``"drunet"``) and an operator with
        ``torch_data_step``.
    return_info : bool
        Also return a dict with ``operator``, ``estimator``, ``noise_level``,
        ``alphas``, ``sigmas`` and ``history`` (per-iteration ``psnr``,
        ``time``...).

    Returns
    -------
    x : ndarray
        The restored image, same layout and dtype as ``y`` (``s`` times larger
        with ``scale=s``).
    info : dict
        Only with ``return_info=True``.

    Examples
    --------
    >>> import numpy as np, pnp
    >>> from skimage import data
    >>> x = data.camera()[128:256, 128:256] / 255.0
    >>> k = np.ones((5, 5)) / 25
    >>> y = pnp.blur(x, k, boundary="reflect")
    >>> x_hat = pnp.solve(y, k, prior="tv", noise_level=0.005, iters=4)
    >>> x_hat.shape
    (128, 128)
    """
    from priors.registry import get_prior
    from solvers import Monitor, get_solver

    y_int, layout = to_internal(y, "y")
    scale = check_scale(scale)
    if isinstance(iters, bool) or not isinstance(iters, numbers.Integral) or iters < 1:
        raise ValueError(f"iters must be a positive integer, got {iters!r}")
    default_boundary = boundary is None
    boundary = "taper" if default_boundary else boundary
    if boundary not in BOUNDARIES:
        raise ValueError(f"boundary must be one of {BOUNDARIES}, got {boundary!r}")
    solver_fn = get_solver(solver)
    prior_fn = get_prior(prior)

    operator, estimator = make_operator(y, kernel, scale, noise_level=noise_level)
    s = getattr(operator, "scale", 1)
    if noise_level is None:
        noise_level = getattr(estimator, "noise_level_", None)
        if noise_level is None:
            from .estimate.noise import NoiseEstimator

            try:
                noise_level = NoiseEstimator().estimate(y)
            except ValueError as exc:  # too small or mostly saturated: say which argument avoids it
                raise ValueError(f"noise_level=None, but the noise level of y cannot be estimated: {exc}; "
                                 "pass noise_level (0-1 scale)") from exc
    noise_level = _check_noise_level(noise_level)
    C, h, w = y_int.shape
    out_shape = operator.input_shape(y_int.shape)
    H, W = out_shape[-2:]
    if hasattr(schedule, "for_operator"):  # e.g. a learned schedule that reads a blur descriptor
        schedule = schedule.for_operator(operator, (H, W))
    if hasattr(schedule, "check_prior"):  # a learned schedule is tuned to the prior it was trained with
        mismatch = schedule.check_prior(prior_fn)
        if mismatch:
            warnings.warn(mismatch, stacklevel=2)
    alphas, sigmas = resolve_schedule(schedule, noise_level, int(iters), scale=s)

    # boundary handling: pad the observation, solve on the padded grid with the pad
    # marked unobserved (re-filled by the data step), crop
    observed = None
    if default_boundary and isinstance(operator, Blur) and wrap_ratio(y_int) < PERIODIC_WRAP_RATIO:
        warnings.warn(
            "y looks periodic: its opposite borders join as smoothly as neighbouring pixels, as after "
            "circular convolution. If it was synthesised that way, pass boundary='circular' (the default "
            "'taper' treats borders as in real photographs and loses accuracy on periodic data).",
            stacklevel=2,
        )
    if hasattr(operator, "padded") and boundary != "circular":
        margin = operator.boundary_margin(y_int.shape[-2:]) if hasattr(operator, "boundary_margin") else 16
        y_work, (top, left) = pad_observation(y_int, margin, boundary)
        pads = (top, y_work.shape[-2] - h - top, left, y_work.shape[-1] - w - left)
        # a symmetric pad stays an int (the simplest form of the operator protocol); a user mask of
        # a rotational blur must be padded to the FFT-friendly padded shape, so it gets all four
        op_work = operator.padded(margin if len(set(pads)) == 1 else pads)
        observed = np.zeros(y_work.shape[-2:], dtype=bool)
        observed[top:top + h, left:left + w] = True
    else:
        y_work, (top, left), op_work = y_int, (0, 0), operator
    del y_int  # the padded copy (or the same array) is all the loop needs: lower peak memory
    r0, c0 = top * (H // h), left * (W // w)

    def crop(x):
        return x[:, r0:r0 + H, c0:c0 + W]

    def view(x):
        return chw_to_public(crop(x), layout.ndim)

    x_true_f = None
    if x_true is not None:
        xt, _ = to_internal(x_true, "x_true")
        if xt.shape != tuple(out_shape):
            raise ValueError(f"x_true has shape {np.shape(x_true)}, expected the output shape "
                             f"{chw_to_public(np.empty(out_shape), layout.ndim).shape}")
        x_true_f = chw_to_public(xt, layout.ndim)

    if device is None:
        data_step = op_work.data_step(y_work) if observed is None else op_work.data_step(y_work, observed=observed)
    if init is None:
        x0 = op_work.initial(y_work)
    else:
        xi, _ = to_internal(init, "init")
        if xi.shape != tuple(out_shape):
            raise ValueError(f"init has shape {np.shape(init)}, expected the output shape "
                             f"{chw_to_public(np.empty(out_shape), layout.ndim).shape}")
        x0 = op_work.initial(y_work)
        x0[:, r0:r0 + H, c0:c0 + W] = xi

    def prior_chw(x, sigma):
        x_pub = chw_to_public(x, 2 if x.shape[0] == 1 else 3)
        raw = np.asarray(prior_fn(x_pub, float(sigma)))
        name = prior if isinstance(prior, str) else getattr(prior, "__name__", type(prior).__name__)
        if raw.dtype.kind != "f":
            raise TypeError(f"prior {name!r} returned an array of dtype {raw.dtype}; a prior must return the "
                            "denoised image as floats on the 0-1 scale")
        out = raw.astype(np.float64, copy=False)
        if not np.all(np.isfinite(out)):
            raise ValueError(f"prior {name!r} returned NaN or infinite values at sigma={float(sigma):.4g}")
        if out.shape != x_pub.shape:
            raise ValueError(f"prior {name!r} returned an array of shape {out.shape} for an input of shape "
                             f"{x_pub.shape}; a prior must return the denoised image in the shape it was given")
        return public_to_chw(out)

    if device is not None:
        data_step, prior_chw, x0, to_numpy = _torch_pieces(op_work, prior_fn, y_work, observed, x0, device)
        numpy_view = view

        def view(x):
            return numpy_view(to_numpy(x))
    else:
        def to_numpy(x):
            return x

    monitor = Monitor(int(iters), view=view, x_true=x_true_f, callback=callback, progress=progress,
                      desc=f"pnp {solver if isinstance(solver, str) else 'solve'}")
    try:
        x = solver_fn(data_step, prior_chw, alphas, sigmas, x0, monitor=monitor)
    finally:
        monitor.close()
    result = from_internal(crop(to_numpy(x)), layout)
    if not return_info:
        return result
    info = dict(operator=operator, estimator=estimator, noise_level=noise_level,
                alphas=alphas, sigmas=sigmas, history=monitor.history)
    return result, info


def _torch_pieces(operator, prior, y, observed, x0, device):
    """Data step, prior and start point on torch tensors ``(1, C, H, W)`` on ``device``."""
    import torch

    if not hasattr(prior, "denoise_tensor"):
        raise TypeError(f"device={device!r} needs a torch prior with denoise_tensor (e.g. 'drunet'); got {prior!r}")
    if not (hasattr(operator, "torch_data_step") or hasattr(operator, "matrix")):
        raise TypeError(f"device={device!r} needs an operator with torch_data_step or a sparse matrix(); "
                        f"{operator!r} has neither")
    try:
        dev = torch.device(device)
        torch.empty(1, device=dev)
    except (RuntimeError, AssertionError) as exc:
        raise ValueError(f"torch device {device!r} is not available: {exc}") from exc
    if hasattr(prior, "to"):
        prior.to(dev)
    yt = torch.as_tensor(y, dtype=torch.float32, device=dev)[None]
    mask = None if observed is None else torch.as_tensor(observed, device=dev)
    if hasattr(operator, "torch_data_step"):
        step = operator.torch_data_step(yt) if observed is None else operator.torch_data_step(yt, observed=observed)
    else:  # sparse-matrix operators (e.g. RotationalBlur): unrolled CG in torch
        from .datasteps.torch_cg import TorchCGDataStep

        in_shape = operator.input_shape(y.shape)[-2:]
        step = TorchCGDataStep(operator.matrix(in_shape), yt, observed=mask, input_shape=in_shape)

    def prior_t(x, sigma):
        return prior.denoise_tensor(x, float(sigma))

    def to_numpy(x):
        return x[0].detach().cpu().numpy().astype(np.float64)

    x0t = torch.as_tensor(x0, dtype=torch.float32, device=dev)[None]
    return step, prior_t, x0t, to_numpy
