"""Blind deblurring on Levin et al.'s protocol: error ratios of estimated vs true kernels.

For each of the 8 kernels of ``$PNP_DATA/kernels/levin09.npz`` and each chosen
Set12 image: blur with realistic (reflected) borders, add Gaussian noise of
1/255, estimate the kernel with :class:`pnp.estimate.CameraShakeEstimator`,
restore with the same non-blind method using the estimated and the true
kernel, and report Levin's error ratio

    SSD(x_est, x) / SSD(x_true_kernel, x)

where each SSD is the minimum over integer shifts of up to ``--max-shift``
pixels (an estimated kernel is only defined up to a translation) computed
inside a border of ``--crop`` pixels.

The error ratio depends strongly on the non-blind method: a weakly
regularised deconvolution punishes small kernel errors much more than a
strongly regularised one. ``--settings`` lists the non-blind settings, each
``prior:sigma`` (``sigma`` in grey levels of 255, passed to ``pnp.solve`` as
``noise_level``), all computed from the same estimated kernels.

Usage::

    python benchmarks/levin_blind.py --images 01 02 03 04 --settings tv:1 tv:2.55 --out docs/results
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import pnp
from pnp.data import data_root, load_kernels
from pnp.estimate import CameraShakeEstimator


def ssd_up_to_shift(x, ref, crop=20, max_shift=6, step=0.25):
    """Minimum SSD inside a ``crop`` border over shifts of ``x`` up to ``max_shift`` pixels.

    Integer shifts first, then sub-pixel shifts in steps of ``step`` within one
    pixel of the best integer shift (cubic-spline interpolation), as in the
    evaluation code of Levin et al. (an estimated kernel, hence the
    restored image, is only defined up to a translation).
    """
    from scipy import ndimage

    inner = ref[crop:-crop, crop:-crop]

    def ssd(img):
        d = img[crop:-crop, crop:-crop] - inner
        return float(np.sum(d * d))

    best, best_shift = np.inf, (0, 0)
    for dy in range(-max_shift, max_shift + 1):
        for dx in range(-max_shift, max_shift + 1):
            v = ssd(np.roll(x, (dy, dx), axis=(0, 1)))
            if v < best:
                best, best_shift = v, (dy, dx)
    fine = np.arange(-1.0, 1.0 + 1e-9, step)
    for fy in fine:
        for fx in fine:
            if fy == 0 and fx == 0:
                continue
            shifted = ndimage.shift(x, (best_shift[0] + fy, best_shift[1] + fx), order=3, mode="nearest")
            best = min(best, ssd(shifted))
    return best


def main(argv=None):
    from skimage import io

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", nargs="+", default=["01", "02", "03", "04"], help="Set12 image names")
    p.add_argument("--kernels", nargs="+", type=int, default=list(range(8)))
    p.add_argument("--settings", nargs="+", default=["tv:1", "tv:2.55"],
                   help="non-blind settings prior:sigma (sigma in grey levels), used for both restorations")
    p.add_argument("--iters", type=int, default=8)
    p.add_argument("--noise", type=float, default=1.0, help="noise sigma in grey levels (of 255)")
    p.add_argument("--kernel-size", type=int, default=31)
    p.add_argument("--crop", type=int, default=20)
    p.add_argument("--max-shift", type=int, default=6)
    p.add_argument("--out", default=None, help="folder for levin_blind.json and kernel images")
    a = p.parse_args(argv)

    kernels = load_kernels("levin09")
    root = data_root()
    rows = []
    for name in a.images:
        x = io.imread(root / "val" / "Set12" / f"{name}.png").astype(np.float64) / 255.0
        for ki in a.kernels:
            k = kernels[ki]
            seed = 1000 * int(name) + ki
            y = pnp.add_noise(pnp.blur(x, k, boundary="reflect"), a.noise / 255.0, seed=seed)
            est = CameraShakeEstimator(kernel_size=a.kernel_size)
            t0 = time.perf_counter()
            k_est = est.estimate(y)
            t_est = time.perf_counter() - t0
            row = dict(image=name, kernel=ki, time_estimate_s=t_est, psnr_blurred=pnp.psnr(y, x))
            msg = []
            for setting in a.settings:
                prior, _, sig = setting.partition(":")
                opts = dict(prior=prior, noise_level=float(sig) / 255.0, iters=a.iters, progress=False)
                x_true_k = pnp.solve(y, k, **opts)
                x_est_k = pnp.solve(y, k_est, **opts)
                ratio = (ssd_up_to_shift(x_est_k, x, a.crop, a.max_shift)
                         / ssd_up_to_shift(x_true_k, x, a.crop, a.max_shift))
                row[setting] = dict(ratio=ratio, psnr_true_kernel=pnp.psnr(x_true_k, x),
                                    psnr_estimated_kernel=pnp.psnr(x_est_k, x))
                msg.append(f"{setting} ratio {ratio:6.2f} (PSNR {row[setting]['psnr_true_kernel']:.2f} / "
                           f"{row[setting]['psnr_estimated_kernel']:.2f})")
            rows.append(row)
            print(f"{name} k{ki}: estimate {t_est:5.1f} s  " + "  ".join(msg), flush=True)
            if a.out:
                Path(a.out).mkdir(parents=True, exist_ok=True)
                np.save(Path(a.out) / f"levin_blind_{name}_k{ki}.npy", k_est)
    summary = {}
    for setting in a.settings:
        r = np.array([row[setting]["ratio"] for row in rows])
        summary[setting] = {f"ratio<={t}": float(np.mean(r <= t)) for t in (2, 3, 5)}
        summary[setting]["mean_ratio"] = float(r.mean())
        summary[setting]["median_ratio"] = float(np.median(r))
    summary["mean_time_estimate_s"] = float(np.mean([row["time_estimate_s"] for row in rows]))
    summary["median_time_estimate_s"] = float(np.median([row["time_estimate_s"] for row in rows]))
    summary["cases"] = len(rows)
    print(json.dumps(summary, indent=1))
    if a.out:
        with open(Path(a.out) / "levin_blind.json", "w") as f:
            json.dump(dict(args=vars(a), summary=summary, rows=rows), f, indent=1)
    return summary


if __name__ == "__main__":
    main()
