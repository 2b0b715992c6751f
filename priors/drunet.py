"""DRUNet prior: deepinv's architecture with our weights (default) or the official ones."""

from __future__ import annotations

import json
import os
from pathlib import Path

from .torch_adapter import TorchDenoiser

__all__ = ["DRUNet", "WEIGHTS_DIR", "official_weights_path"]

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"

#: deepinv's published DRUNet weights (file names on its weight server).
_OFFICIAL = {
    1: "drunet_deepinv_gray_finetune_26k.pth",
    3: "drunet_deepinv_color_finetune_22k.pth",
}
_OFFICIAL_URL = "https://huggingface.co/deepinv/drunet/resolve/main/{}?download=true"
_OFFICIAL_ARCH = dict(nc=[64, 128, 256, 512], nb=4, act_mode="R",
                      downsample_mode="strideconv", upsample_mode="convtranspose")


def cache_dir():
    """Where downloaded weights live: ``$PNP_CACHE`` or ``~/.cache/pnp-deblur``."""
    return Path(os.environ.get("PNP_CACHE", Path.home() / ".cache" / "pnp-deblur"))


def official_weights_path(channels):
    """Local path of the official DRUNet weights for ``channels`` (1 or 3)."""
    return cache_dir() / _OFFICIAL[channels]


def _ours_path(channels):
    return WEIGHTS_DIR / f"drunet_small_{'gray' if channels == 1 else 'color'}.pt"


def _fetch_official(channels, allow_download):
    path = official_weights_path(channels)
    if path.is_file():
        return path
    url = _OFFICIAL_URL.format(_OFFICIAL[channels])
    hint = (f"the official DRUNet weights are not on this machine. Download {url} "
            f"and place the file at {path} (or set PNP_CACHE to the folder holding it)")
    if not allow_download:
        raise FileNotFoundError(hint)
    import torch.hub

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    try:
        torch.hub.download_url_to_file(url, str(tmp), progress=True)
    except Exception as exc:  # network errors come in many types
        tmp.unlink(missing_ok=True)
        raise OSError(f"download failed ({type(exc).__name__}: {exc}); {hint}") from exc
    tmp.rename(path)
    return path


class DRUNet(TorchDenoiser):
    """DRUNet (Zhang et al., 2021), deepinv's implementation, as a prior.

    Parameters
    ----------
    weights : {"ours", "official"} or path
        ``"ours"`` (default): the small DRUNet trained by this project, shipped
        in ``priors/weights/`` (works offline). ``"official"``: deepinv's
        full-size weights, looked up in :func:`cache_dir` and downloaded there
        when the network allows. A path: a ``state_dict`` file; a JSON file of
        the same name with suffix ``.json`` gives the architecture (``nc``,
        ``nb``, ..., and ``"residual": true`` for weights of
        :class:`priors.residual_drunet.ResidualDRUNet`, as ours are), else the
        official architecture is assumed.
    device : str
        Torch device.
    allow_download : bool
        With ``weights="official"``, try to download missing files.
    threads : int, optional
        Torch CPU threads.
    tile, overlap, memory_budget_mb : optional
        Tiled inference for large images (see :class:`priors.torch_adapter.TorchDenoiser`).
    """

    def __init__(self, weights="ours", device="cpu", allow_download=True, threads=None,
                 tile="auto", overlap=32, memory_budget_mb=256):
        self.weights = weights
        self.allow_download = allow_download
        if isinstance(weights, str) and weights in ("ours", "official"):
            pass
        elif isinstance(weights, (str, os.PathLike)):
            if not Path(weights).is_file():
                raise FileNotFoundError(f"DRUNet weights file not found: {weights}")
        else:
            raise TypeError(f"weights must be 'ours', 'official' or a path, got {weights!r}")
        if weights == "ours":
            missing = [str(_ours_path(c)) for c in (1, 3) if not _ours_path(c).is_file()]
            if len(missing) == 2:
                raise FileNotFoundError(
                    "the project's DRUNet weights are missing (" + ", ".join(missing) + "); "
                    "train them with `python -m priors.train --arch drunet` or use weights='official'"
                )
        super().__init__(self._load, device=device, multiple=8, min_size=32, threads=threads,
                         name=f"DRUNet[{weights}]", tile=tile, overlap=overlap,
                         memory_budget_mb=memory_budget_mb)

    def weight_files(self):
        """The weights files this prior reads, with their ``.json`` (none listed for ``"official"``).

        Used to tell outputs made with other weights apart (:mod:`pnp.settings_record`).
        """
        if self.weights == "official":
            return []
        paths = [_ours_path(c) for c in (1, 3)] if self.weights == "ours" else [Path(self.weights)]
        return [f for p in paths for f in (p, p.with_suffix(".json"))]

    def _load(self, channels):
        import torch

        from .residual_drunet import build_drunet

        if self.weights == "official":
            path, arch = _fetch_official(channels, self.allow_download), dict(_OFFICIAL_ARCH)
        else:
            path = _ours_path(channels) if self.weights == "ours" else Path(self.weights)
            if not path.is_file():
                raise FileNotFoundError(f"no DRUNet weights for {channels}-channel images at {path}")
            sidecar = path.with_suffix(".json")
            arch = json.loads(sidecar.read_text()) if sidecar.is_file() else dict(_OFFICIAL_ARCH)
            arch_channels = arch.pop("in_channels", channels)
            arch.pop("out_channels", None)
            if arch_channels != channels:
                raise ValueError(f"weights {path} are for {arch_channels}-channel images, got {channels}")
        net = build_drunet(in_channels=channels, out_channels=channels, **arch)
        state = torch.load(path, map_location="cpu", weights_only=True)
        net.load_state_dict(state, strict=True)
        return net
