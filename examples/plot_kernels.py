"""
Blur kernels and the centring convention
========================================

:mod:`pnp.kernels` makes the usual point-spread functions. Every kernel sums
to one and has its origin at pixel ``(kh // 2, kw // 2)``, so a kernel that
is symmetric about its middle does not move the image, whatever its size.
"""

import matplotlib.pyplot as plt
import numpy as np
from skimage import data

import pnp
from pnp.kernels import (anisotropic_gaussian_kernel, camera_shake_kernel, disk_kernel, gaussian_kernel,
                         motion_kernel)
from pnp.demo import sample_kernel
from pnp.plot import show_kernel

kernels = {
    "Gaussian, sigma 2": gaussian_kernel(2.0),
    "anisotropic Gaussian": anisotropic_gaussian_kernel(4.0, 1.0, angle=30),
    "disk (defocus), r 5": disk_kernel(5),
    "linear motion, 15 px, 45 deg": motion_kernel(15, 45),
    "camera shake": camera_shake_kernel(size=25, seed=3),
}

fig, axes = plt.subplots(1, len(kernels), figsize=(3 * len(kernels), 2.8))
for ax, (name, k) in zip(axes, kernels.items()):
    show_kernel(k, ax=ax, title=f"{name}\n{k.shape[0]}x{k.shape[1]}, sum {k.sum():.3f}")
fig.tight_layout()
plt.show()

# %%
# Centring
# --------
# Blurring a single bright pixel draws the kernel around it. For a kernel that
# is symmetric about its origin the spot's centre of mass stays on the pixel,
# for odd sizes and for even sizes alike (an even kernel has its origin just
# below and right of its geometric centre). The recorded camera-shake kernel
# bundled with the package (Levin et al. 2009) is not centred: the spot moves
# by the offset of the kernel's centre of mass from its origin. The kernels of
# :func:`pnp.kernels.camera_shake_kernel` are centred on their centre of mass.

impulse = np.zeros((64, 64))
impulse[32, 32] = 1.0


def centre_of_mass(img):
    rows, cols = np.indices(img.shape)
    return np.array([(rows * img).sum(), (cols * img).sum()]) / img.sum()


def kernel_offset(k):
    """Centre of mass of a kernel relative to its origin (kh // 2, kw // 2)."""
    return centre_of_mass(k) - np.array(k.shape) // 2


odd = np.ones((5, 5))
even = np.pad(np.ones((5, 5)), ((1, 0), (1, 0)))  # 6x6, the 5x5 box sits around the origin (3, 3)
shake = sample_kernel()
for name, k in [("5x5 box", odd), ("6x6 kernel", even), ("recorded shake", shake)]:
    spot = pnp.blur(impulse, k)
    print(f"{name:13s} spot centre {np.round(centre_of_mass(spot), 2)}, "
          f"kernel offset {np.round(kernel_offset(k), 2)}")

fig, axes = plt.subplots(1, 3, figsize=(9, 3))
for ax, (name, k) in zip(axes, [("5x5 box", odd), ("6x6 kernel", even), ("recorded shake", shake)]):
    ax.imshow(pnp.blur(impulse, k)[16:48, 16:48], cmap="magma", extent=(15.5, 47.5, 47.5, 15.5))
    ax.plot(32, 32, "c+", markersize=12)
    ax.set_title(f"{name}: impulse at (32, 32)", fontsize=9)
fig.tight_layout()
plt.show()
