"""Is a trained denoiser's noise-level input calibrated? Denoise at a true sigma, tell it another.

For each true noise level the same noisy images (the protocol of ``priors.train --measure``:
``torch.Generator`` seed 0, PSNR on the 0-1 scale after clipping) are denoised with the
noise-level input set to ``factor x`` the true sigma. A calibrated prior peaks at factor 1; a
peak elsewhere means the noise-map input is not read precisely (for example at low noise, where
the map is a small number such as 0.01).

Usage::

    python benchmarks/sigma_calibration.py --arch drunet --channels 3 --images 10
    python benchmarks/sigma_calibration.py --arch attention-unet --channels 3 --sigmas 2.55,7.65,25
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from priors.datasets import list_images, load_image
from priors.train import (WEIGHTS_DIR, data_root, denoising_set_name, load_exported, parse_sigmas,
                          validate, weights_stem)


class _TellSigma(torch.nn.Module):
    """``model(x, factor * sigma)``: the wrapped denoiser is told a scaled noise level."""

    def __init__(self, model, factor):
        super().__init__()
        self.model, self.factor = model, factor

    def forward(self, x, sigma):
        return self.model(x, self.factor * sigma)


def parse_factors(text):
    try:
        vals = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None
    if not vals or any(v <= 0 for v in vals):
        raise argparse.ArgumentTypeError(f"expected positive factors, got {text!r}")
    return vals


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", choices=["attention-unet", "drunet"], default="attention-unet")
    ap.add_argument("--channels", type=int, choices=[1, 3], default=3)
    ap.add_argument("--weights", default=None, help="exported .pt (default: the shipped file)")
    ap.add_argument("--images", type=int, default=10, help="first N test images (0: all)")
    ap.add_argument("--sigmas", type=parse_sigmas, default="2.55,7.65,25",
                    help="true noise levels (0-255), comma-separated")
    ap.add_argument("--factors", type=parse_factors, default="0.6,0.8,1,1.25,1.5",
                    help="noise level told to the prior, as multiples of the true one")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores)")
    ap.add_argument("--data", default=None, help="data root (default: $PNP_DATA)")
    args = ap.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    weights = Path(args.weights or WEIGHTS_DIR / f"{weights_stem(args.arch, args.channels)}.pt")
    model = load_exported(args.arch, weights)
    root = Path(args.data) if args.data else data_root()
    files = list_images(root / "val" / denoising_set_name(args.channels))
    files = files[: args.images] if args.images else files
    images = [load_image(f, args.channels) for f in files]

    t = time.time()
    # validate() reseeds its noise generator, so every factor sees exactly the same noisy images
    table = {f: validate(_TellSigma(model, f), images, sigmas=args.sigmas, seed=0) for f in args.factors}
    print(f"{args.arch} ({weights.name}), {len(images)} images, mean PSNR (dB)\n")
    print("| true sigma (/255) | " + " | ".join(f"told x{f:g}" for f in args.factors) + " | best |")
    print("|---" * (len(args.factors) + 2) + "|")
    for s in args.sigmas:
        row = [table[f][str(s)] for f in args.factors]
        best = args.factors[max(range(len(row)), key=row.__getitem__)]
        print(f"| {s} | " + " | ".join(f"{v:.2f}" for v in row) + f" | x{best:g} |")
    print(json.dumps({"arch": args.arch, "weights": str(weights), "images": len(images),
                      "psnr": {str(f): table[f] for f in args.factors}, "wall_s": time.time() - t}))
    return table


if __name__ == "__main__":
    main()
