"""Train the unfolded HQS network: the learned schedule (prior frozen) or end to end.

Run as a module (also reachable as ``python -m priors.train --arch unfolded ...``)::

    python -m priors.train_unfolded --prior-arch drunet --prior-weights priors/weights/drunet_small_color.pt \\
        --channels 3 --iters 8 --steps 400 --batch 4 --patch 96 --out checkpoints/unfolded_color_K8
    # continue exactly where it stopped:
    python -m priors.train_unfolded ... --out checkpoints/unfolded_color_K8 --resume
    # write the learned schedule to priors/weights/learned_schedule_K8.pt (+ .json) without
    # training further (reads the checkpoint only: no data, no prior, checkpoint left untouched):
    python -m priors.train_unfolded ... --resume --stop-after 0 --export priors/weights/learned_schedule_K8.pt

Each training sample is a random patch of ``$PNP_DATA/train`` blurred with a kernel
drawn from the library's generators (isotropic/anisotropic Gaussian, disk,
linear motion, camera shake), or rotational blur, decimated by a scale drawn per batch from
``--scales`` and corrupted by Gaussian noise with sigma uniform in
[0, ``--noise-max``]/255. The loss is L1 on the final output. With the prior
frozen only the hyper-parameter network trains (cheap: it works on 2 CPU
cores); ``--finetune-prior`` also trains the prior (use a GPU).

A fraction ``--rot-prob`` of the batches uses rotational blur
(:class:`pnp.operators.rotational.RotationalBlur` about a random centre near
the patch, 2 to ``--rot-max-angle`` degrees, scale 1) restored with the unrolled
torch CG data step on the operator's sparse matrix.

With ``--descriptor`` the hyper-parameter network also reads a two-number
descriptor of each sample's blur (:func:`pnp.learned_schedule.blur_descriptor`:
how far and over how many pixels it spreads, averaged over the frame for
rotational blur), so one schedule can treat a mild kernel and a strong
rotational blur differently; ``pnp.solve`` computes the descriptor of its
operator itself (:meth:`pnp.learned_schedule.LearnedSchedule.for_operator`).
"""

from __future__ import annotations

import argparse
import json
import signal
import time
from pathlib import Path

import numpy as np
import torch

from pnp import kernels as kgen
from pnp.learned_schedule import HyperNet, LearnedSchedule, blur_descriptor, kernel_descriptor
from pnp.unfolded import UnfoldedHQS
from priors.datasets import PatchSampler, load_training_images

__all__ = ["random_kernel", "make_batch", "train", "export_checkpoint", "main"]

KSIZE = 25


def _embed(k, size=KSIZE):
    """Centre a kernel in a ``size x size`` array (origin at size//2), cropping if larger."""
    out = np.zeros((size, size))
    kh, kw = k.shape
    oy, ox = kh // 2, kw // 2
    c = size // 2
    r0, c0 = c - oy, c - ox
    rs, cs = max(0, -r0), max(0, -c0)
    re, ce = min(kh, size - r0), min(kw, size - c0)
    out[r0 + rs:r0 + re, c0 + cs:c0 + ce] = k[rs:re, cs:ce]
    return out / out.sum()


def random_kernel(rng):
    """One kernel from the library's generators, ``KSIZE x KSIZE``, unit sum."""
    kind = rng.choice(["gaussian", "anisotropic", "disk", "motion", "shake"])
    if kind == "gaussian":
        k = kgen.gaussian_kernel(rng.uniform(0.6, 3.5), size=KSIZE)
    elif kind == "anisotropic":
        k = kgen.anisotropic_gaussian_kernel(rng.uniform(0.6, 4.0), rng.uniform(0.6, 4.0),
                                             angle=rng.uniform(0, 180), size=KSIZE)
    elif kind == "disk":
        k = kgen.disk_kernel(rng.uniform(1.0, 6.0), size=KSIZE)
    elif kind == "motion":
        k = kgen.motion_kernel(rng.uniform(3, 20), rng.uniform(0, 180), size=KSIZE)
    else:
        k = kgen.camera_shake_kernel(size=KSIZE, seed=int(rng.integers(2**31)))
    return _embed(k)


def rotational_batch(x, rng, max_angle_deg=20.0):
    """Rotational blur about a random centre near each patch.

    Returns (blurred, [sparse matrices], descriptors (B, 2)); see
    :func:`pnp.learned_schedule.blur_descriptor`.
    """
    from pnp.operators.rotational import RotationalBlur

    B, C, P, _ = x.shape
    mats, out, desc = [], [], []
    for b in range(B):
        centre = rng.uniform(-0.5 * P, 1.5 * P, size=2)
        op = RotationalBlur(tuple(centre), np.deg2rad(rng.uniform(2.0, max_angle_deg)))
        M = op.matrix((P, P))
        mats.append(M)
        out.append(op.forward(x[b].double().numpy()))
        desc.append(blur_descriptor(op, (P, P)))
    return torch.from_numpy(np.stack(out)).float(), mats, torch.tensor(desc, dtype=torch.float32)


def make_batch(sampler, rng, batch, scales, noise_max, rot_prob=0.0, rot_max_angle=20.0):
    """Sharp patches, observations, kernels (or rotational matrices), noise levels, scale and
    blur descriptors (B, 2) of one batch.

    With probability ``rot_prob`` the whole batch is blurred rotationally
    (2 to ``rot_max_angle`` degrees, scale 1) and the third item is a list of
    sparse matrices instead of a kernel tensor.
    """
    x = torch.from_numpy(sampler.sample(batch)).float()
    noise = torch.from_numpy(rng.uniform(0, noise_max, batch) / 255).float()
    g = torch.Generator().manual_seed(int(rng.integers(2**31)))
    if rot_prob > 0 and rng.random() < rot_prob:
        blur, mats, desc = rotational_batch(x, rng, rot_max_angle)
        y = blur + noise.view(-1, 1, 1, 1) * torch.randn(blur.shape, generator=g)
        return x, y, mats, noise, 1, desc
    s = int(rng.choice(scales))
    ks = torch.from_numpy(np.stack([random_kernel(rng) for _ in range(batch)])).float()
    from pnp.datasteps.torch_fft import TorchFFTDataStep

    blur = TorchFFTDataStep(ks, x[..., ::s, ::s], scale=s).forward_model(x)
    y = blur + noise.view(-1, 1, 1, 1) * torch.randn(blur.shape, generator=g)
    desc = torch.tensor([kernel_descriptor(k) for k in ks.double().numpy()], dtype=torch.float32)
    return x, y, ks, noise, s, desc


def _load_prior(arch, weights):
    from priors.train import load_exported

    return load_exported(arch, weights)


def _save(path, model, opt, step, rng, extra):
    tmp = Path(str(path) + ".tmp")
    torch.save(dict(hypernet=model.hypernet.state_dict(), hyper_config=model.hypernet.config(),
                    prior=model.prior.state_dict() if not model.freeze_prior else None,
                    optimizer=opt.state_dict(), step=step, numpy_rng=rng.bit_generator.state,
                    torch_rng=torch.get_rng_state(), extra=extra), tmp)
    tmp.replace(path)


def export_checkpoint(ckpt, path):
    """Write the hyper-parameter network of checkpoint ``ckpt`` as a learned schedule at ``path``.

    Reads ``ckpt`` only (no training data, no prior) and returns the :class:`LearnedSchedule`.
    """
    blob = torch.load(ckpt, map_location="cpu", weights_only=False)
    cfg = dict(blob["hyper_config"])
    from pnp.schedules import DPIRSchedule

    net = HyperNet(base=DPIRSchedule(**cfg.pop("base")), **cfg)
    net.load_state_dict(blob["hypernet"])
    sched = LearnedSchedule(net)
    sched.save(path)
    return sched


def train(args):
    torch.set_num_threads(args.threads) if args.threads else None
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    torch.manual_seed(args.seed)
    prior = _load_prior(args.prior_arch, args.prior_weights)
    model = UnfoldedHQS(prior, HyperNet(args.iters, descriptor_dim=2 if args.descriptor else 0),
                        freeze_prior=not args.finetune_prior)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=args.lr)
    step = 0
    ckpt = out / "ckpt.pt"
    if args.resume and ckpt.exists():
        blob = torch.load(ckpt, map_location="cpu", weights_only=False)
        if blob["hyper_config"]["descriptor_dim"] != model.hypernet.descriptor_dim:
            raise SystemExit(f"{ckpt} was trained {'with' if blob['hyper_config']['descriptor_dim'] else 'without'} "
                             "blur descriptors: resume with the same --descriptor setting")
        model.hypernet.load_state_dict(blob["hypernet"])
        if blob["prior"] is not None:
            model.prior.load_state_dict(blob["prior"])
        opt.load_state_dict(blob["optimizer"])
        step = blob["step"]
        rng.bit_generator.state = blob["numpy_rng"]
        torch.set_rng_state(blob["torch_rng"])
    images = load_training_images(args.channels)
    sampler = PatchSampler(images, args.patch, rng)
    log = (out / "log.jsonl").open("a")
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *a: stop.update(now=True))
    from tqdm.auto import tqdm

    end = step + args.stop_after if args.stop_after is not None else args.steps
    end = min(end, args.steps)
    bar = tqdm(total=end, initial=step, desc="unfolded", disable=None)
    t_save = time.time()
    model.train()
    model.prior.eval()
    while step < end and not stop["now"]:
        x, y, ks, noise, s, desc = make_batch(sampler, rng, args.batch, args.scales, args.noise_max,
                                              args.rot_prob, args.rot_max_angle)
        desc = desc if args.descriptor else None
        if isinstance(ks, list):  # rotational batch: unrolled CG data step on the sparse operators
            from pnp.datasteps.torch_cg import TorchCGDataStep

            outx = model(y, None, noise, scale=1, descriptor=desc,
                         step=TorchCGDataStep(ks, y, iters=args.cg_iters))
        else:
            outx = model(y, ks, noise, scale=s, descriptor=desc)
        loss = (outx - x).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.4f}", s=s)
        log.write(json.dumps(dict(step=step, loss=loss.item(), scale=s,
                                  blur="rotational" if isinstance(ks, list) else "kernel")) + "\n")
        log.flush()
        if time.time() - t_save > 60 * args.ckpt_minutes:
            _save(ckpt, model, opt, step, rng, vars(args))
            t_save = time.time()
    bar.close()
    _save(ckpt, model, opt, step, rng, vars(args))
    if args.export:
        LearnedSchedule(model.hypernet).save(args.export)
        print(f"wrote {args.export}")
    return model


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prior-arch", default="drunet", choices=["drunet", "attention-unet"])
    ap.add_argument("--prior-weights", required=True, help="exported prior .pt (with its .json)")
    ap.add_argument("--channels", type=int, default=3, choices=[1, 3])
    ap.add_argument("--iters", type=int, default=8, help="K, unfolded iterations")
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--stop-after", type=int, default=None, help="stop after this many steps in this run")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--patch", type=int, default=96, help="patch size (a multiple of every scale)")
    ap.add_argument("--scales", type=int, nargs="+", default=[1, 2, 3, 4])
    ap.add_argument("--noise-max", type=float, default=25.0, help="max noise sigma (/255)")
    ap.add_argument("--rot-prob", type=float, default=0.2, help="fraction of batches with rotational blur")
    ap.add_argument("--rot-max-angle", type=float, default=20.0, help="largest rotational blur (degrees)")
    ap.add_argument("--cg-iters", type=int, default=20, help="CG iterations of the rotational data step")
    ap.add_argument("--descriptor", action="store_true",
                    help="feed the hyper-parameter network a blur descriptor (pnp.learned_schedule.blur_descriptor)")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--finetune-prior", action="store_true")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ckpt-minutes", type=float, default=5.0)
    ap.add_argument("--out", required=True)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--export", default=None, help="write the learned schedule here (.pt + .json)")
    args = ap.parse_args(argv)
    if args.patch < KSIZE:
        ap.error(f"--patch must be at least the kernel size {KSIZE}")
    if any(args.patch % s for s in args.scales):
        ap.error(f"--patch {args.patch} must be a multiple of every scale in {args.scales}")
    if args.stop_after == 0 and args.export:
        if not args.resume:
            ap.error("--stop-after 0 --export exports an existing checkpoint: add --resume")
        ckpt = Path(args.out) / "ckpt.pt"
        if not ckpt.exists():
            ap.error(f"no checkpoint to export: {ckpt}")
        export_checkpoint(ckpt, args.export)
        print(f"wrote {args.export} (from {ckpt})")
        return
    train(args)


if __name__ == "__main__":
    main()
