"""Closed-form data step for shift-invariant blur (+ decimation), computed with pyFFTW."""

from __future__ import annotations

import numpy as np

from ..fft import get_fft

__all__ = ["FFTDataStep"]


def _block_mean(X, s):
    """Mean of the ``s x s`` blocks of a spectrum: ``(C, s*h, s*w)`` -> ``(C, h, w)``."""
    C, H, W = X.shape
    return X.reshape(C, s, H // s, s, W // s).mean(axis=(1, 3))


class FFTDataStep:
    r"""Exact minimiser of :math:`\|y - (z * k)\downarrow_s\|^2 + \alpha \|z - v\|^2`.

    For ``s = 1`` the solution is the Wiener-type formula

    .. math:: z = \mathcal F^{-1}\left(\frac{\overline{K}\,\mathcal F(y) + \alpha \mathcal F(v)}
              {|K|^2 + \alpha}\right).

    For ``s > 1`` it is USRNet's closed form: with
    :math:`R = \overline{K}\mathcal F(y\uparrow_s) + \alpha\mathcal F(v)`,

    .. math:: z = \mathcal F^{-1}\left(\frac{1}{\alpha}\left(R - \overline{K} \odot_s
              \frac{(K R)\Downarrow_s}{(|K|^2)\Downarrow_s + \alpha}\right)\right),

    where :math:`\Downarrow_s` averages the :math:`s \times s` blocks of a
    spectrum and :math:`\odot_s` multiplies by its periodic (tiled) extension.

    Parameters
    ----------
    operator : pnp.operators.Blur
        The forward model (kernel and scale).
    y : ndarray, shape (C, h, w)
        The observation.
    observed : ndarray of bool, shape (h, w), optional
        Pixels of ``y`` that were really observed (False in a padding band).
        Unobserved pixels are re-filled at each call with the current
        prediction ``A v`` (a majorise-minimise step for the masked data term
        ``||M (y - A z)||^2``), which removes boundary artefacts of real photos.

    Notes
    -----
    ``F(k)``, ``|F(k)|^2`` and ``conj(F(k)) F(y↑s)`` are computed once here;
    each call then costs one forward and one inverse FFT (plans cached per
    shape by :func:`pnp.fft.get_fft`).
    """

    def __init__(self, operator, y, observed=None):
        y = np.asarray(y, dtype=np.float64)
        self.y = y
        self.observed = None if observed is None else np.asarray(observed, dtype=bool)
        if self.observed is not None and self.observed.shape != y.shape[-2:]:
            raise ValueError(f"observed mask has shape {self.observed.shape}, expected {y.shape[-2:]}")
        self.operator = operator
        self.scale = s = operator.scale
        self.shape = operator.input_shape(y.shape)
        real = s == 1
        self._fft = get_fft(self.shape, real=real, threads=operator.threads)
        K = operator.otf(self.shape, real=real)
        self._K = K
        self._K2 = (K * np.conj(K)).real
        self._KFy = self._spectrum_term(y)
        if s > 1:
            self._K2_mean = _block_mean(np.broadcast_to(self._K2, self.shape), s)

    def _spectrum_term(self, y):
        """``conj(F(k)) F(y↑s)``."""
        up = self.operator.upsample_zero(y)
        return np.conj(self._K) * self._fft.forward(up if self.scale == 1 else up.astype(np.complex128))

    def __call__(self, v, alpha):
        """Return ``argmin_z ||y - A z||^2 + alpha ||z - v||^2``.

        Parameters
        ----------
        v : ndarray, shape (C, H, W)
            The proximal centre (the prior's last output).
        alpha : float
            Penalty weight, > 0.

        Returns
        -------
        ndarray, shape (C, H, W), float64
        """
        alpha = float(alpha)
        if not alpha > 0:
            raise ValueError(f"alpha must be > 0, got {alpha}")
        v = np.asarray(v, dtype=np.float64)
        if v.shape != self.shape:
            raise ValueError(f"v has shape {v.shape}, expected {self.shape}")
        s = self.scale
        if self.observed is not None:
            fill = np.where(self.observed, self.y, self.operator.forward(v))
            self._KFy = self._spectrum_term(fill)
        if s == 1:
            Z = (self._KFy + alpha * self._fft.forward(v)) / (self._K2 + alpha)
            return self._fft.inverse(Z)
        R = self._KFy + alpha * self._fft.forward(v.astype(np.complex128))
        KR_mean = _block_mean(self._K * R, s)
        corr = KR_mean / (self._K2_mean + alpha)
        Z = (R - np.conj(self._K) * np.tile(corr, (1, s, s))) / alpha
        return self._fft.inverse(Z).real
