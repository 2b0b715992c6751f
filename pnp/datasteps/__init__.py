"""Data steps: ``step(v, alpha) = argmin_z ||y - A z||^2 + alpha ||z - v||^2``.

- :class:`FFTDataStep`: closed form for :class:`pnp.operators.Blur` (pyFFTW).
- :class:`CGDataStep`: conjugate gradient on the normal equations, for any
  operator with ``forward`` and ``adjoint``.
- :class:`MaskedDataStep`: the exact step with unobserved (padding) pixels,
  CG preconditioned by the closed form.
- :class:`PolarDataStep`: rotational blur, CG preconditioned by the closed
  form in polar coordinates, or plain CG (``polar=False``; what
  :meth:`pnp.RotationalBlur.data_step` uses for the exact masked step of
  :func:`pnp.solve`'s padded borders).
"""

from .cg import CGDataStep
from .fft import FFTDataStep
from .masked import MaskedDataStep

__all__ = ["FFTDataStep", "CGDataStep", "MaskedDataStep", "PolarDataStep"]


def __getattr__(name):  # the polar step needs scipy.sparse: only on first use
    if name == "PolarDataStep":
        from .polar import PolarDataStep

        return PolarDataStep
    raise AttributeError(f"module 'pnp.datasteps' has no attribute {name!r}")
