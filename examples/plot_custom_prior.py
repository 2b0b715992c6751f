"""
Writing your own prior in ten lines
===================================

A prior is any function ``prior(x, sigma)`` that removes Gaussian noise of
standard deviation ``sigma`` from the float image ``x`` (0-1 scale, ``HxW`` or
``HxWxC``) and returns an image of the same shape. Here a wavelet-shrinkage
denoiser from scikit-image becomes a deblurring prior, by function and by
name.
"""

import matplotlib.pyplot as plt
from skimage import data
from skimage.restoration import denoise_tv_chambolle, denoise_wavelet

import pnp
from pnp.kernels import disk_kernel
from pnp.plot import compare
from priors import register_prior


def wavelet_prior(x, sigma):
    """Soft thresholding of Daubechies wavelet coefficients (BayesShrink) at noise level ``sigma``."""
    channel_axis = -1 if x.ndim == 3 else None
    return denoise_wavelet(x, sigma=sigma, wavelet="db2", mode="soft", method="BayesShrink",
                           channel_axis=channel_axis, rescale_sigma=False)


# %%
# Use it directly ...

x = data.camera()[100:260, 150:310] / 255.0
k = disk_kernel(radius=3)  # out-of-focus blur
noise = 2 / 255
y = pnp.add_noise(pnp.blur(x, k, boundary="reflect"), noise, seed=1)

x_wavelet = pnp.solve(y, k, prior=wavelet_prior, noise_level=noise, iters=8)

# %%
# ... or register it under a name, like the built-in priors.

register_prior("wavelet", lambda: wavelet_prior)
x_named = pnp.solve(y, k, prior="wavelet", noise_level=noise, iters=8)
assert (x_named == x_wavelet).all()

# %%
# Priors can keep state. This one counts its calls and the noise levels it
# was asked for, which shows the schedule at work.


class CountingTV:
    """TV denoising that records the noise level of every call."""

    def __init__(self):
        self.sigmas = []

    def __call__(self, x, sigma):
        self.sigmas.append(sigma)
        return denoise_tv_chambolle(x, weight=sigma, channel_axis=-1 if x.ndim == 3 else None)


counting = CountingTV()
x_tv = pnp.solve(y, k, prior=counting, noise_level=noise, iters=8)
print("sigma_k seen by the prior (x 1/255):", [round(s * 255, 1) for s in counting.sigmas])

for name, img in [("wavelet", x_wavelet), ("TV", x_tv)]:
    print(f"{name:8s} {pnp.psnr(img, x):.2f} dB")

fig = compare([y, x_wavelet, x_tv, x], ["observation", "wavelet prior", "TV prior", "ground truth"],
              reference=x, ncols=4, panel_size=2.6)
plt.show()
