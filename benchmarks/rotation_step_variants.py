"""Rotational blur: data-step variants inside whole restorations (issue 4).

Restores cached observations of ``benchmarks/rotation.py`` (its ``--cache`` folder) with the
default prior, K = 8, noise 2.55/255, and one data-step variant at a time; prints one JSON line
per image and variant: PSNR (all / rim), solve seconds, seconds and iterations of each data step.

    python benchmarks/rotation_step_variants.py --cache /tmp/rb/cache --images butterfly leaves starfish \
        --angle 10 --variants pcg20 cg20 cg40 cg80t4
    python benchmarks/rotation_step_variants.py --cache /tmp/rb/cache --variants cg40t4 cg10t4 --iters 8 16

A second mode replays the data steps of one restoration of the 512x512 (``--replay N``: NxN)
astronaut and compares each variant's error against the exact masked step (CG to 1e-10):

    python benchmarks/rotation_step_variants.py --replay 192
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

#: name -> keywords of ``RotationalBlur.data_step`` ("pcg20" was the default before 2026-11-26)
VARIANTS = {
    "pcg20": dict(method="polar"),
    "cg20": dict(method="cg", maxiter=20, tol=1e-3),
    "cg4t4": dict(method="cg", maxiter=4, tol=1e-4),
    "cg6t4": dict(method="cg", maxiter=6, tol=1e-4),
    "cg10t4": dict(method="cg", maxiter=10, tol=1e-4),
    "cg40": dict(method="cg", maxiter=40, tol=1e-3),
    "cg20t4": dict(method="cg", maxiter=20, tol=1e-4),
    "cg30t4": dict(method="cg", maxiter=30, tol=1e-4),
    "cg40t4": dict(method="cg", maxiter=40, tol=1e-4),  # the default now
    "cg80t4": dict(method="cg", maxiter=80, tol=1e-4),
    "cg150t5": dict(method="cg", maxiter=150, tol=1e-5),
    "pcg40t4": dict(method="polar", maxiter=40, tol=1e-4),
    "pcg80t4": dict(method="polar", maxiter=80, tol=1e-4),
}
SEEDS = {"butterfly": 0, "leaves": 1, "starfish": 2}


def _patched(kw):
    """Context in which ``RotationalBlur.data_step`` uses the keywords ``kw``; records each call."""
    from pnp.datasteps.polar import PolarDataStep
    from pnp.operators.rotational import RotationalBlur

    calls = []
    orig_step, orig_call = RotationalBlur.data_step, PolarDataStep.__call__

    def step(self, y, observed=None, **k):
        return orig_step(self, y, observed=observed, **{**kw, **k})

    def call(self, v, alpha):
        t = time.perf_counter()
        z = orig_call(self, v, alpha)
        calls.append((round(time.perf_counter() - t, 3), self.last_iterations))
        return z

    class Ctx:
        def __enter__(self):
            RotationalBlur.data_step, PolarDataStep.__call__ = step, call
            return calls

        def __exit__(self, *exc):
            RotationalBlur.data_step, PolarDataStep.__call__ = orig_step, orig_call

    return Ctx()


def run_variants(args):
    import pnp
    from pnp.operators.rotational import RotationalBlur
    from priors.registry import get_prior
    from rotation import psnr_pair, rim_mask

    prior = get_prior("attention-unet")
    for name in args.images:
        seed = SEEDS.get(name, args.seed)
        f = Path(args.cache) / f"{name}_{args.angle:g}deg_seed{seed}.npz"
        if not f.is_file():
            sys.exit(f"{f} not found: run benchmarks/rotation.py --cache {args.cache} first")
        d = np.load(f)
        y, xs = d["blurred"], d["sharp"]
        H, W = y.shape[:2]
        c = ((W - 1) / 2, (H - 1) / 2)
        rim = rim_mask(y.shape, c)
        for v in args.variants:
            for iters in args.iters:
                with _patched(VARIANTS[v]) as calls:
                    op = RotationalBlur(c, np.deg2rad(args.angle))
                    t = time.perf_counter()
                    xh = pnp.solve(y, op, prior=prior, noise_level=2.55 / 255, iters=iters, progress=False)
                    tt = time.perf_counter() - t
                print(json.dumps(dict(image=name, angle=args.angle, variant=v, iters=iters, psnr=psnr_pair(xh, xs, rim),
                                      solve_s=round(tt, 2), step_s=[a for a, _ in calls],
                                      its=[b for _, b in calls])), flush=True)


def run_replay(args):
    import pnp
    from pnp.datasteps.polar import PolarDataStep
    from skimage import data

    n = args.replay
    x = data.astronaut()[:n, :n] / 255.0
    c = ((n - 1) / 2, (n - 1) / 2)
    op = pnp.RotationalBlur(c, np.deg2rad(10))
    y = pnp.add_noise(op.forward(x.transpose(2, 0, 1)).transpose(1, 2, 0), 2.55 / 255, seed=0)
    steps, inputs = [], []
    orig = PolarDataStep.__call__

    def rec(self, v, alpha):
        steps.append(self)
        inputs.append((v.copy(), float(alpha)))
        return orig(self, v, alpha)

    PolarDataStep.__call__ = rec
    try:
        xh = pnp.solve(y, op, noise_level=2.55 / 255, iters=8, progress=False)
    finally:
        PolarDataStep.__call__ = orig
    print(f"default restoration: {pnp.psnr(xh, x):.2f} dB; alphas {[round(a, 6) for _, a in inputs]}")
    s0 = steps[0]
    exact = PolarDataStep(s0.operator, s0.y, observed=s0.observed, polar=False, tol=1e-10, maxiter=3000)
    for i, (v, a) in enumerate(inputs[: args.calls]):
        ze = exact(v, a)
        dz = np.linalg.norm(ze - v)
        print(f"call {i + 1} alpha {a:.2e}: exact = CG {exact.last_iterations} it. (residual {exact.last_residual:.1e})")
        for polar in (True, False):
            for m in (5, 10, 20, 40, 80):
                s = PolarDataStep(s0.operator, s0.y, observed=s0.observed, polar=polar, tol=1e-12, maxiter=m)
                s(v, a)  # builds
                t = time.perf_counter()
                z = s(v, a)
                print(f"   {'PCG' if polar else 'CG '} {m:3d} it.: error / step {np.linalg.norm(z - ze) / dz:.3f}"
                      f"  {time.perf_counter() - t:.2f} s", flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", default=None, help="observations written by benchmarks/rotation.py --cache")
    ap.add_argument("--images", nargs="+", default=["butterfly", "leaves", "starfish"])
    ap.add_argument("--angle", type=float, default=10)
    ap.add_argument("--seed", type=int, default=0, help="seed of images not in Set3C (see rotation.py)")
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--iters", type=int, nargs="+", default=[8], help="HQS iterations K (each variant with each K)")
    ap.add_argument("--replay", type=int, default=None, help="replay mode: image size N")
    ap.add_argument("--calls", type=int, default=3, help="replay mode: data steps compared")
    args = ap.parse_args(argv)
    if args.replay:
        run_replay(args)
    elif args.cache:
        run_variants(args)
    else:
        ap.error("give --cache (variants in whole restorations) or --replay N")


if __name__ == "__main__":
    main()
