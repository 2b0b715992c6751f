"""Plug-and-play iterations, each written once over two pieces: a data step and a prior.

- :func:`hqs`: half-quadratic splitting.
- :func:`admm`: alternating direction method of multipliers.

Both take ``data_step(v, alpha) -> z`` and ``prior(x, sigma) -> x`` on
``(C, H, W)`` arrays, the per-iteration ``alphas`` and ``sigmas``, a starting
point and an optional :class:`Monitor`.
"""

from .admm import admm
from .hqs import hqs
from .monitor import Monitor

SOLVERS = {"hqs": hqs, "admm": admm}

__all__ = ["hqs", "admm", "Monitor", "SOLVERS", "get_solver"]


def get_solver(name):
    """Solver function for ``name`` (``"hqs"`` or ``"admm"``), or ``name`` itself if callable."""
    if callable(name):
        return name
    if not isinstance(name, str) or name.lower() not in SOLVERS:
        raise ValueError(f"unknown solver {name!r}; choose one of {sorted(SOLVERS)}")
    return SOLVERS[name.lower()]
