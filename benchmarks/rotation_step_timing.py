"""Seconds of the data steps and prior calls of one rotational restoration: polar PCG vs the plain-CG default.

The NxN colour astronaut (default 512), rotated by 10 degrees about its centre (the library's own
operator, noise 2.55/255, seed 0), restored twice with each step, alternating: ``method="polar"``
(20 preconditioned iterations to tol 1e-3, the default before 2026-11-26) and the default (plain CG
to tol 1e-4, at most 40 iterations). One JSON line per solve.

    OMP_NUM_THREADS=2 python benchmarks/rotation_step_timing.py 512
"""
import time, json, sys, numpy as np, pnp
from skimage import data
from pnp.operators.rotational import RotationalBlur
from pnp.datasteps.polar import PolarDataStep
import pathlib
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from priors.registry import get_prior
n = int(sys.argv[1]) if len(sys.argv) > 1 else 512
x = data.astronaut()[:n, :n] / 255.0
c = ((n - 1) / 2, (n - 1) / 2)
op0 = RotationalBlur(c, np.deg2rad(10))
y = pnp.add_noise(op0.forward(x.transpose(2, 0, 1)).transpose(1, 2, 0), 2.55 / 255, seed=0)
prior = get_prior("attention-unet")
calls, pcalls = [], []
oc = PolarDataStep.__call__
def tc(self, v, a):
    t = time.perf_counter(); z = oc(self, v, a); calls.append((round(time.perf_counter() - t, 3), self.last_iterations)); return z
PolarDataStep.__call__ = tc
def tprior(xx, s):
    t = time.perf_counter(); out = prior(xx, s); pcalls.append(round(time.perf_counter() - t, 3)); return out
orig = RotationalBlur.data_step
for rep in range(2):
    for name, kw in (("old", dict(method="polar")), ("new", dict())):
        RotationalBlur.data_step = lambda self, yy, observed=None, _kw=kw, **k: orig(self, yy, observed=observed, **{**_kw, **k})
        op = RotationalBlur(c, np.deg2rad(10))
        calls.clear(); pcalls.clear()
        t = time.perf_counter()
        xh = pnp.solve(y, op, prior=tprior, noise_level=2.55 / 255, iters=8, progress=False)
        tt = time.perf_counter() - t
        print(json.dumps(dict(rep=rep, variant=name, psnr=round(pnp.psnr(xh, x), 3), solve_s=round(tt, 2),
                              data_s=[a for a, _ in calls], its=[b for _, b in calls], prior_s=pcalls,
                              data_sum=round(sum(a for a, _ in calls), 2), prior_sum=round(sum(pcalls), 2))), flush=True)
