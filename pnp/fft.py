"""pyFFTW plans over the last two axes, built once per shape and reused.

A :class:`FFT2` object holds a forward and an inverse plan for arrays of one
shape. :func:`get_fft` returns a cached instance, so repeated solves on images
of the same size (frames of a video, iterations of a solver) reuse the same
plans. The cache is an explicit, bounded object that :func:`clear_cache`
empties; nothing else is kept between calls.
"""

from __future__ import annotations

import os
from collections import OrderedDict

import numpy as np
import pyfftw
import pyfftw.builders

__all__ = ["FFT2", "get_fft", "clear_cache", "default_threads"]


def default_threads():
    """Number of CPU cores this process may use (the default FFTW thread count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class FFT2:
    """Planned 2-D DFT over the last two axes of arrays of a fixed shape.

    Parameters
    ----------
    shape : tuple of int
        Shape of the (real or complex) spatial arrays, ``(..., H, W)``.
    real : bool
        If True, plan real-to-complex transforms (``rfftn``/``irfftn``), whose
        spectra have shape ``(..., H, W // 2 + 1)``. Otherwise full complex
        transforms with spectra of shape ``(..., H, W)``.
    threads : int, optional
        FFTW threads; default: all cores available to the process.
    effort : str
        FFTW planner effort, e.g. ``"FFTW_ESTIMATE"`` or ``"FFTW_MEASURE"``.

    Notes
    -----
    The arrays returned by :meth:`forward` and :meth:`inverse` are fresh copies,
    never FFTW's internal buffers, so callers may keep them across calls.
    """

    def __init__(self, shape, real=True, threads=None, effort="FFTW_MEASURE"):
        self.shape = tuple(int(s) for s in shape)
        self.real = bool(real)
        self.threads = int(threads or default_threads())
        axes = (-2, -1)
        kw = dict(axes=axes, threads=self.threads, planner_effort=effort)
        if self.real:
            a = pyfftw.empty_aligned(self.shape, dtype="float64")
            self._fwd = pyfftw.builders.rfftn(a, **kw)
            b = pyfftw.empty_aligned(self._fwd.output_shape, dtype="complex128")
            self._inv = pyfftw.builders.irfftn(b, s=self.shape[-2:], **kw)
        else:
            a = pyfftw.empty_aligned(self.shape, dtype="complex128")
            self._fwd = pyfftw.builders.fftn(a, **kw)
            b = pyfftw.empty_aligned(self.shape, dtype="complex128")
            self._inv = pyfftw.builders.ifftn(b, **kw)
        self.spectrum_shape = tuple(self._fwd.output_shape)

    def forward(self, x):
        """DFT of ``x`` (shape :attr:`shape`) over its last two axes."""
        return self._fwd(x).copy()

    def inverse(self, X):
        """Inverse DFT of ``X`` (shape :attr:`spectrum_shape`); real output when ``real``."""
        return self._inv(X).copy()


_CACHE_SIZE = 16
_cache: "OrderedDict[tuple, FFT2]" = OrderedDict()


def get_fft(shape, real=True, threads=None):
    """Return a cached :class:`FFT2` for ``shape`` (built on first use).

    The cache keeps the 16 most recently used plans.
    """
    key = (tuple(int(s) for s in shape), bool(real), int(threads or default_threads()))
    plan = _cache.get(key)
    if plan is None:
        plan = FFT2(key[0], real=key[1], threads=key[2])
        _cache[key] = plan
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    else:
        _cache.move_to_end(key)
    return plan


def clear_cache():
    """Forget every cached plan."""
    _cache.clear()
