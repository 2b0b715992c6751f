"""Classical baselines for benchmarks and acceptance tests."""

from __future__ import annotations

import numpy as np

from .metrics import psnr

__all__ = ["best_wiener"]

WIENER_BALANCES = (1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1)


def best_wiener(y, kernel, x_true, balances=WIENER_BALANCES):
    """PSNR of scikit-image's Wiener filter with the best balance of a grid (an oracle baseline).

    Parameters
    ----------
    y : ndarray, shape (H, W) or (H, W, C)
        Blurred observation, 0-1 scale; colour channels are filtered one by one.
    kernel : ndarray, shape (h, w)
        Blur kernel.
    x_true : ndarray, same shape as ``y``
        Ground truth, used to choose the balance (hence "oracle").
    balances : sequence of float
        Regularisation weights tried.

    Returns
    -------
    float
        The best PSNR (dB) of the clipped Wiener output.
    """
    from skimage import restoration

    best = -np.inf
    for balance in balances:
        if y.ndim == 3:
            w = np.stack([restoration.wiener(y[..., c], kernel, balance) for c in range(y.shape[-1])], -1)
        else:
            w = restoration.wiener(y, kernel, balance)
        best = max(best, psnr(np.clip(w, 0, 1), x_true))
    return best
