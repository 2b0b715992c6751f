"""The unfolded network: K iterations of (torch data step, prior network) with a learned schedule.

``x_0 = init(y)``; for ``k = 1..K``: ``z_k = data_step(x_{k-1}, alpha_k)``,
``x_k = prior(z_k, sigma_k)``, with ``(alpha_k, sigma_k)`` from a
:class:`pnp.learned_schedule.HyperNet`. The data step has no weights (the
closed form of :mod:`pnp.datasteps.torch_fft`); the prior is frozen or
fine-tuned; the whole chain is trained with one loss on ``x_K``.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .datasteps.torch_fft import TorchFFTDataStep, _check_y
from .learned_schedule import HyperNet

__all__ = ["UnfoldedHQS", "pad_to_multiple"]


def pad_to_multiple(x, multiple=8):
    """Reflect-pad a (B, C, H, W) tensor on the bottom/right to a multiple; returns (padded, (H, W))."""
    H, W = x.shape[-2:]
    ph, pw = (-H) % multiple, (-W) % multiple
    if ph or pw:
        mode = "reflect" if (ph < H and pw < W) else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x, (H, W)



def aligned_upsample(y, s):
    """Cubic ``s``-fold upsampling of ``(B, C, h, w)`` with fine pixel ``s*i`` on coarse pixel ``i``.

    The alignment of :meth:`pnp.operators.Blur.initial` (the start of
    :func:`pnp.solve`) and of the data step's decimation, which keeps the top-left
    pixel of each ``s x s`` block. ``F.interpolate(..., align_corners=False)``
    centres the blocks instead, which shifts the start by ``(s - 1) / 2`` pixels.
    Reflecting borders; torch's cubic convolution kernel (a = -0.75), so the
    values differ slightly from ``Blur.initial``'s cubic spline, not the positions.
    """
    B, C, h, w = y.shape
    rows = torch.arange(h * s, dtype=y.dtype, device=y.device) / s
    cols = torch.arange(w * s, dtype=y.dtype, device=y.device) / s
    gy = 2 * rows / max(h - 1, 1) - 1
    gx = 2 * cols / max(w - 1, 1) - 1
    gyy, gxx = torch.meshgrid(gy, gx, indexing="ij")
    grid = torch.stack([gxx, gyy], dim=-1).unsqueeze(0).expand(B, -1, -1, -1)
    return F.grid_sample(y, grid, mode="bicubic", padding_mode="reflection", align_corners=True)


class UnfoldedHQS(nn.Module):
    """HQS unrolled for K iterations, trainable end to end.

    Parameters
    ----------
    prior : nn.Module
        Denoiser called as ``prior(x, sigma)`` with ``x`` (B, C, H, W) and
        ``sigma`` a (B,) tensor (deepinv's DRUNet, our attention U-Net).
    hypernet : HyperNet
        Produces ``(alpha_k, sigma_k)``; its ``iters`` is K.
    freeze_prior : bool
        If True the prior's weights do not train (gradients still flow
        through it to the schedule).
    multiple : int
        The prior's input size multiple (inputs are padded and cropped back).
    """

    def __init__(self, prior, hypernet=None, freeze_prior=True, multiple=8):
        super().__init__()
        self.prior = prior
        self.hypernet = hypernet if hypernet is not None else HyperNet(8)
        self.multiple = int(multiple)
        self.freeze_prior = bool(freeze_prior)
        if freeze_prior:
            for p in self.prior.parameters():
                p.requires_grad_(False)

    @property
    def iters(self):
        return self.hypernet.iters

    def denoise(self, x, sigma):
        xp, (H, W) = pad_to_multiple(x, self.multiple)
        return self.prior(xp, sigma)[..., :H, :W]

    def _dtype(self):
        """The floating dtype of the prior's weights (float32 when it has none)."""
        param = next(self.prior.parameters(), None)
        return param.dtype if param is not None and param.is_floating_point() else torch.float32

    def _check_inputs(self, y, kernel, noise, scale, step, descriptor=None):
        """Validated ``(y, kernel, noise, scale)``: tensors in the network's dtype, ``noise`` of shape (B,).

        Shapes and dtypes first; then the values of ``noise``, ``y`` and
        ``kernel`` (finite; noise in [0, 1]; kernel sums > 0) in one device
        synchronisation per call.
        """
        from .operators.blur import check_scale

        _check_y(y, check_finite=False)  # its values are checked below, in the one synchronisation
        dtype = self._dtype()
        y = y.to(dtype)  # e.g. float64 data for a float32 network: computed in the network's dtype
        B, _, h, w = y.shape
        s = check_scale(scale)
        if step is None:
            if not isinstance(kernel, torch.Tensor):
                raise TypeError(f"kernel must be a torch tensor of shape (B, kh, kw) or (kh, kw) (or give step), "
                                f"got {type(kernel).__name__}")
            if kernel.ndim not in (2, 3) or (kernel.ndim == 3 and kernel.shape[0] != B) or 0 in kernel.shape:
                raise ValueError(f"kernel must have shape (B, kh, kw) with B={B}, or (kh, kw), got "
                                 f"{tuple(kernel.shape)}")
            if not kernel.is_floating_point():
                raise TypeError(f"kernel must be a float tensor, got dtype {kernel.dtype}")
            kh, kw = kernel.shape[-2:]
            if kh > h * s or kw > w * s:
                raise ValueError(f"kernel of size {kh}x{kw} is larger than the image it blurs, "
                                 f"{h * s}x{w * s} (y of {h}x{w} times scale {s})")
            kernel = kernel.to(device=y.device, dtype=dtype)
        self._check_descriptor(descriptor, B)
        if isinstance(noise, torch.Tensor):
            if noise.ndim == 0:
                noise = noise.expand(B)
            if noise.shape != (B,):
                raise ValueError(f"noise must be a number or a tensor of shape (B,) = ({B},), got shape "
                                 f"{tuple(noise.shape)}")
            if not noise.is_floating_point():
                raise TypeError(f"noise must be a float tensor (0-1 scale), got dtype {noise.dtype}")
            noise = noise.to(device=y.device, dtype=dtype)
        else:
            from .noise import check_noise_level

            noise = torch.full((B,), check_noise_level(noise, "noise"), dtype=dtype, device=y.device)
        values = noise.detach()
        from ._layout import OFF_SCALE

        yd = y.detach()
        flags = [torch.isfinite(values).all() & (values >= 0).all(), (values <= 1).all(),
                 torch.isfinite(yd).all(), ((yd >= OFF_SCALE[0]) & (yd <= OFF_SCALE[1])).all()]
        if step is None:  # with a step, the kernel is not used (nor checked)
            kd = kernel.detach()
            flags += [torch.isfinite(kd).all(), (kd.sum(dim=(-2, -1)) > 0).all()]
        ok = torch.stack(flags).tolist()  # one synchronisation for all the value checks
        if not ok[0]:
            raise ValueError(f"noise must hold finite noise levels >= 0 (0-1 scale), got {values.tolist()}")
        if not ok[1]:
            raise ValueError(f"noise={values.max().item():g} is on the wrong scale: give the noise levels on the "
                             "0-1 intensity scale (e.g. 2.55/255 for sigma 2.55 of 8-bit values)")
        if not ok[2]:
            raise ValueError("y must hold finite values, got NaN or infinity")
        if not ok[3]:
            raise ValueError(f"y is not on the 0-1 intensity scale: its values lie in [{yd.min().item():.3g}, "
                             f"{yd.max().item():.3g}] (outside [{OFF_SCALE[0]}, {OFF_SCALE[1]}]); divide it by its "
                             "white level, e.g. 255 for 8-bit data")
        if step is None and not ok[4]:
            raise ValueError("kernel must hold finite values, got NaN or infinity")
        if step is None and not ok[5]:
            sums = kd.sum(dim=(-2, -1)).reshape(-1).tolist()
            raise ValueError(f"kernel must have a positive sum (a blur kernel normalised to unit sum), got "
                             f"sum{'s' if len(sums) > 1 else ''} {', '.join(f'{v:g}' for v in sums)}")
        return y, kernel, noise, s

    def _check_descriptor(self, descriptor, B):
        """Refuse a descriptor for a hypernet that takes none, and one of another shape than (B, D)."""
        dim = getattr(self.hypernet, "descriptor_dim", None)
        if dim is None:  # another hyper-parameter network: it checks its own inputs
            return
        if descriptor is None:
            if dim:
                raise ValueError(f"this hypernet needs a blur descriptor of shape (B, {dim}) = ({B}, {dim}): "
                                 "pass descriptor")
            return
        if not dim:
            raise ValueError("descriptor was given, but this hypernet takes none (descriptor_dim=0): it would be "
                             "ignored; pass descriptor=None or use a HyperNet with descriptor_dim > 0")
        if not isinstance(descriptor, torch.Tensor):
            raise TypeError(f"descriptor must be a torch tensor of shape (B, {dim}), got {type(descriptor).__name__}")
        if tuple(descriptor.shape) != (B, dim):
            raise ValueError(f"descriptor must have shape (B, {dim}) = ({B}, {dim}), got {tuple(descriptor.shape)}")

    def forward(self, y, kernel, noise, scale=1, descriptor=None, return_all=False, step=None):
        """Restore a batch.

        Parameters
        ----------
        y : Tensor, shape (B, C, h, w)
            Observations (0-1 scale), any float dtype: computed in the dtype
            of the prior's weights, returned in that of ``y``.
        kernel : Tensor, shape (B, kh, kw) or (kh, kw), or None
            Blur kernels (unit sum, origin at (kh//2, kw//2)); one for all
            samples when 2-D; None when ``step`` is given.
        noise : float or Tensor, shape (B,)
            Noise standard deviations (0-1 scale); a number (or a 0-d tensor)
            is used for every sample.
        scale : int
            Common downsampling factor of the batch.
        descriptor : Tensor, shape (B, D), optional
            Blur descriptors if the hypernet uses them.
        return_all : bool
            Also return the list of iterates.
        step : callable, optional
            A prebuilt torch data step ``step(v, alpha)`` for operators
            without a kernel, e.g. :class:`pnp.datasteps.torch_cg.TorchCGDataStep`
            for rotational blur.

        Returns
        -------
        Tensor, shape (B, C, h*scale, w*scale)

        Raises
        ------
        TypeError
            If ``y``, ``kernel`` or ``noise`` is not a float tensor (``noise``: or a number),
            or ``descriptor`` is not a tensor.
        ValueError
            If ``y`` is not 4-D, holds NaN or infinity or values outside
            [-0.5, 1.5] (an image on the 0-255 scale), ``kernel`` has another
            batch size than ``y``, is larger than the output ``(h*scale,
            w*scale)``, holds NaN or infinity or has a sum <= 0, ``noise`` is
            not of shape (B,), negative, not finite or above 1 (a noise level
            on the 0-255 scale), ``scale`` is not an integer >= 1 (``2.7`` is
            refused), or ``descriptor`` is given to a hypernet that takes none
            (``descriptor_dim=0``), missing for one that needs it, or not of
            shape (B, descriptor_dim).
        """
        out_dtype = y.dtype if isinstance(y, torch.Tensor) else None
        y, kernel, noise, s = self._check_inputs(y, kernel, noise, scale, step, descriptor)
        B = y.shape[0]
        scale_t = torch.full((B,), float(s), dtype=y.dtype, device=y.device)
        alphas, sigmas = self.hypernet(noise, scale_t, descriptor)
        if step is None:
            step = TorchFFTDataStep(kernel, y, scale=s, check_finite=False)  # checked above
        x = y if s == 1 else aligned_upsample(y, s)
        iterates = []
        for k in range(self.iters):
            z = step(x, alphas[:, k])
            x = self.denoise(z, sigmas[:, k])
            iterates.append(x.to(out_dtype))
        x = x.to(out_dtype)
        return (x, iterates) if return_all else x
