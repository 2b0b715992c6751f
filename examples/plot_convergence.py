"""
Convergence: PSNR per iteration, HQS and ADMM
=============================================

Three ways to look inside a solve:

- ``x_true=`` records the PSNR of every iterate in ``info["history"]["psnr"]``
  (with ``return_info=True``);
- ``info`` also holds the schedule actually used (``alphas``, ``sigmas``), the
  noise level and, in ``info["history"]["time"]``, the seconds elapsed since the
  start of the solve at the end of each iteration (cumulative);
- ``callback=`` sees every iterate, e.g. to keep snapshots.
"""

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
from skimage import data

import pnp
from pnp.demo import sample_kernel
from pnp.plot import compare, psnr_curve

x = data.camera()[140:300, 160:320] / 255.0
k = sample_kernel()
noise = 2.55 / 255
y = pnp.add_noise(pnp.blur(x, k, boundary="reflect"), noise, seed=0)

# %%
# HQS and ADMM, 8 and 24 iterations
# ---------------------------------

runs = {}
snapshots = {}
for solver in ("hqs", "admm"):
    for iters in (8, 24):
        keep = {}

        def callback(it, x_k, alpha, sigma, keep=keep, iters=iters):
            if it in (0, iters // 4, iters // 2, iters - 1):
                keep[it + 1] = x_k.copy()

        x_hat, info = pnp.solve(y, k, prior="tv", solver=solver, noise_level=noise, iters=iters,
                                x_true=x, return_info=True, callback=callback)
        label = f"{solver.upper()}, K = {iters}"
        runs[label] = info["history"]
        snapshots[label] = keep
        h = info["history"]
        print(f"{label:14s} final {h['psnr'][-1]:.2f} dB, best {max(h['psnr']):.2f} dB "
              f"at iteration {int(np.argmax(h['psnr'])) + 1}, {h['time'][-1]:.2f} s")

fig = psnr_curve(runs)
plt.show()

# %%
# The prior strength of the 24-iteration HQS run, on a second axis: the PSNR
# climbs while :math:`\sigma_k` comes down towards the noise level.

fig = psnr_curve(runs["HQS, K = 24"], sigma=True)
ax_sigma = fig.axes[1]  # the second (log-scale) y axis
ax_sigma.yaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))  # ticks at 1, 2, 5 x 10^n
ax_sigma.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))  # plain numbers
ax_sigma.yaxis.set_minor_formatter(NullFormatter())
ax_sigma.set_ylabel(r"prior $\sigma_k$ (/255)", color="gray")
plt.show()

# %%
# Iterates of the 8-iteration HQS run, kept by the callback.

keep = snapshots["HQS, K = 8"]
fig = compare(list(keep.values()), [f"iteration {it}" for it in keep], reference=x, ncols=4, panel_size=2.4)
plt.show()
