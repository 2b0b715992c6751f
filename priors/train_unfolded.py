"""Train the unfolded HQS network: the learned schedule (prior frozen) or end to end.

Run as a module (``priors.train`` trains the denoisers; this module the unfolded model)::

    python -m priors.train_unfolded --prior-arch drunet --prior-weights priors/weights/drunet_small_color.pt \\
        --channels 3 --iters 8 --steps 400 --batch 4 --patch 96 --out checkpoints/unfolded_color_K8
    # continue exactly where it stopped:
    python -m priors.train_unfolded ... --out checkpoints/unfolded_color_K8 --resume
    # write the learned schedule to priors/weights/learned_schedule_K8.pt (+ .json) without
    # training further (reads the checkpoint only: no data, no prior, checkpoint left untouched):
    python -m priors.train_unfolded ... --resume --stop-after 0 --export priors/weights/learned_schedule_K8.pt
    # end to end: the prior trains too, at its own smaller rate; export both
    python -m priors.train_unfolded --prior-arch attention-unet --prior-weights priors/weights/attention_unet_color.pt \\
        --channels 3 --iters 8 --finetune-prior --prior-lr 1e-5 --out checkpoints/unfolded_color_K8_e2e
    python -m priors.train_unfolded ... --finetune-prior --resume --stop-after 0 \\
        --export S.pt --export-prior P.pt
    # the prior alone, trained through the unrolled loop under the DPIR schedule:
    python -m priors.train_unfolded ... --finetune-prior --freeze-schedule --out checkpoints/unfolded_color_K8_ftfrozen

Each training sample is a random patch of ``$PNP_DATA/train`` blurred with a kernel
drawn from the library's generators (isotropic/anisotropic Gaussian, disk,
linear motion, camera shake), or rotational blur, decimated by a scale drawn per batch from
``--scales`` and corrupted by Gaussian noise with sigma uniform in
[0, ``--noise-max``]/255. With the prior
frozen only the hyper-parameter network trains (cheap: it works on 2 CPU
cores); ``--finetune-prior`` also trains the prior (use a GPU: ``--device cuda``,
the default where torch sees one; the batches are still drawn on the CPU, with
the same random numbers as on any device), with its own,
smaller learning rate ``--prior-lr``; ``--export-prior`` then writes the
fine-tuned prior beside the schedule, in the format of ``priors.train``'s
exports (a state dict and its ``.json``), so
``priors.get_prior("attention-unet", weights=...)`` loads it.

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

With ``--borders real`` the kernel batches have the borders of real photographs:
each observation is the valid part of a linear convolution of a patch
``2 * BORDER`` pixels larger than the target, padded (taper) and masked exactly
as :func:`pnp.solve` prepares an observation, and restored with the masked
data step (:class:`pnp.datasteps.torch_fft.TorchMaskedDataStep`); the loss is
taken on the target region. The default ``circular`` blurs the patch
circularly and restores it with the exact FFT step (cheaper, but the wrap-around
is not what a benchmark or a photograph has).

The loss is L1 on the final iterate (``--loss l1``), or ``--loss log-l1``: the
mean over the samples of the log of each sample's L1 error, which weighs the
samples by their relative error as an average PSNR does; ``--loss mse``, or
``--loss log-mse``: the mean over the samples of the log of each sample's mean
squared error, which is minus the average PSNR up to a factor (the benchmarks'
own objective).

The learning rate is constant by default; ``--lr-floor F`` (< 1) decays it on a
cosine from step ``--decay-from`` to ``--steps``, down to ``F`` times ``--lr``.
``--ema D`` keeps an exponential moving average of the hyper-parameter network
(weight ``1 - D`` per step) beside the trained weights; the export writes the
average when the checkpoint has one (``--export-which last`` writes the weights
of the last step). With batches of four patches and blurs drawn at random, the
weights of single steps jitter; the average does not. On ``--resume`` the rate
follows the command line (``--lr`` and the decay options); a note says which
settings differ from the checkpoint's. ``--iters``, ``--channels``, ``--descriptor``,
``--freeze-schedule`` and ``--finetune-prior`` must be those of the checkpoint, and
the log is cut back to the checkpoint's step (an interrupted run logged past it).
A new run (no ``--resume``) refuses a folder that holds a ``ckpt.pt``, and a run in
which no step ran writes no checkpoint. A step whose loss or trained weights come out
non-finite (NaN or inf: too large a ``--lr`` or ``--prior-lr``) stops the run with an error
and writes no checkpoint: the last one written, if any, is kept.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from pnp import kernels as kgen
from pnp.learned_schedule import HyperNet, LearnedSchedule, blur_descriptor, kernel_descriptor, pair_target_problem
from pnp.unfolded import UnfoldedHQS
from priors.datasets import PatchSampler, load_training_images
from priors.train import (
    _torch_threads_restored,
    _truncate_log,
    config_channels,
    lr_factor,
    lr_problem,
    note_changed_settings,
)

__all__ = ["random_kernel", "Batch", "make_batch", "restore_batch", "train", "export_checkpoint", "main"]

KSIZE = 25
#: Extra pixels on each side of a patch for ``--borders real`` (a multiple of every scale 1-4).
BORDER = 12
BORDERS = ("circular", "real")
#: Smallest rotational blur angle of the training batches (degrees); ``--rot-max-angle`` is the largest.
ROT_MIN_ANGLE = 2.0
#: Largest ``--rot-max-angle`` (degrees): a full turn, the most :class:`~pnp.operators.rotational.RotationalBlur` takes.
ROT_MAX_ANGLE_LIMIT = 360.0


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
        op = RotationalBlur(tuple(centre), np.deg2rad(rng.uniform(ROT_MIN_ANGLE, max_angle_deg)))
        M = op.matrix((P, P))
        mats.append(M)
        out.append(op.forward(x[b].double().numpy()))
        desc.append(blur_descriptor(op, (P, P)))
    return torch.from_numpy(np.stack(out)).float(), mats, torch.tensor(desc, dtype=torch.float32)


class Batch(NamedTuple):
    """One training batch (see :func:`make_batch`)."""

    x: torch.Tensor  #: sharp targets (B, C, P, P)
    y: torch.Tensor  #: observations (B, C, h, w); padded when ``observed`` is set
    blur: object  #: kernels (B, KSIZE, KSIZE), or a list of B sparse rotational matrices
    noise: torch.Tensor  #: noise sigma per sample (B,), 0-1 scale
    scale: int
    desc: torch.Tensor  #: blur descriptors (B, 2)
    observed: torch.Tensor | None = None  #: (h, w) bool, real observation inside the pad
    offset: tuple = (0, 0)  #: (top, left) of the target inside the restored (padded) grid


def _real_border_observation(x_big, ks, s, noise, g):
    """Blur ``x_big`` (B, C, P + 2 BORDER, ...) with valid borders, then pad as :func:`pnp.solve` does.

    The observation is the part of the blurred, decimated big patch that no
    wrap-around reached, i.e. a linear ("valid") convolution of real image
    content, with noise; it is then padded by :func:`pnp.boundary.pad_observation`
    (taper, :func:`pnp.boundary.default_margin`) and the pad marked unobserved,
    exactly as ``pnp.solve`` prepares a photograph. Returns the padded
    observation, the mask and the target's offset on the restored grid.
    """
    from pnp.boundary import default_margin, pad_observation
    from pnp.datasteps.torch_fft import TorchFFTDataStep

    P = x_big.shape[-1] - 2 * BORDER
    blur = TorchFFTDataStep(ks, x_big[..., ::s, ::s], scale=s).forward_model(x_big)
    b, n = BORDER // s, P // s
    y = blur[..., b:b + n, b:b + n]
    y = y + noise.view(-1, 1, 1, 1) * torch.randn(y.shape, generator=g)
    margin = default_margin((KSIZE, KSIZE), s)
    padded = [pad_observation(yi.double().numpy(), margin, "taper") for yi in y]
    (top, left) = padded[0][1]
    yp = torch.from_numpy(np.stack([p[0] for p in padded])).to(y.dtype)
    observed = torch.zeros(yp.shape[-2:], dtype=torch.bool)
    observed[top:top + n, left:left + n] = True
    return yp, observed, (top * s, left * s)


def make_batch(sampler, rng, batch, scales, noise_max, rot_prob=0.0, rot_max_angle=20.0, borders="circular"):
    """Sharp patches, observations, blurs, noise levels, scale and blur descriptors of one batch.

    With probability ``rot_prob`` the whole batch is blurred rotationally
    (2 to ``rot_max_angle`` degrees, scale 1) and ``blur`` is a list of
    sparse matrices instead of a kernel tensor.

    ``borders="circular"``: kernel blurs are circular on the patch (the exact
    FFT data step inverts them). ``borders="real"``: the sampler's patches are
    ``2 * BORDER`` larger than the targets; kernel blurs are linear
    convolutions cropped to the valid part, padded and masked as
    :func:`pnp.solve` does (``observed``, ``offset``), so that the schedule is
    trained with the masked data step and the borders of the benchmarks.
    Rotational batches are the same in both modes (the central ``P x P`` of
    the big patch).

    Returns
    -------
    Batch
    """
    if borders not in BORDERS:
        raise ValueError(f"borders must be one of {BORDERS}, got {borders!r}")
    x = torch.from_numpy(sampler.sample(batch)).float()
    if borders == "real":
        x_big = x
        x = x_big[..., BORDER:-BORDER, BORDER:-BORDER]
    noise = torch.from_numpy(rng.uniform(0, noise_max, batch) / 255).float()
    g = torch.Generator().manual_seed(int(rng.integers(2**31)))
    if rot_prob > 0 and rng.random() < rot_prob:
        x = x.contiguous()
        blur, mats, desc = rotational_batch(x, rng, rot_max_angle)
        y = blur + noise.view(-1, 1, 1, 1) * torch.randn(blur.shape, generator=g)
        return Batch(x, y, mats, noise, 1, desc)
    s = int(rng.choice(scales))
    ks = torch.from_numpy(np.stack([random_kernel(rng) for _ in range(batch)])).float()
    desc = torch.tensor([kernel_descriptor(k) for k in ks.double().numpy()], dtype=torch.float32)
    if borders == "real":
        yp, observed, offset = _real_border_observation(x_big, ks, s, noise, g)
        return Batch(x, yp, ks, noise, s, desc, observed, offset)
    from pnp.datasteps.torch_fft import TorchFFTDataStep

    blur = TorchFFTDataStep(ks, x[..., ::s, ::s], scale=s).forward_model(x)
    y = blur + noise.view(-1, 1, 1, 1) * torch.randn(blur.shape, generator=g)
    return Batch(x, y, ks, noise, s, desc)


def batch_to(batch, device):
    """The :class:`Batch` with its tensors on ``device`` (sparse rotational matrices stay scipy:
    the torch data step converts them on the device of ``y``)."""
    def move(v):
        return v.to(device) if torch.is_tensor(v) else v

    return Batch(*(move(v) for v in batch))


def restore_batch(model, batch, descriptor=False, cg_iters=20):
    """Run the unfolded model on a :class:`Batch`; returns the restored targets (B, C, P, P)."""
    desc = batch.desc if descriptor else None
    if isinstance(batch.blur, list):  # rotational: unrolled CG data step on the sparse operators
        from pnp.datasteps.torch_cg import TorchCGDataStep

        return model(batch.y, None, batch.noise, scale=1, descriptor=desc,
                     step=TorchCGDataStep(batch.blur, batch.y, iters=cg_iters))
    if batch.observed is None:
        return model(batch.y, batch.blur, batch.noise, scale=batch.scale, descriptor=desc)
    from pnp.datasteps.torch_fft import TorchMaskedDataStep

    # in the batch's dtype: training needs no agreement with the numpy step to 1e-5, and a float64 CG
    # doubles its cost (and is far slower still on most GPUs)
    step = TorchMaskedDataStep(batch.blur, batch.y, batch.observed, scale=batch.scale, compute_dtype=None)
    out = model(batch.y, None, batch.noise, scale=batch.scale, descriptor=desc, step=step)
    (r0, c0), P = batch.offset, batch.x.shape[-1]
    return out[..., r0:r0 + P, c0:c0 + P]


def _load_prior(arch, weights):
    from priors.train import load_exported

    return load_exported(arch, weights)


def _load_error_detail(err: Exception) -> str:
    """The informative line of a ``load_state_dict`` error (its first line is only a header)."""
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    for ln in lines:
        if ln.startswith(("size mismatch", "Missing key", "Unexpected key")):
            return ln[:300]
    return lines[0][:300] if lines else type(err).__name__


def _older_weights_hint(arch: str) -> str:
    """Where the shipped weights of an earlier architecture are kept, for ``arch``."""
    if arch == "attention-unet":
        return (" (the attention U-Net weights of before 2026-11-27 are "
                "priors/weights/attention_unet_small_{gray,color}.pt)")
    return ""


def prior_fingerprint(weights) -> dict:
    """What a checkpoint records about its starting prior: ``prior_config`` (the constructor
    arguments of the ``.json`` beside ``weights``) and ``prior_sha256`` (of the ``.pt`` file).

    A shipped file can later hold other weights, even another architecture (the attention U-Net
    was grown on 2026-11-27); with these a resumed run notices, and an export of a fine-tuned prior
    writes the configuration it was trained with.
    """
    from pnp.io import file_sha256

    weights = Path(weights)
    return dict(prior_config=json.loads(weights.with_suffix(".json").read_text()),
                prior_sha256=file_sha256(weights))


def _save(path, model, opt, step, rng, extra, ema=None):
    tmp = Path(str(path) + ".tmp")
    torch.save(dict(hypernet=model.hypernet.state_dict(), hyper_config=model.hypernet.config(),
                    hypernet_ema=ema,
                    prior=model.prior.state_dict() if not model.freeze_prior else None,
                    optimizer=opt.state_dict(), step=step, numpy_rng=rng.bit_generator.state,
                    torch_rng=torch.get_rng_state(), extra=extra), tmp)
    tmp.replace(path)


def export_checkpoint(ckpt, path, which="auto"):
    """Write the hyper-parameter network of checkpoint ``ckpt`` as a learned schedule at ``path``.

    Reads ``ckpt`` only (no training data, no prior) and returns the :class:`LearnedSchedule`.

    Parameters
    ----------
    ckpt, path : str or Path
        Checkpoint to read; schedule file to write (``.pt``, with a ``.json`` beside it).
    which : {"auto", "ema", "last"}
        ``"ema"``: the moving average of the weights (the checkpoint must have one, i.e. it
        was trained with ``--ema``); ``"last"``: the weights of the last step; ``"auto"``:
        the average when there is one, else the last weights.

    Raises
    ------
    FileExistsError
        If ``path`` or its ``.json`` exists (a schedule is never written over another).
    """
    if which not in ("auto", "ema", "last"):
        raise ValueError(f"which must be 'auto', 'ema' or 'last', got {which!r}")
    blob = torch.load(ckpt, map_location="cpu", weights_only=False)
    ema = blob.get("hypernet_ema")
    if which == "ema" and ema is None:
        raise ValueError(f"{ckpt} has no moving average of the weights (train with --ema)")
    use_ema = ema is not None and which != "last"
    state = ema if use_ema else blob["hypernet"]
    cfg = dict(blob["hyper_config"])
    from pnp.schedules import DPIRSchedule

    net = HyperNet(base=DPIRSchedule(**cfg.pop("base")), **cfg)
    net.load_state_dict(state)
    extra = blob.get("extra", {})
    finetuned = blob.get("prior") is not None
    trained_with = None
    if "prior_sha256" in extra:  # checkpoints written since 2026-11-27
        trained_with = dict(prior_sha256=None if finetuned else extra["prior_sha256"],
                            prior_arch=extra.get("prior_arch"),
                            prior_file=Path(extra["prior_weights"]).name if extra.get("prior_weights") else None,
                            prior_config=extra.get("prior_config"), prior_finetuned=finetuned)
    sched = LearnedSchedule(net, trained_with=trained_with)
    sched.save(path)
    print(f"wrote {path} (from {ckpt}: {'the moving average of the weights' if use_ema else 'the weights of step %d' % blob['step']})")
    return sched


def export_prior(ckpt, path, prior_weights=None):
    """Write the fine-tuned prior of checkpoint ``ckpt`` as ``path`` (state dict) and its ``.json``.

    The ``.json`` holds the configuration the checkpoint recorded at training time, so
    :func:`priors.train.load_exported` and ``priors.get_prior(arch, weights=path)`` rebuild the
    network. Checkpoints written before 2026-11-27 recorded none: for them the ``.json`` beside
    ``prior_weights`` (the command line's ``--prior-weights``), else beside the prior the training
    started from, is used. Refuses a checkpoint whose prior did not train (``--finetune-prior`` not
    given), an existing file, and a configuration the fine-tuned weights do not fit.
    """
    blob = torch.load(ckpt, map_location="cpu", weights_only=False)
    if blob.get("prior") is None:
        raise ValueError(f"{ckpt} has no fine-tuned prior (it was trained without --finetune-prior)")
    path = Path(path)
    problem = pair_target_problem(path, "prior")
    if problem:
        raise ValueError(problem)
    extra = blob["extra"]
    from priors.train import build_model

    source = f"{ckpt} (recorded at training time)"
    try:
        if "prior_config" in extra:
            config = extra["prior_config"]
        else:  # checkpoints written before 2026-11-27: the .json beside the starting prior
            source = Path(prior_weights or extra["prior_weights"]).with_suffix(".json")
            config = json.loads(source.read_text())
        build_model(extra["prior_arch"], config).load_state_dict(blob["prior"])
    except (RuntimeError, TypeError, KeyError, ValueError, OSError) as err:
        raise ValueError(
            f"{ckpt}: its fine-tuned prior does not fit the configuration in {source} "
            f"({_load_error_detail(err)}). The prior file may now hold another architecture than "
            "the run started from: pass --prior-weights with a file of the starting architecture"
            + _older_weights_hint(extra.get("prior_arch", ""))
        ) from None
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(blob["prior"], path)
    path.with_suffix(".json").write_text(json.dumps(config, indent=2) + "\n")
    print(f"wrote {path} (the prior fine-tuned for {blob['step']} steps; configuration from {source})")
    return path


LOSSES = ("l1", "log-l1", "mse", "log-mse")


def unfolded_loss(out, target, kind="l1"):
    """Training loss on the final iterate, for a batch ``(B, C, H, W)``.

    ``"l1"``: the mean absolute error over the batch. ``"log-l1"``: the mean over the
    samples of ``log`` of each sample's mean absolute error, so that every sample counts by
    its *relative* error, as PSNR (a log) does: with plain L1 the noisy, strongly blurred
    samples (large errors) dominate the gradient and the schedule is tuned for them.
    ``"mse"``: the mean squared error. ``"log-mse"``: the mean over the samples of ``log`` of
    each sample's mean squared error, i.e. minus the mean PSNR up to a factor and a constant:
    the objective of the benchmarks. (L1 weighs the many small errors of flat regions more, and
    large errors at edges less, than PSNR does.)
    """
    err = (out - target).abs()
    if kind == "l1":
        return err.mean()
    if kind == "log-l1":
        return torch.log(err.flatten(1).mean(1) + 1e-6).mean()
    if kind == "mse":
        return err.square().mean()
    if kind == "log-mse":
        return torch.log(err.square().flatten(1).mean(1) + 1e-10).mean()
    raise ValueError(f"loss must be one of {LOSSES}, got {kind!r}")


def _ema_update(ema, state, decay):
    """``ema <- decay * ema + (1 - decay) * state``, in place, tensor by tensor."""
    with torch.no_grad():
        for k, v in state.items():
            ema[k].mul_(decay).add_(v, alpha=1 - decay)


def lr_at(step, args):
    """Learning rate of optimizer step ``step``: constant, or a cosine from ``--decay-from``."""
    if args.lr_floor >= 1.0 or step < args.decay_from:
        return args.lr
    return args.lr * lr_factor(step - args.decay_from, args.steps - args.decay_from, 0, args.lr_floor)


def _device(name, available=True):
    """``--device``: the torch device (default: CUDA when present, else the CPU).

    Raises SystemExit with a clear message when torch does not read ``name`` as a device
    (``gpu``, ``cuda:x``) and, with ``available``, when it names a CUDA device this machine
    does not have.
    """
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError, TypeError):
        raise SystemExit(f"--device {name}: not a torch device (e.g. cpu, cuda or cuda:1)") from None
    if available and device.type == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit(f"--device {name}: torch sees no CUDA device on this machine")
        n = torch.cuda.device_count()
        if device.index is not None and device.index >= n:
            raise SystemExit(f"--device {name}: torch sees {n} CUDA device(s) here (cuda:0 to cuda:{n - 1})")
    return device


def _first_nonfinite(named_params):
    """The name of the first tensor of ``named_params`` (name, tensor pairs) holding a NaN or an
    inf, or None (one device synchronisation, whatever the number of tensors)."""
    named_params = list(named_params)
    if not named_params:
        return None
    finite = torch.stack([torch.isfinite(p.detach()).all() for _, p in named_params]).cpu()
    if bool(finite.all()):
        return None
    return named_params[int((~finite).nonzero()[0])][0]


#: Settings worth a note when a resumed run changes them (the others must match the checkpoint).
NOTED_SETTINGS = ("lr", "prior_lr", "lr_floor", "decay_from", "loss", "patch", "batch", "borders",
                  "prior_arch", "prior_weights", "noise_max", "scales", "rot_prob", "rot_max_angle",
                  "cg_iters", "ema")


def train(args):
    """Run (or resume) the training described by parsed command-line ``args``; see :func:`_train`.

    SIGTERM and SIGINT (Ctrl-C) stop the run after the current step, with a checkpoint. Torch's
    thread count and both signal handlers are restored on return.
    """
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        with _torch_threads_restored():
            return _train(args)
    finally:
        for s, handler in handlers.items():
            if handler is not None:  # None: a handler not installed from Python, cannot be put back
                signal.signal(s, handler)


def _check_resumable(blob, ckpt, args):
    """Raise SystemExit when ``args`` cannot continue checkpoint ``blob`` (read from ``ckpt``)."""
    hyper, extra = blob["hyper_config"], blob.get("extra", {})
    if hyper["iters"] != args.iters:
        raise SystemExit(f"{ckpt} was trained with --iters {hyper['iters']}: resume with the same --iters "
                         f"(got {args.iters})")
    if extra.get("channels", args.channels) != args.channels:
        raise SystemExit(f"{ckpt} was trained with --channels {extra['channels']}: resume with the same "
                         f"--channels (got {args.channels})")
    if hyper["descriptor_dim"] != (2 if args.descriptor else 0):
        raise SystemExit(f"{ckpt} was trained {'with' if hyper['descriptor_dim'] else 'without'} "
                         "blur descriptors: resume with the same --descriptor setting")
    if bool(extra.get("freeze_schedule")) != bool(args.freeze_schedule):
        raise SystemExit(f"{ckpt} was trained {'with' if extra.get('freeze_schedule') else 'without'} "
                         "--freeze-schedule: resume with the same setting")
    if (blob["prior"] is not None) != bool(args.finetune_prior):
        raise SystemExit(f"{ckpt} was trained {'with' if blob['prior'] is not None else 'without'} "
                         "--finetune-prior: resume with the same setting")


def _train(args):
    """:func:`train` without restoring torch's thread count and SIGTERM handler.

    A new run refuses a folder that holds a checkpoint (``--resume`` continues it) and writes
    no checkpoint when no step ran; ``--resume`` refuses a folder without one.
    """
    out = Path(args.out)
    ckpt = out / "ckpt.pt"
    if ckpt.exists() and not args.resume:
        raise FileExistsError(f"{ckpt} exists; pass --resume to continue it")
    if args.resume and not ckpt.exists():
        raise FileNotFoundError(f"--resume: no checkpoint {ckpt} to continue; start a new run without --resume")
    blob = torch.load(ckpt, map_location="cpu", weights_only=False) if args.resume else None
    if blob is not None:
        _check_resumable(blob, ckpt, args)
    torch.set_num_threads(args.threads) if args.threads else None
    rng = np.random.default_rng(args.seed)
    torch.manual_seed(args.seed)
    device = _device(args.device)
    prior = _load_prior(args.prior_arch, args.prior_weights)
    fingerprint = prior_fingerprint(args.prior_weights)
    model = UnfoldedHQS(prior, HyperNet(args.iters, descriptor_dim=2 if args.descriptor else 0),
                        freeze_prior=not args.finetune_prior).to(device)
    groups = [dict(params=list(model.hypernet.parameters()), base_lr=args.lr)]
    if args.freeze_schedule:  # the last layer starts at zero: the schedule stays DPIR's
        for p in model.hypernet.parameters():
            p.requires_grad_(False)
        groups = []
    if args.finetune_prior:
        groups.append(dict(params=[p for p in model.prior.parameters() if p.requires_grad],
                           base_lr=args.prior_lr))
    opt = torch.optim.Adam([dict(g, lr=g["base_lr"]) for g in groups])
    step = 0
    ema = None
    if blob is not None:
        model.hypernet.load_state_dict(blob["hypernet"])
        recorded = blob.get("extra", {})
        changed = recorded.get("prior_sha256") not in (None, fingerprint["prior_sha256"])
        if blob["prior"] is not None:
            try:
                model.prior.load_state_dict(blob["prior"])
            except RuntimeError as err:
                raise SystemExit(
                    f"{ckpt} holds a fine-tuned prior of another architecture than --prior-weights "
                    f"{args.prior_weights} ({_load_error_detail(err)}): pass the prior the run "
                    "started from" + _older_weights_hint(args.prior_arch)
                ) from None
            if "prior_sha256" in recorded:  # the run's starting prior stays what it was
                fingerprint = {k: recorded[k] for k in ("prior_config", "prior_sha256")}
            if changed:
                print(f"note: --prior-weights {args.prior_weights} holds other weights than when {ckpt} "
                      "was written (another sha256); the checkpoint's fine-tuned prior is used, as always "
                      "on resume", file=sys.stderr)
        elif changed:
            print(f"note: --prior-weights {args.prior_weights} holds other weights than when {ckpt} "
                  "was written (another sha256); the schedule trains on against the new prior",
                  file=sys.stderr)
        opt.load_state_dict(blob["optimizer"])
        for group, g in zip(opt.param_groups, groups):  # the rates follow the command line
            group["base_lr"] = g["base_lr"]
        step = blob["step"]
        ema = blob.get("hypernet_ema")
        if ema is not None:
            ema = {k: v.to(device) for k, v in ema.items()}
        if ema is not None and args.ema == 0:  # keep averaging, never leave a stale average
            args.ema = blob["extra"]["ema"]
            print(f"note: {ckpt} keeps a moving average of the weights: continuing it with "
                  f"--ema {args.ema}", file=sys.stderr)
        note_changed_settings(blob.get("extra", {}), args, NOTED_SETTINGS)
        rng.bit_generator.state = blob["numpy_rng"]
        torch.set_rng_state(blob["torch_rng"])
        _truncate_log(out / "log.jsonl", step)  # drop the steps an interrupted run logged after it
    if args.ema > 0 and ema is None:  # start the average at the current weights
        ema = {k: v.detach().clone() for k, v in model.hypernet.state_dict().items()}
    images = load_training_images(args.channels)
    try:
        sampler = PatchSampler(images, args.patch + (2 * BORDER if args.borders == "real" else 0), rng)
    except ValueError as err:  # no training image is as large as the patch
        raise SystemExit(f"--patch {args.patch}" + (f" (+ 2 x {BORDER} with --borders real)"
                                                      if args.borders == "real" else "") + f": {err}") from None
    out.mkdir(parents=True, exist_ok=True)
    stop = {"now": False}
    from tqdm.auto import tqdm

    start = step
    end = step + args.stop_after if args.stop_after is not None else args.steps
    end = min(end, args.steps)
    log = (out / "log.jsonl").open("a")
    for sig in (signal.SIGTERM, signal.SIGINT):  # stop after this step, with a checkpoint; train() restores them
        signal.signal(sig, lambda *a: stop.update(now=True))
    bar = tqdm(total=end, initial=step, desc="unfolded", disable=None)
    t_save = time.time()
    saved = step if blob is not None else None  # the step the checkpoint on disk holds
    trained = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    bad = None  # what came out non-finite, which stops the run without a checkpoint
    model.train()
    model.prior.eval()
    while step < end and not stop["now"]:
        batch = batch_to(make_batch(sampler, rng, args.batch, args.scales, args.noise_max,
                                    args.rot_prob, args.rot_max_angle, args.borders), device)
        outx = restore_batch(model, batch, args.descriptor, args.cg_iters)
        loss = unfolded_loss(outx, batch.x, args.loss)
        if not torch.isfinite(loss.detach()):
            bad = f"the loss of step {step + 1} is {loss.item()}"
            break
        s = batch.scale
        lr = lr_at(step, args)
        for group in opt.param_groups:  # the prior's rate follows the same decay
            group["lr"] = group["base_lr"] * lr / args.lr
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if (name := _first_nonfinite(trained)) is not None:
            bad = f"step {step} left non-finite values (NaN or inf) in the weights ({name})"
            break
        if ema is not None:
            _ema_update(ema, model.hypernet.state_dict(), args.ema)
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.4f}", s=s)
        log.write(json.dumps(dict(step=step, loss=loss.item(), scale=s, lr=lr,
                                  blur="rotational" if isinstance(batch.blur, list) else "kernel")) + "\n")
        log.flush()
        if time.time() - t_save > 60 * args.ckpt_minutes:
            _save(ckpt, model, opt, step, rng, dict(vars(args), **fingerprint), ema)
            t_save = time.time()
            saved = step
    bar.close()
    log.close()
    if bad is not None:
        rates = "--lr" + (" or --prior-lr" if args.finetune_prior else "")
        kept = (f"{ckpt} is left as it was, at step {saved}" if saved is not None
                else f"no checkpoint was written in {out}")
        raise SystemExit(f"training stopped: {bad}. No checkpoint was written for it ({kept}); "
                         f"a smaller {rates} may help")
    if step > start:  # only when a step ran: otherwise a checkpoint is left as it was
        _save(ckpt, model, opt, step, rng, dict(vars(args), **fingerprint), ema)
    if not ckpt.exists():
        print(f"note: no step ran: no checkpoint written in {out}", file=sys.stderr)
        if args.export or args.export_prior:
            raise SystemExit("no step ran, so there is no checkpoint to export")
        return model
    if args.export:
        export_checkpoint(ckpt, args.export, args.export_which)
    if args.export_prior:
        export_prior(ckpt, args.export_prior, args.prior_weights)
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
    ap.add_argument("--rot-max-angle", type=float, default=20.0,
                    help=f"largest rotational blur, in degrees ({ROT_MIN_ANGLE:g} to {ROT_MAX_ANGLE_LIMIT:g}; "
                         f"the angles are drawn from {ROT_MIN_ANGLE:g} up to it)")
    ap.add_argument("--borders", default="circular", choices=BORDERS,
                    help="kernel batches: circular blur of the patch (exact FFT data step), or 'real': "
                         "valid convolution of a larger patch, padded and masked as pnp.solve does "
                         "(masked CG data step)")
    ap.add_argument("--cg-iters", type=int, default=20, help="CG iterations of the rotational data step")
    ap.add_argument("--descriptor", action="store_true",
                    help="feed the hyper-parameter network a blur descriptor (pnp.learned_schedule.blur_descriptor)")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--loss", default="l1", choices=LOSSES,
                    help="l1: mean absolute error; log-l1: mean over samples of the log of each one's "
                         "mean absolute error (weighs samples by relative error, like PSNR); mse; "
                         "log-mse: mean over samples of the log of each one's MSE (minus the mean PSNR, "
                         "up to scale)")
    ap.add_argument("--lr-floor", type=float, default=1.0,
                    help="cosine decay of the learning rate down to this fraction of --lr at --steps "
                         "(default 1: constant)")
    ap.add_argument("--decay-from", type=int, default=0, help="step where the cosine decay starts")
    ap.add_argument("--ema", type=float, default=0.0,
                    help="decay of an exponential moving average of the hyper-net weights, e.g. 0.98 "
                         "(default 0: none)")
    ap.add_argument("--finetune-prior", action="store_true",
                    help="train the prior too (end to end), at the rate --prior-lr")
    ap.add_argument("--freeze-schedule", action="store_true",
                    help="with --finetune-prior: keep the schedule network at its start (the DPIR "
                         "schedule) and train the prior alone, through the unrolled iterations")
    ap.add_argument("--prior-lr", type=float, default=1e-5,
                    help="learning rate of the prior with --finetune-prior (follows the same decay as --lr)")
    ap.add_argument("--export-prior", default=None,
                    help="with --finetune-prior: write the fine-tuned prior here (.pt + .json)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--device", default=None,
                    help="torch device, e.g. cuda or cpu (default: cuda when present). The batches are made "
                         "on the CPU with the same random numbers on every device")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ckpt-minutes", type=float, default=5.0, help="checkpoint period (minutes, > 0)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--export", default=None, help="write the learned schedule here (.pt + .json)")
    ap.add_argument("--export-which", default="auto", choices=["auto", "ema", "last"],
                    help="weights to export: the moving average (auto: when there is one) or the last step")
    args = ap.parse_args(argv)
    for name in ("iters", "steps", "batch", "cg_iters"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.stop_after is not None and args.stop_after < 0:
        ap.error(f"--stop-after must be >= 0, got {args.stop_after}")
    if args.threads is not None and args.threads < 1:
        ap.error(f"--threads must be >= 1, got {args.threads}")
    if any(s < 1 for s in args.scales):
        ap.error(f"--scales must be integers >= 1, got {args.scales}")
    if not 0 <= args.noise_max <= 255:
        ap.error(f"--noise-max must be in [0, 255] (0-255 scale), got {args.noise_max}")
    if not 0 <= args.rot_prob <= 1:
        ap.error(f"--rot-prob must be in [0, 1] (a fraction of the batches), got {args.rot_prob}")
    if not ROT_MIN_ANGLE <= args.rot_max_angle <= ROT_MAX_ANGLE_LIMIT:
        ap.error(f"--rot-max-angle must be in [{ROT_MIN_ANGLE:g}, {ROT_MAX_ANGLE_LIMIT:g}] degrees (the rotational "
                 f"blurs are drawn from {ROT_MIN_ANGLE:g} degrees up to it, a full turn at most), "
                 f"got {args.rot_max_angle}")
    for option, rate in (("--lr", args.lr), ("--prior-lr", args.prior_lr)):
        if problem := lr_problem(option, rate):
            ap.error(problem)
    if not args.ckpt_minutes > 0:
        ap.error(f"--ckpt-minutes must be > 0, got {args.ckpt_minutes}")
    if not 0 <= args.seed < 2**64:
        ap.error(f"--seed must be in [0, 2**64), got {args.seed}")
    if not 0 < args.lr_floor <= 1:
        ap.error(f"--lr-floor must be in (0, 1], got {args.lr_floor}")
    if not 0 <= args.ema < 1:
        ap.error(f"--ema must be in [0, 1), got {args.ema}")
    if args.lr_floor < 1 and not 0 <= args.decay_from < args.steps:
        ap.error(f"--decay-from must be in [0, --steps), got {args.decay_from}")
    if args.patch < KSIZE:
        ap.error(f"--patch must be at least the kernel size {KSIZE}")
    if any(args.patch % s for s in args.scales):
        ap.error(f"--patch {args.patch} must be a multiple of every scale in {args.scales}")
    if args.borders == "real" and any(BORDER % s for s in args.scales):
        ap.error(f"--borders real needs scales that divide its border of {BORDER} pixels, got {args.scales}")
    if args.freeze_schedule and not args.finetune_prior:
        ap.error("--freeze-schedule needs --finetune-prior (with both frozen nothing trains)")
    if args.freeze_schedule and args.ema > 0:
        ap.error("--ema averages the schedule network, which --freeze-schedule keeps fixed: leave --ema out")
    if args.export_prior and not args.finetune_prior:
        ap.error("--export-prior needs --finetune-prior (only a fine-tuned prior can be exported)")
    if args.export_prior and (problem := pair_target_problem(args.export_prior, "prior")):  # before any training
        ap.error(f"--export-prior: {problem}")
    if args.export and (problem := pair_target_problem(args.export)):  # before any training, too
        ap.error(f"--export: {problem}")
    try:
        _device(args.device, available=False)
    except SystemExit as err:
        ap.error(str(err))
    ckpt = Path(args.out) / "ckpt.pt"
    if args.stop_after == 0 and (args.export or args.export_prior):
        if not args.resume:
            ap.error("--stop-after 0 --export exports an existing checkpoint: add --resume")
        if not ckpt.exists():
            ap.error(f"no checkpoint to export: {ckpt}")
        try:
            if args.export:
                export_checkpoint(ckpt, args.export, args.export_which)
            if args.export_prior:
                export_prior(ckpt, args.export_prior, args.prior_weights)
        except ValueError as err:
            ap.error(str(err))
        return
    if args.resume and not ckpt.is_file():
        where = "holds no" if Path(args.out).is_dir() else "does not exist, so there is no"
        ap.error(f"--resume: --out {args.out} {where} checkpoint (ckpt.pt) to continue; "
                 "start a new run without --resume")
    if not args.resume and ckpt.exists():
        ap.error(f"{args.out} holds a checkpoint ({ckpt}): pass --resume to continue it, "
                 "or choose another --out")
    try:
        _device(args.device)
    except SystemExit as err:
        ap.error(str(err))
    prior_json = Path(args.prior_weights).with_suffix(".json")
    if not Path(args.prior_weights).is_file() or not prior_json.is_file():
        ap.error(f"--prior-weights {args.prior_weights}: expected an exported NAME.pt with NAME.json beside it")
    try:
        prior_channels = config_channels(json.loads(prior_json.read_text()))
    except (ValueError, AttributeError) as err:
        ap.error(f"--prior-weights: {prior_json} is not a prior configuration ({err})")
    if prior_channels is not None and prior_channels != args.channels:
        ap.error(f"--channels {args.channels} does not match the prior {args.prior_weights}, "
                 f"which is for {prior_channels}-channel images")
    train(args)


if __name__ == "__main__":
    main()
