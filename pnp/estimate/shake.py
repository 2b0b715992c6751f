"""General (camera-shake) kernels: coarse-to-fine alternating MAP with an L0 sparse-gradient prior.

The method follows Pan, Hu, Su & Yang (CVPR 2014, "Deblurring text images via
L0-regularized intensity and gradient prior"), written from the paper. At each
level of an image pyramid (coarse to fine, factor ``sqrt(2)``) it alternates

(a) a latent-image update that favours few non-zero gradients (and,
    optionally, few non-zero intensities),

    .. math:: \\min_x \\|M \\odot (k * x - y)\\|^2 + \\lambda \\|\\nabla x\\|_0
              + \\lambda_I \\|x\\|_0,

    by half-quadratic splitting with an increasing penalty ``beta``: hard
    thresholding of the auxiliary gradients, then a closed-form FFT solve;
(b) a kernel update by regularised least squares in the gradient domain,

    .. math:: \\min_k \\sum_{d \\in \\{h, v\\}} \\|W \\odot (\\partial_d x * k - \\partial_d y)\\|^2
              + \\gamma \\|k\\|^2,

    solved by conjugate gradients with FFT convolutions, then projected:
    negative and small entries set to zero, small isolated components
    removed, unit sum.

The kernel is upsampled to the next level. At the finest level a few more
alternations refine the kernel with a *locally reweighted sparse prior*
added to (b): iteratively reweighted least squares for
``sum_i (k_i / m_i)^p`` (``p = 1/2``), with ``m_i`` the largest kernel
value in a small neighbourhood of entry ``i``. The spread that the plain
least-squares step leaves around the strokes of the kernel (entries far
below their neighbours) is penalised and vanishes, while faint thin parts
that are local ridges (the loops of long camera-shake paths) keep a weight
close to the minimum and survive; a global sparse prior (``m_i = max k``)
removed those. Borders: the observation is padded
(:func:`pnp.boundary.pad_observation`, ``"taper"``) and ``M``, ``W`` keep only
the really observed pixels, so the convolution is linear (not circular) on
the image: during (a) the padded pixels are re-filled with the current
prediction ``k * x`` at every step, and (b) fits only the observed gradients.
"""

from __future__ import annotations

import numbers
import time

import numpy as np
from scipy import fft as sfft
from scipy import ndimage

from .._checks import check_int, check_real
from ..boundary import pad_observation
from ..noise import check_noise_level
from ..psf import kernel_origin, psf2otf
from ._checks import check_noise_estimator
from .noise import NoiseEstimator, luminance

__all__ = ["CameraShakeEstimator", "project_kernel", "center_kernel"]


# -- kernel projection ---------------------------------------------------------------------
def project_kernel(k, threshold=0.05, min_component=0.02):
    """Project an estimated kernel onto plausible blur kernels.

    Negative entries and entries below ``threshold * max`` are set to zero;
    8-connected components holding less than ``min_component`` of the total
    mass are removed; the result is normalised to unit sum.

    Parameters
    ----------
    k : ndarray, shape (kh, kw)
    threshold : float
        Relative threshold (0-1) on the maximum.
    min_component : float
        Minimum mass fraction (0-1) of a connected component.

    Returns
    -------
    ndarray, shape (kh, kw), float64, sums to 1
    """
    k = np.clip(np.asarray(k, dtype=np.float64), 0, None)
    if k.max() <= 0:
        out = np.zeros_like(k)
        out[kernel_origin(k.shape)] = 1.0
        return out
    k[k < threshold * k.max()] = 0
    labels, n = ndimage.label(k > 0, structure=np.ones((3, 3)))
    if n > 1:
        mass = ndimage.sum(k, labels, index=np.arange(1, n + 1))
        small = np.flatnonzero(mass < min_component * mass.sum()) + 1
        k[np.isin(labels, small)] = 0
    return k / k.sum()


def center_kernel(k):
    """Shift ``k`` by whole pixels so its centre of mass is nearest the origin ``(kh//2, kw//2)``.

    Mass shifted out of the window is dropped and the result renormalised.
    """
    k = np.asarray(k, dtype=np.float64)
    r, c = np.indices(k.shape)
    total = k.sum()
    cr, cc = (k * r).sum() / total, (k * c).sum() / total
    oy, ox = kernel_origin(k.shape)
    dr, dc = int(round(oy - cr)), int(round(ox - cc))
    if dr == 0 and dc == 0:
        return k / total
    out = ndimage.shift(k, (dr, dc), order=0, mode="constant", cval=0.0)
    s = out.sum()
    return out / s if s > 0 else k / total


# -- FFT helpers on one padded grid -------------------------------------------------------------
class _Grid:
    """Real FFTs and difference operators on an ``(H, W)`` periodic grid."""

    def __init__(self, shape):
        self.shape = tuple(shape)
        H, W = self.shape
        dh = np.zeros((H, W))
        dh[0, 0], dh[0, W - 1] = -1.0, 1.0  # (Dh x)[i, j] = x[i, j+1] - x[i, j]
        dv = np.zeros((H, W))
        dv[0, 0], dv[H - 1, 0] = -1.0, 1.0
        self.Dh = self.fft(dh)
        self.Dv = self.fft(dv)
        self.DtD = np.abs(self.Dh) ** 2 + np.abs(self.Dv) ** 2

    def fft(self, x):
        return sfft.rfft2(x, workers=-1)

    def ifft(self, X):
        return sfft.irfft2(X, s=self.shape, workers=-1)

    @staticmethod
    def grad(x):
        return np.roll(x, -1, axis=1) - x, np.roll(x, -1, axis=0) - x


def _crop_kernel(c, kshape):
    """Kernel-domain part of a full-grid correlation (inverse of :func:`pnp.psf.psf2otf`'s layout)."""
    oy, ox = kernel_origin(kshape)
    return np.roll(c, (oy, ox), axis=(0, 1))[: kshape[0], : kshape[1]]


def _odd(n):
    n = int(round(n))
    return max(3, n + 1 - n % 2)


# -- the estimator ---------------------------------------------------------------------------
class CameraShakeEstimator:
    """Blind estimation of a general blur kernel (camera shake), coarse to fine.

    Parameters
    ----------
    kernel_size : int
        Side (odd, >= 3) of the square kernel in pixels of the input image. It
        should exceed the blur's extent; too large costs time and some
        accuracy.
    iters_per_scale : int
        Alternations (>= 1) of latent and kernel updates per pyramid level.
    lambda_grad : float
        Weight (> 0) of the L0 gradient prior at the coarsest level; it
        decreases geometrically to ``lambda_min`` at the finest level and is
        divided by ``lambda_decay`` after each alternation within a level.
    lambda_min : float
        Weight (> 0) of the L0 gradient prior at the finest level, and its
        floor; values above ``lambda_grad`` are lowered to it.
    lambda_decay : float
        Factor (>= 1) by which the weight shrinks after each alternation.
    lambda_intensity : float
        Weight (>= 0) of the L0 intensity prior (Pan et al.'s text prior); 0
        for natural images.
    gamma : float
        Tikhonov weight (>= 0) of the kernel update, relative to the gradient
        energy of the latent image.
    threshold : float
        Kernel entries below ``threshold * max`` (``threshold`` in [0, 1)) are
        set to zero after each update (see :func:`project_kernel`).
    edge_ratio : float
        Salient-edge selection (>= 0) for the kernel update (Cho & Lee 2009): the
        latent gradients kept are the strongest ``edge_ratio * sqrt(P_x P_k)``
        of each of 4 orientations (``P`` are pixel counts), with the
        threshold relaxed by 1.1 per alternation; 0 keeps all gradients.
    max_size : int, optional
        Images whose longer side exceeds this (>= 32) are estimated on a
        downscaled copy (the kernel is scaled back); ``None`` never
        downscales.
    coarsest_kernel : int
        Largest kernel size (>= 3) at the coarsest pyramid level: levels are
        added (factor ``sqrt(2)``, at most 12) until the kernel, whose size
        is odd, is no larger.
    noise_estimator : object, optional
        Anything with ``estimate(y) -> sigma``; default :class:`NoiseEstimator`.
        It only gives ``noise_level_`` (for :func:`pnp.solve`): the kernel
        does not depend on it. Not used when :meth:`estimate` gets
        ``noise_level``.
    refine_iters : int
        Alternations (>= 0) of the finest-level refinement (0 turns it off).
    refine_weight : float
        Weight (>= 0) of its sparse kernel prior, relative to the gradient
        energy of the latent image (like ``gamma``); 0 turns the prior off.
    refine_p : float
        Exponent (0-1] of that prior; 1 turns it off (the sum of a
        non-negative unit-sum kernel is constant).
    refine_window : int
        Side (>= 1) of the neighbourhood whose maximum normalises each entry.

    Raises
    ------
    TypeError
        If a numeric argument is not a real number (``bool`` included),
        ``iters_per_scale``, ``max_size``, ``refine_iters`` or
        ``refine_window`` is not an integer, or ``noise_estimator`` has no
        ``estimate`` method (or is a class).
    ValueError
        If ``kernel_size`` or ``coarsest_kernel`` is not an integer >= 3
        (``kernel_size`` odd), or a numeric argument is outside its range
        (NaN and infinity included).

    Attributes
    ----------
    kernel_ : ndarray, shape (kernel_size, kernel_size)
        The estimated kernel, centre of mass on the origin.
    latent_ : ndarray, shape (h, w)
        The sparse-gradient latent image of the finest level (luminance), on
        the grid the kernel was estimated on: the shape of ``y`` or, when
        ``max_size`` downscales it, of the downscaled copy (``(64, 64)`` for
        a 128x128 image with ``max_size=64``).
    noise_level_ : float or None
        Noise level of ``y`` (0-1 scale; mean of the per-channel levels for
        colour images, the sigma :func:`pnp.solve` expects): the
        ``noise_level`` given to :meth:`estimate`, else estimated with
        ``noise_estimator``; None when that estimate fails (e.g. too few
        patches free of clipped pixels, as on a mostly white document). The
        kernel does not use it, so a failed noise estimate does not stop the
        kernel estimate; :func:`pnp.solve` then needs ``noise_level``.
    kernels_ : list of ndarray
        The kernel at the end of every pyramid level (coarse to fine), before
        the finest-level refinement.
    time_ : float
        Seconds spent in :meth:`estimate`.

    Examples
    --------
    >>> import pnp
    >>> from skimage import data
    >>> from pnp.kernels import camera_shake_kernel
    >>> from pnp.estimate import CameraShakeEstimator
    >>> x = data.camera()[100:260, 100:260] / 255.0
    >>> y = pnp.blur(x, camera_shake_kernel(15, seed=1), boundary="reflect")
    >>> k = CameraShakeEstimator(kernel_size=19).estimate(y)
    >>> k.shape
    (19, 19)
    """

    def __init__(self, kernel_size=31, iters_per_scale=30, lambda_grad=4e-3, lambda_intensity=0.0, lambda_min=1e-4, lambda_decay=1.1, gamma=2e-3,
                 threshold=0.03, edge_ratio=0.0, max_size=None, coarsest_kernel=5, noise_estimator=None,
                 refine_iters=10, refine_weight=3e-2, refine_p=0.5, refine_window=3):
        if isinstance(kernel_size, bool) or not isinstance(kernel_size, numbers.Integral) or kernel_size < 3:
            raise ValueError(f"kernel_size must be an integer >= 3, got {kernel_size!r}")
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd (the kernel is centred on its middle), got {kernel_size}")
        if isinstance(coarsest_kernel, bool) or not isinstance(coarsest_kernel, numbers.Integral) \
                or coarsest_kernel < 3:
            raise ValueError("coarsest_kernel must be an integer >= 3 (the largest kernel size of the coarsest "
                             f"level), got {coarsest_kernel!r}")
        self.kernel_size = int(kernel_size)
        self.iters_per_scale = check_int(iters_per_scale, "iters_per_scale", 1)
        # 0 would divide by zero (the geometric decrease) or never end the splitting loop (beta = 2 lambda)
        self.lambda_grad = check_real(lambda_grad, "lambda_grad", 0, low_open=True)
        self.lambda_min = min(check_real(lambda_min, "lambda_min", 0, low_open=True), self.lambda_grad)
        self.lambda_decay = check_real(lambda_decay, "lambda_decay", 1)
        self.lambda_intensity = check_real(lambda_intensity, "lambda_intensity", 0)
        self.gamma = check_real(gamma, "gamma", 0)
        self.threshold = check_real(threshold, "threshold", 0, 1, high_open=True)
        self.edge_ratio = check_real(edge_ratio, "edge_ratio", 0)
        self.max_size = None if max_size is None else check_int(max_size, "max_size", 32)
        self.coarsest_kernel = int(coarsest_kernel)
        self.noise_estimator = check_noise_estimator(noise_estimator)
        self.refine_iters = check_int(refine_iters, "refine_iters", 0)
        self.refine_weight = check_real(refine_weight, "refine_weight", 0)
        self.refine_p = check_real(refine_p, "refine_p", 0, 1, low_open=True)
        self.refine_window = check_int(refine_window, "refine_window", 1)

    def __repr__(self):
        return f"CameraShakeEstimator(kernel_size={self.kernel_size}, iters_per_scale={self.iters_per_scale})"

    # -- (a) latent image ---------------------------------------------------------------------
    def _latent(self, grid, y, mask, k, lam, lam_i, beta_max=1e5, kappa=2.0):
        """L0-regularised latent image on the padded grid by half-quadratic splitting."""
        K = psf2otf(k, grid.shape)
        K2 = np.abs(K) ** 2
        x = y.copy()
        beta = 2 * lam
        while beta < beta_max:
            # refill the unobserved pad with the current prediction
            pred = grid.ifft(grid.fft(x) * K)
            yf = np.where(mask, y, pred)
            gh, gv = grid.grad(x)
            small = gh**2 + gv**2 < lam / beta
            gh[small] = 0
            gv[small] = 0
            num = np.conj(K) * grid.fft(yf) + beta * (np.conj(grid.Dh) * grid.fft(gh) + np.conj(grid.Dv) * grid.fft(gv))
            den = K2 + beta * grid.DtD
            if lam_i > 0:
                u = x.copy()
                u[u**2 < lam_i / beta] = 0
                num = num + beta * grid.fft(u)
                den = den + beta
            x = grid.ifft(num / den)
            beta *= kappa
        return x

    # -- (b) kernel -------------------------------------------------------------------------------
    def _kernel(self, grid, x, y, weight, k0, tau=0.0, cg_iters=10, reweight=None):
        """Masked gradient-domain least squares for the kernel by conjugate gradients.

        Latent gradients with magnitude below ``tau`` are set to zero (only
        salient edges inform the kernel). ``reweight`` (shape of ``k0``, or
        None) adds the diagonal penalty ``sum_i reweight_i k_i^2``, relative
        to the gradient energy of the latent image like ``gamma``.
        """
        ks = k0.shape
        gx = grid.grad(x)
        if tau > 0:
            weak = np.hypot(*gx) < tau
            gx = tuple(np.where(weak, 0.0, g) for g in gx)
        gy = grid.grad(y)
        FX = [grid.fft(g) for g in gx]
        rhs = _crop_kernel(grid.ifft(sum(np.conj(F) * grid.fft(weight * g) for F, g in zip(FX, gy))), ks)
        energy = sum(float(np.sum(weight * g**2)) for g in gx)
        if not energy > 0:  # a flat latent image: nothing to fit (the preconditioner would divide by zero)
            raise ValueError("the latent image has no edges left to estimate a kernel from: y has too little "
                             "structure (or lambda_grad / lambda_min remove all of it)")
        gam = self.gamma * energy

        def apply(k):
            Kf = psf2otf(k, grid.shape)
            acc = 0
            for F in FX:
                r = weight * grid.ifft(F * Kf)
                acc = acc + np.conj(F) * grid.fft(r)
            out = _crop_kernel(grid.ifft(acc), ks) + gam * k
            if reweight is not None:
                out = out + gam_w * k
            return out

        gam_w = None if reweight is None else reweight * energy
        extra = 0.0 if gam_w is None else float(np.mean(gam_w))
        # preconditioner: the inverse of the unmasked (circulant) normal operator (plus the mean penalty)
        inv_diag = 1.0 / (sum(np.abs(F) ** 2 for F in FX) * (weight.mean()) + gam + extra)

        def precondition(r):
            return _crop_kernel(grid.ifft(psf2otf(r, grid.shape) * inv_diag), ks)

        k = k0.copy()
        r = rhs - apply(k)
        z = precondition(r)
        p = z.copy()
        rz = float(np.sum(r * z))
        tol = 1e-12 * float(np.sum(rhs * rhs))
        for _ in range(cg_iters):
            if float(np.sum(r * r)) <= tol:
                break
            Ap = apply(p)
            a = rz / float(np.sum(p * Ap))
            k = k + a * p
            r = r - a * Ap
            z = precondition(r)
            rz_new = float(np.sum(r * z))
            p = z + (rz_new / rz) * p
            rz = rz_new
        return project_kernel(k, self.threshold)

    def _refine_weights(self, k):
        """Per-entry weights of the sparse kernel prior of the refinement (None when it is off).

        IRLS weights of ``sum_i (k_i / m_i)^p`` where ``m_i`` is the maximum of
        ``k`` in a ``refine_window`` neighbourhood: an entry much weaker than
        its neighbours (the spread around a stroke) is penalised hard, while a
        faint but locally maximal thin part (a ridge) is not.
        """
        if self.refine_weight <= 0 or self.refine_p >= 1:
            return None
        km = float(k.max())
        eps = 0.01 * km
        local = ndimage.maximum_filter(k, size=self.refine_window)
        return self.refine_weight * ((np.abs(k) + eps) / (local + eps)) ** (self.refine_p - 2)

    # -- driver -----------------------------------------------------------------------------------
    def _levels(self, ks):
        n = 1
        while _odd(ks / np.sqrt(2) ** n) > self.coarsest_kernel and n < 12:
            n += 1
        return [(np.sqrt(0.5) ** (n - 1 - i)) for i in range(n)]

    def estimate(self, y, *, noise_level=None):
        """Estimate the blur kernel of ``y``.

        Parameters
        ----------
        y : ndarray, shape (H, W) or (H, W, C)
            Blurred image (uint8, uint16 or float 0-1); colour -> luminance.
        noise_level : float, optional
            Known noise level of ``y`` (0-1 scale, per channel): kept as
            ``noise_level_`` instead of an estimate (:func:`pnp.solve` passes
            its ``noise_level``). The kernel does not depend on it.

        Returns
        -------
        ndarray, shape (kernel_size, kernel_size), float64, sums to 1

        Raises
        ------
        TypeError, ValueError
            If ``y`` is not a valid image (NaN, wrong shape or dtype), or
            ``noise_level`` is not a number in [0, 1].
        ValueError
            If ``y`` is smaller than twice ``kernel_size``, or has no
            structure (constant: no edges) to estimate a kernel from.
        """
        from skimage.transform import rescale

        t0 = time.perf_counter()
        if noise_level is not None:
            noise_level = check_noise_level(noise_level)
        img = luminance(y)
        if min(img.shape) < 2 * self.kernel_size:
            raise ValueError(f"y of shape {np.shape(y)} is too small for kernel_size={self.kernel_size}; "
                             "it must be at least twice the kernel size")
        _check_structure(img, np.shape(y))
        if noise_level is None:
            # per-channel noise level (what pnp.solve expects); the kernel does not need it
            noise = self.noise_estimator or NoiseEstimator()
            try:
                noise_level = float(noise.estimate(img if np.ndim(y) == 2 else y))
            except ValueError:  # e.g. mostly clipped (a document): pnp.solve says to pass noise_level
                noise_level = None
        self.noise_level_ = noise_level

        ks_full = self.kernel_size
        down = 1.0
        if self.max_size is not None and max(img.shape) > self.max_size:
            down = self.max_size / max(img.shape)
            img = rescale(img, down, anti_aliasing=True)
        ks_top = _odd(ks_full * down)

        k = None
        self.kernels_ = []
        levels = self._levels(ks_top)
        for li, f in enumerate(levels):
            ks = _odd(ks_top * f) if f < 1 else ks_top
            ys = rescale(img, f, anti_aliasing=True) if f < 1 else img
            if k is None:
                k = np.zeros((ks, ks))
                k[ks // 2, ks // 2] = 1.0
            else:
                k = project_kernel(ndimage.zoom(k, ks / k.shape[0], order=1), self.threshold)
                if k.shape != (ks, ks):  # zoom rounding
                    k = _fit_shape(k, ks)
                k = center_kernel(k)
            yp, (top, left) = pad_observation(ys[None], ks, "taper")
            yp = yp[0]
            grid = _Grid(yp.shape)
            mask = np.zeros(yp.shape, dtype=bool)
            mask[top:top + ys.shape[0], left:left + ys.shape[1]] = True
            # gradient pixels whose two samples are both observed, away from the border by the kernel
            weight = ndimage.binary_erosion(mask, np.ones((3, 3)), border_value=0).astype(np.float64)
            # lambda_grad at the coarsest level, geometrically down to lambda_min at the finest
            frac = li / max(len(levels) - 1, 1)
            lam = self.lambda_grad * (self.lambda_min / self.lambda_grad) ** frac
            lam_i = self.lambda_intensity
            tau = None
            for _ in range(self.iters_per_scale):
                x = self._latent(grid, yp, mask, k, lam, lam_i)
                if tau is None:
                    tau = _salient_threshold(x, weight, ks, self.edge_ratio)
                k = self._kernel(grid, x, yp, weight, k, tau)
                tau /= 1.1
                lam = max(lam / self.lambda_decay, self.lambda_min)
                lam_i = max(lam_i / 1.1, 1e-4) if lam_i > 0 else 0.0
            k = center_kernel(k)
            self.kernels_.append(k)
        # finest-level refinement: alternations with a locally reweighted sparse kernel prior
        for _ in range(self.refine_iters):
            x = self._latent(grid, yp, mask, k, self.lambda_min, 0.0)
            k = center_kernel(self._kernel(grid, x, yp, weight, k, 0.0, reweight=self._refine_weights(k)))
        self.latent_ = x[top:top + ys.shape[0], left:left + ys.shape[1]]
        if down != 1.0:
            k = project_kernel(ndimage.zoom(k, ks_full / k.shape[0], order=1), self.threshold)
            k = center_kernel(_fit_shape(k, ks_full))
        self.kernel_ = k
        self.time_ = time.perf_counter() - t0
        return self.kernel_


#: Largest difference between neighbouring pixels (0-1 scale) of an image taken as constant: a flat
#: image has no edges to estimate a kernel from (it gave an arbitrary blob and divide-by-zero warnings);
#: well below one level of 16-bit data (1.5e-5), well above the rounding of a blurred constant (1e-16).
_FLAT_TOL = 1e-8


def _check_structure(img, shape):
    """Raise a ``ValueError`` when the luminance ``img`` of ``y`` (shape ``shape``) is constant (no edges)."""
    step = max(float(np.max(np.abs(np.diff(img, axis=0)))), float(np.max(np.abs(np.diff(img, axis=1)))))
    if step <= _FLAT_TOL:
        raise ValueError(
            f"y (shape {shape}) has no structure to estimate a kernel from: it is constant (no edges; largest "
            f"difference between neighbouring pixels {step:.2g}); the blur of a featureless image cannot be "
            "estimated")


def _salient_threshold(x, weight, ks, ratio):
    """Gradient magnitude keeping at least ``ratio * sqrt(P_x * P_k)`` pixels in each of 4 orientations.

    The rule of Cho & Lee (2009), used by Pan et al. to pick the salient
    edges of the latent image for the kernel update.
    """
    if ratio <= 0:
        return 0.0
    gh, gv = np.roll(x, -1, axis=1) - x, np.roll(x, -1, axis=0) - x
    mag = np.hypot(gh, gv)[weight > 0]
    ang = np.mod(np.arctan2(gv, gh)[weight > 0], np.pi)
    n_keep = int(ratio * np.sqrt(mag.size * ks * ks))
    bins = np.floor(ang / (np.pi / 4) + 0.5).astype(int) % 4
    taus = []
    for b in range(4):
        m = np.sort(mag[bins == b])[::-1]
        if m.size:
            taus.append(m[min(n_keep, m.size) - 1])
    return float(min(taus)) if taus else 0.0


def _fit_shape(k, n):
    """Crop or zero-pad a kernel to ``(n, n)`` keeping its origin, then renormalise."""
    out = np.zeros((n, n))
    oy, ox = kernel_origin(k.shape)
    o = n // 2
    for i in range(k.shape[0]):
        r = i - oy + o
        if 0 <= r < n:
            c0 = max(0, o - ox)
            c1 = min(n, o - ox + k.shape[1])
            out[r, c0:c1] = k[i, c0 - (o - ox): c1 - (o - ox)]
    s = out.sum()
    return out / s if s > 0 else out
