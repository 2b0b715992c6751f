"""Argument checks shared across the library (clear errors naming the argument and its valid range).

Each check returns the value in its plain Python form (``float``, ``int``,
``bool``, ...) and raises ``TypeError`` for a value of the wrong kind
(``bool`` is never taken for a number) and ``ValueError`` for one of the right
kind outside its range. The module imports only numpy, so any part of
:mod:`pnp` may import it at its top level; :mod:`priors` and :mod:`solvers`
import it inside functions (``import pnp`` loads pyfftw, which the training
path does without).
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["check_real", "check_int", "check_bool", "check_pair", "check_grid", "check_callable"]


def _range_text(low, high, low_open, high_open):
    """The range ``[low, high]`` in words: ``"in [0, 1]"``, ``"> 0"``, ``"<= 5"`` or ``""`` (no bound)."""
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f"{'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f"{'<' if high_open else '<='} {high:g}"
    return ""


def check_real(value, name, low=None, high=None, low_open=False, high_open=False, finite=True, expected=None):
    """``value`` as a float, checked: a real number (not a bool), not NaN, finite unless ``finite=False``, in range.

    Parameters
    ----------
    value : object
        The argument to check.
    name : str
        Argument name used in the messages (it may carry a unit, e.g. ``"radius (pixels)"``).
    low, high : float, optional
        Bounds of the range (None: unbounded on that side).
    low_open, high_open : bool
        Exclude ``low`` / ``high`` themselves.
    finite : bool
        Refuse infinities (NaN is always refused).
    expected : str, optional
        What the message says ``value`` must be, in place of the text built
        from the range (e.g. ``"a positive number (MiB)"``); the checks stay
        those of the other arguments.

    Returns
    -------
    float

    Raises
    ------
    TypeError
        If ``value`` is not a real number (``bool`` included).
    ValueError
        If it is NaN, infinite (with ``finite=True``) or outside the range.
    """
    if expected is None:
        rng = _range_text(low, high, low_open, high_open)
        expected = f"{'a finite number' if finite else 'a number (not NaN)'}{' ' + rng if rng else ''}"
    what = f"{name} must be {expected}"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{what}, got {value!r}")
    v = float(value)
    if np.isnan(v) or (finite and not np.isfinite(v)):
        raise ValueError(f"{what}, got {value!r}")
    if low is not None and not (v > low if low_open else v >= low):
        raise ValueError(f"{what}, got {value!r}")
    if high is not None and not (v < high if high_open else v <= high):
        raise ValueError(f"{what}, got {value!r}")
    return v


def check_int(value, name, low=None, high=None, expected=None):
    """``value`` as an int, checked: an integer (not a bool, not a float such as 7.9 or 7.0) in ``[low, high]``.

    Parameters
    ----------
    value : object
        The argument to check.
    name : str
        Argument name used in the messages.
    low, high : int, optional
        Inclusive bounds (None: unbounded on that side).
    expected : str, optional
        What the message says ``value`` must be, in place of the text built
        from the range (e.g. ``"an integer >= 1 (values below 64 are raised to 64)"``).

    Returns
    -------
    int

    Raises
    ------
    TypeError
        If ``value`` is not an integer (``bool`` and floats included).
    ValueError
        If it is outside the range.
    """
    if expected is None:
        rng = _range_text(low, high, False, False)
        expected = f"an integer{' ' + rng if rng else ''}"
    what = f"{name} must be {expected}"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{what}, got {value!r}")
    v = int(value)
    if (low is not None and v < low) or (high is not None and v > high):
        raise ValueError(f"{what}, got {value!r}")
    return v


def check_bool(value, name):
    """``value`` as a bool, checked: ``True`` or ``False`` (not a string such as ``"no"``, which is truthy).

    Raises
    ------
    TypeError
        If ``value`` is not a ``bool`` or ``numpy.bool_``.
    """
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_pair(value, name, low, high, high_text=None, low_open=True):
    """``(lo, hi)``, checked: two finite numbers with ``low < lo < hi <= high`` (the message names the rule).

    ``high_text`` (optional) writes ``high`` in the message (e.g. ``"pi/2"``); ``low_open=False``
    allows ``lo == low``.

    Returns
    -------
    tuple of float

    Raises
    ------
    TypeError
        If ``value`` is not a pair of real numbers (``bool`` included).
    ValueError
        If the pair breaks the rule (NaN included).
    """
    first = "<" if low_open else "<="
    what = f"{name} must be (low, high) with {low:g} {first} low < high <= {high_text or format(high, 'g')}"
    try:
        lo, hi = value
    except (TypeError, ValueError):
        raise TypeError(f"{what}, got {value!r}") from None
    for v in (lo, hi):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
            raise TypeError(f"{what}, got {value!r}")
    lo, hi = float(lo), float(hi)
    if not ((low < lo) if low_open else (low <= lo)) or not lo < hi <= high:  # NaN fails too
        raise ValueError(f"{what}, got {value!r}")
    return lo, hi


def check_grid(values, name, what):
    """A non-empty 1-D float array of finite positive values (candidate widths or lengths).

    ``what`` names the values in the message (``"widths"``, ``"lengths"``).

    Raises
    ------
    TypeError
        If ``values`` is not numeric (or ragged).
    ValueError
        If it is empty or holds a value that is not finite and positive.
    """
    try:
        arr = np.asarray(values)
    except (TypeError, ValueError):  # ragged
        arr = np.asarray(None)
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be a non-empty array of positive {what}, got {values!r}")
    arr = arr.astype(np.float64).ravel()
    if arr.size == 0 or np.any(~np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"{name} must be a non-empty array of positive {what}")
    return arr


def check_callable(value, name, allow_none=True, signature=None):
    """``value``, checked: callable (or None with ``allow_none``).

    Parameters
    ----------
    value : object
        The argument to check.
    name : str
        Argument name used in the message.
    allow_none : bool
        Accept ``None`` (returned as is).
    signature : str, optional
        How ``value`` is called, for the message (e.g. ``"callback(k, x, alpha_k, sigma_k)"``).

    Returns
    -------
    callable or None

    Raises
    ------
    TypeError
        If ``value`` is not callable (nor None with ``allow_none``).
    """
    if (value is None and allow_none) or callable(value):
        return value
    how = f" as {signature}" if signature else ""
    raise TypeError(f"{name} must be callable{how}{', or None' if allow_none else ''}, got {type(value).__name__}")
