"""deepinv's DRUNet with a global residual connection (the network predicts the noise)."""

from __future__ import annotations

from deepinv.models import DRUNet

__all__ = ["ResidualDRUNet", "build_drunet"]


class ResidualDRUNet(DRUNet):
    """deepinv's :class:`~deepinv.models.DRUNet` whose body estimates the noise: ``x - DRUNet(x, sigma)``.

    The layers and the ``state_dict`` keys are exactly those of deepinv's DRUNet;
    only the output differs (the original regresses the clean image). The
    attention U-Net of this project is residual in the same way; trained from
    scratch on 2 CPU cores, the residual form learned far faster than the direct
    one (model card: ``priors/weights/drunet_small.md``).

    Parameters
    ----------
    **kwargs
        Constructor arguments of :class:`deepinv.models.DRUNet` (``in_channels``,
        ``out_channels``, ``nc``, ``nb``, ...; ``pretrained`` is forced to None).
    """

    def __init__(self, **kwargs):
        kwargs["pretrained"] = None
        super().__init__(**kwargs)

    def forward(self, x, sigma):
        """Denoise ``x`` (B, C, H, W) at noise level ``sigma`` (0-1 scale, float or (B,) tensor)."""
        return x - super().forward(x, sigma)


def build_drunet(residual=False, **kwargs):
    """A freshly initialised DRUNet (``residual=False``, deepinv's class) or :class:`ResidualDRUNet`.

    Parameters
    ----------
    residual : bool
        Predict the noise (True) or the clean image (False, as the original).
    **kwargs
        Constructor arguments of :class:`deepinv.models.DRUNet`.

    Returns
    -------
    torch.nn.Module
    """
    kwargs["pretrained"] = None
    return ResidualDRUNet(**kwargs) if residual else DRUNet(**kwargs)
