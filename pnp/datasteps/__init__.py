"""Data steps: ``step(v, alpha) = argmin_z ||y - A z||^2 + alpha ||z - v||^2``.

- :class:`FFTDataStep`: closed form for :class:`pnp.operators.Blur` (pyFFTW).
- :class:`CGDataStep`: conjugate gradient on the normal equations, for any
  operator with ``forward`` and ``adjoint``.
"""

from .cg import CGDataStep
from .fft import FFTDataStep

__all__ = ["FFTDataStep", "CGDataStep"]
