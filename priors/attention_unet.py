"""Attention U-Net denoiser: a small noise-level-conditioned U-Net with a seam-free attention body.

The network follows the design of the project's original report ("Priori Net"): a convolutional
head, three residual down-sampling stages, an attention body (self-attention over patch features)
and residual up-sampling stages with skip connections back to full resolution. It fixes the
report's three defects:

* **No seams.** The attention body uses *sliding-window* (neighbourhood) self-attention: every
  token attends to the ``window x window`` tokens centred on itself. There are no fixed blocks, so
  the operator is translation equivariant (up to the image border) and cannot leave block
  boundaries in the output.
* **Any input size.** The input is reflect-padded to a multiple of 8 (three stride-2 stages) and
  the output is cropped back, so e.g. 97x131 images work.
* **Detail.** The network predicts the noise (residual formulation, output ``x - n``), which keeps
  fine detail that a direct image regression tends to smooth away.

The noise level is given to the network as an extra constant input channel (as DRUNet does), so a
single model covers ``sigma`` in [0, 50/255].

torch is imported at module import time; import this module lazily from the library.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["AttentionUNet", "NeighbourhoodAttention", "sigma_map", "load_attention_unet", "weights_path"]


def sigma_map(x: torch.Tensor, sigma: float | torch.Tensor) -> torch.Tensor:
    """Constant noise-level map matching the batch and spatial size of ``x``.

    Parameters
    ----------
    x : torch.Tensor, shape (B, C, H, W)
        Image batch; only its shape, dtype and device are used.
    sigma : float or torch.Tensor
        Noise standard deviation on the 0-1 intensity scale: a float, a 0-d tensor, a tensor of
        shape (B,) (one level per image) or a per-pixel map of shape (B, 1, H, W).

    Returns
    -------
    torch.Tensor, shape (B, 1, H, W)
        The noise level of each pixel, same dtype and device as ``x``.

    Raises
    ------
    ValueError
        If ``sigma`` is a tensor of any other shape.
    """
    b, _, h, w = x.shape
    if not isinstance(sigma, torch.Tensor):
        return x.new_full((b, 1, h, w), float(sigma))
    s = sigma.to(device=x.device, dtype=x.dtype)
    if s.ndim == 0 or s.numel() == 1 and s.ndim <= 1:
        return s.reshape(1, 1, 1, 1).expand(b, 1, h, w)
    if s.shape == (b,) or s.shape == (b, 1, 1, 1):
        return s.reshape(b, 1, 1, 1).expand(b, 1, h, w)
    if s.shape == (b, 1, h, w):
        return s
    raise ValueError(
        f"sigma must be a float, a tensor of shape ({b},) or ({b}, 1, {h}, {w}); "
        f"got a tensor of shape {tuple(s.shape)}. Pass one noise level per image."
    )


class ResBlock(nn.Module):
    """Residual block ``x + conv(relu(conv(x)))`` with 3x3 convolutions.

    Parameters
    ----------
    channels : int
        Number of input and output feature channels.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block to features of shape (B, channels, H, W)."""
        return x + self.conv2(F.relu(self.conv1(x), inplace=True))


class ChannelLayerNorm(nn.Module):
    """Layer normalisation over the channel axis of a (B, C, H, W) tensor, per pixel.

    Parameters
    ----------
    channels : int
        Number of channels ``C``.
    eps : float
        Added to the variance for numerical stability.
    """

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise each pixel's feature vector; input and output shape (B, C, H, W)."""
        mu = x.mean(dim=1, keepdim=True)
        var = (x - mu).pow(2).mean(dim=1, keepdim=True)
        x = (x - mu) / torch.sqrt(var + self.eps)
        return x * self.weight[:, None, None] + self.bias[:, None, None]


class NeighbourhoodAttention(nn.Module):
    """Multi-head self-attention of every token over its ``window x window`` neighbourhood.

    Each token (pixel of the feature map) attends to the tokens in the square window centred on
    it; out-of-image neighbours are masked out. Because the window slides with the query there are
    no block boundaries (unlike non-overlapping window attention), so no seams.

    Parameters
    ----------
    channels : int
        Feature channels ``C``; must be divisible by ``heads``.
    heads : int
        Number of attention heads.
    window : int
        Odd side length of the neighbourhood, in tokens.
    """

    def __init__(self, channels: int, heads: int = 4, window: int = 7):
        super().__init__()
        if channels % heads:
            raise ValueError(f"channels={channels} must be divisible by heads={heads}")
        if window % 2 != 1:
            raise ValueError(f"window={window} must be odd so the window is centred on the token")
        self.heads = heads
        self.window = window
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)
        # relative position bias, one value per head and window offset
        self.rel_bias = nn.Parameter(torch.zeros(heads, window * window))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Attend over neighbourhoods; input and output shape (B, C, H, W).

        The window is visited offset by offset on zero-padded keys and values
        (``window**2`` shifted views, each an element-wise product summed over
        the head dimension), which avoids materialising the unfolded
        ``(B, C * window**2, H * W)`` tensors: the same result as an
        ``F.unfold`` formulation, several times faster on CPU.
        """
        b, c, h, w = x.shape
        n = self.window
        hd = c // self.heads
        pad = n // 2
        q, k, v = self.qkv(x).chunk(3, dim=1)
        q = q.reshape(b, self.heads, hd, h, w) * hd**-0.5
        k = F.pad(k, (pad, pad, pad, pad)).reshape(b, self.heads, hd, h + 2 * pad, w + 2 * pad)
        v = F.pad(v, (pad, pad, pad, pad)).reshape(b, self.heads, hd, h + 2 * pad, w + 2 * pad)
        # out-of-image neighbours: -inf logits (the window offsets are row-major: dy * n + dx)
        inside = F.pad(x.new_ones(1, 1, h, w), (pad, pad, pad, pad))
        offsets = [(dy, dx) for dy in range(n) for dx in range(n)]
        logits = torch.stack([(q * k[..., dy:dy + h, dx:dx + w]).sum(dim=2) for dy, dx in offsets], dim=2)
        mask = torch.stack([inside[0, 0, dy:dy + h, dx:dx + w] for dy, dx in offsets], dim=0)  # (n2, h, w)
        logits = logits + self.rel_bias[None, :, :, None, None]  # (B, heads, n2, h, w)
        logits = logits.masked_fill(mask[None, None] == 0, float("-inf"))
        attn = torch.softmax(logits, dim=2)
        out = attn[:, :, 0:1] * v[..., 0:h, 0:w]
        for o, (dy, dx) in enumerate(offsets[1:], start=1):
            out = out + attn[:, :, o:o + 1] * v[..., dy:dy + h, dx:dx + w]
        return self.proj(out.reshape(b, c, h, w))


class AttentionBlock(nn.Module):
    """Pre-norm transformer block: neighbourhood attention then a convolutional feed-forward.

    Parameters
    ----------
    channels : int
        Feature channels.
    heads : int
        Attention heads.
    window : int
        Attention window side, in tokens.
    expansion : int
        Hidden-width multiplier of the feed-forward part.
    """

    def __init__(self, channels: int, heads: int, window: int, expansion: int = 2):
        super().__init__()
        hidden = channels * expansion
        self.norm1 = ChannelLayerNorm(channels)
        self.attn = NeighbourhoodAttention(channels, heads, window)
        self.norm2 = ChannelLayerNorm(channels)
        self.ffn = nn.Sequential(
            nn.Conv2d(channels, hidden, 1),
            nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden),
            nn.GELU(),
            nn.Conv2d(hidden, channels, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block; input and output shape (B, C, H, W)."""
        x = x + self.attn(self.norm1(x))
        return x + self.ffn(self.norm2(x))


class AttentionUNet(nn.Module):
    """Noise-level-conditioned attention U-Net denoiser (residual: predicts the noise).

    Parameters
    ----------
    channels : int
        Image channels: 1 (gray) or 3 (colour).
    widths : sequence of 4 int
        Feature channels at full, 1/2, 1/4 and 1/8 resolution.
    blocks : int
        Residual blocks per encoder and per decoder stage.
    attn_blocks : int
        Attention blocks in the body (at 1/8 resolution).
    heads : int
        Attention heads.
    window : int
        Odd neighbourhood size of the attention, in 1/8-resolution tokens (7 tokens = 56 pixels).

    Notes
    -----
    ``forward(x, sigma)`` takes a (B, C, H, W) float image on the 0-1 scale and the noise standard
    deviation ``sigma`` on the same scale, and returns the denoised (B, C, H, W) image. Any ``H``
    and ``W`` are accepted: the input is reflect-padded to a multiple of 8 and cropped back.
    """

    multiple = 8

    def __init__(
        self,
        channels: int = 1,
        widths: tuple[int, int, int, int] | list[int] = (24, 48, 96, 128),
        blocks: int = 1,
        attn_blocks: int = 2,
        heads: int = 4,
        window: int = 7,
    ):
        super().__init__()
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 (gray) or 3 (colour), got {channels}")
        if len(widths) != 4:
            raise ValueError(f"widths must list 4 channel counts, got {list(widths)}")
        w0, w1, w2, w3 = (int(c) for c in widths)
        self.channels = channels
        self.config = dict(
            channels=channels,
            widths=[w0, w1, w2, w3],
            blocks=blocks,
            attn_blocks=attn_blocks,
            heads=heads,
            window=window,
        )

        def stage(c: int) -> nn.Sequential:
            return nn.Sequential(*[ResBlock(c) for _ in range(blocks)])

        self.head = nn.Conv2d(channels + 1, w0, 3, padding=1)
        self.enc0, self.down0 = stage(w0), nn.Conv2d(w0, w1, 2, stride=2)
        self.enc1, self.down1 = stage(w1), nn.Conv2d(w1, w2, 2, stride=2)
        self.enc2, self.down2 = stage(w2), nn.Conv2d(w2, w3, 2, stride=2)
        self.body = nn.Sequential(*[AttentionBlock(w3, heads, window) for _ in range(attn_blocks)])
        self.up2, self.dec2 = nn.ConvTranspose2d(w3, w2, 2, stride=2), stage(w2)
        self.up1, self.dec1 = nn.ConvTranspose2d(w2, w1, 2, stride=2), stage(w1)
        self.up0, self.dec0 = nn.ConvTranspose2d(w1, w0, 2, stride=2), stage(w0)
        self.tail = nn.Conv2d(w0, channels, 3, padding=1)
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)

    def _unet(self, z: torch.Tensor) -> torch.Tensor:
        """Predict the noise from the (B, C+1, H, W) input; H, W multiples of 8."""
        x0 = self.enc0(self.head(z))
        x1 = self.enc1(self.down0(x0))
        x2 = self.enc2(self.down1(x1))
        x3 = self.body(self.down2(x2))
        y = self.dec2(self.up2(x3) + x2)
        y = self.dec1(self.up1(y) + x1)
        y = self.dec0(self.up0(y) + x0)
        return self.tail(y)

    def forward(self, x: torch.Tensor, sigma: float | torch.Tensor) -> torch.Tensor:
        """Denoise a batch.

        Parameters
        ----------
        x : torch.Tensor, shape (B, C, H, W)
            Noisy images, float, intensities on the 0-1 scale. Any H, W >= 1.
        sigma : float or torch.Tensor
            Noise standard deviation on the 0-1 scale: float, shape (B,) or (B, 1, H, W).

        Returns
        -------
        torch.Tensor, shape (B, C, H, W)
            Denoised images, same dtype as ``x``.
        """
        if x.ndim != 4 or x.shape[1] != self.channels:
            raise ValueError(
                f"x must have shape (B, {self.channels}, H, W), got {tuple(x.shape)}"
            )
        h, w = x.shape[-2:]
        z = torch.cat([x, sigma_map(x, sigma)], dim=1)
        ph, pw = (-h) % self.multiple, (-w) % self.multiple
        if ph or pw:
            # reflect needs pad < size; fall back to replicate for tiny inputs
            mode = "reflect" if (ph < h and pw < w) else "replicate"
            z = F.pad(z, (0, pw, 0, ph), mode=mode)
        noise = self._unet(z)[..., :h, :w]
        return x - noise


def weights_path(channels: int):
    """Path of the shipped weights for ``channels`` (1: gray, 3: colour): ``priors/weights/``.

    The file is ``attention_unet_{gray,color}.pt`` (a state_dict); the constructor keyword
    arguments are in the ``.json`` file of the same name.
    """
    from pathlib import Path

    name = "attention_unet_gray.pt" if channels == 1 else "attention_unet_color.pt"
    return Path(__file__).resolve().parent / "weights" / name


def load_attention_unet(path, map_location="cpu") -> AttentionUNet:
    """Rebuild an :class:`AttentionUNet` from ``NAME.pt`` and its ``NAME.json`` sidecar (eval mode).

    Parameters
    ----------
    path : path-like
        The state_dict file.
    map_location : str or torch.device
        Passed to :func:`torch.load`.

    Raises
    ------
    FileNotFoundError
        If the weights or the sidecar are missing; the message says how to make them.
    ValueError
        If the sidecar is not an attention U-Net configuration, the weights are
        not a readable state dict, or the two do not fit (e.g. DRUNet weights).
    """
    import json
    from pathlib import Path

    path = Path(path)
    sidecar = path.with_suffix(".json")
    if not path.is_file() or not sidecar.is_file():
        raise FileNotFoundError(
            f"attention U-Net weights {path} (and {sidecar.name}) not found; train and export them "
            "with `python -m priors.train --arch attention-unet --channels 1|3 ... --export`"
        )
    try:
        cfg = json.loads(sidecar.read_text())
        if not isinstance(cfg, dict):
            raise TypeError(f"expected a JSON object, got {type(cfg).__name__}")
        net = AttentionUNet(**cfg)
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        raise ValueError(f"weights={path}: {sidecar} is not an attention U-Net architecture "
                         f"({type(exc).__name__}: {exc})") from None
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # unpickling errors come in many types
        raise ValueError(f"weights={path} is not a readable state dict ({type(exc).__name__})") from None
    try:
        net.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError, ValueError) as exc:
        first = (str(exc).splitlines()[1:] or [str(exc)])[0].strip()[:200]
        raise ValueError(f"weights={path} do not fit the architecture of {sidecar} (e.g. {first}); the "
                         "weights and the architecture come from different networks") from None
    return net.eval()
