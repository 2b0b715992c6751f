"""
Boundary handling on real photographs
=====================================

The FFT data step assumes the image repeats periodically. A real photograph
does not, and a periodic model explains the border with light from the
opposite side, which causes ringing along the edges. ``boundary="taper"``
(the default) pads the observation, marks the pad as unobserved and crops
back; ``"circular"`` solves the periodic problem as is (see
:doc:`/mathematics`).
"""

import matplotlib.pyplot as plt
from skimage import data

import pnp
from pnp.demo import sample_kernel
from pnp.plot import compare

x = data.camera()[60:220, 200:360] / 255.0
k = sample_kernel()
noise = 1 / 255

# %%
# A *realistic* observation: the scene continues beyond the frame (mirrored
# borders), so the blur is not periodic.

y = pnp.add_noise(pnp.blur(x, k, boundary="reflect"), noise, seed=0)
results = {b: pnp.solve(y, k, prior="tv", noise_level=noise, iters=8, boundary=b)
           for b in ("circular", "reflect", "taper")}
for b, img in results.items():
    print(f"{b:9s} PSNR {pnp.psnr(img, x):.2f} dB (whole image), {pnp.psnr(img, x, crop=20):.2f} dB "
          "(20-pixel border excluded)")

fig = compare(list(results.values()) + [x], [f'boundary="{b}"' for b in results] + ["ground truth"],
              reference=x, zoom=(0, 0, 48, 48), ncols=4, panel_size=2.6)
plt.show()

# %%
# A *synthetic* periodic observation (circular blur) is the one case where
# ``"circular"`` is exact.

y_circ = pnp.add_noise(pnp.blur(x, k, boundary="circular"), noise, seed=0)
for b in ("circular", "taper"):
    img = pnp.solve(y_circ, k, prior="tv", noise_level=noise, iters=8, boundary=b)
    print(f"circular blur, boundary={b!r}: {pnp.psnr(img, x):.2f} dB")
