"""Argument checks of the estimators' constructors.

The generic checks (:func:`check_real`, :func:`check_int`, :func:`check_bool`,
:func:`check_pair`, :func:`check_grid`) live in :mod:`pnp._checks` and are
re-exported here so older imports keep working; this module keeps the
estimator-specific :func:`check_noise_estimator`.
"""

from __future__ import annotations

from .._checks import (  # noqa: F401  (re-exported)
    _range_text,
    check_bool,
    check_grid,
    check_int,
    check_pair,
    check_real,
)

__all__ = ["check_real", "check_int", "check_bool", "check_pair", "check_grid", "check_noise_estimator"]


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
