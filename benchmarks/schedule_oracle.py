"""How much can a hand-tuned schedule gain over DPIR's on the DPIR protocol? (issue 8, an upper bound).

The K = 8 target of the learned schedule is +0.3 dB over the hand DPIR schedule. This script
asks how much *any* schedule of the DPIR family gains with the same (frozen) prior when its
three numbers are tuned **on the benchmark itself** (an oracle, not a shippable result):
``sigma_k`` log-spaced from ``sigma_start`` to ``end_factor x`` the noise level and
``alpha_k = lam sigma_n^2 / sigma_k^2`` (:class:`pnp.schedules.GeometricSchedule`; DPIR is
``sigma_start = 49/255``, ``end_factor = 1``, ``lam = 0.23``).

Coordinate search, per noise level: ``lam`` over ``--lams`` (the other two at DPIR's values),
then ``sigma_start`` over ``--starts`` with the best ``lam``, then ``end_factor`` over
``--ends`` with both. Every configuration is one run of ``benchmarks/dpir_levin.py``'s cases
(Set3C x Levin's 8 kernels, circular blur, seed 0); one JSON line per configuration is appended
to ``<out>/schedule_oracle_K<iters>.jsonl`` and a rerun skips the configurations already there.

Usage::

    python benchmarks/schedule_oracle.py --iters 8 --noise 2.55 7.65
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def _key(noise, lam, start, end):
    return f"{noise:g}|{lam:g}|{start:g}|{end:g}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iters", type=int, default=8)
    ap.add_argument("--noise", type=float, nargs="+", default=[2.55, 7.65], help="noise sigma in /255 units")
    ap.add_argument("--lams", type=float, nargs="+", default=[0.08, 0.12, 0.17, 0.23, 0.32, 0.45])
    ap.add_argument("--starts", type=float, nargs="+", default=[25, 35, 49, 70], help="sigma_start in /255 units")
    ap.add_argument("--ends", type=float, nargs="+", default=[0.7, 1.0, 1.4], help="end_factor")
    ap.add_argument("--prior", default="attention-unet")
    ap.add_argument("--out", default="docs/results/schedule_oracle")
    args = ap.parse_args(argv)

    from dpir_levin import run

    from pnp.schedules import GeometricSchedule
    from priors import get_prior

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = out / f"schedule_oracle_K{args.iters}.jsonl"
    done = {}
    if log.is_file():
        for line in log.read_text().splitlines():
            r = json.loads(line)
            done[_key(r["noise"], r["lam"], r["sigma_start"], r["end_factor"])] = r["psnr"]
    prior = get_prior(args.prior)

    def measure(noise, lam, start, end):
        k = _key(noise, lam, start, end)
        if k not in done:
            sched = GeometricSchedule(sigma_start=start / 255, sigma_end=end * noise / 255, lam=lam)
            t = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                rows = run(prior, [noise], args.iters, schedule=sched)
            done[k] = float(np.mean([r["psnr"] for r in rows]))
            with log.open("a") as f:
                f.write(json.dumps(dict(noise=noise, iters=args.iters, lam=lam, sigma_start=start, end_factor=end,
                                        psnr=done[k], cases=len(rows), seconds=round(time.perf_counter() - t, 1)))
                        + "\n")
        print(f"noise {noise:5.2f}  lam {lam:5.2f}  start {start:4.0f}/255  end x{end:.2f}:  {done[k]:.3f} dB",
              flush=True)
        return done[k]

    for noise in args.noise:
        base = measure(noise, 0.23, 49, 1.0)
        lam = max(args.lams, key=lambda v: measure(noise, v, 49, 1.0))
        start = max(args.starts, key=lambda v: measure(noise, lam, v, 1.0))
        end = max(args.ends, key=lambda v: measure(noise, lam, start, v))
        best = measure(noise, lam, start, end)
        print(f"noise {noise:5.2f}: DPIR {base:.3f} dB, best lam {lam:g} start {start:g}/255 end x{end:g}: "
              f"{best:.3f} dB ({best - base:+.3f})", flush=True)


if __name__ == "__main__":
    main()
