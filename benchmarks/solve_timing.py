"""Seconds per ``pnp.solve`` on a torch device (GPU or CPU) at several image sizes.

Each case restores a colour image (the astronaut photo, tiled to size) blurred by
a 25x25 camera-shake kernel (seed 3) with noise 2.55/255, K = 8 DPIR iterations,
``device=...`` so that the whole loop (torch FFT data step, prior network) runs on
that device. Optionally (``--rotation-sizes``) the same with a 10-degree
:class:`pnp.RotationalBlur` about the image centre (unrolled CG data step on the
device, on the operator's sparse matrix; building that matrix on the CPU is part
of the warm-up and takes about 50 s and several GB at 1024x1024, so keep these
sizes small). The first solve of each size is a warm-up (CUDA context, cuDNN
autotuning, plans) and is reported apart; the figure is the median of
``--repeats`` further solves, synchronised on the device. PSNR against the
ground truth is printed as a check that the solves worked.

Only numpy, torch, scikit-image and the project's modules are needed (no pyFFTW,
deepinv or BM3D), so it runs on a bare GPU machine.

Usage::

    python benchmarks/solve_timing.py --device cuda --sizes 256 1024 --rotation-sizes 256
    python benchmarks/solve_timing.py --device cpu --threads 2 --sizes 256 1024
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _test_image(size: int) -> np.ndarray:
    """Colour test image ``(size, size, 3)``, float 0-1: the astronaut photo, reflected to size."""
    from skimage import data

    img = data.astronaut().astype(np.float64) / 255.0
    reps = -(-size // img.shape[0])
    img = np.pad(img, ((0, reps * img.shape[0] - img.shape[0]),) * 2 + ((0, 0),), mode="symmetric")
    return np.ascontiguousarray(img[:size, :size])


def _device_name(device: str) -> str:
    import torch

    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    return f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} torch threads"


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _blur(x: np.ndarray, operator) -> np.ndarray:
    """Blurred ``(H, W, C)`` image: a 2-D kernel by convolution with reflected borders, else
    ``operator.forward`` (which takes and returns ``(C, H, W)``)."""
    if isinstance(operator, np.ndarray):
        from scipy.ndimage import convolve

        return np.stack([convolve(x[..., c], operator, mode="reflect") for c in range(x.shape[2])], -1)
    return operator.forward(x.transpose(2, 0, 1)).transpose(1, 2, 0)


def time_case(operator, x: np.ndarray, prior: str, device: str, repeats: int, iters: int,
              seed: int = 0) -> dict:
    """Warm-up and median wall time (s) of ``pnp.solve`` on one blurred image."""
    import pnp

    rng = np.random.default_rng(seed)
    y = np.clip(_blur(x, operator) + rng.normal(0, 2.55 / 255, x.shape), 0, 1)
    times, out = [], None
    for r in range(repeats + 1):
        _sync(device)
        t = time.perf_counter()
        out = pnp.solve(y, operator, prior=prior, noise_level=2.55 / 255, iters=iters,
                        device=device, progress=False)
        _sync(device)
        times.append(time.perf_counter() - t)
    return {"warmup_s": times[0], "median_s": statistics.median(times[1:]),
            "all_s": times[1:], "psnr_db": pnp.psnr(np.clip(out, 0, 1), x)}


def main(argv=None) -> list:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda", help="torch device: cuda, cuda:1, cpu (default cuda)")
    p.add_argument("--sizes", type=int, nargs="*", default=[256, 1024],
                   help="square image sides (px) at which to time the camera-shake kernel")
    p.add_argument("--prior", default="attention-unet", help="registered torch prior name")
    p.add_argument("--iters", type=int, default=8, help="HQS iterations K")
    p.add_argument("--repeats", type=int, default=5, help="timed solves per case after the warm-up")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--rotation-sizes", type=int, nargs="*", default=[],
                   help="square image sides (px) at which to time a 10-degree rotational blur "
                        "(independent of --sizes)")
    p.add_argument("--json", default=None, help="write the rows to this JSON file")
    args = p.parse_args(argv)

    import torch

    import pnp
    from pnp.kernels import camera_shake_kernel

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit(f"--device {args.device}: torch sees no CUDA device on this machine")
    name = _device_name(args.device)
    kernel = camera_shake_kernel(size=25, seed=3)
    rows = []
    if not args.sizes and not args.rotation_sizes:
        p.error("nothing to time: give --sizes and/or --rotation-sizes")
    for size in sorted(set(args.sizes) | set(args.rotation_sizes)):
        x = _test_image(size)
        cases = [("camera shake 25x25", kernel)] if size in args.sizes else []
        if size in args.rotation_sizes:
            cases.append(("rotation 10 deg", pnp.RotationalBlur(((size - 1) / 2, (size - 1) / 2),
                                                                np.deg2rad(10.0))))
        for label, op in cases:
            res = time_case(op, x, args.prior, args.device, args.repeats, args.iters)
            row = {"device": name, "size": size, "blur": label, "prior": args.prior,
                   "iters": args.iters, **res}
            rows.append(row)
            print(f"{name} | {size}x{size} | {label} | warm-up {res['warmup_s']:.3f} s | "
                  f"median {res['median_s']:.3f} s | PSNR {res['psnr_db']:.2f} dB", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return rows


if __name__ == "__main__":
    main()
