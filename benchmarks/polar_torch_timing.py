"""Seconds and PSNR of one PolarRotationalBlur restoration: numpy path against the torch path on the CPU.

512x512 colour astronaut, 10 degrees about the centre, noise 2.55/255, default prior, K = 8; two rounds,
alternating, one JSON line per solve (the first numpy solve includes the one build of the polar grids).

    OMP_NUM_THREADS=2 python benchmarks/polar_torch_timing.py
"""
import json, os, time

import numpy as np
import torch

import pnp
from skimage import data, transform
from pnp.metrics import psnr
torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", os.cpu_count() or 1)))
n = 512
x = transform.resize(data.astronaut() / 255.0, (n, n), anti_aliasing=True)
blur = pnp.RotationalBlur(((n - 1) / 2, (n - 1) / 2), np.deg2rad(10))
y = pnp.add_noise(blur.forward(x.transpose(2, 0, 1)).transpose(1, 2, 0), 2.55 / 255, seed=0)
op = pnp.PolarRotationalBlur.from_blur(blur)
rows = []
for rep in range(2):
    for dev in (None, "cpu"):
        kw = {} if dev is None else {"device": dev}
        t = time.perf_counter()
        r = pnp.solve(y, op, noise_level=2.55 / 255, progress=False, **kw)
        rows.append(dict(rep=rep, path="numpy" if dev is None else "torch cpu", s=round(time.perf_counter() - t, 2),
                         psnr=round(float(psnr(r, x)), 3)))
        print(json.dumps(rows[-1]), flush=True)
