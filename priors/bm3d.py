"""BM3D prior (the ``bm3d`` package; CBM3D for colour).

The ``bm3d`` package is licensed for non-commercial use only; it is an optional
prior, never required by the rest of the library.
"""

from __future__ import annotations

import numpy as np

from .base import check_image, check_sigma

__all__ = ["BM3D", "MIN_SIZE"]

#: Smallest side (pixels) handed to the ``bm3d`` package; smaller images are mirror-padded to it.
MIN_SIZE = 16


class BM3D:
    """Block-matching and 3-D filtering (Dabov et al.) as a prior.

    Parameters
    ----------
    stages : {"all", "hard"}
        ``"all"`` runs hard thresholding then Wiener filtering (best quality);
        ``"hard"`` only the first stage (about twice as fast). Applies to
        gray images; colour images always run both stages of CBM3D
        (``bm3d.bm3d_rgb`` has no stage option).
    """

    def __init__(self, stages="all"):
        try:
            import bm3d  # noqa: F401
        except ImportError as exc:  # pragma: no cover - dependency missing
            raise ImportError("the BM3D prior needs the optional 'bm3d' package (free for non-commercial use "
                              "only): pip install 'pnp-deblur[bm3d]' (or pip install bm3d)") from exc
        if stages not in ("all", "hard"):
            raise ValueError(f"stages must be 'all' or 'hard', got {stages!r}")
        self.stages = stages

    def __repr__(self):
        return f"BM3D(stages={self.stages!r})"

    def __call__(self, x, sigma):
        """Denoise ``x`` at noise level ``sigma`` (0-1 scale, in [0, 1]; 0 runs at 1e-4).

        ``x`` is ``(H, W)`` or ``(H, W, C)``. Images smaller than
        :data:`MIN_SIZE` on a side are mirror-padded to it and cropped back
        (the ``bm3d`` package refuses sides below its 8-pixel blocks and
        crashes the process on some 8-pixel ones). A colour image whose
        opponent colour channels are flat (a gray image stored as RGB, a
        constant image), for which CBM3D returns NaN, is denoised channel by
        channel. The result has the shape and float dtype of ``x``; ``x`` is
        checked by :func:`priors.base.check_image` (channels-first, NaN and
        non-float images raise).
        """
        import bm3d

        sigma = max(check_sigma(sigma), 1e-4)
        stage = bm3d.BM3DStages.ALL_STAGES if self.stages == "all" else bm3d.BM3DStages.HARD_THRESHOLDING
        dtype = check_image(x).dtype
        x = np.asarray(x, dtype=np.float64)
        H, W = x.shape[:2]
        pad = ((0, max(MIN_SIZE - H, 0)), (0, max(MIN_SIZE - W, 0))) + ((0, 0),) * (x.ndim - 2)
        if pad[0][1] or pad[1][1]:
            x = np.pad(x, pad, mode="symmetric")

        def gray(img):
            return np.asarray(bm3d.bm3d(img, sigma, stage_arg=stage), dtype=np.float64)

        if x.ndim == 3 and x.shape[2] == 3:
            with np.errstate(divide="ignore", invalid="ignore"):  # the flat case below
                out = np.asarray(bm3d.bm3d_rgb(x, sigma), dtype=np.float64)
            if not np.all(np.isfinite(out)):  # flat opponent channels: CBM3D divides 0 by 0
                out = np.stack([gray(x[..., c]) for c in range(3)], -1)
        elif x.ndim == 3:
            out = np.stack([gray(x[..., c]) for c in range(x.shape[2])], -1)
        else:
            out = gray(x)
        return out[:H, :W].astype(dtype, copy=False)
