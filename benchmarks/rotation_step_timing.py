"""Seconds of the data steps and prior calls of one rotational restoration, per data-step setting.

The NxN colour astronaut (default 512; resized for N > 512), rotated by 10 degrees (``--angle``)
about its centre (the library's own operator, noise 2.55/255, seed 0), restored ``--repeats`` times
with each setting,
alternating. One JSON line per solve: PSNR, solve seconds, the seconds and iterations of each data
step and the seconds of each prior call.

Default settings: ``method="polar"`` (20 preconditioned iterations to tol 1e-3, the default before
2026-11-26) and the default step (plain CG to tol 1e-4, at most 40 iterations), both with K = 8.
``--runs K:MAXITER ...`` compares plain-CG steps (tol 1e-4) of at most MAXITER iterations inside
K HQS iterations instead:

    OMP_NUM_THREADS=2 python benchmarks/rotation_step_timing.py 512
    OMP_NUM_THREADS=2 python benchmarks/rotation_step_timing.py 512 --runs 8:40 16:10 24:4
    OMP_NUM_THREADS=2 python benchmarks/rotation_step_timing.py 512 --runs 8:40 --models arcs polar

``--models arcs polar`` restores with both discretisations of the blur (:class:`pnp.RotationalBlur`,
:class:`pnp.PolarRotationalBlur`), alternating; ``build_s`` is the time to build the operator on the
padded grid, before the solve (which then finds it cached).
"""
import argparse
import itertools
import json
import pathlib
import sys
import time

import numpy as np
from skimage import data

import pnp
from pnp.boundary import fft_friendly_pads
from pnp.datasteps.polar import PolarDataStep
from pnp.operators.polar_rotational import PolarRotationalBlur
from pnp.operators.rotational import RotationalBlur

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from priors.registry import get_prior  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("n", type=int, nargs="?", default=512, help="image size N (NxN)")
    ap.add_argument("--angle", type=float, default=10, help="rotation during the exposure, degrees")
    ap.add_argument("--runs", nargs="+", default=None, help="K:MAXITER settings of plain CG (tol 1e-4)")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--models", nargs="+", choices=["arcs", "polar"], default=["arcs"],
                    help="discretisations of the blur used to restore (RotationalBlur, PolarRotationalBlur), "
                         "alternating; the observation is always made with RotationalBlur")
    args = ap.parse_args(argv)
    n = args.n
    x = data.astronaut()[:n, :n] / 255.0
    if n > x.shape[0]:  # a larger frame: the astronaut resized (bicubic) to n x n
        from skimage import transform

        x = np.clip(transform.resize(x, (n, n), order=3), 0, 1)
    c = ((n - 1) / 2, (n - 1) / 2)
    op0 = RotationalBlur(c, np.deg2rad(args.angle))
    y = pnp.add_noise(op0.forward(x.transpose(2, 0, 1)).transpose(1, 2, 0), 2.55 / 255, seed=0)
    prior = get_prior("attention-unet")
    if args.runs:
        settings = []
        for r in args.runs:
            k, m = (int(v) for v in r.split(":"))
            settings.append((r, k, dict(method="cg", maxiter=m, tol=1e-4)))
    else:
        settings = [("old", 8, dict(method="polar")), ("new", 8, dict())]
    calls, pcalls = [], []
    orig_call = PolarDataStep.__call__

    def timed_call(self, v, a):
        t = time.perf_counter()
        z = orig_call(self, v, a)
        calls.append((round(time.perf_counter() - t, 3), self.last_iterations))
        return z

    def timed_prior(xx, s):
        t = time.perf_counter()
        out = prior(xx, s)
        pcalls.append(round(time.perf_counter() - t, 3))
        return out

    orig_step = RotationalBlur.data_step
    PolarDataStep.__call__ = timed_call
    try:
        for rep in range(args.repeats):
            for (name, iters, kw), model in itertools.product(settings, args.models):
                RotationalBlur.data_step = (lambda self, yy, observed=None, _kw=kw, **k:
                                            orig_step(self, yy, observed=observed, **{**_kw, **k}))
                cls = PolarRotationalBlur if model == "polar" else RotationalBlur
                op = cls(c, np.deg2rad(args.angle))
                t = time.perf_counter()
                pads = fft_friendly_pads(x.shape[:2], op.boundary_margins(x.shape[:2]))  # as pnp.solve pads
                grid = (x.shape[0] + pads[0] + pads[1], x.shape[1] + pads[2] + pads[3])
                op.padded(pads).matrix(grid, progress=False)
                build = time.perf_counter() - t
                calls.clear()
                pcalls.clear()
                t = time.perf_counter()
                xh = pnp.solve(y, op, prior=timed_prior, noise_level=2.55 / 255, iters=iters, progress=False)
                tt = time.perf_counter() - t
                print(json.dumps(dict(rep=rep, variant=name, model=model, build_s=round(build, 2), iters=iters,
                                      psnr=round(pnp.psnr(xh, x), 3),
                                      solve_s=round(tt, 2), data_s=[a for a, _ in calls], its=[b for _, b in calls],
                                      prior_s=pcalls, data_sum=round(sum(a for a, _ in calls), 2),
                                      data_max=max(a for a, _ in calls), prior_sum=round(sum(pcalls), 2),
                                      prior_median=float(np.median(pcalls)))), flush=True)
    finally:
        RotationalBlur.data_step = orig_step
        PolarDataStep.__call__ = orig_call


if __name__ == "__main__":
    main()
