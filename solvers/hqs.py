"""Half-quadratic splitting (HQS)."""

from __future__ import annotations

__all__ = ["hqs", "check_schedule_lengths"]


def check_schedule_lengths(alphas, sigmas):
    """Raise ``ValueError`` unless there are as many penalties as prior noise levels."""
    if len(alphas) != len(sigmas):
        raise ValueError(f"got {len(alphas)} penalties alpha_k but {len(sigmas)} noise levels sigma_k: "
                         "the schedule needs one pair per iteration")


def hqs(data_step, prior, alphas, sigmas, x0, monitor=None):
    r"""Plug-and-play HQS.

    For :math:`k = 1..K`:

    .. math::
        z_k &= \arg\min_z \|y - A z\|^2 + \alpha_k \|z - x_{k-1}\|^2 \quad\text{(data step)}\\
        x_k &= D(z_k, \sigma_k) \quad\text{(prior)}

    Parameters
    ----------
    data_step : callable
        ``data_step(v, alpha) -> z``, arrays of shape ``(C, H, W)``.
    prior : callable
        ``prior(x, sigma) -> x`` on ``(C, H, W)`` arrays.
    alphas, sigmas : sequence of float
        Per-iteration penalty and prior noise level.
    x0 : ndarray, shape (C, H, W)
        Starting estimate.
    monitor : Monitor, optional
        Called after each iteration with ``(k, x, alpha, sigma)``, ``k``
        counting from 0.

    Returns
    -------
    ndarray, shape (C, H, W)
    """
    check_schedule_lengths(alphas, sigmas)
    x = x0
    for k, (alpha, sigma) in enumerate(zip(alphas, sigmas)):
        z = data_step(x, alpha)
        x = prior(z, sigma)
        if monitor is not None:
            monitor(k, x, alpha, sigma)
    return x
