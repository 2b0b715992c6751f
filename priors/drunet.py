"""DRUNet prior: deepinv's architecture with our weights (default) or the official ones."""

from __future__ import annotations

import json
import os
from pathlib import Path

from .torch_adapter import TorchDenoiser, WeightsChannelsError

__all__ = ["DRUNet", "WEIGHTS_DIR", "official_weights_path", "read_sidecar", "DOWNLOAD_TIMEOUT"]

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"

#: deepinv's published DRUNet weights (file names on its weight server).
_OFFICIAL = {
    1: "drunet_deepinv_gray_finetune_26k.pth",
    3: "drunet_deepinv_color_finetune_22k.pth",
}
_OFFICIAL_URL = "https://huggingface.co/deepinv/drunet/resolve/main/{}?download=true"
_OFFICIAL_ARCH = dict(nc=[64, 128, 256, 512], nb=4, act_mode="R",
                      downsample_mode="strideconv", upsample_mode="convtranspose")


#: Seconds a download of the official weights may wait for the server (to connect, and for each
#: read): a network that accepts the connection and never answers gives an error, not a hang.
DOWNLOAD_TIMEOUT = 30.0

#: Named weights (anything else is a path).
NAMED_WEIGHTS = ("ours", "official")

#: Keys of a DRUNet ``.json`` sidecar: deepinv's constructor arguments and ``residual``.
SIDECAR_KEYS = ("nc", "nb", "act_mode", "downsample_mode", "upsample_mode", "in_channels", "out_channels",
                "residual")


def cache_dir():
    """Where downloaded weights live: ``$PNP_CACHE`` or ``~/.cache/pnp-deblur``."""
    return Path(os.environ.get("PNP_CACHE", Path.home() / ".cache" / "pnp-deblur"))


def official_weights_path(channels):
    """Local path of the official DRUNet weights for ``channels`` (1 or 3)."""
    return cache_dir() / _OFFICIAL[channels]


def _ours_path(channels):
    return WEIGHTS_DIR / f"drunet_small_{'gray' if channels == 1 else 'color'}.pt"


def _download(url, path, timeout):
    """Stream ``url`` to ``path``: a temporary file beside it, renamed when complete (removed on failure)."""
    import shutil
    import tempfile
    import urllib.request

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f, urllib.request.urlopen(url, timeout=timeout) as response:
            shutil.copyfileobj(response, f, 1 << 20)
            expected = response.headers.get("Content-Length")
            if expected is not None and f.tell() != int(expected):
                raise OSError(f"incomplete download: {f.tell()} of {expected} bytes")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _fetch_official(channels, allow_download, timeout=None):
    """Path of the official weights for ``channels``, downloaded first when missing and allowed.

    The download waits at most ``timeout`` seconds (default :data:`DOWNLOAD_TIMEOUT`) for each
    network operation; a partial file is never left behind.

    Raises
    ------
    FileNotFoundError
        If the file is missing and ``allow_download`` is False.
    OSError
        If the download fails or times out; the message says where to put the file.
    """
    path = official_weights_path(channels)
    if path.is_file():
        return path
    url = _OFFICIAL_URL.format(_OFFICIAL[channels])
    hint = (f"the official DRUNet weights are not on this machine. Download {url} "
            f"and place the file at {path} (or set PNP_CACHE to the folder holding it)")
    if not allow_download:
        raise FileNotFoundError(hint)
    timeout = DOWNLOAD_TIMEOUT if timeout is None else timeout
    try:
        _download(url, path, timeout)
    except Exception as exc:  # network errors come in many types
        what = f"no answer within {timeout:g} s" if _is_timeout(exc) else f"{type(exc).__name__}: {exc}"
        raise OSError(f"download failed ({what}); {hint}") from exc
    return path


def _is_timeout(exc):
    import socket

    return isinstance(exc, (socket.timeout, TimeoutError)) or isinstance(getattr(exc, "reason", None),
                                                                        (socket.timeout, TimeoutError))


def _drunet_weights_hint():
    return (f"weights is one of {', '.join(repr(n) for n in NAMED_WEIGHTS)} or the path of a .pt state dict "
            "with its architecture in the .json file of the same name")


def read_sidecar(path):
    """The architecture of DRUNet weights ``path``: its ``.json`` sidecar, checked.

    Parameters
    ----------
    path : Path
        The ``.pt`` state dict.

    Returns
    -------
    dict
        Keyword arguments of :func:`priors.residual_drunet.build_drunet` (``residual``
        included; ``in_channels`` / ``out_channels`` as written).

    Raises
    ------
    FileNotFoundError
        If the sidecar is missing.
    ValueError
        If it is not a JSON object of :data:`SIDECAR_KEYS` with ``"residual"`` (true or
        false) and sensible values; the message names ``weights`` and the file.
    """
    sidecar = path.with_suffix(".json")
    if not sidecar.is_file():
        raise FileNotFoundError(
            f"weights={path}: its architecture file {sidecar} is missing. Write it beside the weights: "
            f"the DRUNet constructor arguments ({', '.join(SIDECAR_KEYS[:5])}, in_channels) and \"residual\": "
            "true for weights trained by this project (priors.train --arch drunet exports both files), "
            f"false for deepinv's DRUNet; the official architecture is {json.dumps(dict(_OFFICIAL_ARCH))}"
        )
    bad = f"weights={path}: its architecture file {sidecar}"
    try:
        arch = json.loads(sidecar.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"{bad} is not valid JSON ({exc})") from None
    if not isinstance(arch, dict):
        raise ValueError(f"{bad} must hold a JSON object of DRUNet arguments, got {type(arch).__name__}")
    unknown = sorted(set(arch) - set(SIDECAR_KEYS))
    if unknown:
        hint = (" These look like attention U-Net weights: use prior='attention-unet' with them."
                if {"widths", "channels"} & set(unknown) else "")
        raise ValueError(f"{bad} has keys that are not DRUNet arguments: {', '.join(unknown)} (allowed: "
                         f"{', '.join(SIDECAR_KEYS)}).{hint}")
    if "residual" not in arch:
        raise ValueError(f"{bad} lacks the key 'residual': add \"residual\": true for weights trained by this "
                         "project (the network predicts the noise, priors.residual_drunet) or \"residual\": false "
                         "for deepinv's DRUNet (it predicts the clean image); run with the wrong form, the "
                         "prior returns the noise instead of the image")
    if not isinstance(arch["residual"], bool):
        raise ValueError(f"{bad}: 'residual' must be true or false, got {arch['residual']!r}")
    for key in ("in_channels", "out_channels"):
        if key in arch and (isinstance(arch[key], bool) or arch[key] not in (1, 3)):
            raise ValueError(f"{bad}: {key!r} must be 1 or 3, got {arch[key]!r}")
    if arch.get("in_channels", arch.get("out_channels")) != arch.get("out_channels", arch.get("in_channels")):
        raise ValueError(f"{bad}: in_channels and out_channels differ ({arch['in_channels']}, "
                         f"{arch['out_channels']}); a denoiser returns the channels it is given")
    nc = arch.get("nc", _OFFICIAL_ARCH["nc"])
    if not (isinstance(nc, list) and len(nc) == 4 and all(_is_positive_int(c) for c in nc)):
        raise ValueError(f"{bad}: 'nc' must be a list of 4 positive integers, got {nc!r}")
    nb = arch.get("nb", _OFFICIAL_ARCH["nb"])
    if not _is_positive_int(nb):
        raise ValueError(f"{bad}: 'nb' must be a positive integer, got {nb!r}")
    return arch


def _is_positive_int(value):
    """Whether ``value`` is an integer >= 1 (not a bool or a float), as :func:`pnp._checks.check_int` rules.

    A bad value in a sidecar is a ``ValueError`` naming the file, whatever its
    type, so the sidecar checks ask this rather than letting ``check_int``'s
    ``TypeError`` through.
    """
    from pnp._checks import check_int  # not at the top: import pnp loads pyfftw, which training does without

    try:
        check_int(value, "value", 1)
    except (TypeError, ValueError):
        return False
    return True


def _load_state(net, path, arch_source):
    """Load the state dict ``path`` into ``net``; errors become a ValueError naming both files."""
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling errors come in many types
        raise ValueError(f"weights={path} is not a readable state dict ({type(exc).__name__}; expected a .pt "
                         "file written by torch.save(model.state_dict(), ...))") from None
    try:
        net.load_state_dict(state, strict=True)
    except (RuntimeError, TypeError, AttributeError, ValueError) as exc:
        details = [line.strip() for line in str(exc).splitlines()[1:] if line.strip()] or [str(exc)]
        first = details[0] if len(details[0]) <= 200 else details[0][:200] + "..."
        raise ValueError(f"weights={path} do not fit the architecture of {arch_source} (e.g. {first}); the "
                         "weights and the architecture come from different networks") from None


class DRUNet(TorchDenoiser):
    """DRUNet (Zhang et al., 2021), deepinv's implementation, as a prior.

    Parameters
    ----------
    weights : {"ours", "official"} or path
        ``"ours"`` (default): the small DRUNet trained by this project, shipped
        in ``priors/weights/`` (works offline). ``"official"``: deepinv's
        full-size weights with the official architecture, looked up in
        :func:`cache_dir` and downloaded there when the network allows. A
        path: a ``state_dict`` file whose ``.json`` file of the same name
        gives the architecture (:func:`read_sidecar`: ``nc``, ``nb``, ...,
        ``in_channels``, and ``"residual"``, required: true for weights of
        :class:`priors.residual_drunet.ResidualDRUNet`, as ours are, false
        for deepinv's DRUNet); the sidecar is checked here.
    device : str
        Torch device.
    allow_download : bool
        With ``weights="official"``, try to download missing files.
    threads : int, optional
        Torch CPU threads.
    tile, overlap, memory_budget_mb : optional
        Tiled inference for large images (see :class:`priors.torch_adapter.TorchDenoiser`).

    Raises
    ------
    TypeError
        If ``weights`` is neither a name nor a path.
    FileNotFoundError
        If the weights file or its ``.json`` is missing (the message lists the
        names), or ``"ours"`` are missing for both gray and colour.
    ValueError
        If ``weights`` is the ``.json`` itself, or the ``.json`` is not a valid
        DRUNet architecture (:func:`read_sidecar`). Weights that do not load
        into that architecture raise ``ValueError`` naming both files at the
        first call; a failed download of ``"official"`` raises ``OSError``
        saying where to put the file.
    """

    def __init__(self, weights="ours", device="cpu", allow_download=True, threads=None,
                 tile="auto", overlap=32, memory_budget_mb=256):
        self.weights = weights
        self.allow_download = allow_download
        if isinstance(weights, str) and weights in NAMED_WEIGHTS:
            pass
        elif isinstance(weights, (str, os.PathLike)):
            path = Path(weights)
            if not path.is_file():
                raise FileNotFoundError(f"DRUNet weights file not found: {weights} ({_drunet_weights_hint()})")
            if path.suffix == ".json":
                raise ValueError(f"weights={path} is the architecture file: pass the .pt state dict beside it "
                                 f"({_drunet_weights_hint()})")
            read_sidecar(path)  # checked now; read again when the network loads
        else:
            raise TypeError(f"weights must be 'ours', 'official' or a path, got {weights!r}")
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
        from .residual_drunet import build_drunet

        if self.weights == "official":
            path, arch = _fetch_official(channels, self.allow_download), dict(_OFFICIAL_ARCH)
            source = (f"the official DRUNet (if the file is damaged, delete it and download "
                      f"{_OFFICIAL_URL.format(_OFFICIAL[channels])} again)")
        else:
            if self.weights == "ours":
                path = _ours_path(channels)
                if not path.is_file():
                    raise FileNotFoundError(f"no DRUNet weights for {channels}-channel images at {path}")
                arch = read_sidecar(path)
            else:
                path = Path(self.weights)
                arch = read_sidecar(path)
            arch = dict(arch)
            source = str(path.with_suffix(".json"))
            arch_channels = arch.pop("in_channels", arch.get("out_channels", channels))
            arch.pop("out_channels", None)
            if arch_channels != channels:
                raise WeightsChannelsError(path, arch_channels, channels)
        try:
            net = build_drunet(in_channels=channels, out_channels=channels, **arch)
        except Exception as exc:  # deepinv's checks of its arguments
            raise ValueError(f"weights={path}: {source} is not a DRUNet architecture "
                             f"({type(exc).__name__}: {exc})") from None
        _load_state(net, path, source)
        return net
