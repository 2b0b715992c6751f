"""Super-resolution with USRNet's 12 kernels at x2, x3, x4 on the first CBSD68 images.

Each image (cropped to a multiple of 12) is blurred circularly with each kernel
of ``$PNP_DATA/kernels/usrnet12.npz``, decimated (top-left pixel of each
``s x s`` block, USRNet's convention) and corrupted by noise; ``pnp.solve``
restores it with ``scale=s``.

Usage::

    python benchmarks/superres.py --prior drunet --images 10 --scales 2 3 4 --noise 0
    python benchmarks/superres.py --prior drunet --schedule priors/weights/learned_schedule_K8.pt
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from skimage import io

import pnp
from pnp.data import list_images, load_kernels
from priors.registry import DEFAULT_PRIOR


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prior", default=DEFAULT_PRIOR, help="prior name (default: the default prior of pnp.solve)")
    ap.add_argument("--schedule", default=None, help="learned schedule .pt (default DPIR)")
    ap.add_argument("--images", type=int, default=10, help="first N images of CBSD68")
    ap.add_argument("--scales", type=int, nargs="+", default=[2, 3, 4])
    ap.add_argument("--kernels", type=int, nargs="*", help="kernel numbers 1..12 (default all)")
    ap.add_argument("--noise", type=float, default=0.0, help="noise sigma in /255")
    ap.add_argument("--iters", type=int, default=8)
    ap.add_argument("--out", default="docs/results")
    ap.add_argument("--tag", default="")
    args = ap.parse_args(argv)

    from priors import get_prior

    prior = get_prior(args.prior)
    schedule = None
    if args.schedule:
        from pnp.learned_schedule import LearnedSchedule

        schedule = LearnedSchedule.load(args.schedule)
    ks = load_kernels("usrnet12")
    kidx = [k - 1 for k in args.kernels] if args.kernels else list(range(len(ks)))
    paths = list_images("CBSD68")[: args.images]
    rows = []
    for s in args.scales:
        for i in kidx:
            for path in paths:
                x = io.imread(path)[..., :3] / 255.0
                H, W = (x.shape[0] // 12) * 12, (x.shape[1] // 12) * 12
                x = x[:H, :W]
                rng = np.random.default_rng(0)
                y = pnp.blur(x, ks[i], scale=s)
                y = y + args.noise / 255 * rng.standard_normal(y.shape)
                t0 = time.perf_counter()
                out = pnp.solve(y, ks[i], prior=prior, scale=s, noise_level=args.noise / 255,
                                iters=args.iters, boundary="circular", schedule=schedule)
                rows.append(dict(scale=s, kernel=i + 1, image=path.stem, psnr=pnp.psnr(np.clip(out, 0, 1), x),
                                 seconds=time.perf_counter() - t0))
            sub = [r["psnr"] for r in rows if r["scale"] == s and r["kernel"] == i + 1]
            print(f"x{s} kernel {i + 1:2d}: mean PSNR {np.mean(sub):.2f} dB over {len(sub)} images", flush=True)
    lines = ["| scale | " + " | ".join(f"k{i + 1}" for i in kidx) + " | mean |",
             "|---|" + "---|" * (len(kidx) + 1)]
    for s in args.scales:
        vals = [np.mean([r["psnr"] for r in rows if r["scale"] == s and r["kernel"] == i + 1]) for i in kidx]
        lines.append(f"| x{s} | " + " | ".join(f"{v:.2f}" for v in vals) + f" | {np.mean(vals):.2f} |")
    md = "\n".join(lines)
    print(md)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"superres_{args.prior}_n{args.noise:g}{args.tag}"
    (out / f"{stem}.md").write_text(md + "\n")
    (out / f"{stem}.json").write_text(json.dumps(dict(args=vars(args), rows=rows), indent=1))


if __name__ == "__main__":
    main()
