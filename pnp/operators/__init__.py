"""Forward models ``y = A x``: each operator owns its forward, adjoint and data step.

An operator used by :func:`pnp.solve` provides

- ``forward(x)``: ``(C, H, W)`` -> ``(C, h, w)``, the noiseless observation;
- ``adjoint(y)``: ``(C, h, w)`` -> ``(C, H, W)``;
- ``input_shape(y_shape)``: the shape ``(C, H, W)`` of ``x`` for an observation of shape ``y_shape``;
- ``data_step(y)``: a callable ``step(v, alpha)`` returning
  ``argmin_z ||y - A z||^2 + alpha ||z - v||^2``;
- ``initial(y)``: a starting estimate of shape ``input_shape(y.shape)``;
- optionally ``padded(pad)``: the same operator on an image padded by ``pad`` pixels of
  the observation grid on every side (used for boundary handling); such an operator's
  ``data_step(y, observed=mask)`` must accept a boolean ``(h, w)`` mask of the pixels
  that were really observed, and ``boundary_margin()`` may give the pad width.
"""

from .blur import Blur

__all__ = ["Blur", "RotationalBlur", "PolarRotationalBlur"]


def __getattr__(name):  # the rotational blurs load scipy.sparse: only on first use
    if name == "RotationalBlur":
        from .rotational import RotationalBlur

        return RotationalBlur
    if name == "PolarRotationalBlur":
        from .polar_rotational import PolarRotationalBlur

        return PolarRotationalBlur
    raise AttributeError(f"module 'pnp.operators' has no attribute {name!r}")
