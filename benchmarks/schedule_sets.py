"""Hand vs learned schedule on central crops of several image sets (does a schedule generalise?).

Each image's central ``(P + 24) x (P + 24)`` crop is blurred with Levin's kernels
(two per image, in turn), cropped to the valid ``P x P`` part, noised, padded and
masked exactly as ``pnp.solve`` does (``priors.train_unfolded --borders real``), and
restored by the unfolded model (torch; the same numbers as ``pnp.solve`` with the
same schedule) with the hand DPIR schedule and with a learned one (both with the
learned one's K); PSNR on the
``P x P`` target. Sets: Set3C (the DPIR protocol's images), the first N
CBSD68 images (held-out test set) and the first N CBSD432 images (the
training set of the priors and schedules).

Usage::

    python benchmarks/schedule_sets.py --schedule S.pt --noise 2.55 7.65 --images 8
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from skimage import io

import pnp
from pnp.data import data_root, list_images, load_kernels
from pnp.learned_schedule import HyperNet, LearnedSchedule
from pnp.unfolded import UnfoldedHQS
from priors.train_unfolded import BORDER, Batch, _embed, _load_prior, _real_border_observation, restore_batch


def image_sets(n):
    """``{name: [paths]}``: Set3C, the first ``n`` of CBSD68 and of train/CBSD432."""
    return {"Set3C": list_images("Set3C"), "CBSD68": list_images("CBSD68")[:n],
            "CBSD432": sorted((data_root() / "train" / "CBSD432").glob("*.jpg"))[:n]}


def crop_case(x, P, kernel, noise, seed):
    """The valid-convolution observation of the central crop of ``x`` (H, W, 3) as a :class:`Batch`."""
    H, W = x.shape[:2]
    r0, c0 = (H - P - 2 * BORDER) // 2, (W - P - 2 * BORDER) // 2
    if min(r0, c0) < 0:
        raise ValueError(f"image of {H}x{W} is smaller than the crop {P + 2 * BORDER}")
    xb = torch.from_numpy(x[r0:r0 + P + 2 * BORDER, c0:c0 + P + 2 * BORDER].transpose(2, 0, 1).copy()).float()[None]
    k = torch.from_numpy(kernel).float()[None]
    nz = torch.full((1,), noise / 255)
    yp, obs, off = _real_border_observation(xb, k, 1, nz, torch.Generator().manual_seed(seed))
    return Batch(xb[..., BORDER:-BORDER, BORDER:-BORDER], yp, k, nz, 1, None, obs, off)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--schedule", required=True, help="learned schedule .pt (without a blur descriptor)")
    ap.add_argument("--prior-weights", default="priors/weights/attention_unet_color.pt")
    ap.add_argument("--noise", type=float, nargs="+", default=[2.55, 7.65], help="noise sigma (/255)")
    ap.add_argument("--images", type=int, default=8, help="images of CBSD68 and of CBSD432")
    ap.add_argument("--patch", type=int, default=216, help="target crop side P")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", default=None, help="write the rows and the summary here (.json)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    learned = LearnedSchedule.load(args.schedule)
    if learned.net.descriptor_dim:
        ap.error("schedules with a blur descriptor are not supported here")
    prior = _load_prior("attention-unet", args.prior_weights)
    models = {"hand": UnfoldedHQS(prior, HyperNet(learned.iters)), "learned": UnfoldedHQS(prior, learned.net.float())}
    kernels = [_embed(k) for k in load_kernels("levin09")]
    rows, summary = [], []
    for noise in args.noise:
        for name, files in image_sets(args.images).items():
            psnr = {m: [] for m in models}
            for i, path in enumerate(files):
                x = io.imread(path)[..., :3] / 255.0
                for ki in (i % 8, (i + 4) % 8):
                    case = crop_case(x, args.patch, kernels[ki], noise, i)
                    for m, model in models.items():
                        with torch.no_grad():
                            out = restore_batch(model, case).clamp(0, 1)
                        p = pnp.psnr(out.numpy(), case.x.numpy())
                        psnr[m].append(p)
                        rows.append(dict(noise=noise, set=name, image=path.stem, kernel=ki + 1, schedule=m, psnr=p))
            h, l = np.array(psnr["hand"]), np.array(psnr["learned"])
            summary.append(dict(noise=noise, set=name, cases=len(h), hand=h.mean(), learned=l.mean(),
                                diff=float(np.mean(l - h)), wins=int(np.sum(l > h))))
            s = summary[-1]
            print(f"noise {noise:5.2f}  {name:8s} cases {s['cases']:3d}  hand {s['hand']:.3f}  learned "
                  f"{s['learned']:.3f}  diff {s['diff']:+.3f}  (learned better in {s['wins']}/{s['cases']})", flush=True)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(dict(args=vars(args), summary=summary, rows=rows), indent=1))


if __name__ == "__main__":
    main()
