"""Rotational blur factorised through polar grids: memory and cost per pixel independent of the angle.

:class:`~pnp.operators.rotational.RotationalBlur` assembles one sparse matrix
whose rows hold every pixel's arc: about ``2 x arc length`` entries per pixel,
so its size grows with the radius times the angle. On the grid that
:func:`pnp.solve` pads a 1024x1024 frame to, a rotation of 18 degrees gives
a matrix of about 6 GiB that needs about 20 GiB while it is built (the
library's own estimate, :data:`~pnp.operators.rotational.WARN_BYTES`); a
2048x2048 frame about 50 GiB. :class:`PolarRotationalBlur` models the same
blur as

.. math:: A x = m \\odot S\\, C\\, P x + (1 - m) \\odot x

- ``P`` samples the image (Keys bicubic, or bilinear with ``order=1``) on
  rings around the centre, ``radial_spacing`` pixels apart, grouped in radial
  bands (``[0, 16)``, ``[16, 32)``, ``[32, 64)``, ... pixels, and narrower
  bands beyond the largest circle inside the grid) whose number of angles
  follows the band's outer radius (at most ``arc_spacing`` pixels between
  samples there); a band keeps only the arcs of angle its pixels read (a
  centre outside the frame needs short arcs of large rings, not whole rings);
- ``C`` is the blur along each ring: the correlation with the shutter profile
  over ``[0, angle]``, integrated against the linear interpolant of the ring
  (:func:`ring_kernel`; one real FFT pair per block of rings);
- ``S`` reads each pixel from the two rings around its radius (linear in the
  radius, Keys cubic or linear along the angle), with rows normalised so that
  samples outside the grid are left out and the others renormalised, as
  :class:`~pnp.operators.rotational.RotationalBlur` does (pixels whose arcs
  leave the grid read linearly along the angle: the cubic weights' negative
  lobes could cancel the normalisation there);
- ``m`` is the rotating region.

It is another discretisation of the same physical blur, not an approximation
of the sparse matrix. With the defaults it is closer to the 2x supersampled
generator :func:`pnp.synthetic.synthesize_rotational_blur` than the sparse
matrix is (RMS difference inside the frame's disk on a 256x256 colour image:
0.0012 against 0.0025 at 10 degrees, 0.0008 against 0.0018 at 20 degrees),
restores about as well, stores about 48 entries per pixel whatever the angle
(the sparse matrix: 92 at 10 degrees on a 512x512 frame, 174 at 20, growing
with the frame's radius), and builds in 1-3 s at 512x512 instead of 10-30 s.
Its products cost a little more than the sparse matrix's at 512x512 and 10
degrees and less for larger frames and angles (``docs/benchmarks_rotation.md``,
section 16). The adjoint is exact (the transposes of ``S`` and ``P`` and the conjugate
transfer function). :func:`prefer_polar` says which of the two models is the
cheaper for a frame.
"""

from __future__ import annotations

import numpy as np
from scipy import fft as sfft
from scipy import sparse

from .._checks import check_real
from .rotational import RotationalBlur, interpolation_matrix, rotation_sample_angles

__all__ = ["PolarRotationalBlur", "prefer_polar", "wants_polar", "ring_kernel"]

_FIRST_BAND = 16.0  # outer radius (pixels) of the innermost band; each further band doubles it
_CHUNK_SAMPLES = 500_000  # ring samples interpolated per batch while building
_OUTER_RATIO = 1.2  # outer / inner radius of the bands beyond the inscribed radius of the grid


def ring_kernel(angle, weights, step, length, per_step=8):
    """Correlation kernel of the blur along a ring sampled every ``step`` radians, shape ``(length,)``.

    ``k[i]`` is the weight of the ring sample ``i`` steps ahead (modulo
    ``length``; a negative angle reads behind): the shutter profile over
    ``[0, angle]`` integrated against the linear interpolation between ring
    samples (sampled finely: at least ``per_step`` points per step, and at
    least 64). Sums to 1.
    """
    n = max(64, int(np.ceil(per_step * abs(angle) / step)))
    thetas, w = rotation_sample_angles(angle, n, weights)
    pos = thetas / step
    i0 = np.floor(pos).astype(np.int64)
    f = pos - i0
    k = np.zeros(length)
    np.add.at(k, np.mod(i0, length), w * (1 - f))
    np.add.at(k, np.mod(i0 + 1, length), w * f)
    return k


def _occupied_arcs(phi, min_gap):
    """Arcs ``(start, length)`` (radians) holding all angles ``phi``, split at gaps longer than ``min_gap``.

    None if no gap is that long (the angles go all the way round).
    """
    p = np.sort(np.mod(phi, 2 * np.pi))
    gaps = np.diff(np.concatenate([p, [p[0] + 2 * np.pi]]))  # gaps[i]: from p[i] to the next angle
    cuts = np.flatnonzero(gaps > min_gap)
    if cuts.size == 0:
        return None
    arcs = []
    for k, i in enumerate(cuts):
        j = cuts[k - 1] if k else cuts[-1]  # the previous cut: this arc starts after it
        start = p[(j + 1) % p.size]
        end = p[i]
        arcs.append((float(start), float(np.mod(end - start, 2 * np.pi))))
    return arcs


class _PolarMatrix:
    """The operator of one grid shape; ``M @ X`` for ``X`` of shape ``(H W, C)``; ``M.T`` its adjoint.

    ``P`` stacks the samplings of all ring blocks, ``S`` reads every moving pixel from the one block
    that holds it; ``bands`` lists ``(offset, J, N, Hf)`` of each block (its ``J`` rings of ``N``
    samples start at row ``offset`` of ``P``). The adjoint multiplies by the transposed views of
    ``P`` and ``S`` (column-compressed: as fast as row-compressed copies on the 2-core test
    machine, at no extra memory).
    """

    def __init__(self, P, S, bands, m, transposed=False, pair=None):
        self.P, self.S, self.bands, self.m = P, S, bands, m
        self._whole = bool(np.all(m == 1))  # the whole grid rotates: no blending with the static part
        self.shape = (m.size, m.size)
        self._transposed = transposed
        self._pair = pair

    @property
    def T(self):
        if self._pair is None:
            self._pair = _PolarMatrix(self.P, self.S, self.bands, self.m, transposed=not self._transposed,
                                      pair=self)
        return self._pair

    def _rings(self, Z, conj):
        """The blur along the rings (``conj``: its adjoint) of ``Z`` (samples x channels); a new array.

        Each block's FFTs run along its angle axis in place of the ``(J, N, C)`` layout: faster on the
        2-core test machine than transposing to contiguous rings and back (0.034 s against 0.054 s for
        the 4.5 million samples of a 512x512 colour image).
        """
        out = np.empty_like(Z)
        for off, J, N, Hf in self.bands:
            F = sfft.rfft(Z[off:off + J * N].reshape(J, N, -1), axis=1, workers=-1)
            F *= (np.conj(Hf) if conj else Hf)[:, None]
            out[off:off + J * N] = sfft.irfft(F, n=N, axis=1, workers=-1).reshape(J * N, -1)
        return out

    def __matmul__(self, X):
        X = np.asarray(X, dtype=np.float64)
        squeeze = X.ndim == 1
        if squeeze:
            X = X[:, None]
        whole = self._whole
        m = self.m[:, None]
        if not self._transposed:
            out = self.S @ self._rings(self.P @ X, conj=False)
            if not whole:
                out = m * out + (1 - m) * X
        else:
            out = self.P.T @ self._rings(self.S.T @ (X if whole else m * X), conj=True)
            if not whole:
                out += (1 - m) * X
        return out[:, 0] if squeeze else out

    @property
    def nnz(self):
        """Stored entries of the two interpolation matrices (the ring FFTs not counted)."""
        return int(self.P.nnz + self.S.nnz)

    @property
    def n_samples(self):
        """Ring samples of all blocks."""
        return int(self.P.shape[0])

    @property
    def nbytes(self):
        """Memory (bytes) of the two stored matrices."""
        return int(sum(a.nbytes for mat in (self.P, self.S) for a in (mat.data, mat.indices, mat.indptr)))

    def toarray(self):
        """Dense ``(H W, H W)`` matrix (for tests on small grids)."""
        return self @ np.eye(self.shape[0])


class PolarRotationalBlur(RotationalBlur):
    r"""Rotational blur on banded polar grids (see the module docstring): cheap for large frames and angles.

    The same model, parameters and conventions as
    :class:`~pnp.operators.rotational.RotationalBlur` (centre, angle, shutter
    profile, rotating region, padding for :func:`pnp.solve`), discretised
    through polar grids instead of one sparse matrix of arcs: with the centre
    in or near the frame, memory and product cost per pixel do not grow with
    the angle or the radius. With a centre far outside the frame the rings'
    arcs grow with the angle (e.g. 6 to 70 ring samples per pixel from 3 to
    60 degrees 2000 px away), still far below the sparse matrix's entries.

    Parameters
    ----------
    center, angle, weights, mask, radius
        As for :class:`~pnp.operators.rotational.RotationalBlur`.
    radial_spacing : float
        Distance (pixels) between the rings; 0.5 by default.
    arc_spacing : float
        Largest distance (pixels) between two samples of a ring, reached at the
        outer radius of each band; 1.0 by default.
    order : {1, 3}
        Interpolation of the rings: Keys bicubic sampling of the image and
        cubic reading along the angle (3, default), or bilinear and linear
        (1: about 1.4 times cheaper per product, but it low-passes more than
        the camera; see ``docs/benchmarks_rotation.md``, section 16).

    Raises
    ------
    TypeError, ValueError
        As :class:`~pnp.operators.rotational.RotationalBlur`, and if
        ``radial_spacing`` or ``arc_spacing`` is not a number > 0 or ``order``
        is not 1 or 3.

    Notes
    -----
    ``matrix(shape)`` returns a linear operator (``M @ X`` for ``X`` of shape
    ``(H W, C)``, ``M.T`` its adjoint, ``M.nnz``, ``M.nbytes``), not a
    :mod:`scipy.sparse` matrix; it is cached per shape like the sparse matrix.
    The data steps are those of :class:`~pnp.operators.rotational.RotationalBlur`
    (:meth:`data_step`: plain conjugate gradient by default, ``method="polar"``
    for the polar preconditioner), run on ``forward`` and ``adjoint``. The
    torch path (``pnp.solve(device=...)``, :meth:`torch_data_step`) runs the
    same unrolled conjugate gradient as for the sparse matrix on the polar
    factors (:class:`pnp.datasteps.torch_polar.TorchPolarMatrix`: ``torch.fft``
    along the rings), kept per shape, device and dtype.

    Examples
    --------
    >>> import numpy as np
    >>> op = PolarRotationalBlur(center=(31.5, 31.5), angle=np.deg2rad(10))
    >>> x = np.random.default_rng(0).random((1, 64, 64))
    >>> op.forward(x).shape
    (1, 64, 64)
    """

    def __init__(self, center, angle, weights=None, mask=None, radius=None, radial_spacing=0.5, arc_spacing=1.0,
                 order=3):
        super().__init__(center, angle, weights=weights, mask=mask, radius=radius)
        self.radial_spacing = check_real(radial_spacing, "radial_spacing", 0, low_open=True)
        self.arc_spacing = check_real(arc_spacing, "arc_spacing", 0, low_open=True)
        if order not in (1, 3):
            raise ValueError(f"order must be 1 or 3, got {order!r}")
        self.order = order

    @classmethod
    def from_blur(cls, blur, **kwargs):
        """The same blur as a :class:`~pnp.operators.rotational.RotationalBlur` (centre, angle, shutter, region).

        ``kwargs`` (``radial_spacing``, ``arc_spacing``, ``order``) go to the constructor; from a
        :class:`PolarRotationalBlur`, its own settings are the defaults.
        """
        if not isinstance(blur, RotationalBlur):
            raise TypeError(f"blur must be a RotationalBlur, got {type(blur).__name__}")
        if isinstance(blur, PolarRotationalBlur):  # its own grid settings unless others are given
            kwargs = dict(dict(radial_spacing=blur.radial_spacing, arc_spacing=blur.arc_spacing, order=blur.order),
                          **kwargs)
        return cls(blur.center, blur.angle, weights=blur.weights, mask=blur.mask, radius=blur.radius, **kwargs)

    def __repr__(self):
        base = super().__repr__()  # centre, angle and region as RotationalBlur shows them
        return (f"Polar{base[:-1]}, radial_spacing={self.radial_spacing:g}, arc_spacing={self.arc_spacing:g}, "
                f"order={self.order})")

    def _replace(self, center, mask):
        return PolarRotationalBlur(center, self.angle, weights=self.weights, mask=mask, radius=self.radius,
                                   radial_spacing=self.radial_spacing, arc_spacing=self.arc_spacing,
                                   order=self.order)

    def _build(self, shape, progress=None):
        H, W = shape
        cx, cy = self.center
        # no rotation is the identity (the interpolations to the rings and back would low-pass it)
        m = self.region(shape).ravel() if self.angle != 0 else np.zeros(H * W)
        moving = np.flatnonzero(m > 0)
        if moving.size == 0:
            return _PolarMatrix(sparse.csr_matrix((0, H * W)), sparse.csr_matrix((H * W, 0)), [], m)
        px, py = moving % W - cx, moving // W - cy
        r = np.hypot(px, py)
        phi = np.mod(np.arctan2(py, px), 2 * np.pi)
        dr = self.radial_spacing
        r_top = float(r.max())
        # bands double in radius while their rings lie inside the grid; beyond the inscribed radius the
        # rings leave the grid, and narrower bands let each keep only the arcs its pixels read
        r_in = max(0.0, min(cx + 0.5, W - 0.5 - cx, cy + 0.5, H - 0.5 - cy))
        edges = [0.0, _FIRST_BAND]
        while edges[-1] <= r_top:
            nxt = 2 * edges[-1] if edges[-1] < r_in else _OUTER_RATIO * edges[-1]
            edges.append(r_in if edges[-1] < r_in < nxt else nxt)
        blocks = []
        for lo, hi in zip(edges[:-1], edges[1:]):
            sel = np.flatnonzero((r >= lo) & (r < hi))
            if sel.size == 0:
                continue
            j_lo = int(np.floor(r[sel].min() / dr))
            J = int(np.floor(r[sel].max() / dr)) + 2 - j_lo  # the rings around every radius of the band
            step = self.arc_spacing / max((j_lo + J - 1) * dr, 1.0)
            margin = 3 * step  # the interpolation stencils and the kernel's linear spread
            # the angles the band's pixels read: their own plus the arc; separate arcs where the gap
            # between the pixels' angles is longer than what a second arc costs
            arcs = _occupied_arcs(phi[sel], abs(self.angle) + 2 * margin) if r[sel].max() > 0 else None
            if arcs is not None and sum(n + 2 * margin + abs(self.angle) for _, n in arcs) >= 1.5 * np.pi:
                arcs = None
            if arcs is None:  # (nearly) whole rings: periodic, no ends
                N = max(8, sfft.next_fast_len(int(np.ceil(2 * np.pi / step)), real=True))
                parts = [(0.0, 2 * np.pi / N, N, sel)]
            else:  # sectors: the correlation wraps only into samples no pixel reads
                parts = []
                for a0, n in arcs:  # every pixel in the one arc that holds its angle
                    own = sel[np.mod(phi[sel] - a0, 2 * np.pi) <= n]
                    start = a0 - margin + min(0.0, self.angle)
                    N = max(8, sfft.next_fast_len(int(np.ceil((n + 2 * margin + abs(self.angle)) / step)) + 1,
                                                  real=True))
                    parts.append((start, step, N, own))
            for a0, st, N, own in parts:
                if own.size:
                    blocks.append((self._block(shape, j_lo, J, a0, st, N, r[own], phi[own]), moving[own], J, N))
        bands, rows, cols, vals, off = [], [], [], [], 0
        for (_, S, Hf), own, J, N in blocks:
            S = S.tocoo()
            rows.append(own[S.row])
            cols.append(S.col + off)
            vals.append(S.data)
            bands.append((off, J, N, Hf))
            off += J * N
        P = sparse.vstack([b[0][0] for b in blocks], format="csr")
        del blocks
        S = sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                              shape=(H * W, off))
        return _PolarMatrix(P, S, bands, m)

    def _block(self, shape, j_lo, J, a0, step, N, r, phi):
        """Sampling ``P`` (rings x pixels), reading ``S`` (pixels x rings, COO) and transfer function of one ring block.

        Rings ``j_lo .. j_lo + J - 1`` (times ``radial_spacing``), ``N`` angles from ``a0`` every ``step``
        radians; ``r``, ``phi``: polar coordinates of the pixels that read the block.
        """
        H, W = shape
        cx, cy = self.center
        dr = self.radial_spacing
        aa = a0 + np.arange(N) * step
        cos, sin = np.cos(aa)[None, :], np.sin(aa)[None, :]
        parts, inside = [], []
        per = max(1, _CHUNK_SAMPLES // N)  # rings per chunk: bounds the temporaries of the build
        for j in range(0, J, per):
            rr = (j_lo + np.arange(j, min(J, j + per)))[:, None] * dr
            sx, sy = (cx + rr * cos).ravel(), (cy + rr * sin).ravel()
            ins = (sx >= -0.5) & (sx <= W - 0.5) & (sy >= -0.5) & (sy <= H - 0.5)
            Pj = interpolation_matrix(sy, sx, (H, W), order=self.order)
            Pj.data *= np.repeat(ins, np.diff(Pj.indptr))  # samples outside the grid read nothing
            parts.append(Pj)
            inside.append(ins)
        P = sparse.vstack(parts, format="csr") if len(parts) > 1 else parts[0]
        inside = np.concatenate(inside)
        Hf = np.conj(sfft.rfft(ring_kernel(self.angle, self.weights, step, N)))  # a correlation
        # each pixel reads the two rings around its radius, at its angle; its row is normalised by the
        # blurred indicator of the samples inside the grid, so an arc that leaves the grid is averaged over
        # its part inside, as RotationalBlur does (a row with no exposure inside reads nothing, as there)
        ring_pos = r / dr - j_lo
        ang_pos = np.mod(phi - a0, 2 * np.pi) / step
        ind = sfft.irfft(sfft.rfft(inside.reshape(J, N).astype(np.float64), axis=1) * Hf[None], n=N, axis=1).ravel()
        S = _normalised(interpolation_matrix(ring_pos, ang_pos, (J, N), order=1, wrap_cols=True), ind)
        if self.order == 3:
            # the cubic reading where every sample it reads has its whole arc inside the grid; elsewhere its
            # negative lobes can cancel the indicator (a shutter profile dark at the start, at the border) and
            # blow the row up: the linear reading (non-negative) stays there
            cubic = _cubic_in_angle(ring_pos, ang_pos, J, N)
            lowest = np.minimum.reduceat(ind[cubic.indices], cubic.indptr[:-1]) if cubic.nnz else np.zeros(0)
            full = (np.diff(cubic.indptr) > 0) & (lowest >= 1 - 1e-6)
            S = sparse.diags(full.astype(np.float64)) @ _normalised(cubic, ind) + \
                sparse.diags((~full).astype(np.float64)) @ S
            S = S.tocsr()
            S.eliminate_zeros()
        P.eliminate_zeros()
        return P, S, Hf

    def _torch_pair(self, shape, dtype, device):
        """``(M, M^T)`` on a torch device for :meth:`torch_data_step`: the polar factors with ``torch.fft``."""
        from ..datasteps.torch_polar import torch_polar_pair

        return torch_polar_pair(self.matrix(shape), dtype, device)


def _normalised(S, ind):
    """``S`` with each row divided by its reading of ``ind`` (rows reading less than 1e-9 set to 0)."""
    den = S @ ind
    scale = np.where(den > 1e-9, 1.0 / np.where(den > 1e-9, den, 1.0), 0.0)
    return (sparse.diags(scale) @ S).tocsr()


def _cubic_in_angle(ring_pos, ang_pos, J, N):
    """Sparse ``(T, J N)`` interpolation: linear between rings, Keys cubic (periodic) along the angle."""
    from .rotational import _cubic_weights

    j0 = np.floor(ring_pos).astype(np.int64)
    t = ring_pos - j0
    j0 = np.clip(j0, 0, J - 1)
    j1 = np.clip(j0 + 1, 0, J - 1)
    ci, wc = _cubic_weights(ang_pos, N, wrap=True)
    idx = np.stack([j * N + c for j in (j0, j1) for c in ci], axis=1)
    val = np.stack([a * b for a in (1 - t, t) for b in wc], axis=1)
    T = ring_pos.size
    M = sparse.csr_matrix((val.ravel(), idx.ravel(), np.arange(T + 1) * idx.shape[1]), shape=(T, J * N))
    M.sum_duplicates()
    return M


#: Estimated entries per pixel of :class:`RotationalBlur`'s sparse matrix (on the padded grid) above which
#: :func:`prefer_polar` chooses the polar grids. One restoration with the default prior on 2 CPU cores,
#: build included (``docs/benchmarks_rotation.md``, section 16): 512x512 at 10 degrees (92 entries per
#: pixel) took 54 s with the sparse matrix and 69 s with the polar grids, at 20 degrees (174 per pixel)
#: 112 s and 82 s.
AUTO_ENTRIES_PER_PIXEL = 130.0


def prefer_polar(blur, shape):
    """Whether :class:`PolarRotationalBlur` is the cheaper model of ``blur`` for frames of ``shape``.

    True when :class:`~pnp.operators.rotational.RotationalBlur`'s sparse matrix
    on the grid that :func:`pnp.solve` pads the frame to would hold more than
    :data:`AUTO_ENTRIES_PER_PIXEL` entries per pixel (long arcs: a large
    frame or angle), or would need more than
    :data:`~pnp.operators.rotational.WARN_BYTES` to build; False for small
    frames and angles, where the sparse matrix is faster.

    Parameters
    ----------
    blur : RotationalBlur
    shape : tuple (H, W)
        The frame (observation) size in pixels.
    """
    from .rotational import WARN_BYTES, arc_entries, build_peak_bytes

    H, W = (int(n) for n in shape[-2:])
    pads = blur.boundary_margins((H, W))
    grid = (H + pads[0] + pads[1], W + pads[2] + pads[3])
    padded = blur.padded(pads)
    region = padded.region(grid)
    r = padded.radii(grid)[region > 0]
    entries = float(arc_entries(r, blur.angle).sum())
    return entries / (grid[0] * grid[1]) > AUTO_ENTRIES_PER_PIXEL or build_peak_bytes(entries) > WARN_BYTES


def wants_polar(blur, shape, model="auto"):
    """Whether the discretisation ``model`` asks for :class:`PolarRotationalBlur` for frames of ``shape``.

    Parameters
    ----------
    blur : RotationalBlur
    shape : tuple (H, W)
        The frame (observation) size in pixels.
    model : {"arcs", "polar", "auto"}
        ``"arcs"``: never; ``"polar"``: always; ``"auto"``: where
        :func:`prefer_polar` finds the polar grids cheaper.

    Raises
    ------
    ValueError
        If ``model`` is not one of the three.
    """
    if model not in ("arcs", "polar", "auto"):
        raise ValueError(f'model must be "arcs", "polar" or "auto", got {model!r}')
    return model == "polar" or (model == "auto" and prefer_polar(blur, shape))
