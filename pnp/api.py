"""``pnp.solve`` (this module is ``pnp.api``): the one-call entry point (validation, boundary handling, solver loop)."""

from __future__ import annotations

import contextlib
import inspect
import numbers
import os
import sys
import warnings

import numpy as np

from ._checks import check_callable
from ._layout import OFF_SCALE, chw_to_public, from_internal, public_to_chw, to_internal
from .boundary import BOUNDARIES, pad_observation, wrap_ratio
from .operators.blur import Blur, check_scale
from .psf import validate_kernel
from .schedules import check_schedule, resolve_schedule

__all__ = ["solve", "make_operator"]

#: Below this :func:`pnp.boundary.wrap_ratio` an observation is taken to be periodic (circularly blurred).
#: Measured: circular blur of skimage images gives 1.0-1.7 (noisy: ~1), real borders 2-600.
PERIODIC_WRAP_RATIO = 1.5


def _is_operator(obj):
    return all(hasattr(obj, a) for a in ("forward", "adjoint", "data_step"))


def _caller_stacklevel():
    """``stacklevel`` for :func:`warnings.warn` that names the first frame outside the ``pnp`` package.

    For warnings about the user's call, whichever public function (``solve``,
    ``make_operator``, ``deblur_frames``, ...) it went through.
    """
    package = os.path.dirname(os.path.abspath(__file__)) + os.sep
    frame, level = sys._getframe(1), 1  # our caller, the frame that calls warnings.warn, is level 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package):
        frame, level = frame.f_back, level + 1
    return level


def run_estimator(estimator, frames, noise_level=None):
    """``estimator.estimate(*frames)``, with ``noise_level=`` when it is known and the method takes it.

    The estimators of :mod:`pnp.estimate` then use the known level instead of
    estimating it; other estimators (user-written ones, those without the
    keyword) are called as before. Used by :func:`make_operator` (one image)
    and :func:`pnp.frames.build_operator` (the frames of a sequence).

    Warns (``RuntimeWarning``) when the estimator sets ``reliable_ = False``
    (as :class:`pnp.RotationalBlurEstimator` does for a doubtful estimate).
    """
    kwargs = {}
    if noise_level is not None:
        try:
            param = inspect.signature(estimator.estimate).parameters.get("noise_level")
        except (TypeError, ValueError):  # no signature (a builtin): it does not take one
            param = None
        if param is not None and param.kind in (param.KEYWORD_ONLY, param.POSITIONAL_OR_KEYWORD):
            kwargs["noise_level"] = noise_level
    result = estimator.estimate(*frames, **kwargs)
    if getattr(estimator, "reliable_", None) is False:  # e.g. RotationalBlurEstimator's own verdict
        warnings.warn(
            f"{type(estimator).__name__} flags its estimate as unreliable (reliable_=False): the restoration "
            "may be worse than the blurred input; check the estimate (its attributes ending in '_') or pass "
            "the known blur (an operator or kernel) instead of the estimator",
            RuntimeWarning, stacklevel=_caller_stacklevel())
    return result


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
        default kernel estimator. A kernel, whether an array, returned by an
        estimator or inside a :class:`pnp.Blur`, may not be larger than ``y``
        times the operator's scale in either axis.
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
    ValueError
        If the kernel (an array, an estimated one or that of a :class:`pnp.Blur`)
        is larger than ``y`` on the high-resolution grid.
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
        if scale != 1 and type(estimator).__module__.startswith("pnp.estimate"):
            # the library's estimators all work on y's own grid: refuse before a possibly long estimate
            raise NotImplementedError(
                f"kernel estimation with scale={scale} is not supported: {name} estimates the blur of the "
                f"low-resolution image y, not the high-resolution operator that scale={scale} needs; "
                "pass the high-resolution kernel as an array")
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
        _check_blur_fits(kernel, y)
        return kernel, estimator
    if kernel is None:
        raise TypeError("kernel is required: a 2-D array, an operator, an estimator or 'estimate'")
    shape = np.shape(y)[:2]
    k = validate_kernel(kernel, image_shape=(shape[0] * scale, shape[1] * scale))
    return Blur(k, scale=scale), estimator


def _check_blur_fits(operator, y):
    """Refuse a :class:`Blur` (or a wrapper of one) whose kernel is larger than ``y`` on the fine grid.

    The rule of a kernel given as an array (:func:`pnp.psf.validate_kernel` with
    ``image_shape``), applied to the same kernel given as ``Blur(kernel)``, so that
    the form does not change what is accepted (see ``kernel`` in :func:`solve`).
    """
    op = operator if isinstance(operator, Blur) else getattr(operator, "operator", None)  # ClosedFormBlur wraps one
    if not isinstance(op, Blur):
        return
    h, w = np.shape(y)[:2]
    validate_kernel(op.kernel, image_shape=(h * op.scale, w * op.scale))


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
        Observation, uint8, uint16 or float (0-1 scale); ``C`` is 1 or 3,
        channels last (a channels-first ``(C, H, W)`` array is refused with
        the fix, ``np.moveaxis(y, 0, -1)``).
    kernel : ndarray, operator, estimator or ``"estimate"``
        A 2-D blur kernel (normalised to unit sum; origin at
        ``(kh // 2, kw // 2)``, see :mod:`pnp.psf`), a forward operator such
        as :class:`pnp.Blur` or :class:`pnp.RotationalBlur`, an estimator
        object with ``estimate(y)``, or ``"estimate"``. A kernel may be of any
        size up to that of the output (``y`` times ``scale``) in each axis; a
        larger one is refused with every ``boundary``, whether it is given as
        an array, wrapped in :class:`pnp.Blur` or estimated.
    prior : str or callable
        A registered prior name (``priors.available_priors()``), ``"default"``
        (the best prior shipped with the package), or any ``prior(x, sigma)``
        (its signature is checked before any work: it must take two
        positional arguments).
    solver : {"hqs", "admm"} or callable
        The splitting scheme (see :mod:`solvers`).
    noise_level : float, optional
        Standard deviation of the noise on the 0-1 scale. ``None`` takes the
        level found by a kernel estimator (when ``kernel`` is one), else
        estimates it from ``y`` with :class:`pnp.estimate.NoiseEstimator`
        (PCA of weak-texture patches; for colour, the mean of the channels).
        An estimated level above 1 means that ``y`` is not on the 0-1 scale
        (a float image on the 0-255 scale): an error that says so.
    iters : int
        Number of iterations ``K``.
    scale : int
        Downsampling factor ``s`` (super-resolution); the output is ``s`` times
        larger than ``y``.
    schedule : callable or sequence, optional
        ``(alpha_k, sigma_k)`` per iteration (see :mod:`pnp.schedules`);
        default :class:`pnp.schedules.DPIRSchedule`. An instance, not the
        class (a class is refused before any work). A schedule with a
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
        the pad is ``boundary_margins(shape)`` (per side, e.g. a rotational blur)
        or ``boundary_margin(shape)`` (every side) of the operator, 16 without
        either; ``padded(pad)`` receives an int, or ``(top, bottom, left, right)``
        when the sides differ (e.g. enlarged to an FFT-friendly size).
    callback : callable, optional
        ``callback(k, x, alpha_k, sigma_k)`` after each iteration, ``x`` the
        current estimate as a float array in the output layout. Its signature
        is checked before any work: it must take four positional arguments.
    x_true : ndarray, optional
        Ground truth (output shape) to track PSNR per iteration in the info.
    init : ndarray, optional
        Starting estimate (output shape); default from the operator. The
        shapes of ``x_true`` and ``init`` are checked before the operator is
        built or a kernel estimated, except for an estimator of another
        package (which may return an operator of another scale): then right
        after the estimation.
    progress : bool, optional
        Show a progress bar (default: only on a terminal).
    device : str or torch.device, optional
        ``None`` (default): numpy arrays and the pyFFTW data step. A torch
        device (``"cpu"``, ``"cuda"``, ...; checked before any work: another
        type, e.g. ``True`` or an int, is a TypeError, a device that is not
        available here or torch's ``"meta"`` device a ValueError): the whole loop runs on torch
        tensors on that device (torch data step, prior network), with no
        round trip to numpy inside the loop. Needs a torch prior (one with
        ``denoise_tensor``, e.g. ``"drunet"``) and an operator with
        ``torch_data_step``. The prior's tiling (``tile``, ``overlap``,
        ``memory_budget_mb`` of a :class:`priors.torch_adapter.TorchDenoiser`)
        applies as on the numpy path, the tiles blended on the device; a
        prior's output is checked as on the numpy path (floats, finite, the
        input's shape).
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

    Raises
    ------
    TypeError
        If an argument has the wrong type: ``y`` (see
        :func:`pnp._layout.to_internal`), ``scale``, ``prior``, ``callback``
        or ``kernel`` / ``schedule`` given as a class instead of an instance;
        or if ``callback`` or a callable ``prior`` cannot take its positional
        arguments.
    ValueError
        If an argument has a wrong value: ``y`` of another shape than
        ``(H, W)`` or ``(H, W, C)`` (a channels-first ``(C, H, W)`` array is
        named as such), NaN or infinite values, a ``scale`` that is not a
        finite integer >= 1, a kernel larger than the output, ``x_true`` or
        ``init`` not of the output shape, a ``noise_level`` off the 0-1 scale
        or, with ``noise_level=None``, a ``y`` whose estimated noise level
        shows that it is not on the 0-1 scale.

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
    check_schedule(schedule)  # a class (e.g. LearnedSchedule) before hasattr(schedule, "for_operator") below
    check_callable(callback, "callback", signature="callback(k, x, alpha_k, sigma_k)")
    if callback is not None:
        _check_arity(callback, 4, "callback", "callback(k, x, alpha_k, sigma_k)")
    if device is not None:
        torch_device = _check_device(device)  # before any work
    # x_true and init: converted once (one scale warning each), checked against the output shape
    # before the operator is built or a kernel estimated when that shape is already known
    xt = None if x_true is None else to_internal(x_true, "x_true")[0]
    xi = None if init is None else to_internal(init, "init")[0]
    _check_output_shapes(xt, xi, x_true, init, _known_output_shape(kernel, y_int.shape, scale), layout.ndim)
    solver_fn = get_solver(solver)
    prior_fn = get_prior(prior)
    if not isinstance(prior, str):  # a user's callable: its signature, before any work
        if device is None:
            _check_arity(prior_fn, 2, "prior", "prior(x, sigma)")
        elif hasattr(prior_fn, "denoise_tensor"):
            _check_arity(prior_fn.denoise_tensor, 2, "prior.denoise_tensor", "prior.denoise_tensor(x, sigma)")

    with _no_repeated_scale_warning(y_int, layout):  # estimators convert y again: its scale warning was given above
        operator, estimator = make_operator(y, kernel, scale, noise_level=noise_level)
    out_shape = tuple(operator.input_shape(y_int.shape))
    _check_output_shapes(xt, xi, x_true, init, out_shape, layout.ndim)  # the definitive check
    s = getattr(operator, "scale", 1)
    if noise_level is None:
        noise_level = getattr(estimator, "noise_level_", None)
        source = f"{type(estimator).__name__}.noise_level_"
        if noise_level is None:
            from .estimate.noise import NoiseEstimator

            source = "NoiseEstimator"
            try:
                with _no_repeated_scale_warning(y_int, layout):
                    noise_level = NoiseEstimator().estimate(y)
            except ValueError as exc:  # too small or mostly saturated: say which argument avoids it
                raise ValueError(f"noise_level=None, but the noise level of y cannot be estimated: {exc}; "
                                 "pass noise_level (0-1 scale)") from exc
        _check_estimated_noise_level(noise_level, y_int, source)
    noise_level = _check_noise_level(noise_level)
    C, h, w = y_int.shape
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
        if hasattr(operator, "boundary_margins"):  # (top, bottom, left, right), e.g. a rotational blur
            margin = operator.boundary_margins(y_int.shape[-2:])
        else:
            margin = operator.boundary_margin(y_int.shape[-2:]) if hasattr(operator, "boundary_margin") else 16
        y_work, (top, left) = pad_observation(y_int, margin, boundary)
        pads = (top, y_work.shape[-2] - h - top, left, y_work.shape[-1] - w - left)
        # a symmetric pad stays an int (the simplest form of the operator protocol); a user mask of
        # a rotational blur must be padded to the FFT-friendly padded shape, so it gets all four
        op_work = operator.padded(pads[0] if len(set(pads)) == 1 else pads)
        observed = np.zeros(y_work.shape[-2:], dtype=bool)
        observed[top:top + h, left:left + w] = True
    else:
        y_work, (top, left), op_work = y_int, (0, 0), operator
    if progress is False and callable(getattr(op_work, "matrix", None)) and "progress" in inspect.signature(
            op_work.matrix).parameters:
        op_work.matrix(y_work.shape[-2:], progress=False)  # built (and cached) now, without its progress bar
    del y_int  # the padded copy (or the same array) is all the loop needs: lower peak memory
    r0, c0 = top * (H // h), left * (W // w)

    def crop(x):
        return x[:, r0:r0 + H, c0:c0 + W]

    def view(x):
        return chw_to_public(crop(x), layout.ndim)

    x_true_f = None if xt is None else chw_to_public(xt, layout.ndim)

    if device is None:
        data_step = op_work.data_step(y_work) if observed is None else op_work.data_step(y_work, observed=observed)
    x0 = op_work.initial(y_work)
    if xi is not None:
        x0[:, r0:r0 + H, c0:c0 + W] = xi

    prior_name = prior if isinstance(prior, str) else getattr(prior, "__name__", type(prior).__name__)

    def prior_chw(x, sigma):
        x_pub = chw_to_public(x, 2 if x.shape[0] == 1 else 3)
        raw = np.asarray(prior_fn(x_pub, float(sigma)))
        _check_prior_output(prior_name, sigma, raw.dtype, raw.dtype.kind == "f",
                            lambda: np.all(np.isfinite(raw)), raw.shape, x_pub.shape)
        return public_to_chw(raw.astype(np.float64, copy=False))

    if device is not None:
        data_step, prior_chw, x0, to_numpy = _torch_pieces(op_work, prior_fn, y_work, observed, x0, device,
                                                           torch_device, prior_name)
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


def _check_arity(fn, n, name, call):
    """Raise TypeError unless ``fn`` can be called with ``n`` positional arguments.

    Uses :func:`inspect.signature`; ``*args`` and defaults count. Callables whose
    signature cannot be read (some builtins and extension objects) are not
    checked: they fail, if at all, when first called.
    """
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return
    try:
        sig.bind(*range(n))
    except TypeError as exc:
        what = getattr(fn, "__name__", None) or type(fn).__name__
        raise TypeError(f"{name} must accept {n} positional arguments, as {call}; "
                        f"{what}{sig} cannot be called that way ({exc})") from None


def _known_output_shape(kernel, y_shape, scale):
    """The internal output shape ``(C, H, W)`` of :func:`solve` if known before the operator is built, else None.

    ``scale`` times ``y`` for a kernel array; ``y``'s for ``"estimate"`` and
    the estimators of :mod:`pnp.estimate` with ``scale=1`` (their kernels and
    operators keep the size); ``input_shape`` of an operator instance. None
    for an estimator of another package (it may return an operator of any
    scale), for estimation with ``scale > 1`` and for what
    :func:`make_operator` refuses: it says what is wrong first.
    """
    if kernel is None or isinstance(kernel, type):
        return None
    if _is_operator(kernel):
        if not hasattr(kernel, "input_shape") or (scale != 1 and getattr(kernel, "scale", 1) != scale):
            return None
        return tuple(kernel.input_shape(y_shape))
    if isinstance(kernel, str) or hasattr(kernel, "estimate"):
        if scale != 1 or (isinstance(kernel, str) and kernel != "estimate"):
            return None
        if not isinstance(kernel, str) and not type(kernel).__module__.startswith("pnp.estimate"):
            return None
    C, h, w = y_shape
    return (C, h * scale, w * scale)


def _check_output_shapes(xt, xi, x_true, init, out_shape, ndim):
    """Refuse ``x_true`` / ``init`` (internal ``xt`` / ``xi``) not of the output shape; None: not known yet."""
    if out_shape is None:
        return
    expected = tuple(out_shape[1:]) if ndim == 2 else (*out_shape[1:], out_shape[0])
    for name, internal, public in (("x_true", xt, x_true), ("init", xi, init)):
        if internal is not None and internal.shape != tuple(out_shape):
            raise ValueError(f"{name} has shape {np.shape(public)}, expected the output shape {expected}")


def _check_estimated_noise_level(value, y_int, source):
    """Refuse an estimated noise level above 1 as what it means: ``y`` is not on the 0-1 scale."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool) and float(value) > 1:
        lo, hi = float(y_int.min()), float(y_int.max())
        raise ValueError(
            f"y is not on the 0-1 intensity scale: its values lie in [{lo:.3g}, {hi:.3g}] and the noise level "
            f"estimated from it ({source}, with noise_level=None) is {float(value):.3g}. Divide a float y by "
            "its white level (e.g. 255), or pass noise_level on the 0-1 scale."
        )


@contextlib.contextmanager
def _no_repeated_scale_warning(y_int, layout):
    """Silence a second "y is a float image with values in [...]" warning inside the block.

    Estimators convert the public ``y`` again and would repeat the warning that
    :func:`solve` gave when it converted ``y``. The filter is only installed
    when ``y`` is such an image: :func:`warnings.catch_warnings` changes
    process-wide state, shared with threads running other solves
    (:func:`pnp.batch.deblur_batch`).
    """
    off_scale = layout.scale == 1.0 and y_int.size > 0 and not (
        OFF_SCALE[0] <= float(y_int.min()) and float(y_int.max()) <= OFF_SCALE[1])
    if not off_scale:
        yield
        return
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"y is a float image with values in ", category=UserWarning)
        yield


def _check_prior_output(name, sigma, dtype, is_float, all_finite, shape, in_shape, what="an array"):
    """Refuse a prior's output that is not floats, holds NaN or infinity, or is not of the input's shape.

    Shared by both paths of :func:`solve` (the messages are the same):
    ``all_finite`` is called only once the dtype is known to be a float one;
    ``what`` names the output (``"an array"``, ``"a tensor"``).

    Raises
    ------
    TypeError
        If ``is_float`` is False.
    ValueError
        If ``all_finite()`` is False or ``shape != in_shape``.
    """
    if not is_float:
        raise TypeError(f"prior {name!r} returned {what} of dtype {dtype}; a prior must return the "
                        "denoised image as floats on the 0-1 scale")
    if not all_finite():
        raise ValueError(f"prior {name!r} returned NaN or infinite values at sigma={float(sigma):.4g}")
    if tuple(shape) != tuple(in_shape):
        raise ValueError(f"prior {name!r} returned {what} of shape {tuple(shape)} for an input of shape "
                         f"{tuple(in_shape)}; a prior must return the denoised image in the shape it was given")


def _check_device(device):
    """``device`` (not None) as a :class:`torch.device` that exists here and computes.

    Raises
    ------
    TypeError
        If ``device`` is neither a string nor a :class:`torch.device` (``True``,
        ``1.5``; an int, which torch would take for a CUDA index, too).
    ValueError
        If it names no torch device, one that is not available here, or
        torch's ``"meta"`` device (shapes without data: nothing to restore).
    """
    import torch

    if not isinstance(device, (str, torch.device)):
        raise TypeError(f"device must be None (numpy), a torch device name such as 'cpu', 'cuda' or 'cuda:1', or a "
                        f"torch.device; got {device!r} ({type(device).__name__})")
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise ValueError(f"torch device {device!r} is not available: {exc}") from exc
    if dev.type == "meta":
        raise ValueError(f"device={device!r} is torch's meta device, which holds shapes but no data: pnp.solve "
                         "cannot compute an image there; use 'cpu' or 'cuda'")
    try:
        torch.empty(1, device=dev)
    except (RuntimeError, AssertionError) as exc:
        raise ValueError(f"torch device {device!r} is not available: {exc}") from exc
    return dev


def _torch_pieces(operator, prior, y, observed, x0, device, dev, name=None):
    """Data step, prior and start point on torch tensors ``(1, C, H, W)`` on ``dev``.

    ``dev`` is ``device`` as :func:`_check_device` returned it; ``device``, as
    the caller gave it, names it in the messages.

    The prior runs tile by tile as on the numpy path when it can
    (``denoise_tensor_tiled`` of a :class:`priors.torch_adapter.TorchDenoiser`),
    and its output is checked as there (:func:`_check_prior_output`); ``name``
    names the prior in those messages.
    """
    import torch

    if not hasattr(prior, "denoise_tensor"):
        raise TypeError(f"device={device!r} needs a torch prior with denoise_tensor (e.g. 'drunet'); got {prior!r}")
    if not (hasattr(operator, "torch_data_step") or hasattr(operator, "matrix")):
        raise TypeError(f"device={device!r} needs an operator with torch_data_step or a sparse matrix(); "
                        f"{operator!r} has neither")
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

    name = name or getattr(prior, "__name__", type(prior).__name__)
    denoise = getattr(prior, "denoise_tensor_tiled", None) or prior.denoise_tensor

    def prior_t(x, sigma):
        out = denoise(x, float(sigma))  # a TorchDenoiser explains weights for other channel counts itself
        if not torch.is_tensor(out):
            raise TypeError(f"prior {name!r} returned a {type(out).__name__} from denoise_tensor; a torch prior "
                            "must return the denoised image as a torch tensor")
        _check_prior_output(name, sigma, out.dtype, out.is_floating_point(),
                            lambda: bool(torch.isfinite(out).all()), out.shape, x.shape, what="a tensor")
        return out.to(device=x.device, dtype=x.dtype)

    def to_numpy(x):
        return x[0].detach().cpu().numpy().astype(np.float64)

    x0t = torch.as_tensor(x0, dtype=torch.float32, device=dev)[None]
    return step, prior_t, x0t, to_numpy
