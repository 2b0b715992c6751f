"""
Rotational blur on polar grids: large frames and angles
=======================================================

:class:`~pnp.operators.rotational.RotationalBlur` stores every pixel's arc in
one sparse matrix, so its memory grows with the distance from the centre times
the angle: a mixer at 1500 rpm filmed at 1/500 s turns by 18 degrees per
frame, and on a 1024x1024 frame that matrix needs about 20 GiB while it is
built. :class:`~pnp.operators.polar_rotational.PolarRotationalBlur` is the same
blur computed on polar grids around the centre (rings sampled bicubically, the
shutter's blur along each ring by FFT, the pixels read back from the rings):
about 600 bytes per pixel whatever the angle.

Here we compare the two models' stored entries on a small frame as the angle
grows, ask :func:`~pnp.operators.polar_rotational.prefer_polar` which one a
few camera frames should use, and restore one rotation with the polar model.
The command line does the same choice with ``--rotation-model auto``.
"""

import time

import matplotlib.pyplot as plt
import numpy as np
from skimage import data, transform

import pnp
from pnp.operators.polar_rotational import PolarRotationalBlur, prefer_polar
from pnp.operators.rotational import RotationalBlur, arc_entries
from pnp.synthetic import synthesize_rotational_blur

# %%
# Memory of the two models as the angle grows
# -------------------------------------------
# Stored entries per pixel on a 128x128 frame turning about its middle. The
# sparse matrix holds about twice every pixel's arc length; the polar grids a
# fixed number of interpolation weights, which on a frame this small is more.
shape = (128, 128)
degrees = [5, 10, 20, 40]
polar = []
for deg in degrees:
    arcs = RotationalBlur((63.5, 63.5), np.deg2rad(deg)).matrix(shape).nnz / np.prod(shape)
    polar.append(PolarRotationalBlur((63.5, 63.5), np.deg2rad(deg)).matrix(shape).nnz / np.prod(shape))
    print(f"{deg:3d} deg: sparse matrix {arcs:6.1f}, polar grids {polar[-1]:5.1f} entries per pixel")

# %%
# The arcs grow with the frame as well: the sparse matrix's entries per pixel
# on the grid :func:`pnp.solve` pads larger frames to, from the library's own
# estimate (:func:`pnp.operators.rotational.arc_entries`; building these
# matrices would take gigabytes), beside the polar grids' measured count.
angles = np.arange(2, 41, 2)
fig, ax = plt.subplots(figsize=(5.5, 3.4))
for n in (256, 512, 1024, 2048):
    per_pixel = []
    for deg in angles:
        op = RotationalBlur(((n - 1) / 2, (n - 1) / 2), np.deg2rad(deg))
        t, b, left, right = op.boundary_margins((n, n))
        grid = (n + t + b, n + left + right)
        r = op.padded((t, b, left, right)).radii(grid)
        per_pixel.append(arc_entries(r, op.angle).mean())
    ax.plot(angles, per_pixel, label=f"sparse matrix, {n}x{n}")
ax.axhline(np.mean(polar), color="k", ls="--", label="polar grids (any size)")
ax.set_xlabel("rotation during the exposure (degrees)")
ax.set_ylabel("stored entries per pixel")
ax.set_yscale("log")
ax.legend(fontsize=8)
fig.tight_layout()

# %%
# Which model for which frame
# ---------------------------
# :func:`prefer_polar` chooses the polar grids where the sparse matrix would
# hold more than 130 entries per pixel (where the two cost the same on 2 CPU
# cores) or need more than 4 GiB to build.
for n, deg in [(256, 10), (512, 10), (512, 18), (1024, 18), (2048, 5)]:
    op = RotationalBlur(((n - 1) / 2, (n - 1) / 2), np.deg2rad(deg))
    choice = "polar grids" if prefer_polar(op, (n, n)) else "sparse matrix"
    print(f"{n}x{n} at {deg} degrees: {choice}")

# %%
# A restoration with the polar model
# ----------------------------------
# The blurred image comes from the 2x supersampled generator (not from either
# operator). The polar model is built from the physical settings like the
# sparse one; :meth:`PolarRotationalBlur.from_blur` converts an existing
# :class:`RotationalBlur` (or an estimate).
x = transform.resize(data.astronaut() / 255.0, (160, 160), anti_aliasing=True)
center, angle = (79.5, 79.5), np.deg2rad(18)
syn = synthesize_rotational_blur(x, center, angle, noise_level=2.55 / 255, seed=0)
op = PolarRotationalBlur(center, angle)
t = time.perf_counter()
x_hat = pnp.solve(syn.blurred, op, prior="tv", noise_level=2.55 / 255, iters=8, progress=False)
print(f"polar model, TV prior: {pnp.psnr(syn.blurred, syn.sharp):.2f} dB blurred -> "
      f"{pnp.psnr(x_hat, syn.sharp):.2f} dB restored in {time.perf_counter() - t:.1f} s")

fig, axes = plt.subplots(1, 3, figsize=(9, 3.4))
for a, img, title in zip(axes, [syn.blurred, x_hat, syn.sharp],
                         [f"blurred ({pnp.psnr(syn.blurred, syn.sharp):.1f} dB)",
                          f"restored, polar grids ({pnp.psnr(x_hat, syn.sharp):.1f} dB)", "ground truth"]):
    a.imshow(np.clip(img, 0, 1))
    a.set_title(title, fontsize=9)
    a.axis("off")
fig.tight_layout()
plt.show()
