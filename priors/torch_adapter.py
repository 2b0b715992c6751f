"""Run a torch denoising network as a numpy prior."""

from __future__ import annotations

import numpy as np

__all__ = ["TorchDenoiser"]


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
    """

    def __init__(self, loader, device="cpu", multiple=8, min_size=32, threads=None, name="TorchDenoiser"):
        self.loader = loader
        self.device = device
        self.multiple = int(multiple)
        self.min_size = int(min_size)
        self.threads = threads
        self.name = name
        self._models = {}

    def __repr__(self):
        return f"{self.name}(device={self.device!r})"

    def to(self, device):
        """Move the prior (and any network already loaded) to ``device``; returns self."""
        self.device = device
        self._models = {c: net.to(device) for c, net in self._models.items()}
        return self

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

    def denoise_tensor(self, x, sigma):
        """Denoise a ``(B, C, H, W)`` float32 tensor (any size; padded internally)."""
        import torch
        import torch.nn.functional as F

        B, C, H, W = x.shape
        m = self.multiple
        H2 = max(self.min_size, -(-H // m) * m)
        W2 = max(self.min_size, -(-W // m) * m)
        ph, pw = H2 - H, W2 - W
        if ph or pw:
            mode = "reflect" if (ph < H and pw < W) else "replicate"
            x = F.pad(x, (0, pw, 0, ph), mode=mode)
        with torch.no_grad():
            out = self.model(C)(x, float(sigma))
        return out[..., :H, :W]

    def __call__(self, x, sigma):
        import torch

        x = np.asarray(x)
        chw = x[None] if x.ndim == 2 else np.moveaxis(x, -1, 0)
        C = chw.shape[0]
        if C not in (1, 3):
            # run channel by channel through the gray network
            return np.stack([self(x[..., c], sigma) for c in range(C)], axis=-1)
        t = torch.from_numpy(np.ascontiguousarray(chw, dtype=np.float32))[None].to(self.device)
        out = self.denoise_tensor(t, sigma)[0].cpu().numpy().astype(np.float64)
        return out[0] if x.ndim == 2 else np.moveaxis(out, 0, -1)
