"""Large images: peak memory, time vs pixel count, tiled vs untiled prior, data steps (float32 vs float64).

Every measurement of memory or time runs in a fresh Python subprocess, so that
``ru_maxrss`` (peak resident set size) belongs to that one solve. The test
images are the astronaut photo resized to ``n x n`` (colour), blurred with the
27x27 camera-shake sample kernel and 1 % Gaussian noise, prepared by the parent
process and handed over as uint8 ``.npy`` files.

The prior is deepinv's DRUNet in the project's residual form: ``--weights PATH``
(a state_dict ``.pt`` with a ``.json`` sidecar), by default
``priors/weights/drunet_small_color.pt`` when it exists (``nc=[24, 48, 96, 192]``,
``nb=2`` since 2026-11-27; the figures of ``docs/benchmarks_scale.md`` were
measured with the earlier ``nc=[16, 32, 64, 128]``), else random weights of the
``nc=[16, 32, 64, 128]`` architecture (memory and time do not depend on the
weight values; quality figures then mean nothing).

Usage::

    python benchmarks/large_images.py scaling --sizes 512 1024 2048 4096 --iters 2
    python benchmarks/large_images.py tiling --size 1024 --tile 256
    python benchmarks/large_images.py precision --size 1024
    python benchmarks/large_images.py one --size 4096 --iters 2       # a single measurement

Results are printed as JSON lines and appended to ``--out`` (JSON lines).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

NOISE = 0.01

#: Data steps compared: Blur's exact masked step (float64 PCG), or the one-pass closed form
#: (ClosedFormBlur) in float64 or float32.
STEPS = {"exact": None, "closed-double": "double", "closed-single": "single"}


def _kernel():
    return np.load(ROOT / "pnp" / "samples" / "camera_shake_27.npy")


def make_pair(n, folder):
    """Write ``x_{n}.npy`` (sharp) and ``y_{n}.npy`` (blurred + noise), uint8 ``(n, n, 3)``."""
    import pnp
    from skimage import data, transform

    folder = Path(folder)
    xp, yp = folder / f"x_{n}.npy", folder / f"y_{n}.npy"
    if xp.is_file() and yp.is_file():
        return xp, yp
    x = transform.resize(data.astronaut(), (n, n), order=1, anti_aliasing=False).astype(np.float32)
    y = pnp.add_noise(pnp.blur(x, _kernel(), boundary="reflect"), NOISE, seed=0)
    np.save(xp, np.clip(np.rint(x * 255), 0, 255).astype(np.uint8))
    np.save(yp, np.clip(np.rint(y * 255), 0, 255).astype(np.uint8))
    return xp, yp


def random_drunet_weights(folder):
    """Save random weights of the small DRUNet (colour) + sidecar; return the ``.pt`` path."""
    import torch
    from deepinv.models import DRUNet

    arch = dict(nc=[16, 32, 64, 128], nb=2, act_mode="R", downsample_mode="strideconv",
                upsample_mode="convtranspose")
    torch.manual_seed(0)
    net = DRUNet(in_channels=3, out_channels=3, pretrained=None, **arch)
    path = Path(folder) / "drunet_random_color.pt"
    torch.save(net.state_dict(), path)
    path.with_suffix(".json").write_text(json.dumps(dict(arch, in_channels=3, out_channels=3, residual=False)))
    return path


def default_weights(folder):
    ours = ROOT / "priors" / "weights" / "drunet_small_color.pt"
    return (ours, "ours") if ours.is_file() else (random_drunet_weights(folder), "random")


def padded_size(n):
    """Side of the grid :func:`pnp.solve` works on for an ``n``-pixel side (boundary padding)."""
    import scipy.fft as sfft

    from pnp.boundary import default_margin

    return sfft.next_fast_len(n + 2 * default_margin(_kernel().shape), real=True)


# -- one measurement (runs in the child process) ------------------------------------------

def peak_rss_mb():
    """Peak resident set size of this process so far (MiB), from /proc (VmHWM) or getrusage."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:  # pragma: no cover - not Linux
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _patch_from_internal():
    """Replace ``pnp.api.from_internal`` by a version with one full-size temporary instead of three.

    A measurement aid for a proposed change to :func:`pnp._layout.from_internal`
    (the final uint8/uint16 conversion is the peak of a 4096x4096 solve): same
    result, in-place rounding and clipping.
    """
    import pnp.api
    from pnp._layout import _INT_SCALES, chw_to_public, from_internal

    def lean(x, layout):
        if layout.dtype not in _INT_SCALES:
            return from_internal(x, layout)
        out = np.multiply(chw_to_public(x, layout.ndim), layout.scale)
        np.rint(out, out=out)
        np.clip(out, 0, layout.scale, out=out)
        return out.astype(layout.dtype)

    pnp.api.from_internal = lean


def run_one(args):
    """Solve one image; print a JSON line with peak memory, time and quality."""
    import pnp
    from pnp.datasteps.fft import ClosedFormBlur
    from pnp.operators import Blur
    from priors.drunet import DRUNet

    if args.lean_layout:
        _patch_from_internal()
    y = np.load(args.y)
    if args.weights == "default":  # the package's default prior (its shipped weights)
        from priors import get_prior

        prior = get_prior("default", threads=args.threads)
    else:
        prior = DRUNet(weights=args.weights, threads=args.threads)
    if args.tile == "none":
        prior.tile = None
    elif args.tile != "auto":
        prior.tile = int(args.tile)
    prior.overlap = args.overlap
    prior.memory_budget_mb = args.budget
    op = Blur(_kernel())  # step "exact": Blur's own (exact masked, float64) data step
    if args.step != "exact":
        op = ClosedFormBlur(op, precision=STEPS[args.step])
    rss_before = peak_rss_mb()
    t0 = time.perf_counter()
    c0 = time.process_time()
    cpu_ticks = [c0]

    def on_iter(k, x, alpha, sigma):
        cpu_ticks.append(time.process_time())

    x_hat, info = pnp.solve(y, op, prior=prior, noise_level=NOISE, iters=args.iters, progress=False,
                            return_info=True, callback=on_iter)
    wall = time.perf_counter() - t0
    ticks = [0.0] + list(info["history"]["time"])
    per_iter = np.diff(ticks)
    cpu = time.process_time() - c0
    peak = peak_rss_mb()
    rec = dict(size=int(y.shape[0]), channels=int(y.shape[2]), iters=args.iters, step=args.step,
               tile=args.tile, tile_used=prior.tile_size((3, padded_size(y.shape[0]), padded_size(y.shape[1]))),
               overlap=args.overlap,
               budget_mb=args.budget, weights=args.weights_label, lean_layout=bool(args.lean_layout), peak_rss_mb=round(peak, 1),
               rss_before_solve_mb=round(rss_before, 1), wall_s=round(wall, 2), cpu_s=round(cpu, 2),
               s_per_iter=[round(float(t), 2) for t in per_iter],
               cpu_s_per_iter=[round(float(t), 2) for t in np.diff(cpu_ticks)],
               cpu_us_per_pixel_last_iter=round(1e6 * float(cpu_ticks[-1] - cpu_ticks[-2]) / y.shape[0] / y.shape[1], 3),
               us_per_pixel_last_iter=round(1e6 * float(per_iter[-1]) / y.shape[0] / y.shape[1], 3))
    if args.x:
        rec["psnr"] = round(float(pnp.psnr(x_hat, np.load(args.x))), 3)
    if args.save:
        np.save(args.save, x_hat)
    print("RESULT " + json.dumps(rec), flush=True)


def child(size, folder, weights, label, iters, step="closed-single", tile="auto", overlap=32, budget=256,
          threads=None, save=None):
    """Run :func:`run_one` in a fresh interpreter; return its record."""
    xp, yp = make_pair(size, folder)
    cmd = [sys.executable, __file__, "one", "--y", str(yp), "--x", str(xp), "--weights", str(weights),
           "--weights-label", label, "--iters", str(iters), "--step", step, "--tile", str(tile),
           "--overlap", str(overlap), "--budget", str(budget)]
    if threads:
        cmd += ["--threads", str(threads)]
    if save:
        cmd += ["--save", str(save)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode:
        raise RuntimeError(f"child failed ({out.returncode}):\n{out.stderr[-3000:]}")
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


# -- experiments (parent process) -------------------------------------------------------------

def seam_ratio(err, bounds_rows, bounds_cols, width=4):
    """Mean error within ``width`` px of interior tile borders / mean error elsewhere.

    The "borders" are the edges of every tile that lie inside the image (where
    a seam could appear); ``err`` is ``(H, W)``.
    """
    H, W = err.shape
    mask = np.zeros((H, W), dtype=bool)
    for bounds, axis in ((bounds_rows, 0), (bounds_cols, 1)):
        for a, b in bounds:
            for edge in (a, b):
                if 0 < edge < (H if axis == 0 else W):
                    sl = slice(max(0, edge - width), edge + width)
                    if axis == 0:
                        mask[sl, :] = True
                    else:
                        mask[:, sl] = True
    return float(err[mask].mean() / err[~mask].mean())


def exp_tiling(args, folder, weights, label):
    """Tiled vs untiled prior inside a full solve at one size."""
    import pnp
    from priors.tiling import tile_starts

    n = args.size
    xp, _ = make_pair(n, folder)
    x = np.load(xp).astype(np.float64) / 255
    recs, outs = {}, {}
    for tile in ("none", str(args.tile)):
        save = Path(folder) / f"out_{n}_{tile}.npy"
        recs[tile] = child(n, folder, weights, label, args.iters, tile=tile, overlap=args.overlap, save=save)
        outs[tile] = np.load(save).astype(np.float64) / 255
    a, b = outs["none"], outs[str(args.tile)]
    # the solve pads the image by the boundary margin: tile borders in the crop are shifted
    from pnp.boundary import default_margin

    margin = default_margin(_kernel().shape)
    Hp = padded_size(n)
    bounds = [(s - margin, e - margin) for s, e in tile_starts(Hp, args.tile, args.overlap, 8)]
    err_a = np.abs(a - x).mean(-1)
    err_b = np.abs(b - x).mean(-1)
    rec = dict(experiment="tiling", size=n, tile=args.tile, overlap=args.overlap, iters=args.iters,
               weights=label, psnr_untiled=round(float(pnp.psnr(a, x)), 3),
               psnr_tiled=round(float(pnp.psnr(b, x)), 3),
               psnr_tiled_vs_untiled=round(float(pnp.psnr(b, a)), 2),
               seam_ratio_tiled=round(seam_ratio(err_b, bounds, bounds), 4),
               seam_ratio_untiled_same_pixels=round(seam_ratio(err_a, bounds, bounds), 4),
               wall_untiled_s=recs["none"]["wall_s"], wall_tiled_s=recs[str(args.tile)]["wall_s"],
               peak_untiled_mb=recs["none"]["peak_rss_mb"], peak_tiled_mb=recs[str(args.tile)]["peak_rss_mb"])
    rec["psnr_difference_db"] = round(abs(rec["psnr_tiled"] - rec["psnr_untiled"]), 4)
    return [rec]


def exp_precision(args, folder, weights, label):
    """Data steps compared on the same solve: exact masked float64, closed form float64 and float32."""
    import pnp

    n = args.size
    xp, _ = make_pair(n, folder)
    x = np.load(xp).astype(np.float64) / 255
    recs, outs = {}, {}
    for step in STEPS:
        save = Path(folder) / f"out_{n}_{step}.npy"
        recs[step] = child(n, folder, weights, label, args.iters, step=step, save=save)
        outs[step] = np.load(save).astype(np.float64) / 255
    m = 32  # border band (pixels) where the boundary treatment matters
    inner = (slice(m, -m), slice(m, -m))

    def psnr_inner(a):
        return round(float(pnp.psnr(a[inner], x[inner])), 4)

    rec = dict(experiment="precision", size=n, iters=args.iters, weights=label)
    for step, out in outs.items():
        rec[f"psnr_{step}"] = round(float(pnp.psnr(out, x)), 4)
        rec[f"psnr_interior_{step}"] = psnr_inner(out)
        rec[f"wall_{step}_s"] = recs[step]["wall_s"]
        rec[f"cpu_{step}_s"] = recs[step]["cpu_s"]
        rec[f"peak_{step}_mb"] = recs[step]["peak_rss_mb"]
    d, s = outs["closed-double"], outs["closed-single"]
    rec["single_vs_double_uint8_pixels_differing"] = int(np.count_nonzero(np.rint(d * 255) != np.rint(s * 255)))
    rec["single_vs_double_max_abs_diff_uint8"] = int(np.rint(np.abs(d - s).max() * 255))
    return [rec]


def exp_scaling(args, folder, weights, label):
    recs = []
    for n in args.sizes:
        rec = child(n, folder, weights, label, args.iters, step=args.step, budget=args.budget)
        rec["experiment"] = "scaling"
        print(json.dumps(rec), flush=True)
        recs.append(rec)
    return recs


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    one = sub.add_parser("one", help="one solve in this process (used by the others)")
    one.add_argument("--y", required=True)
    one.add_argument("--x")
    one.add_argument("--weights", required=True)
    one.add_argument("--weights-label", default="?")
    one.add_argument("--iters", type=int, default=2)
    one.add_argument("--step", choices=tuple(STEPS), default="closed-single")
    one.add_argument("--tile", default="auto")
    one.add_argument("--overlap", type=int, default=32)
    one.add_argument("--budget", type=float, default=256)
    one.add_argument("--threads", type=int)
    one.add_argument("--save")
    one.add_argument("--lean-layout", action="store_true",
                     help="measure with the proposed in-place from_internal (see _patch_from_internal)")
    for name in ("scaling", "tiling", "precision"):
        q = sub.add_parser(name)
        q.add_argument("--weights", help="DRUNet colour state_dict (.pt with .json sidecar)")
        q.add_argument("--iters", type=int, default=2)
        q.add_argument("--workdir", help="where test images are cached (default: a temp folder)")
        q.add_argument("--out", help="append JSON lines here")
        if name == "scaling":
            q.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048, 4096])
            q.add_argument("--step", choices=tuple(STEPS), default="closed-single")
            q.add_argument("--budget", type=float, default=256)
        else:
            q.add_argument("--size", type=int, default=1024)
            q.add_argument("--tile", type=int, default=256)
            q.add_argument("--overlap", type=int, default=32)
    args = p.parse_args(argv)
    if args.cmd == "one":
        return run_one(args)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.workdir or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        if args.weights:
            weights, label = Path(args.weights), Path(args.weights).name
        else:
            weights, label = default_weights(folder)
        recs = {"scaling": exp_scaling, "tiling": exp_tiling, "precision": exp_precision}[args.cmd](
            args, folder, weights, label)
    for rec in recs:
        print(json.dumps(rec))
        if args.out:
            with open(args.out, "a") as f:
                f.write(json.dumps(rec) + "\n")


if __name__ == "__main__":
    main()
