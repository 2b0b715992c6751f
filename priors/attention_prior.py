"""The project's attention U-Net (:mod:`priors.attention_unet`) as a prior with shipped weights."""

from __future__ import annotations

import os
from pathlib import Path

from .torch_adapter import TorchDenoiser, WeightsChannelsError

__all__ = ["AttentionUNetPrior", "UNFOLDED_WEIGHTS", "unfolded_attention_unet"]

#: The colour attention U-Net fine-tuned end to end inside the unfolded K = 8 HQS model
#: (``priors.train_unfolded --finetune-prior``); model card ``weights/attention_unet_unfolded.md``.
UNFOLDED_WEIGHTS = Path(__file__).resolve().parent / "weights" / "attention_unet_color_unfolded.pt"


#: Named shipped weights: ``"ours"`` (the default, the grown network of 2026-11-27) and ``"small"``
#: (the earlier network of 24/48/96/128 channels: 0.5x the time, 0.1-0.2 dB lower in denoising).
NAMED_WEIGHTS = ("ours", "small")


def _weights_path(channels, which="ours"):
    from .attention_unet import weights_path

    path = weights_path(channels)
    return path if which == "ours" else path.with_name(path.name.replace("attention_unet_", "attention_unet_small_"))


class AttentionUNetPrior(TorchDenoiser):
    """Noise-level-conditioned attention U-Net denoiser, gray and colour.

    Parameters
    ----------
    weights : "ours", "small" or path
        ``"ours"`` (default): ``priors/weights/attention_unet_{gray,color}.pt``
        (with their ``.json`` architecture files) trained by this project:
        widths 48/96/160/128 and 1.93 million parameters (gray), 48/112/192/128
        and 2.55 million (colour). ``"small"``:
        ``attention_unet_small_{gray,color}.pt``, the earlier network of widths
        24/48/96/128 (0.85 million parameters), half the time per call or less
        and 0.1-0.2 dB lower as a denoiser. A path: a ``state_dict`` file with a
        ``.json`` sidecar of constructor arguments.
    device : str
        Torch device.
    threads : int, optional
        Torch CPU threads.
    tile, overlap, memory_budget_mb : optional
        Tiled inference for large images (see :class:`priors.torch_adapter.TorchDenoiser`).
    """

    def __init__(self, weights="ours", device="cpu", threads=None, tile="auto", overlap=32, memory_budget_mb=256):
        self._named = isinstance(weights, str) and weights in NAMED_WEIGHTS
        if self._named:
            if not any(_weights_path(c, weights).is_file() for c in (1, 3)):
                how = ("train and export them with `python -m priors.train --arch attention-unet ... --export`"
                       if weights == "ours" else "they ship with the repository: restore them from git")
                raise FileNotFoundError(
                    f"the attention U-Net weights are missing ({_weights_path(1, weights)}, "
                    f"{_weights_path(3, weights)}); {how}"
                )
        elif not isinstance(weights, (str, os.PathLike)) or not Path(weights).is_file():
            raise FileNotFoundError(
                f"attention U-Net weights file not found: {weights} (expected a path, or one of "
                f"{', '.join(repr(n) for n in NAMED_WEIGHTS)})"
            )
        self.weights = weights
        super().__init__(self._load, device=device, multiple=8, min_size=8, threads=threads,
                         name=f"AttentionUNet[{weights}]", tile=tile, overlap=overlap,
                         memory_budget_mb=memory_budget_mb)

    def weight_files(self):
        """The weights files this prior reads (gray and colour for a shipped name), with their ``.json``.

        Used to tell outputs made with other weights apart (:mod:`pnp.settings_record`).
        """
        paths = [_weights_path(c, self.weights) for c in (1, 3)] if self._named else [Path(self.weights)]
        return [f for p in paths for f in (p, p.with_suffix(".json"))]

    def _load(self, channels):
        from .attention_unet import load_attention_unet

        path = _weights_path(channels, self.weights) if self._named else Path(self.weights)
        if not path.is_file():
            raise FileNotFoundError(f"no attention U-Net weights for {channels}-channel images at {path}")
        net = load_attention_unet(path)
        if net.channels != channels:
            raise WeightsChannelsError(path, net.channels, channels)
        return net


def unfolded_attention_unet(**kwargs):
    """The colour attention U-Net fine-tuned inside the unfolded HQS model (prior ``"attention-unet-unfolded"``).

    A deblurring prior: the CPU-trained colour weights of step 16800 (then shipped)
    trained further, end to end, through K = 8 HQS iterations
    (``priors.train_unfolded --finetune-prior``). Inside :func:`pnp.solve` it restores
    better than those step-16800 weights, but 1.23 / 0.94 dB below the current default
    prior on DPIR's protocol (32.00 / 28.21 against 33.23 / 29.15 dB at noise
    2.55 / 7.65); as a plain denoiser it is worse (model card
    ``priors/weights/attention_unet_unfolded.md``). Colour images only: a gray image,
    or one of another channel count (RGBA), raises ``ValueError``.

    Parameters
    ----------
    **kwargs
        Passed to :class:`AttentionUNetPrior` (``device``, ``threads``, ``tile``, ...),
        except ``weights``.
    """
    if "weights" in kwargs:
        raise TypeError("the unfolded attention U-Net has fixed weights; use prior='attention-unet' "
                        "with weights=PATH for another file")
    if not UNFOLDED_WEIGHTS.is_file():
        raise FileNotFoundError(f"the fine-tuned attention U-Net weights are missing ({UNFOLDED_WEIGHTS}); "
                                "export them with `python -m priors.train_unfolded ... --finetune-prior "
                                "--export-prior`")
    return AttentionUNetPrior(weights=UNFOLDED_WEIGHTS, **kwargs)
