"""Width of a Gaussian or disk (defocus) blur from the radial power spectrum.

Model: a natural image has a power spectrum close to a power law
``c / rho^alpha``; blurring multiplies it by ``|K_w(rho)|^2`` and noise adds a
flat floor ``sigma_n^2``. For each candidate width ``w`` the estimator fits
``c`` and ``alpha`` by least squares to

.. math:: \\log(P(\\rho) - \\sigma_n^2) = \\log c - \\alpha \\log\\rho + \\log |K_w(\\rho)|^2

over the radial bins where the signal clearly exceeds the noise floor, and
keeps the ``w`` with the smallest residual. The power spectrum is taken of
the periodic component of the image (Moisan 2011), so the image border does
not add its cross-shaped artefact.

For Gaussian blur the spectral estimate is combined (weighted geometric mean) with an
edge estimate, the re-blur gradient ratio of Zhuo & Sim (2011): at a step
edge blurred by ``sigma``, re-blurring with a known ``s0`` lowers the
gradient maximum by ``R = sqrt(sigma^2 + s0^2) / sigma``, so
``sigma = s0 / sqrt(R^2 - 1)``; the median over strong Canny edges is used.
The two fail differently (the spectrum on scenes far from a power law, edges
on textures), and their geometric mean is more accurate than either on our
test images (see ``docs/benchmarks_blind.md``). Texture fails the edge
estimate in one direction only: fine texture is sharper than a blurred step,
so its re-blur ratio is large and the width comes out too *small*. When the
edge width is below the spectral one by more than a factor
``max_disagreement`` (1.4), the edge estimate is taken to be fooled by
texture and the spectral width is used alone.

The mean is weighted, in the log domain, by the width: equal weights up to
1.5 px, then the spectral weight rises linearly in ``log w`` to 0.8 at 4 px
and above (:func:`spectral_weight`). The edge ratio ``R`` tends to 1 as the
width grows past the re-blur ``s0`` and neighbouring edges start to overlap,
so the edge estimate comes out low on wide blurs (3.16 px for 4 px on moon,
3.66-3.74 on astronaut, coins and chelsea), while the spectral fit sees the
attenuation of a Gaussian well inside its band there.

This module also holds the spectral helpers shared with
:mod:`pnp.estimate.motion`.
"""

from __future__ import annotations

import numpy as np
from scipy import fft as sfft
from scipy import ndimage
from scipy.special import j1

from .._checks import check_grid, check_real
from ..kernels import disk_kernel, gaussian_kernel
from ._checks import check_noise_estimator
from .noise import luminance_and_noise

__all__ = ["GaussianBlurEstimator", "edge_width", "spectral_weight", "periodic_component", "power_spectrum", "radial_profile"]


def periodic_component(img):
    """Periodic component of Moisan's periodic + smooth decomposition.

    Removes the jumps across opposite borders of ``img`` (H, W) that a DFT
    sees, without windowing the interior.

    Returns
    -------
    ndarray, shape (H, W), float64
    """
    img = np.asarray(img, dtype=np.float64)
    H, W = img.shape
    v = np.zeros_like(img)
    v[0, :] += img[-1, :] - img[0, :]
    v[-1, :] += img[0, :] - img[-1, :]
    v[:, 0] += img[:, -1] - img[:, 0]
    v[:, -1] += img[:, 0] - img[:, -1]
    q = np.arange(H)[:, None]
    r = np.arange(W)[None, :]
    den = 2 * np.cos(2 * np.pi * q / H) + 2 * np.cos(2 * np.pi * r / W) - 4
    den[0, 0] = 1.0
    S = sfft.fft2(v) / den
    S[0, 0] = 0.0
    smooth = np.real(sfft.ifft2(S))
    return img - smooth


def power_spectrum(img):
    """Periodogram ``|DFT|^2 / (H W)`` of the periodic component, zero frequency centred.

    White noise of standard deviation ``s`` has expectation ``s^2`` at every
    frequency under this normalisation.

    Returns
    -------
    P : ndarray, shape (H, W)
        Centred power spectrum (``fftshift``-ed).
    fy, fx : ndarray, shape (H, 1) and (1, W)
        Frequencies of the rows and columns in cycles per pixel.
    """
    p = periodic_component(img)
    p = p - p.mean()
    H, W = p.shape
    P = np.abs(sfft.fft2(p)) ** 2 / (H * W)
    fy = sfft.fftshift(sfft.fftfreq(H))[:, None]
    fx = sfft.fftshift(sfft.fftfreq(W))[None, :]
    return sfft.fftshift(P), fy, fx


def radial_profile(P, fy, fx, n_bins=64, rho_max=0.5):
    """Mean of ``P`` on rings of frequency radius; returns ``(rho, mean)`` of the non-empty bins."""
    rho = np.hypot(fy, fx)
    edges = np.linspace(0, rho_max, n_bins + 1)
    idx = np.digitize(rho.ravel(), edges) - 1
    ok = (idx >= 0) & (idx < n_bins)
    sums = np.bincount(idx[ok], weights=P.ravel()[ok], minlength=n_bins)
    counts = np.bincount(idx[ok], minlength=n_bins)
    centres = 0.5 * (edges[:-1] + edges[1:])
    keep = counts > 0
    return centres[keep], sums[keep] / counts[keep]


def edge_width(img, reblur=3.0, presmooth=0.5, min_edges=50):
    """Gaussian blur width from the re-blur gradient ratio at strong edges (Zhuo & Sim 2011).

    Parameters
    ----------
    img : ndarray, shape (H, W)
        Gray image on the 0-1 scale.
    reblur : float
        Standard deviation ``s0`` of the re-blur, pixels.
    presmooth : float
        Light smoothing (pixels) applied first against noise; removed from
        the result.
    min_edges : int
        Fewer usable edge pixels than this gives ``None``.

    Returns
    -------
    float or None
        The width in pixels, or None when the image has too few edges.
    """
    from skimage import feature

    def grad_mag(im):
        return np.hypot(ndimage.sobel(im, 1), ndimage.sobel(im, 0)) / 8.0

    g1 = grad_mag(ndimage.gaussian_filter(img, presmooth))
    g2 = grad_mag(ndimage.gaussian_filter(img, np.hypot(presmooth, reblur)))
    edges = feature.canny(img, sigma=2)
    if edges.sum() < min_edges:
        return None
    strong = edges & (g1 > np.quantile(g1[edges], 0.5))
    R = g1[strong] / np.maximum(g2[strong], 1e-12)
    R = R[R > 1.01]
    if R.size < min_edges // 2:
        return None
    total2 = np.median(reblur**2 / (R**2 - 1))
    return float(np.sqrt(max(total2 - presmooth**2, 0.01)))


def spectral_weight(width, lo=1.5, hi=4.0, w_lo=0.5, w_hi=0.8):
    """Weight of the spectral estimate in the log-domain mean with the edge estimate.

    ``w_lo`` up to ``lo`` pixels, ``w_hi`` from ``hi`` pixels, linear in
    ``log width`` between: the edge (re-blur) estimate loses precision and
    is biased low as the width grows past its re-blur width (3 px).
    """
    t = np.clip((np.log(width) - np.log(lo)) / (np.log(hi) - np.log(lo)), 0.0, 1.0)
    return float(w_lo + (w_hi - w_lo) * t)


def _log_otf2(kind, width, rho):
    """``log |K_w(rho)|^2`` of a unit-sum Gaussian (std ``width``) or disk (radius ``width``)."""
    if kind == "gaussian":
        return -4 * np.pi**2 * width**2 * rho**2
    z = 2 * np.pi * width * rho
    with np.errstate(invalid="ignore", divide="ignore"):
        K = np.where(z > 1e-8, 2 * j1(z) / z, 1.0)
    return np.log(K**2 + 1e-4)


class GaussianBlurEstimator:
    """Estimate the width of an isotropic Gaussian or disk (defocus) blur.

    Parameters
    ----------
    kind : {"gaussian", "disk"}
        Blur family; the width is the standard deviation (Gaussian) or the
        radius (disk), in pixels.
    method : {"auto", "spectrum", "combined"}
        ``"spectrum"``: the radial power-law fit only; ``"combined"``
        (Gaussian only): weighted geometric mean of the spectral and edge
        estimates, the spectrum weighing more on wide blurs
        (:func:`spectral_weight`); falls back to the spectrum when the image
        has too few edges.
        ``"auto"``: combined for Gaussians, spectrum for disks.
    widths : array_like, optional
        Candidate widths in pixels (finite, > 0); default 0.3 to 10 px in
        steps of 0.02 px.
    snr_floor : float
        Radial bins are used while their power exceeds ``snr_floor`` (finite,
        > 1) times the noise floor.
    rho_min : float
        Lowest frequency used (cycles per pixel, in [0, 0.5)); the lowest
        frequencies follow the scene rather than the blur.
    max_disagreement : float
        ``"combined"`` only: an edge width smaller than the spectral width
        divided by this (finite, >= 1; texture) is not used.
    noise_estimator : object, optional
        Anything with ``estimate(y) -> sigma``; default :class:`NoiseEstimator`.
        Not used when :meth:`estimate` gets ``noise_level``.

    Raises
    ------
    TypeError
        If ``snr_floor``, ``rho_min`` or ``max_disagreement`` is not a real
        number (``bool`` included), ``widths`` is not numeric, or
        ``noise_estimator`` has no ``estimate`` method (or is a class).
    ValueError
        If ``kind`` or ``method`` is unknown, ``method="combined"`` is asked
        for disks, or a numeric argument is outside its range (NaN and
        infinity included).

    Attributes
    ----------
    width_ : float
        Estimated width in pixels.
    kernel_ : ndarray
        The kernel of that width (:func:`pnp.kernels.gaussian_kernel` or
        :func:`pnp.kernels.disk_kernel`).
    noise_level_ : float
        Noise level of ``y`` (0-1 scale; mean of the per-channel levels for
        colour images, the sigma :func:`pnp.solve` expects): the
        ``noise_level`` given to :meth:`estimate`, else estimated on the way.
    score_ : ndarray
        Residual of the fit per candidate width (lower is better).
    alpha_ : float
        Fitted spectral slope of the scene at the chosen width.
    spectral_width_, edge_width_ : float or None
        The two estimates behind ``width_`` (``edge_width_`` is None when not
        computed or not available).
    edge_used_ : bool
        Whether ``edge_width_`` entered ``width_``.

    Examples
    --------
    >>> import pnp
    >>> from skimage import data
    >>> from pnp.kernels import gaussian_kernel
    >>> from pnp.estimate import GaussianBlurEstimator
    >>> y = pnp.add_noise(pnp.blur(data.camera() / 255.0, gaussian_kernel(2.0), boundary="reflect"), 1 / 255, seed=0)
    >>> est = GaussianBlurEstimator()
    >>> k = est.estimate(y)
    >>> abs(est.width_ - 2.0) < 0.2
    True
    """

    def __init__(self, kind="gaussian", method="auto", widths=None, snr_floor=4.0, rho_min=0.03,
                 max_disagreement=1.4, noise_estimator=None):
        if kind not in ("gaussian", "disk"):
            raise ValueError(f"kind must be 'gaussian' or 'disk', got {kind!r}")
        if method not in ("auto", "spectrum", "combined"):
            raise ValueError(f"method must be 'auto', 'spectrum' or 'combined', got {method!r}")
        if kind == "disk" and method == "combined":
            raise ValueError("method='combined' needs kind='gaussian' (the edge estimate assumes Gaussian edges)")
        self.method = "combined" if (method == "auto" and kind == "gaussian") else ("spectrum" if method == "auto" else method)
        if widths is None:
            widths = np.arange(0.3, 10.0 + 1e-9, 0.02)
        self.kind = kind
        self.widths = check_grid(widths, "widths", "pixel widths")
        self.snr_floor = check_real(snr_floor, "snr_floor", 1, low_open=True)
        # the radial profile ends at 0.5 cycles per pixel
        self.rho_min = check_real(rho_min, "rho_min", 0, 0.5, high_open=True)
        self.max_disagreement = check_real(max_disagreement, "max_disagreement", 1)
        self.noise_estimator = check_noise_estimator(noise_estimator)

    def __repr__(self):
        return f"GaussianBlurEstimator(kind={self.kind!r}, method={self.method!r})"

    def estimate(self, y, *, noise_level=None):
        """Estimate the blur width of ``y`` and return its kernel.

        Parameters
        ----------
        y : ndarray, shape (H, W) or (H, W, C)
            Blurred image (uint8, uint16 or float 0-1); colour -> luminance.
        noise_level : float, optional
            Known noise level of ``y`` (0-1 scale, per channel): used as the
            noise floor of the spectrum instead of an estimate
            (:func:`pnp.solve` passes its ``noise_level``).

        Returns
        -------
        ndarray, shape (kh, kw), float64, sums to 1

        Raises
        ------
        TypeError, ValueError
            If ``y`` is not a valid image (NaN, wrong shape or dtype), or
            ``noise_level`` is not a number in [0, 1].
        ValueError
            If ``y`` is smaller than 32x32; ``noise_level`` is None and the
            noise level cannot be estimated (too few patches free of clipped
            pixels, e.g. a mostly white document: pass ``noise_level``, or a
            ``noise_estimator``); or too few frequencies lie above the noise
            floor (a constant image, pure noise).
        """
        img, sigma_n, noise_level = luminance_and_noise(y, self.noise_estimator, noise_level=noise_level)
        P, fy, fx = power_spectrum(img)
        n_bins = max(16, min(img.shape) // 4)
        rho, prof = radial_profile(P, fy, fx, n_bins=n_bins)
        floor = sigma_n**2
        use = (rho >= self.rho_min) & (prof > self.snr_floor * max(floor, 1e-12))
        # keep the contiguous band from the low frequencies up
        if np.any(~use[rho >= self.rho_min]):
            first_bad = np.argmax(~use & (rho >= self.rho_min))
            use[first_bad:] = False
        if use.sum() < 4:
            raise ValueError("too few frequencies above the noise floor to estimate the blur width")
        r = rho[use]
        target = np.log(prof[use] - floor)
        A = np.column_stack([np.ones_like(r), -np.log(r)])
        scores = np.empty(len(self.widths))
        alphas = np.empty(len(self.widths))
        for i, w in enumerate(self.widths):
            b = target - _log_otf2(self.kind, w, r)
            coef, *_ = np.linalg.lstsq(A, b, rcond=None)
            res = b - A @ coef
            scores[i] = np.mean(res**2)
            alphas[i] = coef[1]
        best = int(np.argmin(scores))
        self.spectral_width_ = float(self.widths[best])
        self.edge_width_ = edge_width(img) if self.method == "combined" else None
        self.edge_used_ = (self.edge_width_ is not None
                           and self.spectral_width_ <= self.max_disagreement * self.edge_width_)
        if self.edge_used_:
            a = spectral_weight(np.sqrt(self.spectral_width_ * self.edge_width_))
            self.width_ = float(np.exp(a * np.log(self.spectral_width_) + (1 - a) * np.log(self.edge_width_)))
        else:
            self.width_ = self.spectral_width_
        self.alpha_ = float(alphas[best])
        self.score_ = scores
        self.noise_level_ = noise_level
        if self.kind == "gaussian":
            self.kernel_ = gaussian_kernel(self.width_)
        else:
            self.kernel_ = disk_kernel(self.width_)
        return self.kernel_
