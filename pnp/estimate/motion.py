"""Length and angle of a uniform linear motion blur from the power spectrum.

A segment of length ``L`` in direction ``phi`` has the transfer function
``sinc(L t)`` with ``t = fx cos(phi) - fy sin(phi)`` the frequency along the
motion (``fy`` along rows, pointing down; see :mod:`pnp.kernels`): the log
power spectrum of the blurred image shows dark parallel stripes at
``t = n / L``. Averaging the log spectrum over the lines ``t = const`` (a Radon
projection) keeps the stripes only at the right angle, where they give the
profile ``log sinc^2(L t)``; elsewhere they blur away. The estimator scores
every ``(phi, L)`` pair by the correlation between the projected profile and
the model profile, both with their smooth trend removed (the scene's power
law and the pixel footprint), on a coarse grid and then on a fine grid around
the best pair. The coarse search is limited to angles near the most
attenuated direction of the spectrum, which keeps periodic scene content or
JPEG block patterns from passing for motion stripes. For motions of 10 px
and more the final angle is the most attenuated direction within three
coarse steps of the best pair (the attenuation is then sharper in angle than
the stripe correlation). Shorter motions show only one or two broad stripes,
which a 1D projection locates poorly in angle; for them the best pair is
refined (``refine="spectrum2d"``) by fitting the whole 2D log power spectrum:
each candidate ``(phi, L)`` predicts ``log |K(f)|^2`` with ``K`` the exact
DFT of :func:`pnp.kernels.motion_kernel` (pixel footprint included), the
residual's mean on each frequency ring (the isotropic scene spectrum) is
removed, and the candidate with the smallest residual energy wins (a
0.5 deg / 0.25 px search within ``refine_window`` degrees, then 0.1 deg /
0.05 px).
"""

from __future__ import annotations

import numpy as np
from scipy import fft as sfft
from scipy import ndimage

from .._checks import check_grid, check_pair, check_real
from ..kernels import motion_kernel
from ._checks import check_noise_estimator
from .gaussian import power_spectrum
from .noise import luminance_and_noise

__all__ = ["LinearMotionEstimator"]

_DIP_FLOOR = 1e-3  # depth of the model's zeros (log of 0 is not usable)
_MIN_BINS = 12  # fewest frequency bins an angle needs to be scored
_LONG_MOTION = 10.0  # px; from here on the attenuation gives the angle more sharply than the stripes


def _detrend_basis(t):
    """Smooth functions of ``t`` removed before correlating (scene spectrum, pixel footprint)."""
    B = np.column_stack([np.ones_like(t), np.log(t), t, t**2])
    q, _ = np.linalg.qr(B)
    return q


def _normalised_residual(rows, q):
    """Remove the span of ``q`` from each row and scale rows to unit norm."""
    r = rows - (rows @ q) @ q.T
    n = np.linalg.norm(r, axis=1, keepdims=True)
    return r / np.maximum(n, 1e-12)


class LinearMotionEstimator:
    """Estimate a linear motion blur (length in pixels, angle in degrees).

    Parameters
    ----------
    lengths : array_like, optional
        Candidate lengths (px; finite, > 0) of the coarse search; default 2
        to 40 px in 0.25 px steps. The fine search refines to 0.05 px.
    angle_step : float
        Coarse angle step in degrees, in (0, 10] (refined to a tenth of it).
    t_range : (float, float)
        Band of frequencies along the motion (cycles per pixel) used:
        ``0 < low < high <= 0.5``.
    snr_floor : float
        For each angle, the band stops at the last frequency where the
        projected power exceeds ``snr_floor`` (finite, > 1) times the noise
        floor.
    angle_window : float
        Only angles within this many degrees (in (0, 90]) of the most
        attenuated direction (lowest mean log power at 0.05-0.25 cycles/px)
        are searched; 90 searches all.
    noise_estimator : object, optional
        Anything with ``estimate(y) -> sigma``; default :class:`NoiseEstimator`.
        Not used when :meth:`estimate` gets ``noise_level``.
    refine : {"spectrum2d", "none"}
        Refinement of motions shorter than ``refine_max_length``: a fit of the
        2D log power spectrum (see the module notes), or none (the 1D stripe
        correlation only).
    refine_window : float
        Half-width in degrees (in (0, 45]) of the angle range of that
        refinement.
    refine_max_length : float
        Motions estimated shorter than this (px; finite, >= 0; 0 never
        refines) are refined.

    Raises
    ------
    TypeError
        If a numeric argument is not a real number (``bool`` included),
        ``lengths`` is not numeric, ``t_range`` is not a pair of numbers, or
        ``noise_estimator`` has no ``estimate`` method (or is a class).
    ValueError
        If ``refine`` is unknown or a numeric argument is outside its range
        (NaN and infinity included).

    Attributes
    ----------
    length_ : float
        Estimated length in pixels (within the range of ``lengths``).
    angle_ : float
        Estimated direction in degrees, in [0, 180) (see :mod:`pnp.kernels`).
    kernel_ : ndarray
        :func:`pnp.kernels.motion_kernel` of that length and angle.
    noise_level_ : float
        Noise level of ``y`` (0-1 scale; mean of the per-channel levels for
        colour images, the sigma :func:`pnp.solve` expects): the
        ``noise_level`` given to :meth:`estimate`, else estimated on the way.
    score_ : ndarray, shape (n_angles, n_lengths)
        Correlation scores of the coarse search (higher is better).
    angles_, lengths_ : ndarray
        The coarse grids behind ``score_``.
    energy_direction_ : float
        The most attenuated direction (degrees), centre of the angle search.
    confidence_ : float
        Correlation score (at most 1) of the returned ``(angle_, length_)``
        pair, after the refinement; -1 when that pair cannot be scored (its
        first spectral zero is not well inside the usable band). Low values
        (below ~0.3) mean the spectrum shows no clear stripes at that pair.
        It is *not* a test for the presence of motion blur: isotropic blurs
        have circular spectral zeros that match a motion model at some
        angle too. Measured on ``data.camera()[::2, ::2]`` with noise
        1/255: motion 12 px 0.98, disk of radius 3 px 0.86 (estimated
        5.65 px), Gaussian of sigma 2 px 0.58 (estimated 32 px), no blur
        0.17. Use a known blur family, or compare estimators' restorations,
        to decide.

    Examples
    --------
    >>> import pnp
    >>> from skimage import data
    >>> from pnp.kernels import motion_kernel
    >>> from pnp.estimate import LinearMotionEstimator
    >>> y = pnp.blur(data.camera() / 255.0, motion_kernel(12, 30), boundary="reflect")
    >>> est = LinearMotionEstimator()
    >>> k = est.estimate(y)
    >>> abs(est.length_ - 12) < 1 and abs(est.angle_ - 30) < 3
    True
    """

    def __init__(self, lengths=None, angle_step=1.0, t_range=(0.02, 0.46), snr_floor=2.0, angle_window=45.0,
                 noise_estimator=None, refine="spectrum2d", refine_window=5.0, refine_max_length=_LONG_MOTION):
        if lengths is None:
            lengths = np.arange(2.0, 40.0 + 1e-9, 0.25)
        self.lengths = check_grid(lengths, "lengths", "pixel lengths")
        self.angle_step = check_real(angle_step, "angle_step (degrees)", 0, 10, low_open=True)
        self.t_range = check_pair(t_range, "t_range", 0, 0.5)
        self.snr_floor = check_real(snr_floor, "snr_floor", 1, low_open=True)
        self.angle_window = check_real(angle_window, "angle_window (degrees)", 0, 90, low_open=True)
        self.noise_estimator = check_noise_estimator(noise_estimator)
        if not isinstance(refine, str) or refine not in ("spectrum2d", "none"):
            raise ValueError(f"refine must be 'spectrum2d' or 'none', got {refine!r}")
        self.refine = refine
        self.refine_window = check_real(refine_window, "refine_window (degrees)", 0, 45, low_open=True)
        self.refine_max_length = check_real(refine_max_length, "refine_max_length (pixels)", 0)

    def __repr__(self):
        return f"LinearMotionEstimator(angle_step={self.angle_step})"

    # -- spectral profiles ----------------------------------------------------------
    def _profiles(self, P, fy, fx, angles, t_edges):
        """Mean of ``P`` over bins of ``|t|`` for every angle: shape (n_angles, n_bins)."""
        rho = np.hypot(fy, fx)
        inside = (rho <= 0.5) & (rho >= self.t_range[0])
        V = P[inside]
        FY = np.broadcast_to(fy, P.shape)[inside]
        FX = np.broadcast_to(fx, P.shape)[inside]
        nb = len(t_edges) - 1
        out = np.empty((len(angles), nb))
        for i, a in enumerate(np.deg2rad(angles)):
            t = np.abs(FX * np.cos(a) - FY * np.sin(a))
            idx = np.searchsorted(t_edges, t, side="right") - 1
            ok = (idx >= 0) & (idx < nb)
            s = np.bincount(idx[ok], weights=V[ok], minlength=nb)
            c = np.bincount(idx[ok], minlength=nb)
            out[i] = np.where(c > 0, s / np.maximum(c, 1), np.nan)
        return out

    @staticmethod
    def _models(lengths, t):
        return np.log(np.sinc(lengths[:, None] * t[None, :]) ** 2 + _DIP_FLOOR)

    def _search(self, P, floor, fy, fx, angles, lengths, t_edges):
        """Correlation scores, shape (n_angles, n_lengths), of detrended log profiles and models.

        Each angle uses the band of ``t`` from the lowest frequency up to the
        last bin where its profile exceeds ``snr_floor`` times the noise floor.
        """
        t = 0.5 * (t_edges[:-1] + t_edges[1:])
        prof = self._profiles(P, fy, fx, angles, t_edges)
        models = self._models(lengths, t)
        scores = np.full((len(angles), len(lengths)), -1.0)
        for i, p in enumerate(prof):
            good = np.isfinite(p) & (p > self.snr_floor * floor)
            if not good.any():
                continue
            n = int(np.flatnonzero(good)[-1]) + 1  # up to the last bin above the floor (dips inside stay)
            if n < _MIN_BINS:
                continue
            signal = np.log(np.maximum(p[:n] - floor, 0.05 * floor))
            q = _detrend_basis(t[:n])
            g = _normalised_residual(signal[None, :], q)
            m = _normalised_residual(models[:, :n], q)
            s = m @ g[0]
            # a model whose first zero is not well inside the band is nearly smooth there: its shape
            # fits the roll-off at the end of the band, so it is not scored
            s[1.0 / lengths > 0.75 * t[n - 1]] = -1.0
            scores[i] = s
        return scores, prof

    def _refine_2d(self, P, floor, fy, fx, a0, l0):
        """Angle (and length) by a fit of the exact 2D kernel spectrum to the log power spectrum."""
        H, W = P.shape
        Ps = ndimage.uniform_filter(P, 3, mode="wrap")
        rho = np.hypot(fy, fx)
        use = (rho >= self.t_range[0]) & (rho <= self.t_range[1]) & (Ps > self.snr_floor * floor) & (fx >= 0)
        S = np.log(np.maximum(Ps[use] - floor, 0.05 * floor))
        nb = 48
        ring = np.minimum((np.broadcast_to(rho, P.shape)[use] / 0.5 * nb).astype(int), nb - 1)
        cnt = np.maximum(np.bincount(ring, minlength=nb), 1)

        def score(a, L):
            k = motion_kernel(L, a)
            Kp = np.zeros((H, W))
            kh, kw = k.shape
            Kp[:kh, :kw] = k
            Kp = np.roll(Kp, (-(kh // 2), -(kw // 2)), axis=(0, 1))
            K2 = sfft.fftshift(np.abs(sfft.fft2(Kp)) ** 2)
            M = ndimage.uniform_filter(K2, 3, mode="wrap")[use]
            r = S - np.log(M + _DIP_FLOOR)
            r = r - (np.bincount(ring, weights=r, minlength=nb) / cnt)[ring]
            return float(np.mean(r * r))

        best = (score(a0, l0), a0, l0)
        l_min, l_max = self.lengths.min(), self.lengths.max()
        for step_a, half_a, step_l, half_l in ((0.5, self.refine_window, 0.25, 0.5), (0.1, 0.5, 0.05, 0.2)):
            _, ac, lc = best
            for a in ac + np.arange(-half_a, half_a + 1e-9, step_a):
                for L in lc + np.arange(-half_l, half_l + 1e-9, step_l):
                    if not l_min <= L <= l_max:  # the estimate stays within the candidate lengths
                        continue
                    v = score(a, L)
                    if v < best[0]:
                        best = (v, a, L)
        return float(best[1]), float(best[2])

    def _check_scored(self, score, shape, windowed=False):
        """Raise when no ``(angle, length)`` candidate could be scored (all scores are -1)."""
        if np.all(score <= -1.0):
            where = (f"within angle_window={self.angle_window:g} deg of the most attenuated direction "
                     f"({self.energy_direction_:g} deg)" if windowed else "at any angle")
            raise ValueError(
                f"no linear-motion candidate could be scored {where} on this image (shape {shape}): there "
                f"need to be {_MIN_BINS} frequency bins above snr_floor={self.snr_floor:g} times the noise "
                f"floor, and a candidate length (min {self.lengths.min():g} px) with its first spectral zero "
                "well inside them. The image is constant, pure noise or too small, or its motion is "
                "shorter than the candidate lengths")

    def estimate(self, y, *, noise_level=None):
        """Estimate the motion of ``y`` and return its kernel.

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
            ``noise_estimator``); or no candidate ``(angle, length)`` could
            be scored (a constant image, pure noise: no frequency band above
            the noise floor).
        """
        img, sigma_n, noise_level = luminance_and_noise(y, self.noise_estimator, noise_level=noise_level)
        P, fy, fx = power_spectrum(img)
        floor = max(sigma_n**2, 1e-10)
        lo, hi = self.t_range
        n_bins = max(32, min(img.shape) // 2)
        t_edges = np.linspace(lo, hi, int(n_bins * (hi - lo) / 0.5) + 1)

        angles = np.arange(0.0, 180.0, self.angle_step)
        score, prof = self._search(P, floor, fy, fx, angles, self.lengths, t_edges)
        self._check_scored(score, img.shape)
        # the motion direction is the one whose mid frequencies are most attenuated; only angles
        # within angle_window of it compete (guards against periodic scene or compression patterns)
        t = 0.5 * (t_edges[:-1] + t_edges[1:])
        mid = (t >= 0.05) & (t <= 0.25)
        energy = np.nanmean(np.log(np.maximum(prof[:, mid], 1e-20)), axis=1)
        self.energy_direction_ = float(angles[int(np.argmin(energy))])
        gap = np.abs((angles - self.energy_direction_ + 90.0) % 180.0 - 90.0)
        score = np.where(gap[:, None] <= self.angle_window, score, -1.0)
        self._check_scored(score, img.shape, windowed=True)
        i, j = np.unravel_index(np.argmax(score), score.shape)
        a0, l0 = angles[i], self.lengths[j]
        step_l = np.min(np.diff(self.lengths)) if self.lengths.size > 1 else 0.5
        fine_l = l0 + np.arange(-step_l, step_l + 1e-9, 0.05)
        l_min, l_max = self.lengths.min(), self.lengths.max()
        fine_l = np.clip(fine_l[(fine_l >= l_min - 1e-9) & (fine_l <= l_max + 1e-9)], l_min, l_max)
        if l0 >= _LONG_MOTION:
            # long motions: the most attenuated direction within 3 coarse steps of the best pair
            local = a0 + np.arange(-3 * self.angle_step, 3 * self.angle_step + 1e-9, self.angle_step / 10)
            local_prof = self._profiles(P, fy, fx, local, t_edges)
            local_energy = np.nanmean(np.log(np.maximum(local_prof[:, mid], 1e-20)), axis=1)
            fine_a = np.array([local[int(np.argmin(local_energy))]])
        else:
            # short motions attenuate too little for that: refine the stripe correlation instead
            fine_a = a0 + np.arange(-self.angle_step, self.angle_step + 1e-9, self.angle_step / 10)
        fine, _ = self._search(P, floor, fy, fx, fine_a, fine_l, t_edges)
        fi, fj = np.unravel_index(np.argmax(fine), fine.shape)
        a1 = float(fine_a[fi])
        l1, confidence = float(fine_l[fj]), float(fine[fi, fj])
        if l0 < self.refine_max_length and self.refine == "spectrum2d":
            a1, l1 = self._refine_2d(P, floor, fy, fx, a1, l1)
            # the stripe correlation of the refined pair (not of the pair the refinement started from)
            confidence = float(self._search(P, floor, fy, fx, np.array([a1]), np.array([l1]), t_edges)[0][0, 0])
        self.angles_, self.lengths_, self.score_ = angles, self.lengths, score
        self.angle_ = float(a1 % 180.0)
        self.length_ = l1
        self.confidence_ = confidence
        self.noise_level_ = noise_level
        self.kernel_ = motion_kernel(self.length_, self.angle_)
        return self.kernel_
