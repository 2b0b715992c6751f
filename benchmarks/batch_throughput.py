"""Batch throughput (frames per second) of :func:`pnp.batch.deblur_batch`: in-process vs Dask workers.

Frames: ``--frames`` crops (``--size`` pixels, colour) of the astronaut photo,
shifted by a few pixels each, blurred with the 27x27 camera-shake sample kernel
and 1 % noise, written as PNG files. Each configuration restores all of them
into a fresh output folder, twice (``cold``: the first batch, which includes
loading the prior on every worker; ``warm``: a second batch on the same
workers, whose prior cache is kept). Cluster start-up is not timed.

Configurations: ``sync`` (this process, one frame after the other), and a
``distributed.LocalCluster`` with 1 and 2 worker processes of one thread each
(Dask sets ``OMP_NUM_THREADS=1`` in its workers).

Dask also sets ``MALLOC_TRIM_THRESHOLD_=65536`` in its workers by default
(``distributed.nanny.pre-spawn-environ``). Measured here, a 128x128 TV solve
costs 3x the CPU time and 5x the wall time in a process with that variable
(probably because it switches off glibc's dynamic mmap threshold, so every
array above 128 KB is a fresh ``mmap`` to fault in). ``--malloc glibc`` (default) removes that
variable from the workers' environment; ``--malloc dask`` keeps Dask's default.

Usage::

    python benchmarks/batch_throughput.py --prior tv --frames 16 --size 256 --iters 8
    python benchmarks/batch_throughput.py --prior drunet --weights W.pt --frames 12 --size 256 --iters 4
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def make_frames(folder, n, size):
    import pnp
    from pnp.io import to_uint, write_image
    from skimage import data

    k = np.load(ROOT / "pnp" / "samples" / "camera_shake_27.npy")
    x = data.astronaut() / 255.0
    paths = []
    for i in range(n):
        crop = x[100 + 3 * i:100 + 3 * i + size, 120 + 5 * i:120 + 5 * i + size]
        y = pnp.add_noise(pnp.blur(crop, k, boundary="reflect"), 0.01, seed=i)
        paths.append(Path(folder) / f"frame_{i:04d}.png")
        write_image(paths[-1], to_uint(y, np.uint8))
    return paths, k


def run(config, folder, k, args, client=None):
    from pnp.batch import deblur_batch

    prior_kwargs = {"weights": args.weights} if args.prior == "drunet" else {}
    out = []
    for phase in ("cold", "warm"):
        dest = Path(tempfile.mkdtemp(prefix=f"out_{config}_{phase}_", dir=folder.parent))
        t0 = time.perf_counter()
        res = deblur_batch(folder, dest, k, prior=args.prior, prior_kwargs=prior_kwargs, client=client,
                           progress=False, iters=args.iters, noise_level=0.01)
        wall = time.perf_counter() - t0
        rec = dict(config=config, phase=phase, prior=args.prior, frames=len(res["written"]), size=args.size,
                   iters=args.iters, wall_s=round(wall, 2), frames_per_second=round(len(res["written"]) / wall, 3),
                   processes=len({r["pid"] for r in res["records"]}))
        print(json.dumps(rec), flush=True)
        out.append(rec)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--prior", default="tv")
    p.add_argument("--weights", help="DRUNet colour weights (.pt + .json) for --prior drunet")
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--iters", type=int, default=8)
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--malloc", choices=("glibc", "dask"), default="glibc",
                   help="glibc: drop Dask's MALLOC_TRIM_THRESHOLD_ from the workers' environment")
    p.add_argument("--out", help="append JSON lines here")
    args = p.parse_args(argv)
    import dask
    from distributed import Client, LocalCluster

    environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ"))
    if args.malloc == "glibc":
        environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    dask.config.set({"distributed.nanny.pre-spawn-environ": environ})

    recs = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "frames"
        folder.mkdir()
        _, k = make_frames(folder, args.frames, args.size)
        recs += run("sync", folder, k, args)
        for n in args.workers:
            with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None) as c, \
                    Client(c) as client:
                client.wait_for_workers(n)
                recs += run(f"dask-{n}-workers-malloc-{args.malloc}", folder, k, args, client=client)
    if args.out:
        with open(args.out, "a") as f:
            for r in recs:
                f.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    main()
