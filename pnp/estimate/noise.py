"""Noise-level estimation: the PCA-of-patches estimator of Chen, Zhu & Heng (2015).

Model: ``y = x + n`` with ``n`` white Gaussian of standard deviation
``sigma``. The covariance of the ``p x p`` patches of ``y`` is the patch
covariance of ``x`` plus ``sigma^2 I``. Natural images are redundant, so most
eigen-directions of the clean patch covariance carry almost no energy: the
small eigenvalues of the noisy covariance all sit near ``sigma^2``. Chen et
al. find that group by discarding the largest eigenvalues until the mean of
the remaining ones equals their median (a cluster of equal values has equal
mean and median), and take ``sigma^2`` as that mean.

Here, to lower the bias on textured images, the estimate is then refined on
weak-texture patches only, as in Liu, Tanaka & Okutomi (2013): patches whose
gradient energy is below what pure noise of the current estimated level would
exceed with probability ``1 - quantile`` are kept, the covariance is
recomputed from them, and the selection is repeated ``iterations`` times.

Clipped pixels: where the signal is saturated (blown highlights at 1, crushed
shadows at 0) the noise is clipped away, so those patches are the flattest of
the image and would pull the estimate towards 0. Patches that contain a pixel
at 0 or 1 (exactly for float input, within half a quantisation step for
integer input) are therefore left out.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .._checks import check_int, check_real
from .._layout import to_internal
from ..noise import check_noise_level

__all__ = ["NoiseEstimator", "luminance"]

_LUMA = np.array([0.2125, 0.7154, 0.0721])
# a float pixel counts as clipped only when it is exactly 0 or 1 (np.clip, or integer data divided by its
# white level): unclipped noisy float images keep every patch, and their estimates are unchanged
_FLOAT_CLIP_TOL = 0.0


def _min_patches(patch_size):
    """Fewest ``patch_size``-square patches :class:`NoiseEstimator` accepts: those of a ``(4 p + 4)``-square image.

    With fewer, the sample covariance of the ``p^2``-dimensional patches is
    too noisy and the estimate comes out low (measured on pure noise with
    ``p = 7``, five seeds: -41 to -63 % on 14x14, -32 to -50 % on 16x16, up
    to -28 % on 24x24, up to -14 % on 32x32, up to -5 % on 48x48).
    """
    return (3 * int(patch_size) + 5) ** 2


def luminance(y, name="y"):
    """Public image (HxW or HxWxC; uint8, uint16 or float 0-1) -> float64 HxW on the 0-1 scale.

    Colour images are reduced to luminance (ITU-R BT.709 weights, as
    ``skimage.color.rgb2gray``).
    """
    x, _ = to_internal(y, name)
    if x.shape[0] == 1:
        return x[0]
    return np.tensordot(_LUMA, x, axes=(0, 0))


def _clipped_patches(clipped, size):
    """Boolean per patch (row-major, as :func:`_patches`): does the patch contain a clipped pixel?"""
    win = sliding_window_view(clipped, (size, size))
    return win.any(axis=(2, 3)).ravel()


def _patches(img, size, max_patches, rng, exclude=None):
    """All ``size x size`` patches as rows of a matrix, randomly subsampled to ``max_patches``.

    ``exclude`` (boolean per patch, optional) drops patches before the subsampling.
    """
    win = sliding_window_view(img, (size, size))
    flat = win.reshape(-1, size * size)
    if exclude is not None:
        flat = flat[~exclude]
    if flat.shape[0] > max_patches:
        idx = rng.choice(flat.shape[0], size=max_patches, replace=False)
        flat = flat[idx]
    return np.ascontiguousarray(flat)


def _mean_median_split(eigs):
    """Chen et al.'s rule: drop the largest eigenvalues until mean == median of the rest.

    ``eigs`` sorted ascending; returns the estimate of ``sigma^2``.
    """
    eigs = np.clip(eigs, 0, None)
    for m in range(len(eigs), 0, -1):
        sub = eigs[:m]
        tau = sub.mean()
        if np.sum(sub > tau) >= np.sum(sub < tau):
            return float(tau)
    return float(eigs[0])


class NoiseEstimator:
    """Robust estimate of the standard deviation of additive white Gaussian noise.

    Parameters
    ----------
    patch_size : int
        Side of the square patches (pixels), >= 2.
    quantile : float
        A patch is "weak-texture" when its gradient energy is below this
        quantile (in (0, 1)) of the energy of pure-noise patches at the
        current estimate (calibrated once by Monte Carlo with a fixed seed).
    iterations : int
        Rounds of weak-texture selection (>= 0); 0 gives the plain method of
        Chen et al. on all patches.
    max_patches : int
        Patches sampled from large images (random, fixed seed), >= 100.
    seed : int
        Seed (>= 0) of the patch subsampling (the result is deterministic).

    Raises
    ------
    TypeError
        If an argument is not a number, or ``patch_size``, ``iterations``,
        ``max_patches`` or ``seed`` is not an integer (``bool`` and floats
        such as ``7.9`` included).
    ValueError
        If an argument is outside its range (NaN and infinity included).

    Attributes
    ----------
    noise_level_ : float
        Estimated sigma on the 0-1 intensity scale (after :meth:`estimate`).
    eigenvalues_ : ndarray
        Ascending eigenvalues of the weak-texture patch covariance (first
        channel).
    n_patches_ : int
        Number of patches behind the final estimate (first channel).
    clipped_fraction_ : float
        Fraction of the patches left out because they contain a clipped
        pixel (at 0 or 1; largest over the channels).
    channel_noise_levels_ : list of float
        Per-channel estimates (one entry for gray images).

    Notes
    -----
    Bias: on strongly textured images (grass, gravel, fur) fine texture has
    energy in every patch direction, so the smallest eigenvalues exceed
    ``sigma^2`` and the estimate is biased *upwards*; the effect matters at
    low noise (around 1/255) and fades at higher levels. Images quantised to
    8 bits carry an extra ``1/sqrt(12)`` grey level of uniform noise, which
    the estimator (correctly) counts, so at ``sigma = 1/255`` on uint8 input
    expect about ``1.04/255``. Blurred images have little fine texture, which
    is where the estimator is most accurate. See ``docs/benchmarks_blind.md``
    for measured errors.

    Clipping: patches with a pixel at 0 or 1 (within half a quantisation
    step for uint8/uint16 input, exactly for float input) are left out:
    saturation removes the noise there (on an 8-bit photograph with 10/255
    noise and 30 % of its rows blown out to white, keeping them gave
    1.2/255). Images need at least ``(3 p + 5)^2`` unclipped patches
    (``p = patch_size``; 676 for 7, the patches of a 32x32 image): with
    fewer the patch covariance is too noisy and the estimate too low (-32 to
    -50 % on 16x16 pure noise), so :meth:`estimate` raises a ``ValueError``.

    Examples
    --------
    >>> import numpy as np
    >>> from skimage import data
    >>> from pnp.estimate import NoiseEstimator
    >>> x = data.camera() / 255.0
    >>> y = x + 10 / 255 * np.random.default_rng(0).standard_normal(x.shape)
    >>> round(NoiseEstimator().estimate(y) * 255)
    10
    """

    def __init__(self, patch_size=7, quantile=0.99, iterations=3, max_patches=40000, seed=0):
        self.patch_size = check_int(patch_size, "patch_size", 2)
        self.quantile = check_real(quantile, "quantile", 0, 1, low_open=True, high_open=True)
        self.iterations = check_int(iterations, "iterations", 0)
        self.max_patches = check_int(max_patches, "max_patches", 100)
        self.seed = check_int(seed, "seed", 0)

    def __repr__(self):
        return (f"NoiseEstimator(patch_size={self.patch_size}, quantile={self.quantile}, "
                f"iterations={self.iterations})")

    def _texture(self, X):
        """Gradient energy of each patch (sum of squared horizontal and vertical differences)."""
        p = self.patch_size
        P = X.reshape(-1, p, p)
        return (np.diff(P, axis=1) ** 2).sum(axis=(1, 2)) + (np.diff(P, axis=2) ** 2).sum(axis=(1, 2))

    def _noise_texture_quantile(self):
        """``quantile`` of the texture of pure unit-variance noise patches (Monte Carlo, fixed seed)."""
        key = (self.patch_size, self.quantile)
        if getattr(self, "_calibration", (None,))[0] == key:
            return self._calibration[1]
        rng = np.random.default_rng(12345)
        X = _patches(rng.standard_normal((160, 160)), self.patch_size, 20000, rng)
        q = float(np.quantile(self._texture(X), self.quantile))
        self._calibration = (key, q)
        return q

    @staticmethod
    def _chen(X):
        X = X - X.mean(axis=0)
        # einsum, not a BLAS call: threaded BLAS stalls badly on busy machines for this small product
        cov = np.einsum("ni,nj->ij", X, X) / max(len(X) - 1, 1)
        eigs = np.linalg.eigvalsh(cov)
        return _mean_median_split(eigs), eigs

    def _estimate_channel(self, img, clip_tol, shape):
        """``(sigma, eigenvalues, n_patches, clipped_fraction)`` of one 2-D channel.

        Patches with a pixel within ``clip_tol`` of 0 or 1 are left out; fewer
        than :func:`_min_patches` remaining raises a ``ValueError`` (``shape``,
        the input's shape, is for its message).
        """
        rng = np.random.default_rng(self.seed)
        p = self.patch_size
        n_all = (img.shape[0] - p + 1) * (img.shape[1] - p + 1)
        need = _min_patches(p)
        if n_all < need:
            side = 3 * p + 5 + p - 1
            raise ValueError(
                f"y of shape {shape} is too small for a reliable noise estimate: it has {n_all} patches of "
                f"{p}x{p} pixels, at least {need} are needed (an image of {side}x{side} pixels with "
                f"patch_size={p})")
        clipped = (np.abs(img) <= clip_tol) | (np.abs(img - 1.0) <= clip_tol)
        exclude = _clipped_patches(clipped, p) if clipped.any() else None
        n_excluded = 0 if exclude is None else int(exclude.sum())
        if n_all - n_excluded < need:
            raise ValueError(
                f"only {n_all - n_excluded} of the {n_all} patches of y (shape {shape}) are free of clipped "
                f"pixels (at 0 or 1: saturated highlights or shadows, where the noise is clipped away); at "
                f"least {need} are needed to estimate the noise level")
        X = _patches(img, p, self.max_patches, rng, exclude=exclude)
        s2, eigs = self._chen(X)
        selected = len(X)
        if self.iterations:
            texture = self._texture(X)
            q = self._noise_texture_quantile()
            min_keep = 4 * self.patch_size**2
            for _ in range(self.iterations):
                keep = texture <= q * s2
                if keep.sum() < min_keep:
                    break
                s2, eigs = self._chen(X[keep])
                selected = int(keep.sum())
        return float(np.sqrt(max(s2, 0.0))), eigs, selected, n_excluded / n_all

    def estimate(self, y):
        """Estimate the noise level of ``y``.

        Parameters
        ----------
        y : ndarray, shape (H, W) or (H, W, C)
            uint8, uint16 or float (0-1) image. For colour images the result
            is the mean of the per-channel estimates (the per-channel sigma
            that :func:`pnp.solve` expects).

        Returns
        -------
        float
            Estimated noise standard deviation on the 0-1 scale.

        Raises
        ------
        ValueError
            If ``y`` has fewer than ``(3 p + 5)^2`` patches (``p =
            patch_size``; 676 for 7: a 32x32 image) free of clipped pixels
            (too small, or mostly saturated).
        """
        x, layout = to_internal(y, "y")
        if min(x.shape[1:]) < 2 * self.patch_size:
            raise ValueError(f"y of shape {np.shape(y)} is too small for patch_size={self.patch_size}")
        clip_tol = 0.5 / layout.scale if layout.scale != 1.0 else _FLOAT_CLIP_TOL
        results = [self._estimate_channel(c, clip_tol, np.shape(y)) for c in x]
        self.channel_noise_levels_ = [r[0] for r in results]
        self.eigenvalues_ = results[0][1]
        self.n_patches_ = results[0][2]
        self.clipped_fraction_ = float(max(r[3] for r in results))
        self.noise_level_ = float(np.mean(self.channel_noise_levels_))
        return self.noise_level_


def luminance_and_noise(y, noise_estimator=None, min_size=32, noise_level=None):
    """What the spectral estimators start from: the luminance of ``y`` and two noise levels.

    Parameters
    ----------
    y : ndarray, shape (H, W) or (H, W, C)
        Public-layout image (uint8, uint16 or float 0-1).
    noise_estimator : object, optional
        Anything with ``estimate(y) -> sigma``; default :class:`NoiseEstimator`.
        Not used when ``noise_level`` is given.
    min_size : int
        Smallest accepted height and width.
    noise_level : float, optional
        Known noise level of ``y`` (0-1 scale; per channel for colour
        images): used instead of an estimate. The luminance of a colour image
        then gets ``noise_level * 0.75`` (the BT.709 weights of
        :func:`luminance` applied to noise independent across channels).

    Returns
    -------
    img : ndarray, shape (H, W)
        The luminance.
    sigma_n : float
        Noise level of the luminance (the floor of its power spectrum).
    noise_level : float
        Noise level for :func:`pnp.solve`: per channel (their mean) for colour images.

    Raises
    ------
    TypeError, ValueError
        If ``noise_level`` is not a number in [0, 1]
        (:func:`pnp.noise.check_noise_level`).
    ValueError
        If ``y`` is smaller than ``min_size``, or ``noise_level`` is None and
        the noise level cannot be estimated (too few patches free of clipped
        pixels, e.g. a clean document image, mostly white): the message names
        the ways out (pass ``noise_level``, or a ``noise_estimator``).
    """
    if noise_level is not None:
        noise_level = check_noise_level(noise_level)
    img = luminance(y)
    if min(img.shape) < min_size:
        raise ValueError(f"y of shape {np.shape(y)} is too small; need at least {min_size}x{min_size} pixels")
    if noise_level is not None:
        gray = np.ndim(y) == 2 or np.shape(y)[-1] == 1
        sigma_n = noise_level if gray else noise_level * float(np.linalg.norm(_LUMA))
        return img, sigma_n, noise_level
    noise = noise_estimator or NoiseEstimator()
    try:
        sigma_n = float(noise.estimate(img))
        noise_level = sigma_n if np.ndim(y) == 2 else float(noise.estimate(y))
    except ValueError as exc:
        raise ValueError(
            f"{exc}. The noise level cannot be estimated, and this estimator needs it (the noise floor of the "
            "spectrum): if it is known, pass it (pnp.solve(..., noise_level=...), or the estimator's "
            "estimate(y, noise_level=...)), or pass a noise_estimator that works on this image") from exc
    return img, sigma_n, noise_level
