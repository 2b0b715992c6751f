"""Grow a trained attention U-Net or DRUNet into a wider (or deeper) one that computes the same function.

Training a larger network from scratch costs more than a short GPU session gives. Growing keeps
what the trained network knows and adds capacity that starts switched off, so training continues
from the small network's PSNR instead of from zero:

- **Wider stages** (``widths[0:3]``; the body width ``widths[3]`` is fixed, since its layer norm
  would see the new channels). Each convolution keeps its trained weights in the leading block;
  the weights *from* new input channels *to* old output channels are zero, and the weights into
  new output channels get PyTorch's default random initialisation. The new channels are computed
  but nothing reads them yet; their gradient is not zero, so training switches them on.
- **More residual blocks per stage** (``blocks``). A new block ``x + conv2(relu(conv1(x)))`` has
  ``conv2`` zeroed, so it starts as the identity.
- **A wider DRUNet** (:func:`grow_drunet`, deepinv's layers, plain or residual form): the four
  stage widths ``nc`` grow by the same rule. DRUNet has no normalisation layers and adds its skips,
  so every stage can grow, the deepest one included.

Command line (writes ``OUT.pt`` and its ``OUT.json`` sidecar, the exported format that
``python -m priors.train --init-weights`` starts from)::

    python -m priors.grow priors/weights/attention_unet_small_gray.pt --widths 48 96 160 128 --out grown_gray.pt
    python -m priors.grow priors/weights/drunet_small_color.pt --widths 24 48 96 192 --out drunet_grown_color.pt

The architecture is read from the ``.json`` sidecar (``widths``: attention U-Net; ``nc``: DRUNet).

(The shipped grown network was made this way from the file then shipped as
``attention_unet_gray.pt``, now ``attention_unet_small_gray.pt``; ``attention_unet_{gray,color}.pt``
already have the widths 48/96/160/128.)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from torch import nn

from priors.attention_unet import AttentionUNet, load_attention_unet


def _grow_conv(new: nn.Module, old: nn.Module) -> None:
    """Copy ``old``'s weights into the leading block of the wider ``new`` (in place).

    Conv2d weights are (out, in, k, k), ConvTranspose2d weights (in, out, k, k). Entries from new
    input channels to old output channels become 0; entries into new output channels keep
    ``new``'s random initialisation.
    """
    w_new, w_old = new.weight.data, old.weight.data
    if isinstance(new, nn.ConvTranspose2d):
        i, o = w_old.shape[:2]
        w_new[:i, :o] = w_old
        w_new[i:, :o] = 0.0
    else:
        o, i = w_old.shape[:2]
        w_new[:o, :i] = w_old
        w_new[:o, i:] = 0.0
    if new.bias is not None:
        new.bias.data[: old.bias.shape[0]] = old.bias.data


def grow_attention_unet(
    model: AttentionUNet, widths=None, blocks: int | None = None, seed: int = 0
) -> AttentionUNet:
    """A wider and/or deeper :class:`AttentionUNet` with the same outputs as ``model``.

    Parameters
    ----------
    model : AttentionUNet
        The trained network (left unchanged).
    widths : sequence of 4 int, optional
        New stage widths; each of the first three at least the old one, the fourth (the
        attention body) equal to the old one. Default: unchanged.
    blocks : int, optional
        Residual blocks per encoder and decoder stage, at least the old count. Default: unchanged.
    seed : int
        Seed of the random initialisation of the new weights.

    Returns
    -------
    AttentionUNet
        The grown network in eval mode, on the CPU, float32. Its output equals ``model``'s up to
        float rounding (about 1e-6 on 0-1 images).

    Raises
    ------
    ValueError
        If a width or the block count would shrink, or the body width changes.
    """
    cfg = dict(model.config)
    old_w, old_b = list(cfg["widths"]), int(cfg["blocks"])
    new_w = old_w if widths is None else [int(c) for c in widths]
    new_b = old_b if blocks is None else int(blocks)
    if len(new_w) != 4:
        raise ValueError(f"widths must list 4 channel counts, got {list(new_w)}")
    if any(n < o for n, o in zip(new_w[:3], old_w[:3])):
        raise ValueError(f"widths can only grow: the network has {old_w}, asked for {new_w}")
    if new_w[3] != old_w[3]:
        raise ValueError(
            f"the body width (widths[3] = {old_w[3]}) cannot change: its layer norm would see the "
            f"new channels; asked for {new_w[3]}"
        )
    if new_b < old_b:
        raise ValueError(f"blocks can only grow: the network has {old_b}, asked for {new_b}")
    cfg.update(widths=new_w, blocks=new_b)
    with torch.random.fork_rng(devices=[]):  # seeded new weights, the caller's generator untouched
        torch.manual_seed(seed)
        grown = AttentionUNet(**cfg)
    old_modules = dict(model.named_modules())
    done = set()  # state-dict keys set by the convolution rules
    with torch.no_grad():
        for name, mod in grown.named_modules():
            if not isinstance(mod, (nn.Conv2d, nn.ConvTranspose2d)):
                continue
            old = old_modules.get(name)
            if old is not None:
                _grow_conv(mod, old)
            elif name.endswith(".conv2"):  # in a new residual block: start as the identity
                mod.weight.zero_()
                mod.bias.zero_()
            done.update(f"{name}.{k}" for k, _ in mod.named_parameters(recurse=False))
        new_state = grown.state_dict()
        for key, value in model.state_dict().items():  # the rest (attention body): same shapes
            if key in done:
                continue
            if new_state[key].shape != value.shape:
                raise ValueError(f"{key}: shape {tuple(value.shape)} cannot grow")
            new_state[key].copy_(value)
    return grown.eval()


def grow_drunet(model: nn.Module, nc, seed: int = 0) -> nn.Module:
    """A wider DRUNet with the same outputs as ``model``.

    Parameters
    ----------
    model : deepinv.models.DRUNet or priors.residual_drunet.ResidualDRUNet
        The trained network (left unchanged), as built by :func:`load_drunet_weights`.
    nc : sequence of 4 int
        New widths of the four stages (full, 1/2, 1/4 and 1/8 resolution), each at least the old one.
    seed : int
        Seed of the random initialisation of the new weights.

    Returns
    -------
    torch.nn.Module
        The grown network (same class) in eval mode, on the CPU, float32, with its constructor
        keyword arguments in ``.config`` (the ``.json`` sidecar). Its output equals ``model``'s up
        to float rounding.

    Raises
    ------
    ValueError
        If ``model`` has no ``.config`` or a width would shrink.
    """
    from priors.residual_drunet import build_drunet

    cfg = getattr(model, "config", None)
    if not isinstance(cfg, dict) or "nc" not in cfg:
        raise ValueError("model must carry its constructor kwargs in .config (use load_drunet_weights)")
    old_nc = [int(c) for c in cfg["nc"]]
    new_nc = [int(c) for c in nc]
    if len(new_nc) != 4:
        raise ValueError(f"nc must list 4 channel counts, got {list(new_nc)}")
    if any(n < o for n, o in zip(new_nc, old_nc)):
        raise ValueError(f"nc can only grow: the network has {old_nc}, asked for {new_nc}")
    cfg = dict(cfg, nc=new_nc)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        grown = build_drunet(**cfg)
    grown.config = cfg
    old_modules = dict(model.named_modules())
    with torch.no_grad():
        for name, mod in grown.named_modules():
            if isinstance(mod, (nn.Conv2d, nn.ConvTranspose2d)):
                _grow_conv(mod, old_modules[name])
        left = {k for k in model.state_dict() if not k.endswith((".weight", ".bias"))}
        if left:  # deepinv's DRUNet has only convolutions; anything else would be copied wrongly
            raise ValueError(f"cannot grow DRUNet buffers {sorted(left)}")
    return grown.eval()


def load_drunet_weights(path) -> nn.Module:
    """A DRUNet from exported weights ``NAME.pt`` and its ``NAME.json`` sidecar (kwargs in ``.config``)."""
    from priors.residual_drunet import build_drunet

    path = Path(path)
    cfg = json.loads(path.with_suffix(".json").read_text())
    net = build_drunet(**cfg)
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    net.config = cfg
    return net.eval()


def main(argv=None) -> None:
    """Command line: grow exported weights and write ``OUT.pt`` + ``OUT.json``."""
    from pnp.io import _atomic_target

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("weights", help="exported NAME.pt with NAME.json beside it")
    p.add_argument("--widths", type=int, nargs=4, default=None,
                   help="new stage widths (4 ints; DRUNet: its nc)")
    p.add_argument("--blocks", type=int, default=None, help="attention U-Net: residual blocks per stage")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="output NAME.pt (its NAME.json is written beside it)")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    args = p.parse_args(argv)
    out = Path(args.out)
    if out.suffix != ".pt":
        p.error(f"--out must end in .pt, got {out}")
    if args.widths is None and args.blocks is None:
        p.error("nothing to grow: give --widths and/or --blocks")
    sidecar = out.with_suffix(".json")
    if not args.overwrite and (out.exists() or sidecar.exists()):
        p.error(f"{out} or {sidecar.name} exists; pass --overwrite to replace them")
    src = Path(args.weights)
    if not src.is_file() or not src.with_suffix(".json").is_file():
        p.error(f"{src}: expected exported weights NAME.pt with NAME.json beside it")
    try:
        sidecar_cfg = json.loads(src.with_suffix(".json").read_text())
    except (OSError, ValueError) as err:
        p.error(f"{src.with_suffix('.json')}: not a readable JSON sidecar ({err})")
    is_drunet = isinstance(sidecar_cfg, dict) and "nc" in sidecar_cfg
    if is_drunet and args.blocks is not None:
        p.error("--blocks grows the attention U-Net only; for a DRUNet give --widths (its nc)")
    if is_drunet and args.widths is None:
        p.error("nothing to grow: give --widths (the DRUNet's new nc)")
    try:
        if is_drunet:
            old = load_drunet_weights(src)
            grown = grow_drunet(old, args.widths, args.seed)
            channels = int(old.config.get("in_channels", 3))
        else:
            old = load_attention_unet(src)
            grown = grow_attention_unet(old, args.widths, args.blocks, args.seed)
            channels = old.channels
    except ValueError as err:
        p.error(str(err))
    x = torch.rand(1, channels, 40, 56, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        err = (grown(x, 0.1) - old(x, 0.1)).abs().max().item()
    if not err < 1e-4:  # float rounding gives about 1e-7 on 0-1 images
        raise SystemExit(f"the grown network's output differs by {err:.1e}: not written (a bug; please report)")
    out.parent.mkdir(parents=True, exist_ok=True)
    with _atomic_target(sidecar) as tmp:
        Path(tmp).write_text(json.dumps(grown.config, indent=2) + "\n")
    with _atomic_target(out) as tmp:
        torch.save(grown.state_dict(), tmp)
    n_old = sum(q.numel() for q in old.parameters())
    n_new = sum(q.numel() for q in grown.parameters())
    print(f"wrote {out} ({n_old:,} -> {n_new:,} parameters; max output change {err:.1e})")


if __name__ == "__main__":
    main()
