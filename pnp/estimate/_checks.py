"""Argument checks shared by the estimators' constructors (clear errors naming the argument and its range)."""

from __future__ import annotations

import numbers

import numpy as np


def _range_text(low, high, low_open, high_open):
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f"{'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f"{'<' if high_open else '<='} {high:g}"
    return ""


def check_real(value, name, low=None, high=None, low_open=False, high_open=False, finite=True):
    """``value`` as a float, checked: a real number (not a bool), not NaN, finite unless ``finite=False``, in range.

    Raises
    ------
    TypeError
        If ``value`` is not a real number (``bool`` included).
    ValueError
        If it is NaN, infinite (with ``finite=True``) or outside the range.
    """
    rng = _range_text(low, high, low_open, high_open)
    what = f"{name} must be {'a finite number' if finite else 'a number (not NaN)'}{' ' + rng if rng else ''}"
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


def check_int(value, name, low=None, high=None):
    """``value`` as an int, checked: an integer (not a bool, not a float such as 7.9 or 7.0) in ``[low, high]``.

    Raises
    ------
    TypeError
        If ``value`` is not an integer (``bool`` and floats included).
    ValueError
        If it is outside the range.
    """
    rng = _range_text(low, high, False, False)
    what = f"{name} must be an integer{' ' + rng if rng else ''}"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{what}, got {value!r}")
    v = int(value)
    if (low is not None and v < low) or (high is not None and v > high):
        raise ValueError(f"{what}, got {value!r}")
    return v


def check_bool(value, name):
    """``value`` as a bool, checked: ``True`` or ``False`` (not a string such as ``"no"``, which is truthy)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_pair(value, name, low, high, high_text=None, low_open=True):
    """``(lo, hi)``, checked: two finite numbers with ``low < lo < hi <= high`` (the message names the rule).

    ``high_text`` (optional) writes ``high`` in the message (e.g. ``"pi/2"``); ``low_open=False``
    allows ``lo == low``.
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
    """A non-empty 1-D float array of finite positive values (candidate widths or lengths)."""
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


def check_noise_estimator(noise_estimator):
    """``None`` or an instance with ``estimate(y) -> sigma``."""
    if noise_estimator is None:
        return None
    if isinstance(noise_estimator, type):
        raise TypeError(f"noise_estimator is the class {noise_estimator.__name__}, not an instance of it: pass "
                        f"an instance, e.g. {noise_estimator.__name__}()")
    if not callable(getattr(noise_estimator, "estimate", None)):
        raise TypeError("noise_estimator must be None or an object with estimate(y) -> sigma, got "
                        f"{noise_estimator!r}")
    return noise_estimator
