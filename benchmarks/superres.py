"""Super-resolution with USRNet's 12 kernels at x2, x3, x4 on CBSD68 images.

Each image (cropped to a multiple of 12) is blurred circularly with each kernel
of ``$PNP_DATA/kernels/usrnet12.npz``, decimated (top-left pixel of each
``s x s`` block, USRNet's convention) and corrupted by noise; ``pnp.solve``
restores it with ``scale=s``.

Two PSNR figures per case: ``psnr`` (ours: the clipped float output against the
float ground truth, whole colour image) and ``psnr_usrnet`` (the convention of
USRNet's ``main_test_table1.py``: both images rounded to 8 bits, a border of
``s**2`` pixels left out).

Every finished case is appended to ``<out>/<stem>.jsonl`` at once, and a rerun
with the same arguments skips the cases already there, so a long run can be
stopped and resumed; ``--start`` / ``--images`` split the image list between
processes, and ``--merge`` writes the tables of several such files together
(``--complete-images``: only the images with every case, after a run stopped
early; cases run image by image).

Usage::

    python benchmarks/superres.py --prior drunet --images 10 --scales 2 3 4 --noise 0
    python benchmarks/superres.py --prior drunet --schedule priors/weights/learned_schedule_K8.pt
    # all 68 images in two processes, then one table:
    python benchmarks/superres.py --start 0 --images 34 --tag _a &
    python benchmarks/superres.py --start 34 --images 34 --tag _b
    python benchmarks/superres.py --merge docs/results/superres_attention-unet_n0_a.jsonl \\
        docs/results/superres_attention-unet_n0_b.jsonl --tag _all
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

import numpy as np
from skimage import io

import pnp
from pnp.data import list_images, load_kernels
from priors.registry import DEFAULT_PRIOR


def psnr_usrnet(out, ref, scale):
    """PSNR (dB) as USRNet's test script computes it: 8-bit rounding, ``scale**2`` border left out."""
    b = scale**2
    a = np.round(np.clip(out, 0, 1) * 255)[b:-b, b:-b]
    r = np.round(ref * 255)[b:-b, b:-b]
    mse = np.mean((a - r) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def table(rows, key="psnr"):
    """Markdown table: one row per scale, one column per kernel, mean over the images."""
    scales = sorted({r["scale"] for r in rows})
    kernels = sorted({r["kernel"] for r in rows})
    lines = ["| scale | " + " | ".join(f"k{k}" for k in kernels) + " | mean |",
             "|---|" + "---|" * (len(kernels) + 1)]
    for s in scales:
        vals = [np.mean([r[key] for r in rows if r["scale"] == s and r["kernel"] == k]) for k in kernels]
        lines.append(f"| x{s} | " + " | ".join(f"{v:.2f}" for v in vals) + f" | {np.mean(vals):.2f} |")
    return "\n".join(lines)


def complete_images(rows):
    """The rows of the images that have every (scale, kernel) case present in ``rows``."""
    cases = {(r["scale"], r["kernel"]) for r in rows}
    have = {}
    for r in rows:
        have.setdefault(r["image"], set()).add((r["scale"], r["kernel"]))
    keep = {im for im, c in have.items() if c == cases}
    return [r for r in rows if r["image"] in keep]


def write_tables(rows, out, stem, meta):
    """``<stem>.md`` (both PSNR conventions, image count) and ``<stem>.json`` (all rows)."""
    images = sorted({r["image"] for r in rows})
    per_case = Counter((r["scale"], r["kernel"]) for r in rows)
    if len(set(per_case.values())) != 1:
        raise SystemExit(f"unequal image counts per (scale, kernel): {sorted(set(per_case.values()))}; "
                         "finish the runs, or merge with --complete-images")
    md = (f"Mean over {len(images)} images. PSNR (ours: float, whole image):\n\n{table(rows)}\n\n"
          f"PSNR (USRNet's convention: 8-bit, border of s^2 pixels left out):\n\n{table(rows, 'psnr_usrnet')}\n")
    (out / f"{stem}.md").write_text(md)
    (out / f"{stem}.json").write_text(json.dumps(dict(args=meta, rows=rows), indent=1))
    print(md)


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prior", default=DEFAULT_PRIOR, help="prior name (default: the default prior of pnp.solve)")
    ap.add_argument("--schedule", default=None, help="learned schedule .pt (default DPIR)")
    ap.add_argument("--start", type=int, default=0, help="index of the first CBSD68 image (0-based)")
    ap.add_argument("--images", type=int, default=10, help="number of images from --start (0: to the end)")
    ap.add_argument("--scales", type=int, nargs="+", default=[2, 3, 4])
    ap.add_argument("--kernels", type=int, nargs="*", help="kernel numbers 1..12 (default all)")
    ap.add_argument("--noise", type=float, default=0.0, help="noise sigma in /255")
    ap.add_argument("--iters", type=int, default=8)
    ap.add_argument("--out", default="docs/results")
    ap.add_argument("--tag", default="")
    ap.add_argument("--merge", nargs="+", default=None, metavar="JSONL",
                    help="write one table from these result files (no solving)")
    ap.add_argument("--complete-images", action="store_true",
                    help="with --merge: keep only the images that have every case (a run stopped early)")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"superres_{args.prior}_n{args.noise:g}{args.tag}"
    if args.merge:
        rows = [r for p in args.merge for r in read_jsonl(p)]
        if args.complete_images:
            kept = complete_images(rows)
            print(f"--complete-images: {len({r['image'] for r in kept})} of {len({r['image'] for r in rows})} images kept")
            rows = kept
        write_tables(rows, out, stem, dict(merged=args.merge, complete_images=args.complete_images))
        return

    from priors import get_prior

    prior = get_prior(args.prior)
    schedule = None
    if args.schedule:
        from pnp.learned_schedule import LearnedSchedule

        schedule = LearnedSchedule.load(args.schedule)
    ks = load_kernels("usrnet12")
    kidx = [k - 1 for k in args.kernels] if args.kernels else list(range(len(ks)))
    if any(not 0 <= i < len(ks) for i in kidx):
        ap.error(f"--kernels must lie in 1..{len(ks)}")
    all_paths = list_images("CBSD68")
    stop = len(all_paths) if args.images == 0 else args.start + args.images
    paths = all_paths[args.start: stop]
    if not paths:
        ap.error(f"no images from --start {args.start} (CBSD68 has {len(all_paths)})")
    log = out / f"{stem}.jsonl"
    rows = read_jsonl(log) if log.exists() else []
    done = {(r["scale"], r["kernel"], r["image"]) for r in rows}
    if done:
        print(f"resuming {log}: {len(done)} cases done")
    from tqdm.auto import tqdm

    # image by image, so that a run stopped early leaves whole images (see --complete-images)
    todo = {p: [(s, i) for s in args.scales for i in kidx if (s, i + 1, p.stem) not in done] for p in paths}
    bar = tqdm(total=sum(map(len, todo.values())), desc="super-resolution", disable=None)
    with open(log, "a") as f:
        for path, cases in todo.items():
            if not cases:
                continue
            x = io.imread(path)[..., :3] / 255.0
            H, W = (x.shape[0] // 12) * 12, (x.shape[1] // 12) * 12
            x = x[:H, :W]
            for s, i in cases:
                rng = np.random.default_rng(0)
                y = pnp.blur(x, ks[i], scale=s)
                y = y + args.noise / 255 * rng.standard_normal(y.shape)
                t0 = time.perf_counter()
                res = pnp.solve(y, ks[i], prior=prior, scale=s, noise_level=args.noise / 255,
                                iters=args.iters, boundary="circular", schedule=schedule)
                row = dict(scale=s, kernel=i + 1, image=path.stem, psnr=pnp.psnr(np.clip(res, 0, 1), x),
                           psnr_usrnet=psnr_usrnet(res, x, s), seconds=time.perf_counter() - t0)
                f.write(json.dumps(row) + "\n")
                f.flush()
                rows.append(row)
                bar.update(1)
    bar.close()
    wanted = {(s, i + 1, p.stem) for s in args.scales for i in kidx for p in paths}
    write_tables([r for r in rows if (r["scale"], r["kernel"], r["image"]) in wanted], out, stem, vars(args))


if __name__ == "__main__":
    main()
