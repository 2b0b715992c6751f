"""pyFFTW plans over the last two axes, built once per shape and reused.

A :class:`FFT2` object holds a forward and an inverse plan for arrays of one
shape. :func:`get_fft` returns a cached instance, so repeated solves on images
of the same size (frames of a video, iterations of a solver) reuse the same
plans. The cache is an explicit, bounded object that :func:`clear_cache`
empties; nothing else is kept between calls.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict

import numpy as np

__all__ = ["FFT2", "get_fft", "clear_cache", "default_threads", "real_dtype", "PRECISIONS"]


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


#: Accepted ``precision`` names and the real dtype each one computes in.
PRECISIONS = {"double": np.dtype(np.float64), "single": np.dtype(np.float32)}


def real_dtype(precision):
    """The real dtype of ``precision`` (``"double"`` -> float64, ``"single"`` -> float32).

    Raises
    ------
    ValueError
        If ``precision`` is not one of :data:`PRECISIONS`.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, got {precision!r}")
    return PRECISIONS[precision]


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
    dtype : numpy dtype
        Real working precision, ``float64`` (default) or ``float32``; spectra
        are ``complex128`` or ``complex64`` accordingly. Inputs of any real or
        complex dtype are cast to it.

    Notes
    -----
    The arrays returned by :meth:`forward` and :meth:`inverse` are fresh copies,
    never FFTW's internal buffers, so callers may keep them across calls.

    The forward and inverse plans share two aligned buffers (one spatial, one
    spectral), so a plan holds ``2 x`` one array of :attr:`shape` (about
    ``2 * 8 * H * W * C`` bytes in double precision, half in single) instead of
    four. A lock serialises calls, so one plan may be used from several threads.
    """

    def __init__(self, shape, real=True, threads=None, effort="FFTW_ESTIMATE", dtype=np.float64):
        self.shape = tuple(int(s) for s in shape)
        if len(self.shape) < 2 or min(self.shape) < 1:
            raise ValueError(f"shape must have at least two positive dimensions, got {shape!r}")
        self.real = bool(real)
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise ValueError(f"dtype must be float32 or float64, got {self.dtype}")
        self.complex_dtype = np.result_type(self.dtype, np.complex64)
        self.threads = int(threads or default_threads(self.shape))
        H, W = self.shape[-2:]
        import pyfftw  # loaded on first use: importing it also imports dask.array (slow)

        if self.real:
            self.spectrum_shape = (*self.shape[:-1], W // 2 + 1)
            self._space = pyfftw.empty_aligned(self.shape, dtype=self.dtype)
        else:
            self.spectrum_shape = self.shape
            self._space = pyfftw.empty_aligned(self.shape, dtype=self.complex_dtype)
        self._spec = pyfftw.empty_aligned(self.spectrum_shape, dtype=self.complex_dtype)
        axes = (-2, -1)
        # c2r transforms overwrite their input; the spectral buffer is ours, so allow it
        flags = (effort, "FFTW_DESTROY_INPUT")
        self._fwd = pyfftw.FFTW(self._space, self._spec, axes=axes, direction="FFTW_FORWARD",
                                flags=flags, threads=self.threads)
        self._inv = pyfftw.FFTW(self._spec, self._space, axes=axes, direction="FFTW_BACKWARD",
                                flags=flags, threads=self.threads)
        self._norm = 1.0 / (H * W)
        self._lock = threading.Lock()

    def _check(self, x, shape, what):
        if np.shape(x) != shape:
            raise ValueError(f"{what} has shape {np.shape(x)}, this plan expects {shape}")

    def forward(self, x):
        """DFT of ``x`` (shape :attr:`shape`) over its last two axes (a new array)."""
        self._check(x, self.shape, "x")
        with self._lock:
            if self.real:
                np.copyto(self._space, np.real(x), casting="unsafe")
            else:
                np.copyto(self._space, x, casting="unsafe")
            self._fwd.execute()
            return self._spec.copy()

    def inverse(self, X):
        """Inverse DFT of ``X`` (shape :attr:`spectrum_shape`); real output when ``real``."""
        self._check(X, self.spectrum_shape, "X")
        with self._lock:
            np.copyto(self._spec, X, casting="unsafe")
            self._inv.execute()
            return self._space * self.dtype.type(self._norm)


_CACHE_SIZE = 16
_cache: "OrderedDict[tuple, FFT2]" = OrderedDict()
_cache_lock = threading.Lock()


def get_fft(shape, real=True, threads=None, effort="FFTW_ESTIMATE", precision="double"):
    """Return a cached :class:`FFT2` for ``shape`` (built on first use).

    Parameters
    ----------
    shape, real, threads, effort
        As for :class:`FFT2`.
    precision : {"double", "single"}
        float64/complex128 (default) or float32/complex64 transforms.

    Notes
    -----
    The cache keeps the 16 most recently used plans; it is keyed by all the
    arguments, so frames of a video or iterations of a solver reuse one plan.
    """
    dtype = real_dtype(precision)
    shape = tuple(int(s) for s in shape)
    key = (shape, bool(real), int(threads or default_threads(shape)), effort, precision)
    with _cache_lock:
        plan = _cache.get(key)
        if plan is None:
            plan = FFT2(shape, real=real, threads=key[2], effort=effort, dtype=dtype)
            _cache[key] = plan
            while len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)
        else:
            _cache.move_to_end(key)
    return plan


def clear_cache():
    """Forget every cached plan."""
    with _cache_lock:
        _cache.clear()
