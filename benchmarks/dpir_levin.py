"""DPIR's deblurring protocol: Levin's 8 kernels x Set3C, noise 2.55/255 and 7.65/255.

``--set Set12`` runs the same protocol on gray images (val/Set12, read as
gray; ``--images 01 02 03 04`` picks a subset), so gray priors are measured too.

Each Set3C image is blurred circularly with each kernel (DPIR blurs with
``ndimage.convolve(..., mode="wrap")``, the model our FFT step inverts), Gaussian
noise is added with seed 0, and ``pnp.solve`` restores it with HQS, the DPIR
schedule and the chosen prior. PSNR is measured on the clipped 0-1 float
output over the whole image.

Usage::

    python benchmarks/dpir_levin.py --prior bm3d --out docs/results
    python benchmarks/dpir_levin.py --prior drunet --iters 8 --noise 2.55 7.65
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
from skimage import io

import pnp
from pnp.data import list_images, load_kernels


def _read(path, gray):
    img = io.imread(path)
    if gray:
        if img.ndim == 3:
            raise ValueError(f"{path}: expected a gray image for the gray protocol, got shape {img.shape}")
        return img / 255.0
    return img[..., :3] / 255.0


def run(prior, noises, iters, images=None, kernels=None, solver="hqs", partial=None, schedule=None,
        image_set="Set3C"):
    paths = list_images(image_set)
    if images:
        paths = [p for p in paths if p.stem in images]
    ks = load_kernels("levin09")
    kidx = list(range(len(ks))) if kernels is None else kernels
    rows = []
    for noise in noises:
        for path in paths:
            x = _read(path, gray=image_set == "Set12")
            for i in kidx:
                rng = np.random.default_rng(0)
                y = pnp.blur(x, ks[i]) + noise / 255 * rng.standard_normal(x.shape)
                t0 = time.perf_counter()
                out = pnp.solve(y, ks[i], prior=prior, solver=solver, noise_level=noise / 255,
                                iters=iters, boundary="circular", schedule=schedule)
                dt = time.perf_counter() - t0
                row = dict(noise=noise, image=path.stem, kernel=i + 1,
                           psnr_blurred=pnp.psnr(np.clip(y, 0, 1), x),
                           psnr=pnp.psnr(np.clip(out, 0, 1), x), seconds=dt)
                rows.append(row)
                if partial is not None:  # keep what is done if the run is interrupted
                    partial.write_text(json.dumps(rows, indent=1))
                print(f"sigma={noise:5.2f} {path.stem:10s} k{i + 1}  blurred {row['psnr_blurred']:6.2f}  "
                      f"restored {row['psnr']:6.2f} dB  {dt:6.1f} s", flush=True)
    return rows


def table(rows, prior):
    kernels = sorted({r["kernel"] for r in rows})
    lines = [f"| prior | sigma (/255) | image | " + " | ".join(f"k{k}" for k in kernels) + " | mean | s/image |",
             "|---|---|---|" + "---|" * len(kernels) + "---|---|"]
    for noise in sorted({r["noise"] for r in rows}):
        sub = [r for r in rows if r["noise"] == noise]
        for image in sorted({r["image"] for r in sub}):
            rr = {r["kernel"]: r for r in sub if r["image"] == image}
            vals = [rr[k]["psnr"] for k in kernels]
            secs = np.median([rr[k]["seconds"] for k in kernels])
            lines.append(f"| {prior} | {noise} | {image} | " + " | ".join(f"{v:.2f}" for v in vals)
                         + f" | {np.mean(vals):.2f} | {secs:.1f} |")
        allv = [r["psnr"] for r in sub]
        lines.append(f"| {prior} | {noise} | **average** | " + " | ".join(
            f"{np.mean([r['psnr'] for r in sub if r['kernel'] == k]):.2f}" for k in kernels)
            + f" | **{np.mean(allv):.2f}** | {np.median([r['seconds'] for r in sub]):.1f} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prior", default="bm3d")
    ap.add_argument("--solver", default="hqs")
    ap.add_argument("--iters", type=int, default=8)
    ap.add_argument("--noise", type=float, nargs="+", default=[2.55, 7.65], help="noise sigma in /255 units")
    ap.add_argument("--set", default="Set3C", choices=("Set3C", "Set12"),
                    help="Set3C (colour, DPIR's protocol) or Set12 (gray)")
    ap.add_argument("--images", nargs="*", help="subset of the set's image names (file stems)")
    ap.add_argument("--kernels", type=int, nargs="*", help="kernel indices 1..8 (default all)")
    ap.add_argument("--schedule", default=None, help="a learned schedule .pt (default: the DPIR schedule)")
    ap.add_argument("--prior-weights", default=None,
                    help="weights file of the prior (e.g. a fine-tuned prior exported by "
                         "priors.train_unfolded --export-prior); default: the shipped weights")
    ap.add_argument("--tag", default="", help="suffix of the result file names")
    ap.add_argument("--out", default="docs/results", help="folder for the JSON and markdown results")
    args = ap.parse_args(argv)
    kernels = None if not args.kernels else [k - 1 for k in args.kernels]
    t0 = time.time()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    set_tag = "" if args.set == "Set3C" else f"_{args.set}"
    stem = f"dpir_levin{set_tag}_{args.prior}_{args.solver}_K{args.iters}{args.tag}"
    schedule = None
    if args.schedule:
        from pnp.learned_schedule import LearnedSchedule

        schedule = LearnedSchedule.load(args.schedule)
    from priors import get_prior

    prior = get_prior(args.prior, weights=args.prior_weights)  # built once for all images (networks load their weights once)
    rows = run(prior, args.noise, args.iters, args.images, kernels, args.solver,
               partial=out / f"{stem}.partial.json", schedule=schedule, image_set=args.set)
    md = table(rows, args.prior + (f" ({args.tag.strip('_')})" if args.tag else ""))
    print(md)
    meta = dict(command="python benchmarks/dpir_levin.py " + " ".join(argv or __import__("sys").argv[1:]),
                machine=f"{platform.machine()}, {__import__('os').cpu_count()} cores", wall_s=time.time() - t0)
    (out / f"{stem}.json").write_text(json.dumps(dict(meta=meta, rows=rows), indent=1))
    (out / f"{stem}.md").write_text(md + "\n")
    (out / f"{stem}.partial.json").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
