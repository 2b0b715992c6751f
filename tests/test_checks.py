"""pnp._checks: the argument checks shared across the library, and the names re-exported for the estimators."""

import math

import numpy as np
import pytest

from pnp import _checks
from pnp._checks import check_bool, check_callable, check_grid, check_int, check_pair, check_real


def test_check_real_returns_a_float_and_names_the_range():
    assert check_real(np.float32(0.5), "x", 0, 1) == 0.5 and type(check_real(3, "x")) is float
    assert check_real(math.inf, "x", finite=False) == math.inf
    with pytest.raises(ValueError, match=r"x must be a finite number in \(0, 1\], got 0"):
        check_real(0, "x", 0, 1, low_open=True)
    with pytest.raises(ValueError, match=r"x must be a finite number >= 2, got 1"):
        check_real(1, "x", 2)
    with pytest.raises(ValueError, match=r"x must be a finite number < 5, got 5"):
        check_real(5, "x", high=5, high_open=True)


@pytest.mark.parametrize("value, exc", [(True, TypeError), (np.bool_(False), TypeError), ("1", TypeError),
                                        (None, TypeError), (math.nan, ValueError), (math.inf, ValueError)])
def test_check_real_refuses_bools_strings_nan_and_infinity(value, exc):
    with pytest.raises(exc, match="x must be a finite number"):
        check_real(value, "x")


def test_check_real_refuses_nan_even_when_infinity_is_allowed():
    with pytest.raises(ValueError, match=r"x must be a number \(not NaN\)"):
        check_real(math.nan, "x", finite=False)


def test_expected_replaces_the_words_but_not_the_rule():
    with pytest.raises(ValueError, match=r"^m must be a positive number \(MiB\), got 0$"):
        check_real(0, "m", 0, low_open=True, expected="a positive number (MiB)")
    with pytest.raises(TypeError, match=r"^n must be a count, got 2.5$"):
        check_int(2.5, "n", 1, expected="a count")


def test_check_int_refuses_bools_and_floats():
    assert check_int(np.int64(3), "n", 1) == 3 and type(check_int(np.int64(3), "n")) is int
    for value in (True, np.bool_(True), 7.0, 7.9, "7"):
        with pytest.raises(TypeError, match=r"n must be an integer in \[1, 9\]"):
            check_int(value, "n", 1, 9)
    with pytest.raises(ValueError, match=r"n must be an integer in \[1, 9\], got 10"):
        check_int(10, "n", 1, 9)


def test_check_bool():
    assert check_bool(np.bool_(True), "flag") is True
    for value in ("no", 0, 1, None):
        with pytest.raises(TypeError, match="flag must be True or False"):
            check_bool(value, "flag")


def test_check_pair():
    assert check_pair((1, 2), "r", 0, 3) == (1.0, 2.0)
    assert check_pair((0, 2), "r", 0, 3, low_open=False) == (0.0, 2.0)
    with pytest.raises(ValueError, match=r"r must be \(low, high\) with 0 < low < high <= pi/2"):
        check_pair((0, 1), "r", 0, np.pi / 2, high_text="pi/2")
    for value in ((math.nan, 1), (2, 1)):
        with pytest.raises(ValueError):
            check_pair(value, "r", 0, 3)
    for value in (1, (1, 2, 3), (True, 2)):
        with pytest.raises(TypeError, match=r"r must be \(low, high\)"):
            check_pair(value, "r", 0, 3)


def test_check_grid():
    np.testing.assert_array_equal(check_grid([[1, 2]], "w", "widths"), [1.0, 2.0])
    with pytest.raises(TypeError, match="w must be a non-empty array of positive widths"):
        check_grid(["a"], "w", "widths")
    for value in ([], [1, 0], [1, math.nan]):
        with pytest.raises(ValueError, match="w must be a non-empty array of positive widths"):
            check_grid(value, "w", "widths")


def test_check_callable():
    assert check_callable(None, "cb") is None and check_callable(print, "cb") is print
    with pytest.raises(TypeError, match=r"cb must be callable as cb\(k\), or None, got str"):
        check_callable("print", "cb", signature="cb(k)")
    with pytest.raises(TypeError, match="cb must be callable, got NoneType"):
        check_callable(None, "cb", allow_none=False)


def test_monitor_refuses_a_callback_that_is_not_callable():
    from solvers import Monitor

    with pytest.raises(TypeError, match=r"callback must be callable as callback\(k, x, alpha, sigma\)"):
        Monitor(2, callback="print", progress=False)


def test_the_estimators_module_still_exports_the_generic_checks():
    from pnp.estimate import _checks as estimate_checks

    for name in ("check_real", "check_int", "check_bool", "check_pair", "check_grid", "_range_text"):
        assert getattr(estimate_checks, name) is getattr(_checks, name)
    assert callable(estimate_checks.check_noise_estimator)
