"""
Blind deblurring: estimate the kernel, then restore
===================================================

When the blur kernel is unknown, :mod:`pnp.estimate` provides estimator
objects with ``estimate(y) -> kernel``. Pass one as the ``kernel`` of
:func:`pnp.solve` (or ``kernel="estimate"`` for the default camera-shake
estimator): the kernel is estimated first, then the usual non-blind
plug-and-play solve runs with it, using the estimator's noise level.

This example

1. blurs a photograph with a random camera-shake kernel
   (:func:`pnp.kernels.camera_shake_kernel`), estimates the kernel with
   :class:`pnp.estimate.CameraShakeEstimator` (coarse-to-fine L0 MAP), and
   compares the restoration with the one from the true kernel;
2. does the same for a linear motion with
   :class:`pnp.estimate.LinearMotionEstimator` (spectral, much faster);
3. restores a real motion-blurred photograph, scikit-image's
   ``clock_motion.png``, blindly with the linear-motion estimator.
"""

import os

import matplotlib.pyplot as plt
import numpy as np
from skimage import data, io

import pnp
from pnp.estimate import CameraShakeEstimator, LinearMotionEstimator
from pnp.kernels import camera_shake_kernel, motion_kernel

# %%
# Camera shake on a synthetic observation
# ---------------------------------------
# A 192x192 crop of the camera man, a random 17x17 camera-shake kernel,
# realistic (reflected) borders and noise of 1/255.

x = data.camera()[30:222, 140:332] / 255.0
k_true = camera_shake_kernel(17, seed=2)
y = pnp.add_noise(pnp.blur(x, k_true, boundary="reflect"), 1 / 255, seed=0)

estimator = CameraShakeEstimator(kernel_size=21)
x_blind, info = pnp.solve(y, estimator, prior="tv", iters=8, return_info=True, progress=False)
x_known = pnp.solve(y, k_true, prior="tv", noise_level=1 / 255, iters=8, progress=False)
k_est = info["estimator"].kernel_
print(f"estimation took {estimator.time_:.1f} s, noise level {255 * estimator.noise_level_:.2f}/255")
print(f"PSNR blurred {pnp.psnr(y, x):.2f} dB, estimated kernel {pnp.psnr(x_blind, x):.2f} dB, "
      f"true kernel {pnp.psnr(x_known, x):.2f} dB")


def centre_of_mass(k):
    """Centre of mass of a kernel (rows, columns), relative to its middle pixel."""
    rows, cols = np.mgrid[:k.shape[0], :k.shape[1]]
    return np.array([(rows * k).sum(), (cols * k).sum()]) / k.sum() - (np.array(k.shape) - 1) / 2


dr, dc = centre_of_mass(k_est) - centre_of_mass(k_true)
print(f"centre of mass, estimated minus true kernel: {dr:+.2f} rows, {dc:+.2f} columns")


def show_kernel(ax, k, title, size=21):
    pad = np.zeros((size, size))
    o, oy, ox = size // 2, k.shape[0] // 2, k.shape[1] // 2
    pad[o - oy:o - oy + k.shape[0], o - ox:o - ox + k.shape[1]] = k
    ax.imshow(pad, cmap="magma")
    ax.set_title(title)
    ax.axis("off")


fig, axes = plt.subplots(1, 5, figsize=(15, 3.4))
axes[0].imshow(y, cmap="gray", vmin=0, vmax=1)
axes[0].set_title(f"blurred ({pnp.psnr(y, x):.1f} dB)")
show_kernel(axes[1], k_true, "true kernel")
show_kernel(axes[2], k_est, "estimated kernel")
axes[3].imshow(np.clip(x_blind, 0, 1), cmap="gray", vmin=0, vmax=1)
axes[3].set_title(f"blind ({pnp.psnr(x_blind, x):.1f} dB)")
axes[4].imshow(np.clip(x_known, 0, 1), cmap="gray", vmin=0, vmax=1)
axes[4].set_title(f"true kernel ({pnp.psnr(x_known, x):.1f} dB)")
for ax in axes[[0, 3, 4]]:
    ax.axis("off")
fig.tight_layout()

# %%
# A blind estimate is only defined up to a shift: the kernel shifted by a few
# pixels and the image shifted back explain the observation equally well, so
# the data cannot fix the kernel's position. The estimator therefore centres
# its kernel on its centre of mass, as the true kernel is centred here, and
# the two line up (printed above); a kernel off by a pixel or two would shift
# the restoration by as much and cost PSNR against the ground truth without
# looking any worse. What separates the estimate from the true kernel is its
# shape (compare the two kernel panels).
#
# Linear motion
# -------------
# For a uniform linear motion the power spectrum shows parallel dark stripes;
# :class:`~pnp.estimate.LinearMotionEstimator` reads the length and angle from
# them in a second or two.

k_motion = motion_kernel(15.0, 30.0)
y2 = pnp.add_noise(pnp.blur(x, k_motion, boundary="reflect"), 1 / 255, seed=1)
motion = LinearMotionEstimator()
x2 = pnp.solve(y2, motion, prior="tv", iters=8, progress=False)
print(f"motion: true 15.0 px at 30.0 deg, estimated {motion.length_:.2f} px at {motion.angle_:.1f} deg; "
      f"PSNR {pnp.psnr(y2, x):.2f} -> {pnp.psnr(x2, x):.2f} dB")

fig, axes = plt.subplots(1, 4, figsize=(12, 3.4))
axes[0].imshow(y2, cmap="gray", vmin=0, vmax=1)
axes[0].set_title(f"blurred ({pnp.psnr(y2, x):.1f} dB)")
show_kernel(axes[1], k_motion, "true kernel")
show_kernel(axes[2], motion.kernel_, f"estimated: {motion.length_:.1f} px, {motion.angle_:.1f} deg")
axes[3].imshow(np.clip(x2, 0, 1), cmap="gray", vmin=0, vmax=1)
axes[3].set_title(f"restored ({pnp.psnr(x2, x):.1f} dB)")
for ax in axes[[0, 3]]:
    ax.axis("off")
fig.tight_layout()

# %%
# A real motion-blurred photograph
# --------------------------------
# ``clock_motion.png`` ships with scikit-image (in ``skimage.data.data_dir``;
# no download needed). Its blur is a long, nearly horizontal motion, which
# the linear-motion estimator finds from the spectrum. (The general
# camera-shake estimator does not recover this kernel: the photo is mostly
# flat background with one small object, too few edges for the L0 MAP
# alternation.)
#
# The restoration makes the clock face readable but leaves ghost arcs along
# the motion: the real blur is not exactly the uniform straight segment the
# estimator fits (the speed or the path of the motion varies during the
# exposure), and deconvolving with the segment turns the part of the blur it
# does not explain into faint shifted copies of the clock's edges (see
# "Real photograph" in ``docs/benchmarks_blind.md``).

clock = io.imread(os.path.join(data.data_dir, "clock_motion.png"))
linear = LinearMotionEstimator(lengths=np.arange(2.0, 80.0, 0.5))
clock_linear = pnp.solve(clock, linear, prior="tv", iters=8, progress=False)
print(f"clock: linear motion {linear.length_:.1f} px at {linear.angle_:.1f} deg, "
      f"noise level {255 * linear.noise_level_:.2f}/255")

fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
axes[0].imshow(clock, cmap="gray")
axes[0].set_title("clock_motion.png")
show_kernel(axes[1], linear.kernel_, f"estimated: {linear.length_:.1f} px, {linear.angle_:.1f} deg", size=81)
axes[2].imshow(clock_linear, cmap="gray")
axes[2].set_title("restored (blind, TV prior)")
for ax in axes[[0, 2]]:
    ax.axis("off")
fig.tight_layout()
plt.show()
