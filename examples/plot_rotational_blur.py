"""
Rotational motion blur: a spinning disk
=======================================

A camera watches a mixer cup that turns at 1200 rpm; during a 1/500 s exposure
every point of the cup turns by the same angle (14.4 degrees) around the axis,
so the blur is an arc whose length grows with the distance from the centre.
The static background stays sharp. No single convolution kernel describes
this: a shift-invariant deblurring either leaves the rim blurred or
over-sharpens the middle.

We synthesise the scene without the inverse crime
(:func:`pnp.synthetic.synthesize_rotational_blur` rotates a 2x supersampled
scene at many sub-steps), restore it with
:class:`~pnp.operators.rotational.RotationalBlur` built from the physical
settings, compare with the best Gaussian-kernel deblurring, and estimate the
centre and angle blindly with
:class:`~pnp.estimate.rotation.RotationalBlurEstimator`.
"""

import matplotlib.pyplot as plt
import numpy as np

import pnp
from pnp.estimate.rotation import RotationalBlurEstimator
from pnp.operators.rotational import RotationalBlur
from pnp.synthetic import rotating_disk_scene, synthesize_rotational_blur
from priors.registry import DEFAULT_PRIOR

# %%
# The scene and the blurred observation
# -------------------------------------
sharp, center, radius = rotating_disk_scene(192)
rpm, exposure = 1200, 1 / 500
angle = 2 * np.pi * rpm / 60 * exposure
syn = synthesize_rotational_blur(sharp, center, angle, noise_level=2.55 / 255, radius=radius, seed=0)
y, x = syn.blurred, syn.sharp
print(f"blur angle {np.rad2deg(angle):.1f} deg, blurred PSNR {pnp.psnr(np.clip(y, 0, 1), x):.2f} dB")

# %%
# Non-blind restoration with the rotational operator
# --------------------------------------------------
# The operator comes from the physical settings; only the disk rotates. The
# prior is the library's default (our attention U-Net, shipped weights). Eight
# iterations is the default for every blur; for rotational blur ``iters=16``
# restores a little better (+0.2-0.3 dB on average on the benchmark, measured
# with the earlier small prior) in twice the time.
prior = DEFAULT_PRIOR
op = RotationalBlur.from_rpm(rpm, exposure, center, radius=radius)
x_rot = pnp.solve(y, op, prior=prior, noise_level=2.55 / 255, iters=8)
print(f"rotational ({prior}): {pnp.psnr(x_rot, x):.2f} dB")

# %%
# The shift-invariant failure
# ---------------------------
# The best of a few Gaussian kernels (chosen with the ground truth, which
# flatters the baseline): it cannot match arcs that are short at the centre
# and long at the rim. Wider kernels ring in the sharp background and centre,
# so the best choice is the narrowest one, i.e. hardly any deblurring.
best = None
for s in (0.5, 1.0, 2.0):
    r = np.arange(-10, 11)
    k = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * s**2))
    x_si = pnp.solve(y, k / k.sum(), prior=prior, noise_level=2.55 / 255, iters=8)
    if best is None or pnp.psnr(x_si, x) > best[0]:
        best = (pnp.psnr(x_si, x), s, x_si)
print(f"best Gaussian kernel (sigma {best[1]}): {best[0]:.2f} dB")

# %%
# Blind estimation of the centre and the angle
# --------------------------------------------
est = RotationalBlurEstimator(radius="auto")
op_blind = est.estimate(y)
print(f"estimated centre ({est.center_[0]:.1f}, {est.center_[1]:.1f}) vs true ({center[0]:.1f}, {center[1]:.1f}); "
      f"angle {np.rad2deg(est.angle_):.2f} vs {np.rad2deg(angle):.2f} deg; disk radius {est.radius_} vs {radius:.1f}")

# %%
# Error by radius
# ---------------
yy, xx = np.mgrid[0:x.shape[0], 0:x.shape[1]]
rr = np.hypot(xx - center[0], yy - center[1])
bins = np.arange(0, rr.max() + 8, 8)


def rmse_by_radius(img):
    e = ((np.clip(img, 0, 1) - x) ** 2).mean(axis=-1)
    idx = np.digitize(rr.ravel(), bins)
    return np.sqrt(np.bincount(idx, e.ravel(), bins.size + 1)[1:-1] / np.maximum(np.bincount(idx, None, bins.size + 1)[1:-1], 1))


fig, axes = plt.subplots(2, 3, figsize=(12, 8))
panels = [(x, "ground truth"), (np.clip(y, 0, 1), f"blurred {pnp.psnr(np.clip(y, 0, 1), x):.1f} dB"),
          (x_rot, f"rotational ({prior}) {pnp.psnr(x_rot, x):.1f} dB"),
          (best[2], f"best Gaussian kernel {best[0]:.1f} dB")]
for ax, (img, title) in zip(axes.ravel()[:4], panels):
    ax.imshow(np.clip(img, 0, 1))
    ax.set_title(title)
    ax.axis("off")
err = np.abs(x_rot - x).mean(axis=-1)
im = axes[1, 1].imshow(err, cmap="magma", vmin=0, vmax=0.15)
axes[1, 1].set_title("|rotational - truth|")
axes[1, 1].axis("off")
fig.colorbar(im, ax=axes[1, 1], fraction=0.046)
centres = bins[:-1] + 4
for img, lab in [(y, "blurred"), (best[2], "best Gaussian"), (x_rot, "rotational")]:
    axes[1, 2].plot(centres, rmse_by_radius(img)[: centres.size], label=lab)
axes[1, 2].axvline(radius, color="gray", ls=":", label="disk edge")
axes[1, 2].set_xlabel("distance from the rotation centre (px)")
axes[1, 2].set_ylabel("RMSE")
axes[1, 2].legend()
fig.tight_layout()
plt.show()
