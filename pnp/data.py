"""Locating the shared benchmark data (``$PNP_DATA``, default ``../shared/data``)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["data_root", "load_kernels", "list_images"]

_REPO = Path(__file__).resolve().parents[1]


def data_root(required=True):
    """Folder holding ``train/``, ``val/`` and ``kernels/``.

    ``$PNP_DATA`` if set, else ``../shared/data`` beside the repository.
    Raises FileNotFoundError (if ``required``) with the path it looked at.
    """
    env = os.environ.get("PNP_DATA")
    root = Path(env) if env else _REPO.parent / "shared" / "data"
    if required and not root.is_dir():
        raise FileNotFoundError(
            f"benchmark data not found at {root}; set PNP_DATA to the folder that holds train/, val/ and kernels/"
        )
    return root


def load_kernels(name="levin09"):
    """Load a kernel set from ``kernels/<name>.npz`` as a list of float64 arrays in file order.

    Raises
    ------
    FileNotFoundError
        If there is no ``kernels/<name>.npz``; the message lists the sets there are.
    """
    folder = data_root() / "kernels"
    path = folder / f"{name}.npz"
    if not path.is_file():
        sets = sorted(p.stem for p in folder.glob("*.npz")) if folder.is_dir() else []
        raise FileNotFoundError(f"no kernel set {name!r} ({path}); the sets there are: "
                                f"{', '.join(sets) if sets else 'none'}")
    with np.load(path) as f:
        keys = sorted(f.files, key=lambda k: (len(k), k))
        return [f[k].astype(np.float64) for k in keys]


def list_images(subset):
    """Sorted image paths of ``val/<subset>`` or ``train/<subset>`` (e.g. ``"Set3C"``).

    Only the formats :func:`pnp.io.read_image` reads (:data:`pnp.io.IMAGE_SUFFIXES`) are listed.
    """
    from .io import IMAGE_SUFFIXES

    root = data_root()
    for parent in ("val", "train"):
        folder = root / parent / subset
        if folder.is_dir():
            return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    raise FileNotFoundError(f"no image folder {subset!r} under {root}/val or {root}/train")
