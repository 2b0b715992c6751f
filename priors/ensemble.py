"""Geometric self-ensemble: average a prior over flips and 90-degree rotations of its input.

A denoiser trained with random flips and rotations is close to, but not
exactly, equivariant to them; averaging its outputs over the ``n`` transforms
of the dihedral group (``n = 8``: four rotations, each with and without a
mirror) removes part of its error at ``n`` times the cost. DRUNet, IRCNN and
most restoration papers report such a "x8" variant beside the plain network.

``pnp.solve(y, k, prior="drunet+x8")`` (any registered name with the suffix
``+x2``, ``+x4`` or ``+x8``) or ``SelfEnsemble("drunet")`` uses it.
"""

from __future__ import annotations

import numpy as np

from .base import check_image, check_prior

__all__ = ["SelfEnsemble", "dihedral", "dihedral_inverse", "torch_self_ensemble"]

_SIZES = (2, 4, 8)


def _check_size(n):
    """``n`` as an int; ValueError unless it is 2, 4 or 8."""
    if n not in _SIZES or int(n) != n:
        raise ValueError(f"n must be one of {_SIZES}, got {n!r}")
    return int(n)


def _check_index(k):
    """``k`` as an int; ValueError unless it is 0..7."""
    k = int(k)
    if not 0 <= k < 8:
        raise ValueError(f"k must be in 0..7, got {k}")
    return k


def _transforms(n):
    """Indices (see :func:`dihedral`) of the ``n`` transforms averaged."""
    if n == 2:
        return (0, 4)  # identity, mirror
    if n == 4:
        return (0, 1, 2, 3)  # the four quarter turns
    return tuple(range(8))


def dihedral(x, k):
    """Transform ``k`` (0-7) of the dihedral group applied to the first two axes of ``x``.

    ``k % 4`` quarter turns (counter-clockwise, :func:`numpy.rot90`) of the image,
    mirrored left-right first when ``k >= 4``. ``k = 0`` is the identity.
    """
    k = _check_index(k)
    if k >= 4:
        x = x[:, ::-1]
    return np.rot90(x, k % 4, axes=(0, 1))


def dihedral_inverse(x, k):
    """Undo :func:`dihedral` (``dihedral_inverse(dihedral(x, k), k) == x``)."""
    k = _check_index(k)
    x = np.rot90(x, -(k % 4), axes=(0, 1))
    return x[:, ::-1] if k >= 4 else x


class SelfEnsemble:
    """A prior averaged over ``n`` flips / quarter turns of its input.

    Parameters
    ----------
    prior : str or callable
        A registered prior name (see :func:`priors.available_priors`) or a
        callable ``prior(x, sigma)``.
    n : {2, 4, 8}
        Number of transforms: 2 = identity and left-right mirror, 4 = the four
        quarter turns, 8 = all (each with and without the mirror). The cost is
        ``n`` calls of ``prior`` per call.
    **kwargs
        Options of a named prior.

    Notes
    -----
    With ``n = 4`` or ``8`` the prior also sees the image turned by 90 degrees,
    i.e. with height and width swapped: a prior that only accepts its
    training size cannot be used (ours are fully convolutional).

    Examples
    --------
    >>> import numpy as np
    >>> from priors.ensemble import SelfEnsemble
    >>> shift = lambda x, sigma: np.roll(x, 1, axis=1)   # not equivariant to mirrors
    >>> x = np.arange(12.0).reshape(3, 4)
    >>> out = SelfEnsemble(shift, n=2)(x, 0.1)          # half shifted left, half right
    >>> bool(np.allclose(out[:, 1:-1], x[:, 1:-1]))
    True
    """

    def __init__(self, prior, n=8, **kwargs):
        from .registry import get_prior

        self.n = _check_size(n)
        self.prior = get_prior(prior, **kwargs) if isinstance(prior, str) else check_prior(prior)
        if kwargs and not isinstance(prior, str):
            raise TypeError("prior options can only be given with a prior name")
        self.name = f"{getattr(self.prior, 'name', type(self.prior).__name__)}+x{self.n}"
        if hasattr(self.prior, "denoise_tensor"):  # a torch prior: pnp.solve(..., device=...) works too
            self.denoise_tensor = self._denoise_tensor
        if hasattr(self.prior, "denoise_tensor_tiled"):  # a tiled one (TorchDenoiser): tiled there too
            self.denoise_tensor_tiled = self._denoise_tensor_tiled
        if hasattr(self.prior, "to"):
            self.to = self.prior.to

    def __repr__(self):
        return f"SelfEnsemble({self.prior!r}, n={self.n})"

    def _denoise_tensor(self, x, sigma):
        """The ensemble on a ``(B, C, H, W)`` torch tensor (the wrapped prior's ``denoise_tensor``)."""
        return _torch_average(self.prior.denoise_tensor, x, sigma, _transforms(self.n))

    def _denoise_tensor_tiled(self, x, sigma):
        """The ensemble on a ``(B, C, H, W)`` tensor, each transformed copy through the wrapped prior's
        ``denoise_tensor_tiled``: tiled as :meth:`__call__` tiles on arrays (the torch path of :func:`pnp.solve`).

        Each copy is tiled on its own shape (``W x H`` after a quarter turn), as
        the wrapped prior tiles the turned arrays that :meth:`__call__` gives it.
        """
        return _torch_average(self.prior.denoise_tensor_tiled, x, sigma, _transforms(self.n))

    def weight_files(self):
        """The wrapped prior's ``weight_files()`` (an empty list if it has none).

        :meth:`pnp.learned_schedule.LearnedSchedule.check_prior` and
        :mod:`pnp.settings_record` read it: the ensemble of a prior uses that prior's weights.
        """
        inner = getattr(self.prior, "weight_files", None)
        return list(inner()) if callable(inner) else []

    def __call__(self, x, sigma):
        """Denoise ``x`` (``(H, W)`` or ``(H, W, C)``) at noise level ``sigma`` (0-1 scale).

        Returns the average in the shape and float dtype of ``x``. ``x`` is
        checked once, before the first transform (:func:`priors.base.check_image`):
        a channels-first array would otherwise be turned about the wrong axes.
        """
        x = check_image(x)
        acc = np.zeros(x.shape, dtype=np.float64)
        for k in _transforms(self.n):
            out = np.asarray(self.prior(np.ascontiguousarray(dihedral(x, k)), sigma))
            acc += dihedral_inverse(out, k)
        return (acc / self.n).astype(x.dtype, copy=False)


def torch_self_ensemble(model, n=8):
    """The self-ensemble of a torch denoiser ``model(x, sigma)`` on ``(B, C, H, W)`` tensors.

    Returns a :class:`torch.nn.Module` (it holds ``model`` as a sub-module, so
    ``.eval()`` and ``.to()`` reach it) whose forward averages ``model`` over
    the same ``n`` transforms as :class:`SelfEnsemble`. Used by
    ``python -m priors.train --measure --ensemble 8``.
    """
    import torch

    n = _check_size(n)
    ks = _transforms(n)

    class _TorchSelfEnsemble(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model
            self.n = n

        def forward(self, x, sigma):
            return _torch_average(self.model, x, sigma, ks)

    return _TorchSelfEnsemble()


def _torch_average(fn, x, sigma, ks):
    """Mean over the transforms ``ks`` of ``fn`` on a ``(..., H, W)`` tensor (as :func:`dihedral`)."""
    import torch

    acc = torch.zeros_like(x)
    for k in ks:
        t = torch.flip(x, dims=(-1,)) if k >= 4 else x
        out = torch.rot90(fn(torch.rot90(t, k % 4, dims=(-2, -1)), sigma), -(k % 4), dims=(-2, -1))
        acc = acc + (torch.flip(out, dims=(-1,)) if k >= 4 else out)
    return acc / len(ks)
