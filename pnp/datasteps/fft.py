"""Closed-form data step for shift-invariant blur (+ decimation), computed with pyFFTW."""

from __future__ import annotations

import numpy as np

from ..fft import get_fft, real_dtype
from ..psf import psf2otf

__all__ = ["FFTDataStep", "ClosedFormBlur"]


def _block_mean(X, s):
    """Mean of the ``s x s`` blocks of a spectrum: ``(C, s*h, s*w)`` -> ``(C, h, w)``."""
    C, H, W = X.shape
    return X.reshape(C, s, H // s, s, W // s).mean(axis=(1, 3))


class FFTDataStep:
    r"""Exact minimiser of :math:`\|y - (z * k)\downarrow_s\|^2 + \alpha \|z - v\|^2`.

    For ``s = 1`` the solution is the Wiener-type formula

    .. math:: z = \mathcal F^{-1}\left(\frac{\overline{K}\,\mathcal F(y) + \alpha \mathcal F(v)}
              {|K|^2 + \alpha}\right).

    For ``s > 1`` it is USRNet's closed form (Woodbury identity), written
    without USRNet's final division by :math:`\alpha`:

    .. math:: z = \mathcal F^{-1}\left(\mathcal F(v) + \overline{K} \odot_s
              \frac{\mathcal F(y\uparrow_s)\Downarrow_s - (K\,\mathcal F(v))\Downarrow_s}
              {(|K|^2)\Downarrow_s + \alpha}\right),

    where :math:`\Downarrow_s` averages the :math:`s \times s` blocks of a
    spectrum and :math:`\odot_s` multiplies by its periodic (tiled) extension.
    (USRNet's form, :math:`\frac{1}{\alpha}(R - \overline{K} \odot_s
    \frac{(K R)\Downarrow_s}{(|K|^2)\Downarrow_s + \alpha})` with
    :math:`R = \overline{K}\mathcal F(y\uparrow_s) + \alpha\mathcal F(v)`, is the
    same in exact arithmetic but subtracts nearly equal spectra and divides
    the difference by :math:`\alpha`: in single precision it lost 1e-3 of
    relative accuracy at :math:`\alpha = 10^{-5}`.)

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
    precision : {"double", "single"}
        ``"double"`` (default): float64/complex128 FFTs, results in float64.
        ``"single"``: float32/complex64 FFTs and spectra, results in float32;
        half the memory and about twice as fast on large images, at a relative
        error of about 1e-6 per step (measured in ``docs/benchmarks_scale.md``).

    Notes
    -----
    ``F(k)``, ``|F(k)|^2`` and ``conj(F(k)) F(y)`` (``s = 1``) or
    ``F(y↑s)⇓s`` (``s > 1``) are computed once here;
    each call then costs one forward and one inverse FFT (plans cached per
    shape by :func:`pnp.fft.get_fft`).
    """

    def __init__(self, operator, y, observed=None, precision="double"):
        self.precision = precision
        self.dtype = real_dtype(precision)
        y = np.asarray(y, dtype=np.float64)
        self.y = y
        self.observed = None if observed is None else np.asarray(observed, dtype=bool)
        if self.observed is not None and self.observed.shape != y.shape[-2:]:
            raise ValueError(f"observed mask has shape {self.observed.shape}, expected {y.shape[-2:]}")
        self.operator = operator
        self.scale = s = operator.scale
        self.shape = operator.input_shape(y.shape)
        if precision == "single":
            self._init_single(operator, y)
            return
        real = s == 1
        self._fft = get_fft(self.shape, real=real, threads=operator.threads)
        K = operator.otf(self.shape, real=real)
        self._K = K
        self._K2 = (K * np.conj(K)).real
        self._KFy = self._spectrum_term(y)
        if s > 1:
            self._K2_mean = _block_mean(np.broadcast_to(self._K2, self.shape), s)

    def _spectrum_term(self, y):
        """``conj(F(k)) F(y)`` for ``s = 1``; ``F(y↑s)⇓s`` (shape (C, h, w)) for ``s > 1``."""
        if self.scale == 1:
            return np.conj(self._K) * self._fft.forward(y)
        up = self.operator.upsample_zero(y).astype(np.complex128)
        return _block_mean(self._fft.forward(up), self.scale)

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
        if np.shape(v) != self.shape:
            raise ValueError(f"v has shape {np.shape(v)}, expected {self.shape}")
        if self.precision == "single":
            return self._call_single(v, alpha)
        v = np.asarray(v, dtype=np.float64)
        s = self.scale
        if self.observed is not None:
            fill = np.where(self.observed, self.y, self.operator.forward(v))
            self._KFy = self._spectrum_term(fill)
        if s == 1:
            Z = (self._KFy + alpha * self._fft.forward(v)) / (self._K2 + alpha)
            return self._fft.inverse(Z)
        Fv = self._fft.forward(v.astype(np.complex128))
        corr = (self._KFy - _block_mean(self._K * Fv, s)) / (self._K2_mean + alpha)
        Fv += np.conj(self._K) * np.tile(corr, (1, s, s))
        return self._fft.inverse(Fv).real

    # -- single precision ---------------------------------------------------------
    # Same formulas as the double path, written to keep few full-size temporaries:
    # spectra are complex64, products are done in place, the kernel spectrum is not
    # cached on the operator, and A v is obtained from the spectrum F(v) that the
    # step needs anyway (4 FFTs per call with a mask instead of 5).

    def _init_single(self, operator, y):
        s = self.scale
        real = s == 1
        cdtype = np.result_type(self.dtype, np.complex64)
        self._fft = get_fft(self.shape, real=real, threads=operator.threads, precision="single")
        K = psf2otf(operator.kernel, self.shape[-2:], real=real)
        self._K = K.astype(cdtype)
        self._K2 = (K.real ** 2 + K.imag ** 2).astype(self.dtype)
        del K
        # with a mask the data term is rebuilt at every call, so it is not kept
        self._KFy = None if self.observed is not None else self._spectrum_single(y)
        if s > 1:
            self._K2_mean = _block_mean(np.broadcast_to(self._K2, self.shape), s)

    def _spectrum_single(self, y):
        """``conj(F(k)) F(y)`` (``s = 1``, computed in place) or ``F(y↑s)⇓s`` (``s > 1``), complex64."""
        if self.scale > 1:
            return _block_mean(self._fft.forward(self.operator.upsample_zero(y)), self.scale)
        S = self._fft.forward(y)
        S *= np.conj(self._K)
        return S

    def _call_single(self, v, alpha):
        s = self.scale
        a = self.dtype.type(alpha)
        Fv = self._fft.forward(v)
        if self.observed is not None:
            # A v from F(v), then the unobserved pixels of y are replaced by it
            Av = self._fft.inverse(Fv * self._K)
            if s == 1:
                fill = Av if Av.dtype == self.dtype else Av.real.astype(self.dtype)
            else:
                fill = np.ascontiguousarray(Av.real[..., ::s, ::s], dtype=self.dtype)
            del Av
            np.copyto(fill, self.y, where=self.observed, casting="same_kind")
            KFy = self._spectrum_single(fill)
            del fill
        else:
            KFy = self._KFy
        if s == 1:
            # R = conj(K) F(y) + alpha F(v), built in Fv's memory
            Fv *= a
            Fv += KFy
            del KFy
            Fv /= self._K2 + a
            return self._fft.inverse(Fv)
        corr = (KFy - _block_mean(self._K * Fv, s)) / (self._K2_mean + a)
        del KFy
        Fv += np.conj(self._K) * np.tile(corr, (1, s, s))
        return np.ascontiguousarray(self._fft.inverse(Fv).real)


class ClosedFormBlur:
    """A :class:`pnp.operators.Blur` whose data step is always the one-pass closed form, in a chosen precision.

    :meth:`pnp.operators.Blur.data_step` with a mask of unobserved (padding)
    pixels runs the exact masked step (preconditioned CG, several FFT pairs
    and full-size float64 work arrays per call). This wrapper uses
    ``FFTDataStep(..., observed=mask, precision=precision)`` instead: the
    majorise-minimise step (one pass, unobserved pixels refilled with ``A v``),
    in float32 with ``precision="single"``. It is the large-image mode: a
    fraction of the time and memory, a small loss near the image borders
    (measured in ``docs/benchmarks_scale.md``). Composition, not a subclass:
    everything else is delegated to the wrapped operator. Pass it to
    :func:`pnp.solve` as the ``kernel``.

    Parameters
    ----------
    operator : pnp.operators.Blur
        The blur (it must have ``kernel``, ``scale``, ``otf`` and ``upsample_zero``).
    precision : {"single", "double"}
        Precision of the FFT data step.
    """

    def __init__(self, operator, precision="single"):
        for attr in ("kernel", "scale", "upsample_zero", "input_shape", "forward", "adjoint"):
            if not hasattr(operator, attr):
                raise TypeError(f"operator must be a pnp.operators.Blur-like object with {attr!r}, "
                                f"got {type(operator).__name__}")
        real_dtype(precision)
        self.operator = operator
        self.precision = precision

    def __getattr__(self, name):
        if name in ("operator", "precision"):  # not set yet (e.g. during unpickling)
            raise AttributeError(name)
        return getattr(self.operator, name)

    def __repr__(self):
        return f"ClosedFormBlur({self.operator!r}, precision={self.precision!r})"

    def data_step(self, y, observed=None):
        """Closed-form data step (see :class:`FFTDataStep`)."""
        return FFTDataStep(self.operator, y, observed=observed, precision=self.precision)

    def torch_data_step(self, y, observed=None):
        """The torch twin of :meth:`data_step`, for the torch path of :func:`pnp.solve`.

        :class:`~pnp.datasteps.torch_fft.TorchFFTDataStep` with the same
        one-pass refill of the unobserved pixels, computed in float32
        (``precision="single"``) or float64 (``"double"``); its results are
        returned in the dtype of the ``v`` it is given.

        Parameters
        ----------
        y : Tensor, shape (1, C, h, w)
            The observation (float).
        observed : Tensor or array of bool, shape (h, w), optional
            Really observed pixels.
        """
        import torch

        from .torch_fft import TorchFFTDataStep

        if not torch.is_tensor(y) or not y.is_floating_point():
            raise TypeError(f"y must be a float torch tensor of shape (1, C, h, w), got "
                            f"{y.dtype if torch.is_tensor(y) else type(y).__name__}")
        dtype = torch.float32 if self.precision == "single" else torch.float64
        k = torch.as_tensor(np.asarray(self.operator.kernel), dtype=dtype, device=y.device)
        return _PrecisionStep(TorchFFTDataStep(k, y.to(dtype), scale=self.operator.scale, observed=observed), dtype)

    def padded(self, pad):
        """The wrapped operator's padded form, wrapped the same way."""
        return ClosedFormBlur(self.operator.padded(pad), precision=self.precision)


class _PrecisionStep:
    """A torch data step computed in ``dtype``: ``v`` is converted to it, the result back to ``v``'s dtype."""

    def __init__(self, step, dtype):
        self.step, self.dtype = step, dtype
        self.shape = step.shape

    def __call__(self, v, alpha):
        import torch

        if torch.is_tensor(alpha) and alpha.is_floating_point():
            alpha = alpha.to(self.dtype)
        if not (torch.is_tensor(v) and v.is_floating_point()):
            return self.step(v, alpha)  # refused there with its message
        return self.step(v.to(self.dtype), alpha).to(v.dtype)
