"""Total-variation prior: the proximal step of isotropic TV (Chambolle's algorithm)."""

from __future__ import annotations

from .base import check_image, check_sigma

__all__ = ["TV"]


class TV:
    """Cheap classical prior: TV denoising with weight proportional to ``sigma``.

    Parameters
    ----------
    strength : float
        Weight of ``skimage.restoration.denoise_tv_chambolle`` per unit of
        ``sigma`` (0-1 scale).
    max_num_iter : int
        Chambolle iterations per call.

    Raises
    ------
    TypeError
        If ``strength`` is not a real number or ``max_num_iter`` not an integer.
    ValueError
        If ``strength`` is negative, NaN or infinite, or ``max_num_iter`` is below 1.
    """

    def __init__(self, strength=1.0, max_num_iter=100):
        from pnp._checks import check_int, check_real  # not at the top: import pnp loads pyfftw

        self.strength = check_real(strength, "strength", 0)
        self.max_num_iter = check_int(max_num_iter, "max_num_iter", 1)

    def __repr__(self):
        return f"TV(strength={self.strength})"

    def __call__(self, x, sigma):
        """TV-denoise ``x`` with weight ``strength * sigma``; ``sigma`` on the 0-1 scale, in [0, 1].

        Returns the image with the shape and float dtype of ``x``. Raises as
        :func:`priors.base.check_image` and :func:`priors.base.check_sigma`.
        """
        from skimage.restoration import denoise_tv_chambolle

        sigma = check_sigma(sigma)
        x = check_image(x)
        if sigma == 0:
            return x.copy()
        channel_axis = -1 if x.ndim == 3 else None
        out = denoise_tv_chambolle(
            x, weight=self.strength * float(sigma), max_num_iter=self.max_num_iter, channel_axis=channel_axis
        )
        return out.astype(x.dtype, copy=False)
