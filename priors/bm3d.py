"""BM3D prior (the ``bm3d`` package; CBM3D for colour).

The ``bm3d`` package is licensed for non-commercial use only; it is an optional
prior, never required by the rest of the library.
"""

from __future__ import annotations

import numpy as np

from .base import check_sigma

__all__ = ["BM3D"]


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
        """Denoise ``x`` at noise level ``sigma`` (0-1 scale, in [0, 1]; 0 runs at 1e-4)."""
        import bm3d

        sigma = max(check_sigma(sigma), 1e-4)
        stage = bm3d.BM3DStages.ALL_STAGES if self.stages == "all" else bm3d.BM3DStages.HARD_THRESHOLDING
        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 3 and x.shape[2] == 3:
            return np.asarray(bm3d.bm3d_rgb(x, sigma), dtype=np.float64)
        if x.ndim == 3:
            return np.stack([bm3d.bm3d(x[..., c], sigma, stage_arg=stage) for c in range(x.shape[2])], -1)
        return np.asarray(bm3d.bm3d(x, sigma, stage_arg=stage), dtype=np.float64)
