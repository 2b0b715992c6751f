"""
Hand-tuned and learned schedules
================================

DPIR's schedule (the default) was tuned by hand. The unfolded network of
:mod:`pnp.unfolded` instead *learns* the penalties :math:`\\alpha_k` and prior
noise levels :math:`\\sigma_k`: a small network
(:class:`pnp.learned_schedule.HyperNet`) maps the noise level and the scale
factor to multiplicative corrections of the DPIR schedule, trained end to end
through K = 8 HQS iterations with the prior frozen. This example loads the
schedule shipped with the package, draws it beside DPIR's and restores the same
image with both.

The shipped schedule is an early one (812 training steps on 2 CPU cores): on
the DPIR benchmark (Set3C x 8 Levin kernels) it is still 0.39 / 0.11 dB
*worse* than the hand schedule at noise 2.55/255 and 7.65/255 with the
shipped (grown) prior (32.84 / 29.04 against 33.23 / 29.15 dB; 0.37 / 0.18
with the small one; ``docs/benchmarks.md``, issue-8 section). See
``priors/weights/learned_schedule.md`` for how it was trained and how to
continue training it.
"""

import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
from skimage import data

import pnp
from pnp.demo import sample_kernel
from pnp.learned_schedule import LearnedSchedule
from pnp.plot import psnr_curve
from pnp.schedules import DPIRSchedule

learned = LearnedSchedule.load()  # the shipped file; pass a path for your own
print(learned)

# %%
# The two schedules
# -----------------
# ``LearnedSchedule.plot`` draws :math:`\sigma_k` and :math:`\alpha_k` beside
# DPIR's (the schedule the network corrects). ``table`` prints the numbers.

noise = 2.55 / 255
fig = learned.plot(noise)
ax_sigma = fig.axes[0]  # log-scale sigma_k axis: plain-number ticks at 1, 2, 5 x 10^n
ax_sigma.yaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
ax_sigma.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
ax_sigma.yaxis.set_minor_formatter(NullFormatter())
ax_sigma.set_ylabel(r"$\sigma_k$ (/255)")
plt.show()
print(learned.table(noise))

# %%
# Restoring with each
# -------------------
# A 128x128 colour crop, the bundled camera-shake kernel, noise 2.55/255 and the
# default prior (our attention U-Net) for both; ``x_true`` makes
# :func:`pnp.solve` record the PSNR of every iterate. The schedule is a plain
# ``schedule=`` argument: any callable ``schedule(noise_level, iters, scale)``.

x = data.astronaut()[40:168, 180:308] / 255.0
k = sample_kernel()
y = pnp.add_noise(pnp.blur(x, k, boundary="reflect"), noise, seed=0)

schedules = {"DPIR (hand)": DPIRSchedule(), "learned (812 steps)": learned}
histories, results = {}, {}
for label, schedule in schedules.items():
    x_hat, info = pnp.solve(y, k, noise_level=noise, iters=learned.iters, schedule=schedule,
                            x_true=x, return_info=True)
    histories[label] = info["history"]
    results[label] = x_hat.clip(0, 1)  # the PSNR history is measured on clipped iterates too
    print(f"{label:20s} final PSNR {pnp.psnr(results[label], x):.2f} dB")

fig = psnr_curve(histories)
plt.show()

# %%
# The restored images
# -------------------

fig, axes = plt.subplots(1, 3, figsize=(9, 3.3))
axes[0].imshow(y.clip(0, 1))
axes[0].set_title(f"blurred + noise, {pnp.psnr(y, x):.2f} dB")
for ax, (label, x_hat) in zip(axes[1:], results.items()):
    ax.imshow(x_hat)
    ax.set_title(f"{label}, {pnp.psnr(x_hat, x):.2f} dB")
for ax in axes:
    ax.axis("off")
fig.tight_layout()
plt.show()

# %%
# Here, as on the benchmark, the learned schedule ends a few tenths of a dB
# below the hand-tuned one: its stronger start and its final
# :math:`\sigma_8` below the noise level do not pay off yet. Train it
# further (``python -m priors.train_unfolded ... --resume``) and load your
# own with ``LearnedSchedule.load("path/to/schedule.pt")``.
# A schedule trained with ``--descriptor`` also reads a two-number descriptor of
# the blur (:func:`pnp.learned_schedule.blur_descriptor`, e.g.
# ``blur_descriptor(k)`` for a kernel); ``pnp.solve`` computes it from its
# operator, so it is used exactly like the one above.
