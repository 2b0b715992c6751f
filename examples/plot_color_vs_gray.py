"""
Colour and gray images
======================

:func:`pnp.solve` takes ``HxW`` gray and ``HxWxC`` colour arrays alike and
returns the layout and dtype it was given. A colour image is restored as a
whole: the same kernel blurs the three channels, and the default prior (the
colour attention U-Net) denoises the three channels together, so it can use
the correlation between them. Not every prior does: ``"tv"`` denoises R, G and B
separately (one Chambolle TV problem per channel).

A common shortcut restores only the luminance, where the eye sees detail,
and keeps the blurred chrominance: one channel instead of three. This
example compares the two on a colour photo, with the default prior (its gray
network for the luminance).
"""

import time

import matplotlib.pyplot as plt
import numpy as np
from skimage import data
from skimage.color import rgb2ycbcr, ycbcr2rgb

import pnp
import priors
from pnp.kernels import motion_kernel
from pnp.plot import compare

x8 = data.astronaut()[30:158, 170:298]  # uint8, 128 x 128 x 3
x = x8 / 255.0
k = motion_kernel(length=9, angle=30)
noise = 2 / 255
y = np.clip(pnp.add_noise(pnp.blur(x, k, boundary="reflect"), noise, seed=0), 0, 1)
y8 = np.round(y * 255).astype(np.uint8)  # what a camera would store

# %%
# Build the prior once and run both approaches on a small crop first, so that
# loading the gray and colour networks and the first-call set-up are not
# counted in the timings below.

prior = priors.get_prior("default")
_ = pnp.solve(y8[:32, :32], k, prior=prior, noise_level=noise, iters=1)
_ = pnp.solve(y[:32, :32, 0], k, prior=prior, noise_level=noise, iters=1)  # "_ =": nothing to show

# %%
# Restore the colour image directly. An 8-bit input gives an 8-bit output.

t0 = time.perf_counter()
rgb = pnp.solve(y8, k, prior=prior, noise_level=noise, iters=8)
t_rgb = time.perf_counter() - t0
print(f"colour: {y8.dtype} {y8.shape} -> {rgb.dtype} {rgb.shape} in {t_rgb:.2f} s, "
      f"PSNR {pnp.psnr(rgb, x8):.2f} dB")

# %%
# Restore only the luminance (Y of YCbCr, a gray image) from the same 8-bit
# observation and put the blurred chrominance back.

ycc = rgb2ycbcr(y8)
# Y = 0.299 R + 0.587 G + 0.114 B (after rescaling to 0-1): independent channel noise of
# level `noise` becomes noise * sqrt(0.299**2 + 0.587**2 + 0.114**2) in Y, weaker than in each channel
luma_noise = noise * np.sqrt(0.299**2 + 0.587**2 + 0.114**2)
t0 = time.perf_counter()
luma = pnp.solve((ycc[..., 0] - 16) / 219, k, prior=prior, noise_level=luma_noise, iters=8)
t_y = time.perf_counter() - t0
ycc[..., 0] = luma * 219 + 16
luma_only = np.clip(ycbcr2rgb(ycc), 0, 1)
print(f"luminance only: {t_y:.2f} s, PSNR {pnp.psnr(luma_only, x):.2f} dB")

fig = compare([y8, rgb, luma_only, x8], ["observation", "colour restoration", "luminance only", "ground truth"],
              reference=x, zoom=(20, 50, 40, 40), ncols=4, panel_size=2.6)
plt.show()

# %%
# The colour restoration has the higher PSNR (printed above): the
# luminance-only shortcut leaves the chrominance blurred, so colour edges (lips,
# eyes, the hair against the background) keep part of the blur, while the
# colour prior restores all three channels together. The shortcut does not buy
# much time either: the two solves take a similar time (printed above; the
# colour one usually a little longer), far from the factor of three that one
# channel instead of three suggests. The network's inner layers have the same
# width for one and for three input channels, so a colour call costs little
# more than a gray one; only its first and last layers and the FFT data step
# grow with the channel count. With a prior that works channel by channel,
# such as ``"tv"``, a colour solve runs three gray denoising problems per
# iteration, and the prior never sees the channels together.
