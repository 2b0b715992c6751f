"""Penalty / noise-level schedules: which ``(alpha_k, sigma_k)`` each iteration uses.

A schedule is any callable ``schedule(noise_level, iters, scale=1)`` that
returns ``iters`` pairs ``(alpha_k, sigma_k)``: ``alpha_k`` weighs the
proximal term of the data step and ``sigma_k`` (0-1 intensity scale) is the
noise level handed to the prior. The classes here are small pure objects; a
plain list of pairs is accepted by :func:`pnp.solve` as well.
"""

from __future__ import annotations

import numpy as np

from ._checks import check_int, check_real

__all__ = ["DPIRSchedule", "ConstantSchedule", "GeometricSchedule", "resolve_schedule", "check_iters"]


def _number(value, name, allow_zero=False):
    """``value`` as a float: a finite real number > 0 (>= 0 with ``allow_zero``), else a clear error."""
    return check_real(value, name, 0, low_open=not allow_zero)


def _sigma(value, name, allow_zero=False):
    """A prior noise level of a schedule: :func:`_number`, and at most 1 (the 0-1 intensity scale)."""
    v = _number(value, name, allow_zero)
    if v > 1:
        raise ValueError(f"{name}={v:g} is on the wrong scale: prior noise levels are on the 0-1 intensity "
                         f"scale, in {'[0, 1]' if allow_zero else '(0, 1]'} (e.g. 49/255, not 49)")
    return v


def check_iters(iters, name="iters"):
    """The number of iterations of a schedule, checked: an integer >= 1.

    Parameters
    ----------
    iters : int
        Number of ``(alpha_k, sigma_k)`` pairs asked for.
    name : str
        Argument name used in the messages.

    Returns
    -------
    int

    Raises
    ------
    TypeError
        If ``iters`` is not an integer: ``bool``, ``float`` (``2.7`` would be
        truncated) and strings (``"8"``) are refused.
    ValueError
        If ``iters`` is below 1.
    """
    return check_int(iters, name, 1)


def _check_noise_level(noise_level):
    from .noise import check_noise_level

    return check_noise_level(noise_level)


def _check_scale(scale):
    from .operators.blur import check_scale

    return check_scale(scale)


class _Schedule:
    def params(self, noise_level, iters, scale=1):  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, noise_level, iters, scale=1):
        """Return a list of ``iters`` pairs ``(alpha_k, sigma_k)``.

        Raises
        ------
        TypeError
            If ``noise_level`` is not a number or ``iters`` not an integer (:func:`check_iters`).
        ValueError
            If ``noise_level`` is negative, not finite or above 1 (the 0-1 intensity
            scale; :func:`pnp.noise.check_noise_level`), ``iters`` is below 1, or
            ``scale`` is not an integer >= 1 (:func:`pnp.operators.blur.check_scale`).
        """
        alphas, sigmas = self.params(noise_level, iters, scale)
        return list(zip(alphas.tolist(), sigmas.tolist()))

    def __repr__(self):
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"


class DPIRSchedule(_Schedule):
    r"""The schedule of DPIR (Zhang et al., 2021).

    :math:`\sigma_k` is log-spaced from ``sigma_max`` down to
    :math:`\max(\sigma_n, \text{floor})` over the iterations, and
    :math:`\alpha_k = \lambda \sigma_n^2 / \sigma_k^2`. The end point never
    exceeds ``sigma_max``: for an observation noisier than ``sigma_max`` every
    :math:`\sigma_k` equals ``sigma_max`` (raise ``sigma_max`` for such
    images). With ``iters=1`` the only iteration uses ``sigma_max``.

    Parameters
    ----------
    sigma_max : float
        Prior noise level of the first iteration (0-1 scale); DPIR uses 49/255.
    lam : float
        Regularisation weight :math:`\lambda`; DPIR uses 0.23.
    floor : float
        Lowest noise level used at the end and in :math:`\alpha_k`, so that
        noiseless inputs keep a finite schedule (0.255/255 by default). For
        super-resolution DPIR ends at ``scale/255`` at least, which is applied
        when ``scale > 1``.

    Raises
    ------
    TypeError
        If a value is not a real number.
    ValueError
        If a value is not finite and > 0, or ``sigma_max`` or ``floor`` is
        above 1 (a noise level on the 0-255 scale).
    """

    def __init__(self, sigma_max=49 / 255, lam=0.23, floor=0.255 / 255):
        self.sigma_max = _sigma(sigma_max, "sigma_max")
        self.lam = _number(lam, "lam")
        self.floor = _sigma(floor, "floor")

    def params(self, noise_level, iters, scale=1):
        """``alphas, sigmas``: two float arrays of length ``iters`` (see :meth:`__call__` for the errors)."""
        noise = max(_check_noise_level(noise_level), self.floor)
        iters = check_iters(iters)
        scale = _check_scale(scale)
        end = max(noise, scale / 255.0) if scale > 1 else noise
        end = min(end, self.sigma_max)
        sigmas = np.logspace(np.log10(self.sigma_max), np.log10(end), iters)
        alphas = self.lam * noise**2 / sigmas**2
        return alphas, sigmas


class ConstantSchedule(_Schedule):
    """The same ``(alpha, sigma)`` at every iteration.

    Parameters
    ----------
    alpha : float
        Penalty, finite and > 0.
    sigma : float
        Prior noise level, 0-1 intensity scale, in [0, 1].

    Raises
    ------
    TypeError
        If a value is not a real number.
    ValueError
        If ``alpha`` is not finite and > 0, or ``sigma`` not in [0, 1] (a value
        above 1 is a noise level on the 0-255 scale).
    """

    def __init__(self, alpha, sigma):
        self.alpha = _number(alpha, "alpha")
        self.sigma = _sigma(sigma, "sigma", allow_zero=True)

    def params(self, noise_level, iters, scale=1):
        """``alphas, sigmas``: two float arrays of length ``iters``; ``noise_level`` is checked, not used."""
        _check_noise_level(noise_level)
        iters = check_iters(iters)
        _check_scale(scale)
        return np.full(iters, self.alpha), np.full(iters, self.sigma)


class GeometricSchedule(_Schedule):
    r"""``sigma_k`` decays geometrically from ``sigma_start`` to ``sigma_end``; ``alpha_k`` grows.

    Parameters
    ----------
    sigma_start, sigma_end : float
        First and last prior noise level (0-1 scale). ``sigma_end=None`` uses
        the observation's noise level.
    alpha_start, alpha_end : float, optional
        First and last penalty; give both or neither. By default
        :math:`\alpha_k = \lambda \sigma_n^2/\sigma_k^2` as in :class:`DPIRSchedule`, with ``lam``.
    lam : float

    Raises
    ------
    ValueError
        If only one of ``alpha_start`` and ``alpha_end`` is given, a value is
        not finite and > 0 (a geometric sequence cannot reach 0), or
        ``sigma_start`` or ``sigma_end`` is above 1 (a noise level on the 0-255
        scale).
    TypeError
        If a value is not a real number.
    """

    def __init__(self, sigma_start=49 / 255, sigma_end=None, alpha_start=None, alpha_end=None, lam=0.23):
        if (alpha_start is None) != (alpha_end is None):
            given = "alpha_start" if alpha_end is None else "alpha_end"
            raise ValueError(f"give both alpha_start and alpha_end or neither (the default penalties), "
                             f"got only {given}")
        self.sigma_start = _sigma(sigma_start, "sigma_start")
        self.sigma_end = None if sigma_end is None else _sigma(sigma_end, "sigma_end")
        self.alpha_start = None if alpha_start is None else _number(alpha_start, "alpha_start")
        self.alpha_end = None if alpha_end is None else _number(alpha_end, "alpha_end")
        self.lam = _number(lam, "lam")

    def params(self, noise_level, iters, scale=1):
        """``alphas, sigmas``: two float arrays of length ``iters`` (see :meth:`__call__` for the errors)."""
        noise = max(_check_noise_level(noise_level), 0.255 / 255)
        iters = check_iters(iters)
        _check_scale(scale)
        end = noise if self.sigma_end is None else float(self.sigma_end)
        sigmas = np.geomspace(self.sigma_start, end, iters)
        if self.alpha_start is None:
            alphas = self.lam * noise**2 / sigmas**2
        else:
            alphas = np.geomspace(float(self.alpha_start), float(self.alpha_end), iters)
        return alphas, sigmas


def check_schedule(schedule):
    """Refuse a schedule class passed instead of an instance, before any work.

    :func:`pnp.solve` calls it first (before building the operator or estimating
    a kernel), so ``schedule=LearnedSchedule`` (the class) gets this message and
    not the error of calling its unbound ``for_operator``.

    Parameters
    ----------
    schedule : object
        ``None``, a schedule object or callable, or a sequence of pairs.

    Raises
    ------
    TypeError
        If ``schedule`` is a class (any class, e.g. :class:`DPIRSchedule` or
        :class:`pnp.learned_schedule.LearnedSchedule`) instead of an instance.
    """
    if isinstance(schedule, type):
        raise TypeError(f"schedule must be a schedule object, got the class {schedule.__name__}: "
                        f"pass an instance, e.g. schedule={schedule.__name__}()")


def resolve_schedule(schedule, noise_level, iters, scale=1):
    """Turn a schedule object, callable or list of pairs into two float arrays.

    Returns
    -------
    alphas, sigmas : ndarray, shape (iters,)

    Raises
    ------
    TypeError
        If ``schedule`` is a class instead of an instance (:func:`check_schedule`).
    ValueError
        If the schedule does not give ``iters`` pairs of finite numbers with
        ``alpha_k > 0`` and ``0 <= sigma_k <= 1``: a ``sigma_k`` above 1 is taken
        for a noise level on the 0-255 scale.
    """
    if schedule is None:
        schedule = DPIRSchedule()
    check_schedule(schedule)
    if callable(schedule):
        pairs = schedule(noise_level, iters, scale=scale) if _takes_scale(schedule) else schedule(noise_level, iters)
    else:
        pairs = schedule
    try:
        arr = np.asarray(list(pairs), dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"schedule must give pairs (alpha_k, sigma_k); got {pairs!r}") from exc
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"schedule must give pairs (alpha_k, sigma_k); got an array of shape {arr.shape}")
    if arr.shape[0] != iters:
        raise ValueError(f"schedule gave {arr.shape[0]} pairs for iters={iters}")
    if not np.all(np.isfinite(arr)) or np.any(arr[:, 0] <= 0) or np.any(arr[:, 1] < 0):
        raise ValueError("schedule values must be finite with alpha_k > 0 and sigma_k >= 0")
    if np.any(arr[:, 1] > 1):
        worst = float(arr[:, 1].max())
        raise ValueError(
            f"schedule gave sigma_k={worst:g}, which is on the wrong scale: the prior noise levels "
            f"sigma_k are on the 0-1 intensity scale (e.g. 49/255, not 49)"
        )
    return arr[:, 0].copy(), arr[:, 1].copy()


def _takes_scale(fn):
    import inspect

    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return "scale" in params or any(p.kind == p.VAR_KEYWORD for p in params.values())
