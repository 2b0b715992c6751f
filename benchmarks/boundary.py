"""Boundary handling on non-periodic images: the default ("taper") vs "circular".

Each observation is a crop of a larger scene blurred by linear convolution
(``pnp.blur(..., boundary="reflect")``: the scene continues beyond the frame,
as in a photograph), plus noise 2.55/255. Both modes restore it with the same
prior and schedule. The reverse mismatch (circularly blurred data restored with
the default) is reported too: it is why ``pnp.solve`` warns on periodic input.

Usage::

    python benchmarks/boundary.py --prior tv
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from skimage import data

import pnp
from pnp.demo import sample_kernel
from pnp.kernels import gaussian_kernel, motion_kernel


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prior", default="tv")
    args = ap.parse_args(argv)
    from priors import get_prior

    prior = get_prior(args.prior)
    x = data.camera()[60:220, 200:360] / 255.0
    kernels = {"camera shake 27x27": sample_kernel(), "Gaussian sigma 1": gaussian_kernel(1.0),
               "Gaussian sigma 3": gaussian_kernel(3.0), "motion 9 px, 30 deg": motion_kernel(9, 30)}
    print(f"prior: {args.prior}; image: camera[60:220, 200:360]; noise 2.55/255; 8 iterations; PSNR in dB")
    print("| kernel | observation | circular | taper (default) | time circular / taper (s) |")
    print("|---|---|---|---|---|")
    for kname, k in kernels.items():
        for mode in ("reflect", "circular"):
            y = pnp.add_noise(pnp.blur(x, k, boundary=mode), 2.55 / 255, seed=0)
            res, times = [], []
            for b in ("circular", "taper"):
                t0 = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    out = pnp.solve(y, k, prior=prior, noise_level=2.55 / 255, iters=8, boundary=b)
                times.append(time.perf_counter() - t0)
                res.append(pnp.psnr(np.clip(out, 0, 1), x))
            label = "real borders" if mode == "reflect" else "circular (synthetic)"
            print(f"| {kname} | {label} | {res[0]:.2f} | {res[1]:.2f} | {times[0]:.1f} / {times[1]:.1f} |", flush=True)


if __name__ == "__main__":
    main()
