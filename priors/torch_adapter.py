"""Run a torch denoising network as a numpy prior, tile by tile when the image is large."""

from __future__ import annotations

import numpy as np

from .base import check_image, check_sigma
from .tiling import auto_tile_size, blend_tiles, blend_tiles_tensor, check_tile_args

__all__ = ["TorchDenoiser", "PIXEL_BYTES_PER_WIDTH", "WeightsChannelsError"]


class WeightsChannelsError(ValueError):
    """A network prior's weights are for another number of channels than asked for (a ValueError).

    Raised by the loaders of :class:`TorchDenoiser` subclasses; :meth:`TorchDenoiser.__call__`
    turns it into a message about the image it was given.

    Parameters
    ----------
    path : path-like
        The weights file.
    channels : int
        The channel count the weights are for.
    wanted : int
        The channel count asked for.
    """

    def __init__(self, path, channels, wanted):
        super().__init__(f"weights {path} are for {channels}-channel images, got {wanted}")
        self.path, self.channels, self.wanted = path, channels, wanted

#: Peak activation memory of a U-Net denoiser per input pixel, in units of its first
#: layer's width (channels): measured for deepinv's DRUNet on CPU (float32, no grad),
#: about 30 B/px per channel of width (486 B/px for width 16, 1832 B/px for width 64;
#: docs/benchmarks_scale.md); 32 leaves a small margin.
PIXEL_BYTES_PER_WIDTH = 32


class TorchDenoiser:
    """Adapter: ``model(x, sigma)`` on ``(B, C, H, W)`` tensors -> ``prior(x, sigma)`` on arrays.

    Parameters
    ----------
    loader : callable
        ``loader(channels) -> torch.nn.Module`` returning a network in eval mode
        for images with ``channels`` channels (1 or 3); called once per channel
        count, on first use. The network is called as ``net(x, sigma)`` with
        ``x`` of shape ``(1, C, H, W)`` and ``sigma`` a float (0-1 scale).
    device : str
        Torch device, e.g. ``"cpu"`` or ``"cuda"``.
    multiple : int
        The network's input size must be a multiple of this; inputs are
        reflect-padded to it and cropped back.
    min_size : int
        Inputs smaller than this are padded to it.
    threads : int, optional
        If given, ``torch.set_num_threads(threads)`` on first use.
    name : str
        Shown in ``repr``.
    tile : "auto", int or None
        ``"auto"`` (default): images whose activations would exceed
        ``memory_budget_mb`` are processed in square tiles of the largest size
        that fits (smaller images in one piece, as before). An int: tiles of
        that size (pixels) whenever the image is larger. ``None``: never tile.
    overlap : int
        Pixels shared by neighbouring tiles; the outputs are blended with a
        raised-cosine window over this width (see :mod:`priors.tiling`).
    memory_budget_mb : float
        Activation memory allowed for one network call (MiB), used by
        ``tile="auto"``: a real number > 0 (``bool`` is refused). The default, 256 MiB, gives tiles of about 700x700
        pixels for the project's small DRUNet (about 1.1x the work of an
        untiled call from the overlaps).
    pixel_bytes : float, optional
        Peak activation bytes per input pixel; default estimated from the
        width of the network's first convolution
        (``PIXEL_BYTES_PER_WIDTH x width``).
    """

    def __init__(self, loader, device="cpu", multiple=8, min_size=32, threads=None, name="TorchDenoiser",
                 tile="auto", overlap=32, memory_budget_mb=256, pixel_bytes=None):
        from pnp._checks import check_real  # not at the top: import pnp loads pyfftw, which training does without

        self.loader = loader
        self.device = device
        self.multiple = int(multiple)
        self.min_size = int(min_size)
        self.threads = threads
        self.name = name
        if isinstance(tile, str):
            if tile != "auto":
                raise ValueError(f"tile must be 'auto', None or an integer, got {tile!r}")
            check_tile_args(max(2 * overlap + self.multiple, 16), overlap, self.multiple)
        elif tile is not None:
            tile, overlap = check_tile_args(tile, overlap, self.multiple)
        self.tile = tile
        self.overlap = int(overlap)
        self.memory_budget_mb = check_real(memory_budget_mb, "memory_budget_mb", 0, low_open=True,
                                           expected="a positive number (MiB)")
        if pixel_bytes is not None and not pixel_bytes > 0:
            raise ValueError(f"pixel_bytes must be > 0, got {pixel_bytes!r}")
        self._pixel_bytes = pixel_bytes
        self._models = {}

    def __repr__(self):
        return f"{self.name}(device={self.device!r}, tile={self.tile!r})"

    def __getstate__(self):
        # loaded networks are not pickled: a copy sent to another process reloads on first use
        state = self.__dict__.copy()
        state["_models"] = {}
        return state

    def model(self, channels):
        """The network for ``channels`` channels (loaded on first use)."""
        if channels not in self._models:
            import torch

            if self.threads:
                torch.set_num_threads(int(self.threads))
            net = self.loader(channels)
            net.eval()
            for p in net.parameters():
                p.requires_grad_(False)
            self._models[channels] = net.to(self.device)
        return self._models[channels]

    def pixel_bytes(self, channels):
        """Estimated peak activation bytes per input pixel for ``channels``-channel images."""
        if self._pixel_bytes is not None:
            return float(self._pixel_bytes)
        import torch

        width = next((m.out_channels for m in self.model(channels).modules()
                      if isinstance(m, torch.nn.Conv2d)), 64)
        return float(PIXEL_BYTES_PER_WIDTH * width)

    def tile_size(self, shape):
        """Tile size (pixels) used for an image of ``shape`` ``(C, H, W)``; ``None`` means whole image."""
        C, H, W = shape
        if self.tile is None:
            return None
        if self.tile == "auto":
            m = self.multiple
            padded = max(self.min_size, -(-H // m) * m) * max(self.min_size, -(-W // m) * m)
            if padded * self.pixel_bytes(C) <= self.memory_budget_mb * 2**20:
                return None
            return auto_tile_size(self.memory_budget_mb, self.pixel_bytes(C), m, self.overlap)
        return None if (H <= self.tile and W <= self.tile) else self.tile

    def denoise_tensor(self, x, sigma):
        """Denoise a ``(B, C, H, W)`` float32 tensor (any size; padded internally; never tiled: see
        :meth:`denoise_tensor_tiled`).

        Raises
        ------
        ValueError
            If ``sigma`` is not a finite noise level in [0, 1] (:func:`priors.base.check_sigma`).
        """
        import torch
        import torch.nn.functional as F

        sigma = check_sigma(sigma)
        B, C, H, W = x.shape
        self._check_channels((H, W) if C == 1 else (H, W, C), C)  # weights for C channels, or a clear error
        m = self.multiple
        H2 = max(self.min_size, -(-H // m) * m)
        W2 = max(self.min_size, -(-W // m) * m)
        ph, pw = H2 - H, W2 - W
        if ph or pw:
            mode = "reflect" if (ph < H and pw < W) else "replicate"
            x = F.pad(x, (0, pw, 0, ph), mode=mode)
        net = self.model(C)
        param = next(net.parameters(), None)
        if param is not None and param.device != x.device:
            net = self._model_on(C, x.device)
        with torch.no_grad():
            out = net(x, sigma)
        return out[..., :H, :W]

    def denoise_tensor_tiled(self, x, sigma):
        """:meth:`denoise_tensor`, tile by tile as :meth:`__call__` tiles: the torch path of :func:`pnp.solve`.

        The tile size is :meth:`tile_size` of one image of the batch (``tile``,
        ``overlap`` and ``memory_budget_mb`` as on the numpy path); the tiles
        are blended on ``x``'s device (:func:`priors.tiling.blend_tiles_tensor`).
        An image that needs no tiles goes through :meth:`denoise_tensor` in
        one piece.

        Parameters
        ----------
        x : Tensor, shape (B, C, H, W)
            Float images, 0-1 scale.
        sigma : float
            Noise level, 0-1 scale.

        Returns
        -------
        Tensor, shape (B, C, H, W)

        Raises
        ------
        ValueError
            As :meth:`denoise_tensor`.
        """
        sigma = check_sigma(sigma)
        _, C, H, W = x.shape
        self._check_channels((H, W) if C == 1 else (H, W, C), C)  # before tile_size loads the network
        tile = self.tile_size(tuple(x.shape[1:]))
        if tile is None:
            return self.denoise_tensor(x, sigma)
        return blend_tiles_tensor(lambda part: self.denoise_tensor(part, sigma), x, tile, self.overlap,
                                  multiple=self.multiple)

    def _model_on(self, channels, device):
        """A copy of the ``channels`` network on ``device`` (made once, then cached)."""
        import copy

        key = (channels, str(device))
        if key not in self._models:
            self._models[key] = copy.deepcopy(self.model(channels)).to(device)
        return self._models[key]

    def _denoise_chw(self, chw, sigma):
        """``(C, h, w)`` float32 array -> denoised float32 array (one network call)."""
        import torch

        t = torch.from_numpy(np.ascontiguousarray(chw, dtype=np.float32))[None].to(self.device)
        return self.denoise_tensor(t, sigma)[0].cpu().numpy()

    def _check_channels(self, shape, C):
        """Load the network for ``C`` channels; a :class:`WeightsChannelsError` is explained in terms of an
        image of public ``shape`` (``(H, W)`` or ``(H, W, C)``), the one being denoised."""
        from pnp._layout import _channels_message

        try:
            self.model(C)
        except WeightsChannelsError as exc:
            what = f"{self.name}: its weights {exc.path} are for {exc.channels}-channel images only"
            if len(shape) == 2:
                raise ValueError(f"x is a gray image (shape {tuple(shape)}); {what}") from None
            if shape[2] != C:  # run channel by channel through the gray network, which it lacks
                what += (f", and it runs images of {shape[2]} channels channel by channel through a gray "
                         "(1-channel) network")
            raise ValueError(f"{what}. {_channels_message(tuple(shape), 'x', (exc.channels,))}") from None

    def __call__(self, x, sigma):
        """Denoise ``x`` (``(H, W)`` or ``(H, W, C)``, 0-1 scale) at noise level ``sigma`` (0-1 scale).

        Images with 1 or 3 channels go through the network of that channel
        count; others (2, 4, ...) channel by channel through the gray network.

        Returns
        -------
        ndarray
            The denoised image, with the shape and the float dtype of ``x``
            (the network runs in float32).

        Raises
        ------
        TypeError
            If ``x`` is not a float array (:func:`priors.base.check_image`).
        ValueError
            If ``sigma`` is not a finite noise level in [0, 1] (:func:`priors.base.check_sigma`),
            ``x`` is not ``(H, W)`` or ``(H, W, C)``, looks channels-first
            (``(3, H, W)``), contains NaN or infinity, or has a channel count
            the weights cannot denoise (e.g. RGBA for colour-only weights).
        """
        sigma = check_sigma(sigma)
        x = check_image(x)
        chw = x[None] if x.ndim == 2 else np.moveaxis(x, -1, 0)
        C = chw.shape[0]
        if C not in (1, 3):
            # run channel by channel through the gray network
            self._check_channels(x.shape, 1)
            return np.stack([self(x[..., c], sigma) for c in range(C)], axis=-1)
        self._check_channels(x.shape, C)
        tile = self.tile_size(chw.shape)
        if tile is None:
            out = self._denoise_chw(chw, sigma)
            out = out[0] if x.ndim == 2 else np.moveaxis(out, 0, -1)
            return out.astype(x.dtype)
        # tiles are blended straight into the result (in the public layout): no full-size
        # float32 copy on top of it
        result = np.empty((*chw.shape[1:], C), dtype=np.promote_types(x.dtype, np.float32))
        blend_tiles(lambda part: self._denoise_chw(part, sigma), chw, tile, self.overlap,
                    multiple=self.multiple, out=np.moveaxis(result, -1, 0))
        result = result[..., 0] if x.ndim == 2 else result
        return result.astype(x.dtype, copy=False)
