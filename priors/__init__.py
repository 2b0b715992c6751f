"""Image priors: denoisers behind one small interface.

A prior is any callable ``prior(x, sigma) -> x_denoised`` where ``x`` is a
float array of shape ``(H, W)`` or ``(H, W, C)`` on the 0-1 scale and
``sigma`` the noise standard deviation on the same scale. Names usable as
``pnp.solve(..., prior="name")`` are listed by :func:`available_priors`.

Heavy libraries (torch, deepinv, bm3d) are imported only when a prior that
needs them is built.
"""

from .base import Prior, check_prior
from .registry import available_priors, get_prior, register_prior

__all__ = ["Prior", "check_prior", "available_priors", "get_prior", "register_prior",
           "TV", "BM3D", "DRUNet", "AttentionUNetPrior", "TorchDenoiser"]


def __getattr__(name):
    if name == "TV":
        from .tv import TV
        return TV
    if name == "BM3D":
        from .bm3d import BM3D
        return BM3D
    if name == "DRUNet":
        from .drunet import DRUNet
        return DRUNet
    if name == "AttentionUNetPrior":
        from .attention_prior import AttentionUNetPrior
        return AttentionUNetPrior
    if name == "TorchDenoiser":
        from .torch_adapter import TorchDenoiser
        return TorchDenoiser
    raise AttributeError(f"module 'priors' has no attribute {name!r}")
