"""
Colour and gray images
======================

:func:`pnp.solve` takes ``HxW`` gray and ``HxWxC`` colour arrays alike and
returns the layout and dtype it was given. A colour image is restored as a
whole: the same kernel blurs the three channels and the prior sees the colour
image.

A common shortcut restores only the luminance, where the eye sees detail,
and keeps the blurred chrominance: one channel instead of three. This
example compares the two on a colour photo.
"""

import time

import matplotlib.pyplot as plt
import numpy as np
from skimage import data
from skimage.color import rgb2ycbcr, ycbcr2rgb

import pnp
from pnp.kernels import motion_kernel
from pnp.plot import compare

x8 = data.astronaut()[30:158, 170:298]  # uint8, 128 x 128 x 3
x = x8 / 255.0
k = motion_kernel(length=9, angle=30)
noise = 2 / 255
y = np.clip(pnp.add_noise(pnp.blur(x, k, boundary="reflect"), noise, seed=0), 0, 1)

# %%
# Restore the colour image directly. An 8-bit input gives an 8-bit output.

y8 = np.round(y * 255).astype(np.uint8)
t0 = time.perf_counter()
rgb = pnp.solve(y8, k, prior="tv", noise_level=noise, iters=8)
t_rgb = time.perf_counter() - t0
print(f"colour: {y8.dtype} {y8.shape} -> {rgb.dtype} {rgb.shape} in {t_rgb:.2f} s, "
      f"PSNR {pnp.psnr(rgb, x8):.2f} dB")

# %%
# Restore only the luminance (Y of YCbCr, a gray image) and put the blurred
# chrominance back.

ycc = rgb2ycbcr(y)
t0 = time.perf_counter()
# Y = 0.299 R + 0.587 G + 0.114 B: independent channel noise of level `noise` becomes
luma_noise = noise * np.sqrt(0.299**2 + 0.587**2 + 0.114**2)
luma = pnp.solve((ycc[..., 0] - 16) / 219, k, prior="tv", noise_level=luma_noise, iters=8)
t_y = time.perf_counter() - t0
ycc[..., 0] = luma * 219 + 16
luma_only = np.clip(ycbcr2rgb(ycc), 0, 1)
print(f"luminance only: {t_y:.2f} s, PSNR {pnp.psnr(luma_only, x):.2f} dB")

fig = compare([y, rgb, luma_only, x8], ["observation", "colour restoration", "luminance only", "ground truth"],
              reference=x, zoom=(20, 50, 40, 40), ncols=4, panel_size=2.6)
plt.show()
