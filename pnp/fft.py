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


#: Arrays with fewer elements than this use one FFTW thread by default.
MULTITHREAD_MIN_SIZE = 1 << 20


def default_threads(shape=None):
    """Default FFTW thread count: all cores available to the process.

    For arrays smaller than :data:`MULTITHREAD_MIN_SIZE` elements (about a
    1024x1024 image) one thread is used: measured here, thread start-up and
    synchronisation cost more than they save on small transforms, and they are
    slowed badly when the cores are busy (e.g. a denoiser running in parallel).
    """
    if shape is not None and int(np.prod(shape)) < MULTITHREAD_MIN_SIZE:
        return 1
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
        FFTW threads; default :func:`default_threads` (all cores for large
        arrays, one for small ones).
    effort : str
        FFTW planner effort. ``"FFTW_ESTIMATE"`` (default) plans in
        milliseconds; ``"FFTW_MEASURE"`` can run a little faster but planning
        one shape takes seconds.

    Notes
    -----
    The arrays returned by :meth:`forward` and :meth:`inverse` are fresh copies,
    never FFTW's internal buffers, so callers may keep them across calls.
    """

    def __init__(self, shape, real=True, threads=None, effort="FFTW_ESTIMATE"):
        self.shape = tuple(int(s) for s in shape)
        self.real = bool(real)
        self.threads = int(threads or default_threads(self.shape))
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


def get_fft(shape, real=True, threads=None, effort="FFTW_ESTIMATE"):
    """Return a cached :class:`FFT2` for ``shape`` (built on first use).

    The cache keeps the 16 most recently used plans.
    """
    shape = tuple(int(s) for s in shape)
    key = (shape, bool(real), int(threads or default_threads(shape)), effort)
    plan = _cache.get(key)
    if plan is None:
        plan = FFT2(shape, real=real, threads=key[2], effort=effort)
        _cache[key] = plan
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    else:
        _cache.move_to_end(key)
    return plan


def clear_cache():
    """Forget every cached plan."""
    _cache.clear()
