"""Where the time of one solve goes: FFT data step vs prior.

Runs ``pnp.solve`` once per configuration with the data step and the prior
wrapped in timers (the solve itself is unchanged) and prints the split.

Usage::

    python benchmarks/profile_solve.py --priors tv bm3d drunet --size 256 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from skimage import data, transform

import pnp
from pnp.operators import Blur
from priors import get_prior


class Timed:
    """Wrap a callable and accumulate the wall time of its calls."""

    def __init__(self, fn):
        self.fn, self.seconds, self.calls = fn, 0.0, 0

    def __call__(self, *args, **kwargs):
        t0 = time.perf_counter()
        out = self.fn(*args, **kwargs)
        self.seconds += time.perf_counter() - t0
        self.calls += 1
        return out


class TimedBlur(Blur):
    """A Blur whose data step is timed."""

    def data_step(self, y, observed=None):
        self.timer = Timed(super().data_step(y, observed=observed))
        return self.timer


def profile(prior_name, colour, size, iters=8):
    k = np.load(os.path.join(os.path.dirname(pnp.__file__), "samples", "camera_shake_27.npy"))
    if colour:
        x = transform.resize(data.astronaut(), (size, size), anti_aliasing=True)
    else:
        x = transform.resize(data.camera(), (size, size), anti_aliasing=True)
    y = pnp.add_noise(pnp.blur(x, k, boundary="reflect"), 2.55 / 255, seed=0)
    op = TimedBlur(k)
    prior = Timed(get_prior(prior_name))
    prior(x, 0.1)  # warm-up: load weights / libraries outside the measurement
    prior.seconds, prior.calls = 0.0, 0
    t0 = time.perf_counter()
    pnp.solve(y, op, prior=prior, noise_level=2.55 / 255, iters=iters)
    total = time.perf_counter() - t0
    return total, op.timer.seconds, prior.seconds


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--priors", nargs="+", default=["tv", "bm3d"])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    print(f"| prior | image | total (s) | data step (s) | prior (s) | data step share |")
    print("|---|---|---|---|---|---|")
    for name in args.priors:
        for colour in (False, True):
            runs = np.array([profile(name, colour, args.size) for _ in range(args.repeats)])
            tot, dstep, pr = np.median(runs, axis=0)
            kind = f"{args.size}x{args.size} {'colour' if colour else 'gray'}"
            print(f"| {name} | {kind} | {tot:.2f} | {dstep:.3f} | {pr:.2f} | {100 * dstep / tot:.1f} % |", flush=True)


if __name__ == "__main__":
    main()
