"""The engine's acceptance case, printed: HQS + BM3D (DPIR schedule, 8 iterations) vs Wiener.

Central 256x256 crop of skimage's ``camera`` (gray) and ``astronaut`` resized to
256x256 (colour), circular blur with Levin's kernel 4 (27x27), Gaussian noise
2.55/255 (seed 0). The Wiener baseline is scikit-image's ``restoration.wiener``
with the best balance of a grid (optimistic). The same case is asserted by
``tests/test_acceptance.py``.

Usage::

    python benchmarks/engine_acceptance.py --priors bm3d tv drunet
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from skimage import data, transform

import pnp
from pnp.baselines import best_wiener

NOISE = 2.55 / 255


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--priors", nargs="+", default=["bm3d"])
    args = ap.parse_args(argv)
    k = np.load(os.path.join(os.path.dirname(pnp.__file__), "samples", "camera_shake_27.npy"))
    cases = {"camera (gray)": data.camera()[128:384, 128:384] / 255.0,
             "astronaut (colour)": transform.resize(data.astronaut(), (256, 256), anti_aliasing=True)}
    from priors import get_prior

    print("| image | blurred | Wiener (best balance) | prior | HQS 8 it. | time (s) |")
    print("|---|---|---|---|---|---|")
    for name, x in cases.items():
        rng = np.random.default_rng(0)
        y = pnp.blur(x, k) + NOISE * rng.standard_normal(x.shape)
        pb, pw = pnp.psnr(np.clip(y, 0, 1), x), best_wiener(y, k, x)
        for prior_name in args.priors:
            prior = get_prior(prior_name)
            t0 = time.perf_counter()
            out = pnp.solve(y, k, prior=prior, noise_level=NOISE, iters=8, boundary="circular")
            dt = time.perf_counter() - t0
            print(f"| {name} | {pb:.2f} | {pw:.2f} | {prior_name} | {pnp.psnr(np.clip(out, 0, 1), x):.2f} | {dt:.1f} |",
                  flush=True)


if __name__ == "__main__":
    main()
