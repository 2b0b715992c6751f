"""Alternating direction method of multipliers (ADMM)."""

from __future__ import annotations

__all__ = ["admm"]


def admm(data_step, prior, alphas, sigmas, x0, monitor=None):
    r"""Plug-and-play ADMM (scaled form).

    For :math:`k = 1..K`:

    .. math::
        x_k &= \arg\min_x \|y - A x\|^2 + \alpha_k \|x - (v_{k-1} - u_{k-1})\|^2\\
        v_k &= D(x_k + u_{k-1}, \sigma_k)\\
        u_k &= u_{k-1} + x_k - v_k

    ``u`` is the dual variable divided by the penalty (the scaled form), so
    when the penalty changes, :math:`u_{k-1}` is first multiplied by
    :math:`\alpha_{k-1} / \alpha_k`: the unscaled dual :math:`\alpha u` carries
    over. Without it a converged iterate is pushed off the minimiser at every
    change of ``alpha``.

    Parameters are those of :func:`solvers.hqs`. Returns the prior's last
    output :math:`v_K`.
    """
    from .hqs import check_schedule_lengths

    check_schedule_lengths(alphas, sigmas)
    v = x0
    u = x0 * 0  # works for numpy arrays and torch tensors
    previous = None
    for k, (alpha, sigma) in enumerate(zip(alphas, sigmas)):
        if previous is not None and alpha != previous:
            u = u * (float(previous) / float(alpha))  # keep the unscaled dual alpha * u
        previous = alpha
        x = data_step(v - u, alpha)
        v = prior(x + u, sigma)
        u = u + x - v
        if monitor is not None:
            monitor(k, v, alpha, sigma)
    return v
