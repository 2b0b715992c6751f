"""Per-iteration bookkeeping shared by the solvers: progress bar, PSNR, timing, callbacks."""

from __future__ import annotations

import time

import numpy as np

__all__ = ["Monitor"]


class Monitor:
    """Called by a solver after each iteration as ``monitor(k, x, alpha, sigma)``.

    Parameters
    ----------
    iters : int
        Number of iterations (for the progress bar).
    view : callable, optional
        Maps the internal estimate to what callbacks and PSNR see (e.g. crop
        the padding and restore the public layout). Identity by default.
    x_true : ndarray, optional
        Ground truth in the layout that ``view`` returns; enables PSNR tracking.
    callback : callable, optional
        ``callback(k, x, alpha, sigma)`` with ``k`` counting from 0 and ``x`` a
        copy of ``view(estimate)`` (changing it does not change the solve).
        Returning ``False`` does not stop the solver (solvers run a fixed
        number of iterations); raise to abort.
    progress : bool or None
        Show a tqdm bar; ``None`` shows it only on a terminal.
    desc : str
        Progress bar label.

    Attributes
    ----------
    history : dict of lists
        ``"alpha"``, ``"sigma"``, ``"time"`` (seconds since start) and, with
        ``x_true``, ``"psnr"`` (dB) per iteration: of the iterate clipped to
        [0, 1] on the 0-1 scale. :func:`pnp.solve` returns a float result
        unclipped and an integer one rounded, so ``pnp.psnr`` of the result
        can differ from the last value by a few hundredths of a dB.

    Raises
    ------
    TypeError
        If ``callback`` is neither None nor callable.
    """

    def __init__(self, iters, view=None, x_true=None, callback=None, progress=None, desc="pnp"):
        from tqdm.auto import tqdm

        from pnp._checks import check_callable  # not at the top: import pnp loads pyfftw

        check_callable(callback, "callback", signature="callback(k, x, alpha, sigma)")
        self.view = view or (lambda x: x)
        self.x_true = x_true
        self.callback = callback
        self.history = {"alpha": [], "sigma": [], "time": []}
        if x_true is not None:
            self.history["psnr"] = []
        self._bar = tqdm(total=iters, desc=desc, disable=(None if progress is None else not progress), leave=False)
        self._t0 = time.perf_counter()

    def __call__(self, k, x, alpha, sigma):
        self.history["alpha"].append(float(alpha))
        self.history["sigma"].append(float(sigma))
        self.history["time"].append(time.perf_counter() - self._t0)
        need_view = self.callback is not None or self.x_true is not None
        xv = self.view(x) if need_view else None
        if self.x_true is not None:
            mse = float(np.mean((np.clip(xv, 0, 1) - self.x_true) ** 2))
            p = 10 * np.log10(1.0 / mse) if mse > 0 else float("inf")
            self.history["psnr"].append(p)
            self._bar.set_postfix(psnr=f"{p:.2f}")
        if self.callback is not None:
            self.callback(k, np.array(xv, copy=True), alpha, sigma)  # a copy: the callback cannot edit the solve
        self._bar.update(1)

    def close(self):
        """Close the progress bar."""
        self._bar.close()
