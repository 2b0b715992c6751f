"""In-memory image collections and a random patch sampler for training denoisers.

All training images are decoded once into uint8 arrays (the standard sets are ~40 MB), and patches
are cut with a :class:`numpy.random.Generator` whose state can be saved and restored, so a
training run resumes exactly.

Only numpy, imageio and pathlib are imported here (no torch, no pyfftw, no bm3d).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = [
    "IMAGE_SUFFIXES",
    "PatchSampler",
    "desaturate",
    "data_root",
    "list_images",
    "load_image",
    "load_training_images",
    "load_validation_images",
    "rgb_to_luma",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")

#: ITU-R BT.601 luma weights, as MATLAB's ``rgb2gray`` (used for the standard gray sets).
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114])


def data_root() -> Path:
    """Folder of the shared data: ``$PNP_DATA``, else ``../shared/data`` from the repository root.

    A relative ``$PNP_DATA`` is resolved against the repository root, not the working directory.

    Returns
    -------
    pathlib.Path
        The (possibly non-existent) data folder.
    """
    repo = Path(__file__).resolve().parent.parent
    env = os.environ.get("PNP_DATA")
    path = Path(env) if env else Path("..") / "shared" / "data"
    if not path.is_absolute():
        path = repo / path
    return path.resolve()


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Sorted image files (png, jpg, bmp, tif) directly inside ``folder``.

    Raises
    ------
    FileNotFoundError
        If ``folder`` does not exist or holds no image.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"image folder {folder} does not exist; set PNP_DATA to the shared data folder"
        )
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    return files


def rgb_to_luma(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luminance of an RGB image.

    Parameters
    ----------
    rgb : numpy.ndarray, shape (H, W, 3)
        uint8 or float image.

    Returns
    -------
    numpy.ndarray, shape (H, W)
        For uint8 input a rounded uint8 image, otherwise float64.
    """
    y = rgb[..., :3].astype(np.float64) @ LUMA_WEIGHTS
    if rgb.dtype == np.uint8:
        return np.clip(np.rint(y), 0, 255).astype(np.uint8)
    return y


def load_image(path: str | os.PathLike, channels: int) -> np.ndarray:
    """Read an 8-bit image as a (H, W, channels) uint8 array.

    Parameters
    ----------
    path : path-like
        Image file.
    channels : int
        1 for gray (colour files are converted to luminance), 3 for colour (gray files are
        repeated over the three channels).

    Returns
    -------
    numpy.ndarray, shape (H, W, channels), uint8
    """
    import imageio.v3 as iio

    img = np.asarray(iio.imread(path))
    if img.dtype != np.uint8:
        raise ValueError(f"{path}: expected an 8-bit image, got dtype {img.dtype}")
    if img.ndim == 3 and img.shape[2] == 4:
        img = img[..., :3]
    if channels == 1:
        if img.ndim == 3:
            img = rgb_to_luma(img)
        return img[..., None]
    if channels == 3:
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=2)
        return img
    raise ValueError(f"channels must be 1 or 3, got {channels}")


def load_training_images(channels: int, root: str | os.PathLike | None = None) -> list[np.ndarray]:
    """All training images of the standard sets, decoded into memory.

    Colour: ``train/CBSD432``. Gray: the luminance of ``train/CBSD432`` plus ``train/Train400``
    (Train400 is skipped if absent).

    Parameters
    ----------
    channels : int
        1 (gray) or 3 (colour).
    root : path-like, optional
        Data folder; defaults to :func:`data_root`.

    Returns
    -------
    list of numpy.ndarray, each (H, W, channels) uint8
    """
    root = Path(root) if root is not None else data_root()
    files = list_images(root / "train" / "CBSD432")
    if channels == 1 and (root / "train" / "Train400").is_dir():
        files += list_images(root / "train" / "Train400")
    return [load_image(f, channels) for f in files]


def load_validation_images(
    channels: int,
    count: int = 4,
    root: str | os.PathLike | None = None,
    crop: int | None = 256,
) -> list[np.ndarray]:
    """A few validation images: the first ``count`` of ``val/Set12`` (gray) or ``val/CBSD68``.

    Parameters
    ----------
    channels : int
        1 (gray, Set12) or 3 (colour, CBSD68).
    count : int
        Number of images (sorted by file name).
    root : path-like, optional
        Data folder; defaults to :func:`data_root`.
    crop : int or None
        If given, keep the central ``crop x crop`` pixels of each image (keeps validation fast).

    Returns
    -------
    list of numpy.ndarray, each (H, W, channels) uint8
    """
    root = Path(root) if root is not None else data_root()
    folder = root / "val" / ("Set12" if channels == 1 else "CBSD68")
    images = [load_image(f, channels) for f in list_images(folder)[:count]]
    if crop is not None:
        out = []
        for img in images:
            h, w = img.shape[:2]
            ch, cw = min(crop, h), min(crop, w)
            top, left = (h - ch) // 2, (w - cw) // 2
            out.append(img[top : top + ch, left : left + cw])
        images = out
    return images


class PatchSampler:
    """Random square patches with random flips and 90-degree rotations.

    Parameters
    ----------
    images : list of numpy.ndarray
        Training images, each (H, W, C) uint8 with H, W >= ``patch``.
    patch : int
        Patch side, in pixels.
    rng : numpy.random.Generator
        Source of all randomness (image choice, position, dihedral transform). Save and restore
        ``rng.bit_generator.state`` to resume exactly.
    """

    def __init__(self, images: list[np.ndarray], patch: int, rng: np.random.Generator):
        usable = [im for im in images if min(im.shape[:2]) >= patch]
        if not usable:
            raise ValueError(f"no training image is at least {patch}x{patch}; use a smaller --patch")
        self.images = usable
        self.patch = int(patch)
        self.rng = rng

    def sample(self, batch: int) -> np.ndarray:
        """Draw a batch of patches.

        Parameters
        ----------
        batch : int
            Number of patches ``B``.

        Returns
        -------
        numpy.ndarray, shape (B, C, patch, patch), float32
            Intensities on the 0-1 scale.
        """
        p = self.patch
        idx = self.rng.integers(0, len(self.images), size=batch)
        out = []
        for i in idx:
            img = self.images[i]
            h, w = img.shape[:2]
            top = int(self.rng.integers(0, h - p + 1))
            left = int(self.rng.integers(0, w - p + 1))
            crop = img[top : top + p, left : left + p]
            k, flip = self.rng.integers(0, 4), self.rng.integers(0, 2)
            crop = np.rot90(crop, k=int(k), axes=(0, 1))
            if flip:
                crop = crop[:, ::-1]
            out.append(np.ascontiguousarray(crop.transpose(2, 0, 1)))
        return np.stack(out).astype(np.float32) / 255.0


def desaturate(batch: np.ndarray, prob: float, rng: np.random.Generator) -> np.ndarray:
    """Pull some colour patches towards gray (training augmentation).

    Each patch is, with probability ``prob``, replaced by ``m + t (x - m)``
    where ``m`` is its per-pixel channel mean and ``t`` is drawn uniformly in
    [0, 1] (``t = 0``: a gray image stored in three channels), to add nearly
    gray content to a natural colour training set. Tried once, it did not
    change the case it was meant for (``docs/benchmarks_priors.md``, "Where
    FFDNet wins: thin colour strokes").

    Parameters
    ----------
    batch : numpy.ndarray, shape (B, C, H, W), float32
        Patches on the 0-1 scale; returned unchanged when ``C == 1`` or ``prob == 0``.
    prob : float
        Fraction of patches to desaturate, in [0, 1].
    rng : numpy.random.Generator
        Source of randomness; not used at all when ``prob == 0`` (so runs without
        the augmentation draw exactly the random numbers they drew before it existed).

    Returns
    -------
    numpy.ndarray, shape (B, C, H, W), float32
    """
    if not 0.0 <= prob <= 1.0:
        raise ValueError(f"desaturation probability must be in [0, 1], got {prob}")
    if prob == 0 or batch.shape[1] == 1:
        return batch
    n = batch.shape[0]
    pick = (rng.random(n) < prob)[:, None, None, None]
    t = rng.random(n).astype(np.float32)[:, None, None, None]
    mean = batch.mean(axis=1, keepdims=True)
    return np.where(pick, mean + t * (batch - mean), batch)
