"""Train the project's deep denoiser priors (attention U-Net, small DRUNet) on random patches.

Run as a module::

    python -m priors.train --arch drunet --channels 1 --steps 20000 --batch 16 --patch 64 \\
        --out checkpoints/drunet_res_gray
    # later, continue exactly where it stopped:
    python -m priors.train --arch drunet --channels 1 --steps 20000 --batch 16 --patch 64 \\
        --out checkpoints/drunet_res_gray --resume
    # copy the best weights to priors/weights/ (drunet_small_gray.pt + .json; replacing the
    # shipped files needs --export-overwrite, else use --export-dir):
    python -m priors.train --arch drunet --channels 1 --out checkpoints/drunet_res_gray \\
        --resume --stop-after 0 --export --export-overwrite
    # a new run from exported weights, planned to end about 8 minutes after it starts (a GPU
    # session: the step rate is measured over the first 100 steps; --steps is the cap):
    python -m priors.train --arch attention-unet --channels 3 --init-weights priors/weights/attention_unet_color.pt \
        --fit-minutes 8 --steps 200000 --batch 32 --patch 128 --sigma-dist mixed --lr 2e-4 --out runs/color_gpu
    # test-set PSNR (BSD68 / CBSD68, sigma 15/25/50) and seconds per 256^2 and 1024^2 image:
    python -m priors.train --measure --arch drunet --channels 1 --threads 2

Recipe: patches from ``$PNP_DATA/train/CBSD432`` (colour; gray uses its luminance plus
``train/Train400``), random flips and 90-degree rotations, additive white Gaussian noise with
``sigma`` drawn uniformly in [0, ``--sigma-max``]/255 per patch (``--sigma-dist mixed``: half of
the patches log-uniformly in [0.5, ``--sigma-max``]/255 instead, which puts more weight on the low
noise levels that plug-and-play's last iterations use; ``--desaturate P``, colour only: a fraction P
of the patches pulled towards gray by a random amount), L1 (or L2) loss, Adam with a
linear warm-up and cosine decay, validation PSNR on 4 images (Set12 gray, CBSD68 colour, central
256x256 crops) at sigma 15, 25, 50 with a fixed noise seed.

The output folder holds ``ckpt.pt`` (model, scheduler, step, numpy/torch RNG states) and
``optimizer-STEP.pt`` (Adam's state; a file of its own because it is twice the model's size):
together everything needed to resume *exactly*; ``best.pt`` (model weights with the best validation PSNR)
and ``log.jsonl`` (one JSON object per line: training loss, learning rate, validation PSNR).
A checkpoint is written every ``--ckpt-minutes`` minutes, at the end, and on SIGTERM/SIGINT.
A new run refuses a folder that already holds any of these files (``--resume`` continues a
``ckpt.pt``; ``best.pt`` or ``log.jsonl`` without one are left by a run stopped before its first
checkpoint: use another ``--out``), and ``--resume`` refuses a folder without ``ckpt.pt``. On
``--resume`` the learning rate follows the command line (``--lr``, ``--warmup``, ``--lr-floor``,
``--steps``), with a note for each setting that differs from the checkpoint's; ``--arch`` and
``--channels`` must be the checkpoint's.

Only numpy, torch, tqdm and the project's priors modules are imported (no pyfftw, no bm3d).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from priors.datasets import (
    PatchSampler,
    desaturate,
    data_root,
    load_training_images,
    load_validation_images,
)

__all__ = [
    "build_model",
    "default_config",
    "export_weights",
    "load_exported",
    "main",
    "measure",
    "time_denoiser",
    "train",
    "validate",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
WEIGHTS_DIR = REPO_ROOT / "priors" / "weights"
ARCHS = ("attention-unet", "drunet")
VAL_SIGMAS = (15, 25, 50)

#: Width/depth of "our" small DRUNet (deepinv's architecture), sized for CPU training.
DRUNET_SMALL = dict(
    nc=[16, 32, 64, 128],
    nb=2,
    act_mode="R",
    downsample_mode="strideconv",
    upsample_mode="convtranspose",
)


def default_config(arch: str, channels: int) -> dict:
    """Constructor keyword arguments of the default model of ``arch`` for ``channels``.

    Parameters
    ----------
    arch : {"attention-unet", "drunet"}
        Architecture name.
    channels : int
        1 (gray) or 3 (colour).

    Returns
    -------
    dict
        JSON-serialisable keyword arguments; written next to the exported weights.
    """
    if arch == "drunet":
        return dict(DRUNET_SMALL, in_channels=channels, out_channels=channels, residual=True)
    if arch == "attention-unet":
        from priors.attention_unet import AttentionUNet

        return AttentionUNet(channels).config
    raise ValueError(f"arch must be one of {ARCHS}, got {arch!r}")


def build_model(arch: str, config: dict) -> nn.Module:
    """Instantiate a freshly initialised model with ``forward(x, sigma)``.

    Parameters
    ----------
    arch : {"attention-unet", "drunet"}
        Architecture name.
    config : dict
        Constructor keyword arguments, as returned by :func:`default_config`.

    Returns
    -------
    torch.nn.Module
        Maps a (B, C, H, W) noisy image and ``sigma`` (0-1 scale) to a (B, C, H, W) estimate.
    """
    if arch == "drunet":
        from priors.residual_drunet import build_drunet

        return build_drunet(**config)
    if arch == "attention-unet":
        from priors.attention_unet import AttentionUNet

        return AttentionUNet(**config)
    raise ValueError(f"arch must be one of {ARCHS}, got {arch!r}")


def lr_factor(step: int, total: int, warmup: int, floor: float) -> float:
    """Learning-rate multiplier: linear warm-up then cosine decay to ``floor``.

    Parameters
    ----------
    step : int
        Optimizer steps done so far.
    total : int
        Planned total number of steps (the cosine reaches ``floor`` there).
    warmup : int
        Warm-up length, in steps.
    floor : float
        Final multiplier, in (0, 1].

    Returns
    -------
    float
        Multiplier of the base learning rate.
    """
    if step < warmup:
        return (step + 1) / warmup
    t = min(1.0, (step - warmup) / max(1, total - warmup))
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * t))


def lr_problem(option: str, value: float, allow_zero: bool = False) -> str | None:
    """What is wrong with learning rate ``value`` of command-line ``option``, or None.

    A rate must be finite (``inf`` or ``nan`` fill the weights with non-finite values at the
    first step) and positive, or ``>= 0`` with ``allow_zero`` (a run that moves no weight).
    Shared by the command lines of ``priors.train`` and ``priors.train_unfolded``.
    """
    if math.isfinite(value) and (value >= 0 if allow_zero else value > 0):
        return None
    return f"{option} must be {'>= 0' if allow_zero else 'positive'} and finite, got {value}"


SIGMA_DISTS = ("uniform", "mixed")
MIXED_LOG_MIN = 0.5  # smallest sigma (0-255) of the log-uniform half of "mixed"


def draw_sigmas(n: int, sigma_max: float, dist: str, generator: torch.Generator) -> torch.Tensor:
    """Training noise levels, one per patch, on the 0-1 scale.

    Parameters
    ----------
    n : int
        Number of patches.
    sigma_max : float
        Largest noise level, in 0-255 units.
    dist : {"uniform", "mixed"}
        ``"uniform"``: U[0, sigma_max]. ``"mixed"``: each patch flips a fair coin between
        U[0, sigma_max] and a log-uniform draw in [0.5, sigma_max], so about 30 % of the
        patches get sigma < 5 (a tenth with ``"uniform"`` at sigma_max = 50).
    generator : torch.Generator
        Source of randomness (the training noise generator, so runs resume exactly).

    Returns
    -------
    torch.Tensor, shape (n,), float32
    """
    if dist not in SIGMA_DISTS:
        raise ValueError(f"sigma distribution must be one of {SIGMA_DISTS}, got {dist!r}")
    u = torch.rand(n, generator=generator) * sigma_max
    if dist == "mixed":
        if not sigma_max > MIXED_LOG_MIN:
            raise ValueError(f"sigma_max must exceed {MIXED_LOG_MIN} (0-255 units) for 'mixed', got {sigma_max}")
        lo, hi = math.log(MIXED_LOG_MIN), math.log(sigma_max)
        logu = torch.exp(lo + (hi - lo) * torch.rand(n, generator=generator))
        u = torch.where(torch.rand(n, generator=generator) < 0.5, u, logu)
    return u / 255.0


def parse_sigmas(text: str) -> tuple:
    """``"2.55,5,15"`` -> ``(2.55, 5, 15)``: noise levels (0-255), whole numbers kept as ints.

    An argparse ``type`` (``--sigmas``): bad input raises ``argparse.ArgumentTypeError``, which
    argparse reports as a usage error with this message.
    """
    vals = []
    for item in text.split(","):
        try:
            v = float(item)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated numbers (0-255), got {text!r}") from None
        if not 0 < v <= 255:
            raise argparse.ArgumentTypeError(f"each noise level must lie in (0, 255], got {v}")
        vals.append(int(v) if v.is_integer() else v)
    return tuple(vals)


def psnr(x: torch.Tensor, ref: torch.Tensor) -> float:
    """Peak signal-to-noise ratio in dB for images on the 0-1 scale (peak 1)."""
    mse = torch.mean((x.double() - ref.double()) ** 2).item()
    return float("inf") if mse == 0 else 10.0 * math.log10(1.0 / mse)


@torch.no_grad()
def validate(
    model: nn.Module,
    images: list[np.ndarray],
    sigmas: tuple[int, ...] = VAL_SIGMAS,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> dict[str, float]:
    """Mean denoising PSNR over ``images`` for each noise level, with a fixed noise seed.

    Parameters
    ----------
    model : torch.nn.Module
        Denoiser ``model(x, sigma)``.
    images : list of numpy.ndarray
        Clean (H, W, C) uint8 images.
    sigmas : tuple of int
        Noise standard deviations on the 0-255 scale.
    seed : int
        Seed of the noise (the same noise every call).
    device : str or torch.device
        Where to run the model.

    Returns
    -------
    dict
        ``{"15": psnr_db, "25": ..., "50": ...}``; the output is clipped to [0, 1] first.
    """
    was_training = model.training
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for s in sigmas:
        vals = []
        for img in images:
            clean = torch.from_numpy(img.transpose(2, 0, 1).astype(np.float32) / 255.0)[None]
            noisy = clean + torch.randn(clean.shape, generator=gen) * (s / 255.0)
            est = model(noisy.to(device), s / 255.0).clamp(0, 1).cpu()
            vals.append(psnr(est, clean))
        out[str(s)] = float(np.mean(vals))
    model.train(was_training)
    return out


FIT_WARMUP = 5  # steps before --fit-minutes starts timing
FIT_MARGIN = 0.9  # share of the remaining time planned for steps (validation, checkpoints: the rest)


def fitted_total(step: int, rate: float, remaining_s: float, cap: int) -> int:
    """Planned total steps so that training ends in ``remaining_s`` seconds (``--fit-minutes``).

    Parameters
    ----------
    step : int
        Steps done so far.
    rate : float
        Measured optimizer steps per second.
    remaining_s : float
        Seconds left in the time budget.
    cap : int
        Upper bound (the ``--steps`` given).

    Returns
    -------
    int
        ``step + FIT_MARGIN * rate * remaining_s``, at most ``cap`` and at least ``step + 1``.
    """
    planned = step + int(FIT_MARGIN * rate * max(0.0, remaining_s))
    return max(step + 1, min(cap, planned))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _atomic_save(obj, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


#: Adam's two moments are twice the model's size: a checkpoint keeps them in a file of their own
#: (``optimizer-STEP.pt`` beside ``ckpt.pt``), so no committed file holds three copies of the
#: weights (the grown attention U-Net: 7.8 MB of weights, 15.5 MB of moments, 23 MB together).
OPTIMIZER_FILE = "optimizer-{step:08d}.pt"


def save_checkpoint(blob: dict, path: Path) -> None:
    """Write a training checkpoint: ``blob["optimizer"]`` to ``optimizer-STEP.pt`` beside ``path``,
    the rest (naming that file) to ``path``.

    Each file is written atomically, the optimizer file first, and other ``optimizer-*.pt`` files
    in the folder are removed only after ``path`` names the new one, so an interruption at any
    point leaves a checkpoint whose parts belong together.
    """
    blob = dict(blob)
    name = OPTIMIZER_FILE.format(step=blob["step"])
    _atomic_save({"step": blob["step"], "optimizer": blob.pop("optimizer")}, path.parent / name)
    _atomic_save(dict(blob, optimizer_file=name), path)
    for old in path.parent.glob("optimizer-*.pt"):
        if old.name != name:
            old.unlink()


def load_checkpoint(path: Path) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint` (or an older one-file checkpoint)."""
    blob = _load(path)
    name = blob.pop("optimizer_file", None)
    if name is not None:
        part = _load(path.parent / name)
        if part["step"] != blob["step"]:
            raise ValueError(f"{path} is at step {blob['step']} but {name} at step {part['step']}")
        blob["optimizer"] = part["optimizer"]
    return blob


def note_changed_settings(before: dict, args: argparse.Namespace, keys) -> None:
    """On resume, print a note (stderr) for each of ``keys`` whose value in ``args`` differs
    from the checkpoint's recorded settings ``before``. Options added after a checkpoint was
    written count as their default then (``--desaturate`` 0)."""
    added_later = {"desaturate": 0.0}
    for key in keys:
        old = before.get(key, added_later.get(key)) if before else None
        if old is not None and old != getattr(args, key):
            print(f"note: --{key.replace('_', '-')} changed {old} -> {getattr(args, key)} "
                  "on resume", file=sys.stderr)


def config_channels(config: dict) -> int:
    """Image channels of a model's constructor kwargs (``in_channels`` for DRUNet, ``channels`` otherwise)."""
    return config.get("in_channels", config.get("channels"))


def weights_stem(arch: str, channels: int) -> str:
    """File stem of the shipped weights: ``drunet_small_{gray,color}`` or ``attention_unet_{gray,color}``."""
    return f"{'drunet_small' if arch == 'drunet' else 'attention_unet'}_{'gray' if channels == 1 else 'color'}"


def denoising_set_name(channels: int) -> str:
    """The denoising test set under ``$PNP_DATA/val``: BSD68 (gray) or CBSD68 (colour)."""
    return "BSD68" if channels == 1 else "CBSD68"


def export_targets(arch: str, config: dict, name: str | None = None,
                   dest: str | os.PathLike | None = None) -> tuple[Path, Path]:
    """The ``NAME.pt`` and ``NAME.json`` an export writes (defaults as in :func:`export_weights`)."""
    name = name if name is not None else weights_stem(arch, config_channels(config))
    dest = Path(dest) if dest is not None else WEIGHTS_DIR
    return dest / f"{name}.pt", dest / f"{name}.json"


def export_weights(
    out_dir: str | os.PathLike,
    arch: str,
    name: str | None = None,
    dest: str | os.PathLike | None = None,
    which: str = "best",
    overwrite: bool = False,
) -> Path:
    """Copy trained weights to ``dest/NAME.pt`` (plain state_dict) plus ``dest/NAME.json``.

    Parameters
    ----------
    out_dir : path-like
        Training folder holding ``ckpt.pt`` and ``best.pt``.
    arch : {"attention-unet", "drunet"}
        Architecture (selects the default file name).
    name : str, optional
        File stem; defaults to ``drunet_small_{gray,color}`` or ``attention_unet_{gray,color}``.
    dest : path-like, optional
        Destination folder; defaults to ``priors/weights`` of this repository.
    which : {"best", "last", "auto"}
        Export the weights with the best validation PSNR (``best.pt``; an error if the run has
        none, e.g. a resumed run whose validations never beat the recorded best), those of the
        last checkpoint, or ``"auto"``: ``best.pt`` when it exists, else the last checkpoint (the
        command line's default; it prints which one it exported).
    overwrite : bool
        Replace an existing ``NAME.pt`` or ``NAME.json``. By default an existing file is an error:
        the default destination holds the shipped weights.

    Returns
    -------
    pathlib.Path
        The written ``.pt`` file. The ``.json`` sidecar holds the constructor keyword arguments.

    Raises
    ------
    FileNotFoundError
        If ``out_dir`` holds no checkpoint, or ``which="best"`` and it holds no ``best.pt``.
    FileExistsError
        If ``NAME.pt`` or ``NAME.json`` exists in ``dest`` and ``overwrite`` is False.
    ValueError
        If the weights are not of ``arch``, or ``best.pt`` does not have the architecture and
        configuration of ``ckpt.pt`` (a file left from another run in the same folder).
    """
    out_dir = Path(out_dir)
    if which not in ("best", "last", "auto"):
        raise ValueError(f"which must be 'best', 'last' or 'auto', got {which!r}")
    ckpt_path, best_path = out_dir / "ckpt.pt", out_dir / "best.pt"
    if not ckpt_path.exists() and not best_path.exists():
        raise FileNotFoundError(f"no checkpoint in {out_dir}; train first")
    if which == "best" and not best_path.exists():
        raise FileNotFoundError(
            f"no best.pt in {out_dir}: no validation of this run has beaten the best it records (a resumed "
            "run), or none ran; export the last step with which='last' (--export-which last), or "
            "which='auto' (best.pt when present)")
    src = best_path if which in ("best", "auto") and best_path.exists() else ckpt_path
    if not src.exists():
        raise FileNotFoundError(f"no checkpoint in {out_dir}; train first")
    blob = _load(src)
    if src == best_path and ckpt_path.exists():  # a best.pt left by another run is not this run's best
        ckpt = _load(ckpt_path)
        if (blob["arch"], blob["config"]) != (ckpt["arch"], ckpt["config"]):
            raise ValueError(
                f"{best_path} (arch {blob['arch']!r}, config {blob['config']}) does not match {ckpt_path} "
                f"(arch {ckpt['arch']!r}, config {ckpt['config']}): it is left from another run; "
                "export with which='last' (--export-which last) or remove it"
            )
    if blob["arch"] != arch:
        raise ValueError(f"{src} holds arch {blob['arch']!r}, not {arch!r}")
    config = blob["config"]
    targets = export_targets(arch, config, name, dest)
    existing = [str(t) for t in targets if t.exists()]
    if existing and not overwrite:
        raise FileExistsError(
            f"{' and '.join(existing)} exist already; export elsewhere (--export-dir, --export-name) "
            "or pass overwrite=True (--export-overwrite) to replace them"
        )
    from pnp.io import _atomic_target

    targets[0].parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.clone() for k, v in blob["model"].items()}
    with _atomic_target(targets[1]) as tmp:
        Path(tmp).write_text(json.dumps(config, indent=2) + "\n")
    with _atomic_target(targets[0]) as tmp:
        torch.save(state, tmp)
    return targets[0]


def _append_log(path: Path, record: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")


def _truncate_log(path: Path, step: int) -> None:
    """Drop log lines written after the checkpoint at ``step`` (from an interrupted run)."""
    if not path.exists():
        return
    keep = [ln for ln in path.read_text().splitlines() if ln and json.loads(ln)["step"] <= step]
    path.write_text("".join(ln + "\n" for ln in keep))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options of ``python -m priors.train`` (see ``--help``)."""
    p = argparse.ArgumentParser(prog="python -m priors.train", description=__doc__.split("\n")[0])
    p.add_argument("--arch", choices=ARCHS, required=True)
    p.add_argument("--channels", type=int, choices=(1, 3), required=True)
    p.add_argument("--steps", type=int, default=None, help="planned total optimizer steps")
    p.add_argument("--batch", type=int, default=16, help="patches per step")
    p.add_argument("--patch", type=int, default=64, help="patch side in pixels (multiple of 8)")
    p.add_argument("--out", default=None, help="output folder (checkpoint, best weights, log)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/ckpt.pt")
    p.add_argument("--lr", type=float, default=4e-4, help="peak Adam learning rate")
    p.add_argument("--lr-floor", type=float, default=0.02, help="final lr as a fraction of --lr")
    p.add_argument("--warmup", type=int, default=200, help="linear warm-up steps")
    p.add_argument("--loss", choices=("l1", "l2"), default="l1")
    p.add_argument("--sigma-max", type=float, default=50.0, help="max training sigma (0-255)")
    p.add_argument("--sigma-dist", choices=SIGMA_DISTS, default="uniform",
                   help="training sigma distribution: uniform in [0, max], or 'mixed' (half log-uniform)")
    p.add_argument("--desaturate", type=float, default=0.0,
                   help="colour only: fraction of patches pulled towards gray by a random amount "
                        "(augmentation; 0: off)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    p.add_argument("--device", default=None, help="torch device (default: cuda if present)")
    p.add_argument("--data", default=None, help="data folder (default: $PNP_DATA or ../shared/data)")
    p.add_argument("--val-every", type=int, default=500, help="validate every N steps (0: never)")
    p.add_argument("--val-images", type=int, default=4)
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--ckpt-minutes", type=float, default=5.0, help="checkpoint period (minutes)")
    p.add_argument("--ckpt-every", type=int, default=0, help="also checkpoint every N steps")
    p.add_argument("--stop-after", type=int, default=None,
                   help="checkpoint and exit after N steps in this invocation (0: only --export)")
    p.add_argument("--max-minutes", type=float, default=0.0,
                   help="checkpoint and exit after this many minutes of this invocation")
    p.add_argument("--config", default=None, help="JSON of model constructor kwargs (new runs)")
    p.add_argument("--init-weights", default=None,
                   help="new runs: start from these exported weights (NAME.pt + NAME.json) "
                        "instead of a random initialisation; a fresh optimizer and warm-up")
    p.add_argument("--fit-minutes", type=float, default=0.0,
                   help="set the planned steps so that training ends about this many minutes "
                        "after it starts: the step rate is measured over the first "
                        "--fit-calibrate steps and --steps becomes the cap (0: off)")
    p.add_argument("--fit-calibrate", type=int, default=100,
                   help="steps over which --fit-minutes measures the step rate")
    p.add_argument("--export", action="store_true", help="export weights to priors/weights/")
    p.add_argument("--export-name", default=None)
    p.add_argument("--export-dir", default=None)
    p.add_argument("--export-which", choices=("best", "last", "auto"), default="auto",
                   help="best: best.pt (an error if this run has none); last: the last checkpoint; "
                        "auto (default): best.pt when it exists, else the last checkpoint (printed)")
    p.add_argument("--export-overwrite", action="store_true",
                   help="--export: replace existing weights files (by default an error)")
    p.add_argument("--no-progress", action="store_true", help="disable the tqdm bar")
    p.add_argument("--measure", action="store_true",
                   help="only measure: test-set PSNR and speed of --weights (or exported) weights")
    p.add_argument("--weights", default=None, help="weights .pt (with .json sidecar) for --measure")
    p.add_argument("--test-images", type=int, default=0, help="--measure: first N images (0: all)")
    p.add_argument("--sizes", default="256,1024", help="--measure: square sizes to time")
    p.add_argument("--sigmas", type=parse_sigmas, default="15,25,50",
                   help="--measure: noise levels (0-255), comma-separated")
    p.add_argument("--ensemble", type=int, default=1, choices=(1, 2, 4, 8),
                   help="--measure: average over this many flips / quarter turns (priors.ensemble)")
    args = p.parse_args(argv)
    if args.measure:
        return args
    if args.out is None or (args.steps is None and not args.resume):
        p.error("--out and --steps are required (--steps may be left out with --resume)")
    if args.patch < 8 or args.patch % 8:
        p.error(f"--patch must be a positive multiple of 8, got {args.patch}")
    if (args.steps is not None and args.steps < 0) or args.batch < 1:
        p.error("--steps must be >= 0 and --batch >= 1")
    if not 0 < args.sigma_max <= 255:
        p.error(f"--sigma-max must be in (0, 255] (0-255 scale), got {args.sigma_max}")
    if problem := lr_problem("--lr", args.lr, allow_zero=True):
        p.error(problem)
    if not 0 < args.lr_floor <= 1:
        p.error(f"--lr-floor must be in (0, 1] (a fraction of --lr), got {args.lr_floor}")
    if args.warmup < 0:
        p.error(f"--warmup must be >= 0, got {args.warmup}")
    for name in ("log_every", "val_images"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    for name in ("val_every", "ckpt_every", "stop_after", "max_minutes"):
        if getattr(args, name) is not None and getattr(args, name) < 0:
            p.error(f"--{name.replace('_', '-')} must be >= 0, got {getattr(args, name)}")
    if not args.ckpt_minutes > 0:
        p.error(f"--ckpt-minutes must be > 0, got {args.ckpt_minutes}")
    if args.threads is not None and args.threads < 1:
        p.error(f"--threads must be >= 1, got {args.threads}")
    if not 0.0 <= args.desaturate <= 1.0:
        p.error(f"--desaturate must be in [0, 1], got {args.desaturate}")
    if args.desaturate and args.channels == 1:
        p.error("--desaturate applies to colour training (--channels 3) only")
    return args


class _StopFlag:
    """Set by SIGTERM/SIGINT so the loop can checkpoint and exit cleanly."""

    def __init__(self):
        self.stop = False

    def __call__(self, signum, frame):
        self.stop = True


@contextlib.contextmanager
def _torch_threads_restored():
    """Restore torch's thread count on exit (the functions below set it from ``--threads``)."""
    threads = torch.get_num_threads()
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def train(args: argparse.Namespace) -> dict:
    """Run (or resume) a training run; see :func:`_train`. Restores torch's thread count."""
    with _torch_threads_restored():
        return _train(args)


def _train(args: argparse.Namespace) -> dict:
    """Run (or resume) a training run described by parsed command-line ``args``.

    Returns
    -------
    dict
        Summary: ``step`` reached, ``best_psnr`` (mean validation PSNR, dB), ``wall_s``
        (cumulative training wall time over all resumed runs, s), ``out`` folder.
    """
    from tqdm import tqdm

    torch.set_num_threads(args.threads or os.cpu_count() or 1)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    out = Path(args.out)
    if not out.is_absolute():
        out = Path.cwd() / out
    ckpt_path, best_path, log_path = out / "ckpt.pt", out / "best.pt", out / "log.jsonl"

    if args.fit_minutes < 0 or args.fit_calibrate < 1:
        raise ValueError("--fit-minutes must be >= 0 and --fit-calibrate >= 1")
    left = [p.name for p in (best_path, log_path) if p.exists()]  # files of an earlier run
    if args.resume and not ckpt_path.exists():
        raise FileNotFoundError(
            f"--resume: no checkpoint {ckpt_path} to continue; "
            + (f"{out} holds only {' and '.join(left)} of a run stopped before its first checkpoint: "
               "use another --out, or remove them to start a new run here" if left
               else "start a new run without --resume")
        )
    if args.resume:
        if args.init_weights:
            raise ValueError(
                f"--init-weights starts a new run, but {ckpt_path} exists and --resume continues it; "
                "use a new --out folder or drop --init-weights"
            )
        ckpt = load_checkpoint(ckpt_path)
        if ckpt["arch"] != args.arch:
            raise ValueError(f"{ckpt_path} holds arch {ckpt['arch']!r}, not {args.arch!r}")
        config = ckpt["config"]
        if config_channels(config) != args.channels:
            raise ValueError(f"{ckpt_path} was trained with --channels {config_channels(config)}, "
                             f"not {args.channels}: resume with --channels {config_channels(config)}")
    else:
        if ckpt_path.exists():
            raise FileExistsError(f"{ckpt_path} exists; pass --resume to continue it")
        if left:  # an earlier run, killed before its first checkpoint: its best.pt would pass as ours
            raise FileExistsError(
                f"{out} already holds {' and '.join(left)} of an earlier run, which left no "
                f"{ckpt_path.name} to resume: use another --out, or remove them to start a new run here"
            )
        ckpt = None
        config = default_config(args.arch, args.channels)
        if args.config:
            config.update(json.loads(args.config))
        if args.init_weights:
            init = Path(args.init_weights)
            if not init.is_file() or not init.with_suffix(".json").is_file():
                raise FileNotFoundError(
                    f"--init-weights {init}: expected an exported NAME.pt with NAME.json beside it"
                )
            config = json.loads(init.with_suffix(".json").read_text())
            got = config_channels(config)
            if got != args.channels:
                raise ValueError(f"--init-weights {init} has {got} channels, not --channels {args.channels}")

    if args.export and not args.export_overwrite:  # refuse now, not after hours of training
        targets = export_targets(args.arch, config, args.export_name, args.export_dir)
        existing = [str(t) for t in targets if t.exists()]
        if existing:
            raise FileExistsError(
                f"--export: {' and '.join(existing)} exist already; choose --export-dir / --export-name, "
                "or pass --export-overwrite to replace them"
            )
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(args.seed)
    model = build_model(args.arch, config)
    if ckpt is None and args.init_weights:
        model.load_state_dict(torch.load(args.init_weights, map_location="cpu", weights_only=True))
    model = model.to(device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True  # attention matmuls in TF32, as cuDNN convs
        torch.backends.cudnn.benchmark = True  # fixed patch size: autotune the convolutions once
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    total = args.steps if args.steps is not None else (ckpt["planned_steps"] if ckpt else 0)
    # The cosine's length. It is `total`, except while --fit-minutes measures the rate of a resumed
    # run: then the old plan holds, since the --steps cap (far longer) would first jump the rate
    # back up to nearly --lr and undo the trained weights' annealing (seen on a GPU: -0.3 dB).
    lr_plan = [ckpt["planned_steps"] if (ckpt is not None and args.fit_minutes) else total]
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: lr_factor(s, lr_plan[0], args.warmup, args.lr_floor)
    )
    rng = np.random.default_rng(args.seed)
    noise_gen = torch.Generator().manual_seed(args.seed + 1)
    step, best, wall_before, acc = 0, -float("inf"), 0.0, [0.0, 0]
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["scheduler"])
        # the rate follows the command line (--lr, --warmup, --lr-floor, --steps), as in train_unfolded:
        # the same value LambdaLR computes, so an unchanged command resumes exactly
        sched.base_lrs = [args.lr for _ in sched.base_lrs]
        for group, lam in zip(opt.param_groups, sched.lr_lambdas):
            group["initial_lr"] = args.lr
            group["lr"] = args.lr * lam(sched.last_epoch)
        rng.bit_generator.state = ckpt["numpy_rng"]
        noise_gen.set_state(ckpt["noise_rng"])
        torch.set_rng_state(ckpt["torch_rng"])
        step, best, wall_before = ckpt["step"], ckpt["best_psnr"], ckpt["wall_s"]
        acc = list(ckpt["loss_acc"])
        if args.fit_minutes:
            print(
                f"note: --fit-minutes: the learning rate keeps the checkpoint's plan of "
                f"{ckpt['planned_steps']} steps until the step rate is measured, then follows "
                "a plan that ends in time",
                file=sys.stderr,
            )
        elif ckpt["planned_steps"] != total:
            print(
                f"note: planned steps changed {ckpt['planned_steps']} -> {total}; "
                "the cosine learning-rate schedule is stretched from here on",
                file=sys.stderr,
            )
        before = ckpt.get("args", {}) if args.stop_after != 0 else {}  # export only: nothing trains
        note_changed_settings(before, args, ("sigma_dist", "patch", "batch", "sigma_max", "loss", "desaturate",
                                             "lr", "warmup", "lr_floor"))
        _truncate_log(log_path, step)

    def save_ckpt():
        save_checkpoint(
            {
                "arch": args.arch,
                "config": config,
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(),
                "numpy_rng": rng.bit_generator.state,
                "noise_rng": noise_gen.get_state(),
                "torch_rng": torch.get_rng_state(),
                "step": step,
                "planned_steps": lr_plan[0],  # the plan the rate follows (total once --fit-minutes has measured)
                "best_psnr": best,
                "wall_s": wall_before + (time.time() - t0),
                "loss_acc": acc,
                "args": {k: v for k, v in vars(args).items() if k != "resume"},
            },
            ckpt_path,
        )

    t0 = time.time()
    if step < total and args.stop_after != 0:
        root = Path(args.data) if args.data else data_root()
        sampler = PatchSampler(load_training_images(args.channels, root), args.patch, rng)
        val_images = (
            load_validation_images(args.channels, args.val_images, root)
            if args.val_every
            else []
        )
        flag = _StopFlag()
        old_handlers = {s: signal.signal(s, flag) for s in (signal.SIGTERM, signal.SIGINT)}
        model.train()
        loss_fn = nn.L1Loss() if args.loss == "l1" else nn.MSELoss()
        bar = tqdm(
            total=total,
            initial=step,
            disable=args.no_progress,
            mininterval=1.0 if sys.stderr.isatty() else 60.0,
            desc=f"{args.arch} c{args.channels}",
        )
        last_ckpt = time.time()
        stop_at = step + args.stop_after if args.stop_after is not None else total
        loss_sum = None  # running sum of the losses since the last log line, on the device
        fit_from = (step, None) if args.fit_minutes else None
        try:
            while step < min(total, stop_at) and not flag.stop:
                if args.max_minutes and time.time() - t0 > 60 * args.max_minutes:
                    break
                clean = torch.from_numpy(desaturate(sampler.sample(args.batch), args.desaturate, rng))
                sigma = draw_sigmas(args.batch, args.sigma_max, args.sigma_dist, noise_gen)
                noisy = clean + torch.randn(clean.shape, generator=noise_gen) * sigma[:, None, None, None]
                clean, noisy, sigma = clean.to(device), noisy.to(device), sigma.to(device)
                loss = loss_fn(model(noisy, sigma), clean)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                step += 1
                loss_sum = loss.detach() if loss_sum is None else loss_sum + loss.detach()
                acc[1] += 1
                bar.update(1)
                if fit_from is not None and fit_from[1] is None and step - fit_from[0] == FIT_WARMUP:
                    _sync(device)  # start the clock after the first steps (autotuning, caches)
                    fit_from = (step, time.time())
                elif fit_from is not None and fit_from[1] is not None and step - fit_from[0] == args.fit_calibrate:
                    _sync(device)
                    rate = args.fit_calibrate / (time.time() - fit_from[1])
                    total = fitted_total(step, rate, 60 * args.fit_minutes - (time.time() - t0), total)
                    lr_plan[0] = total
                    stop_at = min(stop_at, total) if args.stop_after is not None else total
                    bar.total = total
                    bar.write(f"--fit-minutes {args.fit_minutes}: {rate:.2f} steps/s, planned steps now {total}")
                    fit_from = None
                if step % args.log_every == 0 or step == total:
                    acc[0] += float(loss_sum)  # one device sync per log line, not per step
                    loss_sum = None
                    rec = {
                        "step": step,
                        "loss": acc[0] / acc[1],
                        "lr": opt.param_groups[0]["lr"],
                        "wall_s": round(wall_before + time.time() - t0, 1),
                    }
                    _append_log(log_path, rec)
                    bar.set_postfix(loss=f"{rec['loss']:.4f}")
                    acc = [0.0, 0]
                if args.val_every and (step % args.val_every == 0 or step == total):
                    val = validate(model, val_images, seed=1234, device=device)
                    mean = float(np.mean(list(val.values())))
                    _append_log(log_path, {"step": step, "val_psnr": val, "val_psnr_mean": mean})
                    if mean > best:
                        best = mean
                        _atomic_save(
                            {"arch": args.arch, "config": config, "step": step,
                             "val_psnr": val, "model": model.state_dict()},
                            best_path,
                        )
                    bar.write(f"step {step}: val PSNR {val} (best mean {best:.2f} dB)")
                if (time.time() - last_ckpt > 60 * args.ckpt_minutes) or (
                    args.ckpt_every and step % args.ckpt_every == 0
                ):
                    if loss_sum is not None:
                        acc[0] += float(loss_sum)
                        loss_sum = None
                    save_ckpt()
                    last_ckpt = time.time()
            if loss_sum is not None:
                acc[0] += float(loss_sum)
            save_ckpt()
        finally:
            bar.close()
            for s, h in old_handlers.items():
                signal.signal(s, h)
    summary = {
        "step": step,
        "best_psnr": best,
        "wall_s": wall_before + (time.time() - t0 if step else 0.0),
        "out": str(out),
    }
    if args.export:
        path = export_weights(
            out, args.arch, args.export_name, args.export_dir, args.export_which, args.export_overwrite
        )
        summary["exported"] = str(path)
        used = "best.pt" if args.export_which != "last" and (Path(out) / "best.pt").exists() else "ckpt.pt"
        summary["exported_from"] = used
        print(f"exported {path} from {Path(out) / used}"
              + (" (no best.pt: the last step)" if used == "ckpt.pt" and args.export_which == "auto" else ""),
              file=sys.stderr)
    return summary


def load_exported(arch: str, weights: str | os.PathLike) -> nn.Module:
    """Rebuild a model from an exported ``NAME.pt`` state_dict and its ``NAME.json`` sidecar.

    Parameters
    ----------
    arch : {"attention-unet", "drunet"}
        Architecture of the weights.
    weights : path-like
        The ``.pt`` file; the constructor kwargs are read from the ``.json`` beside it.

    Returns
    -------
    torch.nn.Module
        The model in eval mode, on the CPU.
    """
    weights = Path(weights)
    config = json.loads(weights.with_suffix(".json").read_text())
    model = build_model(arch, config)
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return model.eval()


@torch.no_grad()
def time_denoiser(model: nn.Module, channels: int, size: int, repeats: int = 3) -> float:
    """Median wall time (s) of one ``model(x, 25/255)`` call on a (1, C, size, size) image.

    One untimed warm-up call precedes the ``repeats`` timed calls.
    """
    x = torch.rand(1, channels, size, size, generator=torch.Generator().manual_seed(0))
    model(x, 25 / 255)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        model(x, 25 / 255)
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def measure(args: argparse.Namespace) -> dict:
    """Test-set PSNR (BSD68 gray / CBSD68 colour, sigma 15/25/50) and speed of exported weights.

    Noise: one ``torch.Generator`` seeded with 0, drawn per sigma then per image in file order.
    PSNR is computed on the 0-1 scale (peak 1) after clipping the output to [0, 1] (no rounding).
    Torch's thread count (``--threads``) is restored on return.

    Returns
    -------
    dict
        ``psnr`` {sigma: mean dB}, ``images`` (count), ``seconds`` {size: s per image},
        ``threads``, ``params``.
    """
    with _torch_threads_restored():
        return _measure(args)


def _measure(args: argparse.Namespace) -> dict:
    """:func:`measure` without restoring torch's thread count."""
    from priors.datasets import list_images, load_image

    torch.set_num_threads(args.threads or os.cpu_count() or 1)
    weights = Path(args.weights) if args.weights else WEIGHTS_DIR / f"{weights_stem(args.arch, args.channels)}.pt"
    model = load_exported(args.arch, weights)
    if args.ensemble > 1:
        from priors.ensemble import torch_self_ensemble

        model = torch_self_ensemble(model, args.ensemble)
    root = Path(args.data) if args.data else data_root()
    files = list_images(root / "val" / denoising_set_name(args.channels))
    if args.test_images:
        files = files[: args.test_images]
    images = [load_image(f, args.channels) for f in files]
    result = {
        "weights": str(weights),
        "set": denoising_set_name(args.channels),
        "images": len(images),
        "threads": torch.get_num_threads(),
        "ensemble": args.ensemble,
        "params": sum(p.numel() for p in model.parameters()),
        "psnr": validate(model, images, sigmas=args.sigmas, seed=0) if images else {},
        "seconds": {},
    }
    for size in (int(v) for v in args.sizes.split(",") if v):
        result["seconds"][str(size)] = time_denoiser(model, args.channels, size)
    return result


def main(argv: list[str] | None = None) -> dict:
    """Entry point of ``python -m priors.train``; returns the run (or measurement) summary."""
    args = parse_args(argv)
    summary = measure(args) if args.measure else train(args)
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
