"""Tile-by-tile application of a denoiser with overlap and a smooth blending window.

A deep denoiser's memory grows with the number of pixels it sees at once (its
activations are ``channels x H x W`` at full resolution). Running it on
overlapping tiles bounds that memory by the tile size; the tiles' outputs are
blended with a smooth window so that no seam appears where they meet.

Layout: arrays are ``(C, H, W)`` (channels first). Sizes are in pixels.

- :func:`tile_starts` places tiles along one axis: evenly spaced, at least
  ``overlap`` pixels shared by neighbours, starts on multiples of ``multiple``
  (so a network that downsamples by ``multiple`` sees every tile on the same
  pixel grid as the whole image).
- :func:`ramp` is the 1-D window: a raised-cosine rise over ``overlap`` pixels
  on each side that touches another tile, 1 elsewhere and at the image border.
- :func:`blend_tiles` runs a function on every tile and returns
  ``sum_t w_t f(x_t) / sum_t w_t``; :func:`blend_tiles_tensor` does the same
  on a ``(B, C, H, W)`` torch tensor, on its device.
- :func:`auto_tile_size` picks the largest tile whose activations fit a memory
  budget.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["tile_starts", "ramp", "blend_tiles", "blend_tiles_tensor", "auto_tile_size", "check_tile_args"]


def _positive_int(value, name, minimum=1):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_tile_args(tile, overlap, multiple=1):
    """Validate a fixed tile size and overlap; return them as ints.

    Raises
    ------
    ValueError
        If ``tile`` is not an integer >= ``max(2 * overlap + multiple, 16)``,
        or ``overlap`` is negative.
    """
    overlap = _positive_int(overlap, "overlap", minimum=0)
    minimum = max(2 * overlap + multiple, 16)
    tile = _positive_int(tile, "tile", minimum=1)
    if tile < minimum:
        if 2 * overlap + multiple > 16:
            raise ValueError(f"tile={tile} is too small for overlap={overlap}: use tile >= {minimum} "
                             f"(2 * overlap + {multiple}) or a smaller overlap")
        raise ValueError(f"tile={tile} is too small: tiles are at least 16 pixels")
    return tile, overlap


def tile_starts(n, tile, overlap, multiple=1):
    """Start offsets of tiles covering ``range(n)`` along one axis.

    Parameters
    ----------
    n : int
        Length of the axis (pixels).
    tile : int
        Nominal tile length (pixels). If ``n <= tile`` one tile covers the axis.
    overlap : int
        Minimum number of pixels shared by neighbouring tiles.
    multiple : int
        Starts are multiples of this.

    Returns
    -------
    list of (int, int)
        ``(start, stop)`` of each tile; the first starts at 0, the last stops at
        ``n``; consecutive tiles share at least ``overlap`` pixels. The tiles
        are balanced (as short as their number permits), at most ``tile`` long
        except the last, which may be up to ``multiple - 1`` pixels longer, and
        their number is the smallest for which such a balanced layout meets
        these rules (from the lower bound ``ceil((n - overlap) / (tile -
        overlap))`` up).
    """
    n, tile = int(n), int(tile)
    if n <= tile:
        return [(0, n)]
    gap = overlap + multiple - 1  # shared pixels, plus room for snapping the starts down
    step = tile - gap
    if step < 1:
        raise ValueError(f"tile={tile} leaves no progress with overlap={overlap} and multiple={multiple}")
    most = 1 + math.ceil((n - tile) / step)  # always valid: the steps leave room for snapping
    fewest = max(2, math.ceil((n - overlap) / (tile - overlap)))  # no layout has fewer tiles
    for count in range(min(fewest, most), most + 1):
        bounds = _balanced(n, tile, overlap, multiple, count)
        if _valid(bounds, n, tile, overlap, multiple):
            return bounds
    return _balanced(n, tile, overlap, multiple, most)  # pragma: no cover - `most` is always valid


def _balanced(n, tile, overlap, multiple, count):
    """``count`` tiles of equal length, starts snapped down to ``multiple`` (may violate the constraints)."""
    gap = overlap + multiple - 1
    # balanced tiles: the shortest length that covers n with `count` tiles (not `tile` itself,
    # which would make an image slightly larger than one tile cost almost four tiles)
    length = -(-(n + (count - 1) * gap) // count)
    length = min(tile, -(-length // multiple) * multiple)
    ideal = np.linspace(0, n - length, count)
    starts = sorted({int(s) // multiple * multiple for s in ideal})
    return [(s, s + length) for s in starts[:-1]] + [(starts[-1], n)]


def _valid(bounds, n, tile, overlap, multiple):
    """Whether ``bounds`` meets :func:`tile_starts`' promises."""
    if bounds[0][0] != 0 or bounds[-1][1] != n:
        return False
    if any(a % multiple for a, _ in bounds) or any(b - a > tile for a, b in bounds[:-1]):
        return False
    if bounds[-1][1] - bounds[-1][0] > tile + multiple - 1:
        return False
    return all(b0 - a1 >= overlap for (_, b0), (a1, _) in zip(bounds[:-1], bounds[1:]))


def ramp(length, rise, fall):
    """1-D blending window of ``length`` samples.

    Parameters
    ----------
    length : int
    rise, fall : int
        Number of samples over which the window rises from ~0 to 1 at the start
        (falls from 1 to ~0 at the end); 0 for a side on the image border.

    Returns
    -------
    ndarray, shape (length,), float32
        ``sin^2(pi/2 (d + 1/2) / rise)`` at distance ``d < rise`` from the start
        (likewise at the end), 1 elsewhere. Strictly positive, so a pixel
        covered by a single tile keeps that tile's value.
    """
    w = np.ones(length, dtype=np.float64)
    for size, sl in ((rise, slice(None)), (fall, slice(None, None, -1))):
        size = min(int(size), length)
        if size > 0:
            d = np.arange(size)
            w[sl][:size] *= np.sin(0.5 * np.pi * (d + 0.5) / size) ** 2
    return w.astype(np.float32)


def _tile_windows(H, W, tile, overlap, multiple):
    """Each tile of an ``(H, W)`` grid as ``(r0, r1, c0, c1, w)``, ``w`` its 2-D blending window.

    The tiles of :func:`tile_starts` along both axes; ``w`` (float32,
    ``(r1 - r0, c1 - c0)``) is the product of the :func:`ramp` windows, which
    rise over ``overlap`` pixels on each side that touches another tile.
    Shared by :func:`blend_tiles` and :func:`blend_tiles_tensor`.
    """
    rows = tile_starts(H, tile, overlap, multiple)
    cols = tile_starts(W, tile, overlap, multiple)
    for i, (r0, r1) in enumerate(rows):
        wr = ramp(r1 - r0, overlap if i else 0, overlap if i + 1 < len(rows) else 0)
        for j, (c0, c1) in enumerate(cols):
            wc = ramp(c1 - c0, overlap if j else 0, overlap if j + 1 < len(cols) else 0)
            yield r0, r1, c0, c1, wr[:, None] * wc[None, :]


def blend_tiles(fn, x, tile, overlap, multiple=1, out_channels=None, out=None):
    """Apply ``fn`` tile by tile to ``x`` and blend the results.

    Parameters
    ----------
    fn : callable
        ``fn(x_tile) -> y_tile`` on float32 arrays ``(C, h, w) -> (C_out, h, w)``.
    x : ndarray, shape (C, H, W)
        Input (any float dtype; tiles are copied to float32 one at a time).
    tile : int
        Tile length (pixels, both axes).
    overlap : int
        Pixels shared by neighbouring tiles; also the length of the blending
        ramps.
    multiple : int
        Tile starts are multiples of this.
    out_channels : int, optional
        ``C_out``; default ``C``.
    out : ndarray, shape (C_out, H, W), optional
        Where to accumulate the result (any float dtype, may be a strided
        view, e.g. of an ``(H, W, C)`` array); it is zeroed first.

    Returns
    -------
    ndarray, shape (C_out, H, W)
        ``out``, or a new float32 array.

    Notes
    -----
    Memory: the output ``(C_out, H, W)`` and a float32 weight map ``(H, W)``,
    plus what ``fn`` needs for one tile.
    """
    C, H, W = x.shape
    out_channels = C if out_channels is None else int(out_channels)
    if out is None:
        acc = np.zeros((out_channels, H, W), dtype=np.float32)
    else:
        if out.shape != (out_channels, H, W):
            raise ValueError(f"out has shape {out.shape}, expected {(out_channels, H, W)}")
        acc = out
        acc[...] = 0
    wsum = np.zeros((H, W), dtype=np.float32)
    for r0, r1, c0, c1, w in _tile_windows(H, W, tile, overlap, multiple):
        part = np.ascontiguousarray(x[:, r0:r1, c0:c1], dtype=np.float32)
        y = np.asarray(fn(part), dtype=np.float32)
        if y.shape != (out_channels, r1 - r0, c1 - c0):
            raise ValueError(f"the tile function returned shape {y.shape}, expected "
                             f"{(out_channels, r1 - r0, c1 - c0)}")
        acc[:, r0:r1, c0:c1] += y * w
        wsum[r0:r1, c0:c1] += w
    acc /= wsum
    return acc


def blend_tiles_tensor(fn, x, tile, overlap, multiple=1):
    """:func:`blend_tiles` for a batch of torch tensors, computed on their device.

    Parameters
    ----------
    fn : callable
        ``fn(x_tile) -> y_tile`` on tensors ``(B, C, h, w) -> (B, C_out, h, w)``.
    x : Tensor, shape (B, C, H, W)
        Input (float); the tiles are views of it.
    tile, overlap, multiple
        As for :func:`blend_tiles` (same tiles, same windows).

    Returns
    -------
    Tensor, shape (B, C_out, H, W)
        In ``x``'s dtype and on its device.

    Raises
    ------
    ValueError
        If ``fn`` returns a tile of another batch size or spatial shape, or
        not the same channel count on every tile.
    """
    import torch

    B, C, H, W = x.shape
    acc = None
    wsum = torch.zeros((H, W), dtype=x.dtype, device=x.device)
    for r0, r1, c0, c1, w in _tile_windows(H, W, tile, overlap, multiple):
        y = fn(x[..., r0:r1, c0:c1])
        c_out = None if acc is None else acc.shape[1]
        if not (torch.is_tensor(y) and y.ndim == 4 and y.shape[0] == B and c_out in (None, y.shape[1])
                and tuple(y.shape[2:]) == (r1 - r0, c1 - c0)):
            got = f"shape {tuple(y.shape)}" if torch.is_tensor(y) else f"a {type(y).__name__}"
            raise ValueError(f"the tile function returned {got}, expected a tensor of shape "
                             f"{(B, c_out or 'C_out', r1 - r0, c1 - c0)}")
        if acc is None:
            acc = torch.zeros((B, y.shape[1], H, W), dtype=x.dtype, device=x.device)
        w = torch.from_numpy(w).to(device=x.device, dtype=x.dtype)
        acc[..., r0:r1, c0:c1] += y.to(x.dtype) * w
        wsum[r0:r1, c0:c1] += w
    return acc / wsum


def auto_tile_size(memory_budget_mb, pixel_bytes, multiple=8, overlap=0, minimum=32):
    """Largest square tile whose activations fit in ``memory_budget_mb``.

    Parameters
    ----------
    memory_budget_mb : float
        Memory allowed for one call of the network (MiB).
    pixel_bytes : float
        Peak bytes the network needs per input pixel (see
        :meth:`priors.TorchDenoiser.pixel_bytes`).
    multiple : int
        The tile is a multiple of this.
    overlap : int
        The tile is at least ``2 * overlap + multiple``.
    minimum : int
        Smallest tile returned (a budget too small for it still gives it).

    Returns
    -------
    int
        ``tile`` such that ``(tile + multiple)**2 * pixel_bytes`` (the largest
        network input, see :func:`tile_starts`) is within the budget.
    """
    if not memory_budget_mb > 0:
        raise ValueError(f"memory_budget_mb must be > 0, got {memory_budget_mb!r}")
    # the last tile of a row may be up to ``multiple`` pixels longer (see tile_starts)
    side = math.sqrt(memory_budget_mb * 2**20 / float(pixel_bytes)) - multiple
    side = int(max(side, 0)) // multiple * multiple
    floor = -(-max(minimum, 2 * overlap + multiple) // multiple) * multiple
    return max(side, floor)
