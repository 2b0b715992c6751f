"""Matplotlib helpers: side-by-side comparisons, kernels, PSNR-per-iteration curves.

Every function returns the :class:`matplotlib.figure.Figure` it drew on, so
callers can ``fig.savefig(...)``. Figures are created with
:mod:`matplotlib.pyplot` (so that notebooks and the sphinx-gallery show them);
close them with ``plt.close(fig)`` in long loops. Matplotlib is imported only
when one of these functions is called.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["compare", "show_kernel", "psnr_curve"]


def _as_display(image, name):
    """Float 0-1 copy of an image for display (uint8/uint16 rescaled, floats clipped)."""
    img = np.asarray(image)
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] not in (1, 3, 4)):
        raise ValueError(f"{name} must have shape (H, W) or (H, W, C) with C in (1, 3, 4), got {img.shape}")
    if img.dtype.kind == "u" and img.dtype.itemsize == 1:
        img = img / 255.0
    elif img.dtype.kind == "u" and img.dtype.itemsize == 2:
        img = img / 65535.0
    elif img.dtype.kind == "f":
        img = img.astype(np.float64)
    else:  # an int32 0-255 image would show white once clipped to 0-1: refuse, as pnp.solve does
        raise TypeError(f"{name} must be uint8, uint16 or float (0-1 scale), got dtype {img.dtype}")
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    return np.clip(img, 0, 1)


def _check_zoom(zoom, big_h, big_w):
    """``zoom`` as four ints, checked to lie inside a ``big_h x big_w`` image."""
    if zoom is None:
        return None
    if len(zoom) != 4 or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in zoom):
        raise ValueError(f"zoom must be (row, col, height, width) in pixels of the largest image, got {zoom!r}")
    r, c, h, w = (int(v) for v in zoom)
    if r < 0 or c < 0 or h < 1 or w < 1:
        raise ValueError(f"zoom must have row, col >= 0 and height, width >= 1, got {zoom!r}")
    if r + h > big_h or c + w > big_w:
        raise ValueError(f"zoom {zoom!r} (row, col, height, width) reaches outside the largest image "
                         f"({big_h}x{big_w}); it needs row + height <= {big_h} and col + width <= {big_w}")
    return r, c, h, w


def _metrics_label(img, reference):
    from .metrics import psnr, ssim

    if not (np.all(np.isfinite(img)) and np.all(np.isfinite(reference))):
        return None  # no score for NaN or infinite pixels (pnp.psnr refuses them)
    p = psnr(img, reference)
    if not np.isfinite(p):
        return None
    if min(np.shape(img)[:2]) < 7:  # SSIM's 7x7 window does not fit: PSNR alone
        return f"PSNR {p:.2f} dB"
    return f"PSNR {p:.2f} dB, SSIM {ssim(img, reference):.3f}"


def compare(images, titles=None, reference=None, zoom=None, ncols=None, panel_size=3.2):
    """Show images side by side, with PSNR/SSIM against a reference and zoomed insets.

    Parameters
    ----------
    images : sequence of ndarray
        Images of shape ``(H, W)`` or ``(H, W, C)``: uint8, uint16 or float on
        the 0-1 scale (displayed clipped to 0-1). They may differ in size (e.g.
        a low-resolution input next to its super-resolved output); each is
        shown on its own axes.
    titles : sequence of str, optional
        One title per image.
    reference : ndarray, optional
        Ground truth. Every image of the same shape gets ``PSNR .. dB, SSIM ..``
        added to its title (except an exact copy of the reference; PSNR alone
        for images smaller than SSIM's 7x7 window).
    zoom : tuple of int, optional
        ``(row, col, height, width)`` of a region, in pixels of the largest
        image, which it must lie inside; smaller images use the same region
        scaled to their size. The
        region is outlined and shown magnified in an inset in the lower right
        corner of each panel.
    ncols : int, optional
        Panels per row, an integer >= 1 (default: all in one row, at most 4).
    panel_size : float
        Width of one panel in inches.

    Returns
    -------
    matplotlib.figure.Figure
        ``fig.axes`` holds one axes per image; with ``zoom`` each of them has
        the inset in its ``child_axes``.

    Raises
    ------
    ValueError
        If ``images`` is empty, ``titles`` does not match it, ``zoom`` is
        malformed or reaches outside the largest image, or ``ncols`` is not an
        integer >= 1.
    TypeError
        If an image is not uint8, uint16 or float.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    if isinstance(images, np.ndarray) and images.ndim in (2, 3) and images.dtype != object:
        images = [images]
    images = list(images)
    if not images:
        raise ValueError("images must contain at least one image")
    shown = [_as_display(img, f"images[{i}]") for i, img in enumerate(images)]
    if titles is None:
        titles = [""] * len(images)
    titles = [str(t) for t in titles]
    if len(titles) != len(images):
        raise ValueError(f"titles has {len(titles)} entries for {len(images)} images")
    if reference is not None:
        ref = np.asarray(reference)
        for i, img in enumerate(images):
            if np.shape(img) == ref.shape and img is not reference:
                label = _metrics_label(img, ref)
                if label:
                    titles[i] = f"{titles[i]}\n{label}" if titles[i] else label
    big_h = max(img.shape[0] for img in shown)
    big_w = max(img.shape[1] for img in shown)
    zoom = _check_zoom(zoom, big_h, big_w)

    n = len(shown)
    if ncols is not None and (isinstance(ncols, bool) or not isinstance(ncols, numbers.Integral) or ncols < 1):
        raise ValueError(f"ncols must be an integer >= 1, got {ncols!r}")
    ncols = min(n, 4) if ncols is None else int(ncols)
    nrows = -(-n // ncols)
    aspect = big_h / big_w
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_size * ncols, panel_size * aspect * nrows + 0.6 * nrows),
                             squeeze=False)
    for ax in axes.ravel()[n:]:
        fig.delaxes(ax)
    for ax, img, title in zip(axes.ravel(), shown, titles):
        gray = img.ndim == 2
        ax.imshow(img, cmap="gray" if gray else None, vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        if zoom is None:
            continue
        fy, fx = img.shape[0] / big_h, img.shape[1] / big_w
        r, c, h, w = zoom
        r, c = r * fy, c * fx
        h, w = max(h * fy, 1), max(w * fx, 1)
        ax.add_patch(Rectangle((c - 0.5, r - 0.5), w, h, fill=False, edgecolor="yellow", linewidth=1.2))
        inset = ax.inset_axes([0.6, 0.0, 0.4, 0.4])
        inset.imshow(img, cmap="gray" if gray else None, vmin=0, vmax=1, interpolation="nearest")
        inset.set_xlim(c - 0.5, c + w - 0.5)
        inset.set_ylim(r + h - 0.5, r - 0.5)
        inset.set_xticks([])
        inset.set_yticks([])
        for spine in inset.spines.values():
            spine.set_edgecolor("yellow")
    fig.tight_layout()
    return fig


def show_kernel(kernel, ax=None, title=None):
    """Display a blur kernel with its size and a colour bar.

    Parameters
    ----------
    kernel : array_like, shape (kh, kw)
        The point-spread function (any scale; shown as is).
    ax : matplotlib.axes.Axes, optional
        Draw into these axes instead of a new figure.
    title : str, optional
        Default: ``"kernel kh x kw"``.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    TypeError
        If the kernel is not a real numeric array (complex, boolean, object).
    ValueError
        If it is not a non-empty 2-D array or holds NaN or infinite values.
    """
    import matplotlib.pyplot as plt

    from .psf import real_2d

    k = real_2d(kernel)
    if ax is None:
        fig, ax = plt.subplots(figsize=(3.4, 3))
    else:
        fig = ax.figure
    im = ax.imshow(k, cmap="magma", interpolation="nearest")
    ax.set_title(title if title is not None else f"kernel {k.shape[0]} x {k.shape[1]}", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    return fig


def _as_history(item, name):
    if isinstance(item, dict) and "history" in item and isinstance(item["history"], dict):
        item = item["history"]  # the info dict of pnp.solve
    if not isinstance(item, dict):
        raise TypeError(f"{name} must be the history dict of pnp.solve (info['history']) or the info dict itself")
    if "psnr" not in item:
        raise ValueError(f"{name} has no 'psnr' entry; call pnp.solve(..., x_true=ground_truth, return_info=True)")
    return item


def psnr_curve(history, labels=None, ax=None, sigma=False):
    """Plot PSNR per iteration from the history of one or several solves.

    Parameters
    ----------
    history : dict, or list or dict of them
        ``info["history"]`` (or ``info``) of ``pnp.solve(..., x_true=...,
        return_info=True)``; a list of them gives one curve each, and a dict
        ``{label: history}`` labels the curves by its keys.
    labels : sequence of str, optional
        Curve labels for a list of histories (not with a dict, whose keys are
        the labels).
    ax : matplotlib.axes.Axes, optional
        Draw into these axes instead of a new figure.
    sigma : bool
        Also plot the prior's noise level :math:`\\sigma_k` (in 0-255 units,
        log scale) of the first history on a second y axis.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If ``history`` is empty, a history has no ``"psnr"`` entry, ``labels``
        does not match the histories, or ``labels`` is given with a dict of
        histories.
    """
    import matplotlib.pyplot as plt

    if isinstance(history, dict) and not ("psnr" in history or "history" in history):
        if labels is not None:
            raise ValueError("labels cannot be given with a dict of histories: its keys are the labels; "
                             "pass a list of histories with labels, or the dict alone")
        labels, runs = list(history), list(history.values())
    elif isinstance(history, (list, tuple)):
        runs = list(history)
    else:
        runs = [history]
    if not runs:
        raise ValueError("history is empty")
    runs = [_as_history(h, f"history[{i}]") for i, h in enumerate(runs)]
    if labels is not None and len(labels) != len(runs):
        raise ValueError(f"labels has {len(labels)} entries for {len(runs)} histories")
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 3.4))
    else:
        fig = ax.figure
    for i, h in enumerate(runs):
        p = np.asarray(h["psnr"], dtype=np.float64)
        ax.plot(np.arange(1, p.size + 1), p, marker="o", markersize=3,
                label=None if labels is None else str(labels[i]))
    ax.set_xlabel("iteration")
    ax.set_ylabel("PSNR (dB)")
    ax.grid(True, alpha=0.3)
    if labels is not None:
        ax.legend(fontsize=8)
    if sigma and "sigma" in runs[0]:
        ax2 = ax.twinx()
        s = np.asarray(runs[0]["sigma"], dtype=np.float64) * 255
        ax2.semilogy(np.arange(1, s.size + 1), s, color="gray", linestyle="--", linewidth=1)
        ax2.set_ylabel(r"prior $\sigma_k$ (x 1/255)", color="gray")
    fig.tight_layout()
    return fig
