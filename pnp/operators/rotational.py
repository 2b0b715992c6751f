"""Rotational motion blur: every point turns by the same angle around a centre during the exposure.

Conventions
-----------
- Images are ``(C, H, W)`` arrays (channels first, see :mod:`pnp._layout`);
  pixel ``(row i, column j)`` has its centre at ``x = j``, ``y = i`` (pixels),
  with ``y`` pointing down as in a displayed image.
- ``center = (x, y)`` is the rotation centre in those pixel coordinates; it may
  lie outside the frame.
- ``angle`` (radians) is the total rotation during the exposure. A positive
  angle turns the object **counter-clockwise as seen on the screen** (with
  ``y`` pointing down); a negative angle clockwise.
- The blurred image is the time average of the rotated object from the start of
  the exposure (rotation 0) to its end (rotation ``angle``): the sharp image
  ``x`` is the object's pose at the **start** of the exposure.

Discretisation
--------------
The time integral is a weighted sum of ``N`` rotations at the midpoints
``theta_k = angle (k + 1/2) / N`` of ``N`` equal time slices, each rotation a
bilinear interpolation; the weight of a slice is the share of the exposure
(the integral of the shutter profile) in it, see
:func:`rotation_sample_angles`. ``N`` grows with the radius (pixels are grouped in
rings of ``ring_width`` pixels) so that consecutive samples of an arc are at
most ``spacing`` pixels apart (0.5 by default). The whole operator is
assembled once per image shape as a :mod:`scipy.sparse` matrix: the adjoint is
its transpose (exact), and one product costs about ``2 x arc length``
multiply-adds per pixel.

Samples that fall outside the grid (more than half a pixel beyond the border)
are dropped and the weights of the remaining samples of that pixel are
renormalised: a pixel near the border averages the part of its arc that lies
in the frame. This keeps the prediction unbiased but is not the physics at the
rim, where content from outside the frame rotates in. :func:`pnp.solve` avoids
relying on it: the operator has a
:meth:`RotationalBlur.padded` form, so the solver restores on a grid enlarged
on each side by :meth:`RotationalBlur.boundary_margins` (how far the arcs of the
frame's pixels reach beyond that side) and treats the pad as unobserved content
that rotates into the frame. With ``boundary="circular"`` no pad is added and the
renormalised arcs are the model at the frame border.

Cost
----
The number of sub-angles of a pixel grows with its distance to the centre, so
a centre far outside the frame makes even a small frame expensive (2000 px
from the centre at 7.2 degrees a pixel holds about 500 matrix entries, against
12 in a 64x64 frame turning by 10 degrees about its middle). Building a matrix
of more than :data:`PROGRESS_ENTRIES` estimated entries shows a progress bar
(on a terminal), and a build estimated to need more than :data:`WARN_BYTES` of
memory warns with its size. Far from the centre the motion is almost a
translation, which a motion kernel (:func:`pnp.kernels.motion_kernel`) models
far more cheaply. :class:`pnp.PolarRotationalBlur` is the same blur
discretised on polar grids: about 50 stored entries per pixel whatever the
angle and the radius, so large frames and angles fit in memory and cost less
per product (:func:`pnp.operators.polar_rotational.prefer_polar` says which
model is the cheaper for a frame; ``docs/benchmarks_rotation.md``, section 16).
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from .._checks import check_real

__all__ = ["RotationalBlur", "rotation_sample_angles", "interpolation_matrix", "check_center", "arc_entries",
           "build_peak_bytes"]

_CHUNK_ENTRIES = 3_000_000  # sparse entries assembled per batch (bounds temporary memory)
#: Estimated matrix entries from which building a matrix shows a tqdm progress bar (on a terminal;
#: 10 million entries take a few seconds on one core).
PROGRESS_ENTRIES = 10_000_000
#: Estimated peak memory (bytes) of a matrix build from which it warns (a UserWarning with the estimate).
WARN_BYTES = 4 * 2**30
_BYTES_PER_ENTRY = 12  # float64 value + int32 column index of a CSR matrix
_BUILD_PEAK = 3.3  # peak memory of a build / size of the finished matrix (measured 3.26-3.31 on 2.5-23 M entries)


def check_center(center, name="center"):
    """``center`` as a pair of floats ``(x, y)`` (pixels), checked.

    The one check of a rotation centre, for the operator and the estimators.

    Raises
    ------
    TypeError
        If ``center`` is not numeric (e.g. a string).
    ValueError
        If it is not two finite numbers.
    """
    try:
        c = np.asarray(center, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be two finite numbers (x, y) in pixels, got {center!r}") from exc
    if c.shape != (2,) or not np.all(np.isfinite(c)):
        raise ValueError(f"{name} must be two finite numbers (x, y) in pixels, got {center!r}")
    return float(c[0]), float(c[1])


def arc_entries(radii, angle):
    """Estimated entries of :class:`RotationalBlur`'s matrix in the rows of pixels ``radii`` px from the centre.

    About ``2 (arc length + 2)`` per pixel once the duplicates of its samples
    are summed (measured: 1.9 to 2.2 times for arcs of 1 to 130 px).
    """
    return 2 * (np.asarray(radii, dtype=np.float64) * abs(angle) + 2)


def build_peak_bytes(entries):
    """Estimated peak memory (bytes) of building a matrix of ``entries`` entries (:meth:`RotationalBlur.matrix`)."""
    return _BUILD_PEAK * _BYTES_PER_ENTRY * entries


def rotation_sample_angles(angle, n, weights=None):
    """Sub-angles and their weights for an exposure sampled in ``n`` equal time slices.

    Parameters
    ----------
    angle : float
        Total rotation (radians).
    n : int
        Number of slices (>= 1).
    weights : array_like, shape (K,), optional
        Shutter profile: relative exposure of ``K`` equal time slices of the
        exposure (non-negative, positive sum; uniform if None), i.e. a
        piecewise-constant exposure rate over the normalised time ``[0, 1]``.
        Each of the ``n`` slices gets the integral of that profile over its
        time interval (the difference of the profile's cumulative sum at the
        interval's ends), so every profile slice keeps its share of the
        exposure whatever ``n`` is: a short bright slice is not lost when
        ``n < K``, and ``n >= K`` reproduces the steps of the profile.

    Returns
    -------
    thetas : ndarray, shape (n,)
        Rotation at the middle of each slice (radians).
    w : ndarray, shape (n,)
        Non-negative weights summing to 1: the fraction of the exposure in
        each slice.
    """
    n = int(n)
    if n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n}")
    t = (np.arange(n) + 0.5) / n
    if weights is None:
        w = np.ones(n)
    else:
        prof = np.asarray(weights, dtype=np.float64).ravel()
        # cumulative exposure at the K + 1 slice boundaries; piecewise linear in between (exact for a
        # piecewise-constant profile), read at the n + 1 boundaries of the sub-intervals
        cum = np.concatenate([[0.0], np.cumsum(prof)])
        edges = np.interp(np.arange(n + 1) / n, np.arange(prof.size + 1) / prof.size, cum)
        w = np.maximum(np.diff(edges), 0.0)  # >= 0 up to rounding
    return angle * t, w / w.sum()


def _linear_weights(q, n):
    """Indices and weights of linear interpolation at coordinates ``q`` on ``0..n-1`` (edge clamped)."""
    i0 = np.floor(q)
    f = q - i0
    i0 = i0.astype(np.int64)
    return (np.clip(i0, 0, n - 1), np.clip(i0 + 1, 0, n - 1)), (1.0 - f, f)


def _cubic_weights(q, n, wrap):
    """Indices and weights of Keys cubic interpolation (a = -1/2) on ``0..n-1``."""
    i0 = np.floor(q).astype(np.int64)
    f = q - i0
    a = -0.5
    w = []
    for d in (1 + f, f, 1 - f, 2 - f):
        d = np.abs(d)
        w.append(np.where(d <= 1, (a + 2) * d**3 - (a + 3) * d**2 + 1,
                          np.where(d < 2, a * d**3 - 5 * a * d**2 + 8 * a * d - 4 * a, 0.0)))
    idx = [i0 - 1, i0, i0 + 1, i0 + 2]
    idx = [np.mod(i, n) if wrap else np.clip(i, 0, n - 1) for i in idx]
    return idx, w


def interpolation_matrix(rows, cols, shape, order=1, wrap_cols=False):
    """Sparse matrix that samples an image of ``shape`` at fractional positions.

    Parameters
    ----------
    rows, cols : ndarray, shape (T,)
        Sample positions in pixel units (row, column).
    shape : tuple (H, W)
        Grid shape; the image is flattened in C order.
    order : {1, 3}
        Bilinear (1) or Keys bicubic (3) interpolation.
    wrap_cols : bool
        Periodic along the columns (used for the angle axis of polar grids);
        otherwise out-of-grid positions take the nearest border value.

    Returns
    -------
    scipy.sparse.csr_matrix, shape (T, H * W)
    """
    H, W = shape
    rows = np.asarray(rows, dtype=np.float64).ravel()
    cols = np.asarray(cols, dtype=np.float64).ravel()
    T = rows.size
    if order == 1:
        (r0, r1), (wr0, wr1) = _linear_weights(rows, H)
        if wrap_cols:
            c0 = np.floor(cols).astype(np.int64)
            fc = cols - c0
            ci, wc = (np.mod(c0, W), np.mod(c0 + 1, W)), (1 - fc, fc)
        else:
            ci, wc = _linear_weights(cols, W)
        ri, wr = (r0, r1), (wr0, wr1)
    elif order == 3:
        ri, wr = _cubic_weights(rows, H, wrap=False)
        ci, wc = _cubic_weights(cols, W, wrap=wrap_cols)
    else:
        raise ValueError(f"order must be 1 or 3, got {order!r}")
    idx = np.stack([r * W + c for r in ri for c in ci], axis=1)
    val = np.stack([a * b for a in wr for b in wc], axis=1)
    m = sparse.csr_matrix((val.ravel(), idx.ravel(), np.arange(T + 1) * idx.shape[1]), shape=(T, H * W))
    m.sum_duplicates()
    return m


class RotationalBlur:
    r"""Blur by a rotation of ``angle`` radians around ``center`` during the exposure.

    .. math:: (A x)(p) = m(p) \sum_k w_k\, x\big(c + R(-\theta_k)(p - c)\big) + (1 - m(p))\, x(p)

    where :math:`R(\theta)` turns counter-clockwise on screen by :math:`\theta`,
    :math:`w_k` are the shutter weights of the sub-angles :math:`\theta_k \in [0, \text{angle}]`
    and :math:`m` is the mask of the rotating region (1 everywhere by default).
    See the module docstring for the conventions and the discretisation.

    Parameters
    ----------
    center : (float, float)
        Rotation centre ``(x, y)`` in pixels (column, row of the frame); may
        lie outside the frame.
    angle : float
        Rotation during the exposure in radians, ``|angle| <= 2 pi``; positive
        is counter-clockwise on screen.
    weights : array_like, shape (K,), optional
        Shutter profile over the exposure (``K`` equal time slices, relative
        exposure of each, non-negative, positive sum); uniform by default.
        Each sub-angle gets the exposure of its time slice, integrated over
        the profile (:func:`rotation_sample_angles`), so short bright slices
        keep their share at every radius, however few sub-angles it uses.
    mask : array_like, shape (H, W), optional
        Which pixels see the rotating object (values in [0, 1], soft edges
        allowed); the others see a static background and stay sharp. Fixes the
        image shape. Exclusive with ``radius``.
    radius : float or (float, float), optional
        The rotating region as a disk ``r < radius`` or an annulus
        ``r0 <= r < r1`` around ``center`` (pixels), with anti-aliased edges.
    spacing : float
        Largest distance (pixels) between consecutive sub-angle samples of an
        arc; 0.5 by default.
    ring_width : float
        Width (pixels) of the rings of radii that share a number of sub-angles.

    Attributes
    ----------
    scale : int
        Always 1 (no decimation).

    Raises
    ------
    TypeError
        If ``center``, ``weights`` or ``radius`` is not numeric, or ``angle``,
        ``spacing`` or ``ring_width`` is not a real number.
    ValueError
        If ``center`` is not two finite numbers, ``|angle| > 2 pi``,
        ``weights`` is not 1-D, finite, non-negative with a positive sum,
        ``mask`` is not an ``(H, W)`` array of values in [0, 1], both ``mask``
        and ``radius`` are given, ``radius`` is not ``r1 > 0`` or
        ``0 <= r0 < r1``, or ``spacing`` or ``ring_width`` is not > 0.

    Notes
    -----
    The sparse matrix of each image shape is cached on the operator (about
    ``12 x 2 x arc length`` bytes per pixel: ~250 MB for 512x512 at 10
    degrees; building it needs about 3.3 times that at its peak), and so is
    the padded copy that :func:`pnp.solve` works on, so repeated solves with
    one operator build the matrix once; pickling drops the caches.

    Examples
    --------
    >>> import numpy as np
    >>> op = RotationalBlur(center=(31.5, 31.5), angle=np.deg2rad(10))
    >>> x = np.random.default_rng(0).random((1, 64, 64))
    >>> op.forward(x).shape
    (1, 64, 64)
    """

    scale = 1

    def __init__(self, center, angle, weights=None, mask=None, radius=None, spacing=0.5, ring_width=8.0):
        self.center = check_center(center)
        self.angle = check_real(angle, "angle (radians)")
        if abs(self.angle) > 2 * np.pi + 1e-9:
            raise ValueError(f"angle must be in radians with |angle| <= 2 pi, got {self.angle}")
        if weights is not None:
            try:
                w = np.asarray(weights, dtype=np.float64)
            except (TypeError, ValueError) as exc:
                raise TypeError("weights must be a 1-D array of non-negative shutter values with a positive "
                                f"sum, got {weights!r}") from exc
            if w.ndim != 1 or w.size == 0 or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
                raise ValueError("weights must be a 1-D array of non-negative, finite shutter values with a "
                                 f"positive sum, got an array of shape {w.shape}")
            weights = w
        self.weights = weights
        if mask is not None and radius is not None:
            raise ValueError("give either mask or radius, not both")
        if mask is not None:
            m = np.asarray(mask)
            if m.dtype == np.bool_:
                m = m.astype(np.float64)
            if m.ndim != 2 or not np.issubdtype(m.dtype, np.number):
                raise ValueError(f"mask must be a 2-D (H, W) array of values in [0, 1], got shape {m.shape}")
            m = m.astype(np.float64)
            if not np.all(np.isfinite(m)) or m.min() < 0 or m.max() > 1:
                raise ValueError("mask values must lie in [0, 1]")
            mask = m
        self.mask = mask
        if radius is not None:
            try:
                r = np.atleast_1d(np.asarray(radius, dtype=np.float64))
            except (TypeError, ValueError) as exc:
                raise TypeError(f"radius must be r1 > 0 or a pair (r0, r1) with 0 <= r0 < r1 (pixels), "
                                f"got {radius!r}") from exc
            if r.size == 1:
                r = np.array([0.0, r[0]])
            if r.shape != (2,) or not np.all(np.isfinite(r)) or r[0] < 0 or r[1] <= r[0]:
                raise ValueError(f"radius must be r1 > 0 or a pair (r0, r1) with 0 <= r0 < r1, got {radius!r}")
            radius = (float(r[0]), float(r[1]))
        self.radius = radius
        self.spacing = check_real(spacing, "spacing", 0, low_open=True)
        self.ring_width = check_real(ring_width, "ring_width", 0, low_open=True)
        self._cache = {}
        self._torch_cache = {}  # (shape, device, dtype) -> (A, A^T) from _torch_pair, for torch_data_step
        self._padded = {}  # pad -> padded operator, so repeated solves reuse its cached matrix
        self._frame_shape = None if mask is None else mask.shape

    def __getstate__(self):
        # the cached sparse matrices can be hundreds of MB: rebuild them where the operator is used
        state = dict(self.__dict__)
        state["_cache"] = {}
        state["_torch_cache"] = {}
        state["_padded"] = {}
        return state

    # -- constructors -----------------------------------------------------------
    @classmethod
    def from_rpm(cls, rpm, exposure_s, center, **kwargs):
        """Blur of an object turning at ``rpm`` revolutions per minute during ``exposure_s`` seconds.

        ``angle = 2 pi rpm exposure_s / 60``; a positive ``rpm`` turns
        counter-clockwise on screen. Other keyword arguments go to the
        constructor.

        Parameters
        ----------
        rpm : float
            Rotation speed (revolutions per minute, signed, finite, not 0).
        exposure_s : float
            Exposure time (seconds, finite, > 0).
        center : (float, float)
            Rotation centre ``(x, y)`` in pixels.

        Raises
        ------
        TypeError
            If ``rpm`` or ``exposure_s`` is not a real number.
        ValueError
            If ``exposure_s`` is negative; if ``rpm`` or ``exposure_s`` is 0
            (no rotation during the exposure is not a blur: the operator
            would be the identity); or if the object turns more than one
            revolution during the exposure (``|rpm| exposure_s / 60 > 1``,
            e.g. an exposure given in milliseconds instead of seconds).

        Examples
        --------
        >>> op = RotationalBlur.from_rpm(1200, 1 / 1000, center=(100, 100))
        >>> round(float(np.rad2deg(op.angle)), 6)
        7.2
        """
        rpm = check_real(rpm, "rpm")
        exposure_s = check_real(exposure_s, "exposure_s")
        if exposure_s < 0:
            raise ValueError(f"exposure_s must be >= 0 seconds, got {exposure_s}")
        angle = 2 * np.pi * rpm * exposure_s / 60.0
        if angle == 0:
            raise ValueError(f"rpm={rpm:g} and exposure_s={exposure_s:g} give no rotation during the exposure: "
                             "a zero speed or exposure is not a blur (nothing to restore); give rpm != 0 and "
                             "exposure_s > 0 seconds")
        if abs(angle) > 2 * np.pi + 1e-9:
            raise ValueError(f"rpm={rpm:g} and exposure_s={exposure_s:g} s make the object turn "
                             f"{rpm * exposure_s / 60.0:g} revolutions ({np.rad2deg(angle):g} degrees, "
                             f"{angle:g} rad) during the exposure; at most one revolution (2 pi rad) is "
                             "supported: is exposure_s in seconds (e.g. 1 / 1000 for 1 ms)?")
        return cls(center, angle, **kwargs)

    @classmethod
    def disk(cls, center, angle, radius, **kwargs):
        """Only a disk of ``radius`` pixels around ``center`` rotates; the rest stays sharp."""
        return cls(center, angle, radius=radius, **kwargs)

    def __repr__(self):
        region = ""
        if self.radius is not None:
            region = f", radius={self.radius}"
        elif self.mask is not None:
            region = f", mask={self.mask.shape[0]}x{self.mask.shape[1]}"
        if self.weights is not None:
            region += f", shutter profile of {self.weights.size} slices"
        return (f"RotationalBlur(center=({self.center[0]:.2f}, {self.center[1]:.2f}), "
                f"angle={self.angle:.5f} rad ({np.rad2deg(self.angle):.2f} deg){region})")

    # -- geometry ---------------------------------------------------------------
    def region(self, shape):
        """Mask ``m`` of the rotating region on a ``(H, W)`` grid, float in [0, 1]."""
        H, W = shape
        if self.mask is not None:
            if self.mask.shape != (H, W):
                raise ValueError(f"the operator's mask has shape {self.mask.shape}, the image is {H}x{W}")
            return self.mask
        if self.radius is None:
            return np.ones((H, W))
        r = self.radii((H, W))
        r0, r1 = self.radius
        m = np.clip(r1 - r + 0.5, 0, 1)
        if r0 > 0:
            m = m * np.clip(r - r0 + 0.5, 0, 1)
        return m

    def radii(self, shape):
        """Distance (pixels) of every pixel of a ``(H, W)`` grid to the centre."""
        H, W = shape
        cx, cy = self.center
        return np.hypot(np.arange(W)[None, :] - cx, np.arange(H)[:, None] - cy)

    def n_samples(self, radius):
        """Number of sub-angles used for pixels at ``radius`` pixels from the centre."""
        return int(max(1, np.ceil(abs(self.angle) * float(radius) / self.spacing)))

    def sample_angles(self, radius):
        """``(thetas, weights)`` of the sub-angles used at ``radius`` (see :func:`rotation_sample_angles`)."""
        return rotation_sample_angles(self.angle, self.n_samples(radius), self.weights)

    def max_displacement(self, shape):
        """Largest distance (pixels) a point of the rotating region of a ``(H, W)`` frame travels."""
        m = self.region(shape)
        r = self.radii(shape)[m > 0]
        if r.size == 0:
            return 0.0
        chord = 2 * np.sin(min(abs(self.angle), np.pi) / 2)
        return float(r.max() * chord)

    # -- shapes -----------------------------------------------------------------
    def input_shape(self, y_shape):
        """Shape of ``x`` for an observation of shape ``y_shape`` (the same: no decimation).

        Also records the frame size used by :meth:`boundary_margin` when it is
        called without a shape.
        """
        self._frame_shape = tuple(y_shape[-2:])
        return tuple(y_shape)

    def output_shape(self, x_shape):
        """Shape of ``A x``: the same as ``x``."""
        return tuple(x_shape)

    # -- the sparse operator ----------------------------------------------------
    def matrix(self, shape, progress=None):
        """The operator on a ``(H, W)`` grid as a sparse ``(H W, H W)`` CSR matrix (cached per shape).

        ``progress``: None (default) shows a progress bar while a matrix of more
        than :data:`PROGRESS_ENTRIES` estimated entries is built, on a terminal;
        False never (:func:`pnp.solve` with ``progress=False`` builds it so).
        """
        shape = (int(shape[0]), int(shape[1]))
        if shape not in self._cache:
            self._cache[shape] = self._build(shape, progress)
        return self._cache[shape]

    def _build(self, shape, progress=None):
        H, W = shape
        n_pix = H * W
        m = self.region(shape).ravel()
        r = self.radii(shape).ravel()
        cx, cy = self.center
        moving = np.flatnonzero(m > 0)
        ring = np.floor(r[moving] / self.ring_width).astype(np.int64)
        rings, inverse = np.unique(ring, return_inverse=True)
        n_ring = np.array([self.n_samples((b + 1) * self.ring_width) for b in rings], dtype=np.float64)
        samples = 4 * n_ring[inverse]  # interpolation weights per pixel before duplicates are summed
        entries = self._warn_size(shape, samples, r[moving])
        blocks, order = [], []
        from tqdm.auto import tqdm

        bar = tqdm(total=int(samples.sum()), desc=f"RotationalBlur matrix {H}x{W}", unit="sample", unit_scale=True,
                   leave=False, disable=None if entries >= PROGRESS_ENTRIES and progress is not False else True)
        for b in rings:
            pix = moving[ring == b]
            thetas, w = self.sample_angles((b + 1) * self.ring_width)
            c, sn = np.cos(thetas)[None, :], np.sin(thetas)[None, :]
            per = max(1, _CHUNK_ENTRIES // (4 * thetas.size))
            for s in range(0, pix.size, per):
                p = pix[s:s + per]
                dx = ((p % W) - cx)[:, None]
                dy = ((p // W) - cy)[:, None]
                # source of pixel p at rotation theta: c + R(-theta)(p - c), R(-theta) = [[c, -s], [s, c]]
                qy = cy + dx * sn + dy * c
                qx = cx + dx * c - dy * sn
                (r0, r1), (wr0, wr1) = _linear_weights(qy, H)
                (c0, c1), (wc0, wc1) = _linear_weights(qx, W)
                cols = np.stack([r0 * W + c0, r0 * W + c1, r1 * W + c0, r1 * W + c1], axis=-1)
                # samples outside the grid are dropped and the others renormalised
                inside = (qy >= -0.5) & (qy <= H - 0.5) & (qx >= -0.5) & (qx <= W - 0.5)
                wk = w[None, :] * inside
                wk = wk / np.maximum(wk.sum(axis=1, keepdims=True), 1e-300) * m[p][:, None]
                vals = np.stack([wr0 * wc0, wr0 * wc1, wr1 * wc0, wr1 * wc1], axis=-1) * wk[..., None]
                rows = np.broadcast_to(np.arange(p.size)[:, None, None], cols.shape)
                blocks.append(sparse.coo_matrix((vals.ravel(), (rows.ravel(), cols.ravel())),
                                                shape=(p.size, n_pix)).tocsr())
                order.append(p)
                bar.update(4 * p.size * thetas.size)
        bar.close()
        static = sparse.diags(1.0 - m, format="csr")
        if not blocks:
            return static
        S = sparse.vstack(blocks, format="csr")
        p_all = np.concatenate(order)
        S = S[np.argsort(p_all)]  # rows in increasing pixel order
        counts = np.zeros(n_pix, dtype=np.int64)
        counts[np.sort(p_all)] = np.diff(S.indptr)
        indptr = np.concatenate([[0], np.cumsum(counts)])
        B = sparse.csr_matrix((S.data, S.indices, indptr), shape=(n_pix, n_pix))
        A = (B + static).tocsr()
        A.sum_duplicates()
        A.eliminate_zeros()
        return A

    def _warn_size(self, shape, samples, radii):
        """Estimated entries of the matrix on ``shape``; warns if its build needs more than :data:`WARN_BYTES`.

        A pixel whose arc stays on the grid holds about ``2 (arc length + 2)``
        entries (:func:`arc_entries`), at most its ``samples``.
        """
        if radii.size == 0:
            return 0.0
        entries = float(np.minimum(samples, arc_entries(radii, self.angle)).sum())
        size = entries * _BYTES_PER_ENTRY
        if build_peak_bytes(entries) > WARN_BYTES:
            import warnings

            H, W = shape
            warnings.warn(
                f"RotationalBlur on a {H}x{W} grid: its sparse matrix will hold about {entries / 1e6:.0f} million "
                f"entries, about {size / 2**30:.1f} GiB, and building it needs about {_BUILD_PEAK * size / 2**30:.1f} "
                f"GiB at its peak. Pixels up to {radii.max():.0f} px from the centre sample arcs of up to "
                f"{radii.max() * abs(self.angle):.0f} px, one sample every {self.spacing:g} px. A centre far "
                "outside the frame is close to a translation, which a motion kernel "
                "(pnp.kernels.motion_kernel) models far more cheaply; a larger spacing= costs less; "
                "pnp.PolarRotationalBlur.from_blur(op) is the same blur on polar grids, whose memory does not "
                "grow with the arcs (about 600 bytes per pixel, 1.2 KB while it is built).",
                stacklevel=4,
            )
        return entries

    # -- operator protocol ---------------------------------------------------------
    def _apply(self, M, x):
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 3:
            raise ValueError(f"expected a (C, H, W) array, got shape {x.shape}")
        C, H, W = x.shape
        if C > 4 and W <= 4:  # an (H, W, C) image would be read as C = H images of width C
            raise ValueError(f"expected a (C, H, W) array, got shape {x.shape}, which looks like an "
                             "(H, W, C) image: pass x.transpose(2, 0, 1) (pnp.solve takes (H, W, C))")
        out = M @ x.reshape(C, H * W).T
        return np.ascontiguousarray(out.T).reshape(C, H, W)

    def forward(self, x):
        """``A x`` for ``x`` of shape ``(C, H, W)``; the same matrix blurs every channel."""
        x = np.asarray(x, dtype=np.float64)
        return self._apply(self.matrix(x.shape[-2:]), x)

    def adjoint(self, y):
        """``A^T y`` (exact: the transpose of the sparse matrix)."""
        y = np.asarray(y, dtype=np.float64)
        return self._apply(self.matrix(y.shape[-2:]).T, y)

    def normal(self, x):
        """``A^T A x``."""
        return self.adjoint(self.forward(x))

    def data_step(self, y, observed=None, method=None, **kwargs):
        """Proximal data step ``step(v, alpha)`` for the observation ``y`` of shape ``(C, H, W)``.

        Parameters
        ----------
        y : ndarray, shape (C, H, W)
        observed : ndarray of bool, shape (H, W), optional
            Pixels really observed (False in a padding band). By default the
            step then solves the masked normal equations exactly (up to
            ``tol``); ``masked="refill"`` (a keyword of the data step class)
            refills them with the current prediction once per call instead.
        method : {None, "polar", "cg"}
            ``"polar"``: :class:`pnp.datasteps.polar.PolarDataStep`, conjugate
            gradient preconditioned by the closed-form solve in polar
            coordinates. ``"cg"``: plain conjugate gradient (the same class
            with ``polar=False``; equivalent to the generic
            :class:`pnp.datasteps.CGDataStep`, plus the ``observed`` mask).
            ``None`` (default): ``"cg"`` with ``tol=1e-4`` and ``maxiter=40``
            unless given, for the exact masked step (with ``observed``) and
            without a mask (``boundary="circular"`` in :func:`pnp.solve`);
            ``"polar"`` (3 preconditioned iterations) only for
            ``masked="refill"``. Without a mask the polar step lost 6.5 dB
            against plain CG on a 64x64 disk scene where both boundaries
            pose the same problem (the audit of 2026-11-27). On the padded
            grid of :func:`pnp.solve`, plain CG run to ``tol=1e-4`` restored
            better than the polar preconditioner stopped at ``tol=1e-3`` (the
            default before 2026-11-26) in every benchmark case: +0.3 to +3.5 dB,
            +0.8 / +1.5 dB on average at 10 / 20 degrees, for 1.2-1.4 times the
            solve time on 2 CPU cores (``docs/benchmarks_rotation.md``, section
            10). ``method="polar"`` is the faster, less accurate choice.
        **kwargs
            Passed to the data step class (except ``polar``, which ``method``
            sets).
        """
        if "polar" in kwargs:
            raise TypeError("data_step() sets PolarDataStep's 'polar' from method: "
                            "use method='cg' for plain conjugate gradient, method='polar' for the preconditioner")
        if method is None:
            refill = observed is not None and kwargs.get("masked", "exact") != "exact"
            method = "polar" if refill else "cg"
            if not refill:
                kwargs.setdefault("tol", 1e-4)
                kwargs.setdefault("maxiter", 40)
        if method in ("polar", "cg"):
            from ..datasteps.polar import PolarDataStep

            return PolarDataStep(self, y, observed=observed, polar=method == "polar", **kwargs)
        raise ValueError(f"method must be None, 'polar' or 'cg', got {method!r}")

    def torch_data_step(self, y, observed=None, iters=30):
        """The data step in torch for a ``(B, C, H, W)`` tensor ``y``: unrolled conjugate gradient.

        :class:`pnp.datasteps.torch_cg.TorchCGDataStep` on this operator's sparse
        matrix (a subclass may give another operator pair through ``_torch_pair``:
        :class:`~pnp.operators.polar_rotational.PolarRotationalBlur` its polar
        factors), exact on the masked normal equations with ``observed`` ((H, W)
        bool, array or tensor). The matrix and its transpose are converted to
        torch once per image shape, device and dtype and kept on the operator
        (as the scipy matrix is), so repeated solves, e.g. the frames of a video
        with one rotation, skip the transposition and the copy to the GPU.

        Parameters
        ----------
        y : Tensor, shape (B, C, H, W)
            Observations.
        observed : array or Tensor of bool, shape (H, W), optional
            Really observed pixels (False in a padding band).
        iters : int
            Conjugate-gradient iterations per call.

        Raises
        ------
        ValueError
            If ``observed`` is not of shape ``(H, W)`` (the last two
            dimensions of ``y``); checked here, not at the first call.
        """
        import torch

        from ..datasteps.torch_cg import TorchCGDataStep

        shape = tuple(int(n) for n in y.shape[-2:])
        mask = None if observed is None else torch.as_tensor(observed, device=y.device)
        if mask is not None and tuple(mask.shape) != shape:
            raise ValueError(f"observed must be an (H, W) = {shape} mask like the last two dimensions of y, "
                             f"got shape {tuple(mask.shape)}")
        key = (shape, str(y.device), y.dtype)
        if key not in self._torch_cache:
            self._torch_cache[key] = self._torch_pair(shape, y.dtype, y.device)
        return TorchCGDataStep(None, y, iters=iters, observed=mask, prepared=self._torch_cache[key])

    def _torch_pair(self, shape, dtype, device):
        """``(A, A^T)`` on a torch device for :meth:`torch_data_step`: the sparse matrix and its transpose."""
        from ..datasteps.torch_cg import torch_matrix_pair

        return torch_matrix_pair(self.matrix(shape), dtype, device)

    def initial(self, y):
        """Starting estimate: a copy of ``y``."""
        return np.array(y, dtype=np.float64)

    # -- boundary handling ------------------------------------------------------------
    def _frame_shape_or(self, shape, name):
        if shape is None:
            shape = self._frame_shape
        if shape is None:
            raise ValueError(f"{name} needs the frame shape (H, W)")
        return tuple(int(s) for s in shape[-2:])

    def source_extent(self, shape):
        """Bounding box of the points that the moving pixels of a ``(H, W)`` frame sample.

        Every pixel ``p`` of the rotating region samples the sharp image at
        ``c + R(-theta)(p - c)`` for ``theta`` in ``[0, angle]``; this is the
        exact bounding box of all those points (pixel coordinates, unbounded by
        the frame), or None if no pixel moves. The union of the rotated regions
        has the bounding box of the rotated convex hull of the region, whose
        vertices are among the first and last moving pixel of each row; along
        the arc of such a point, ``x`` and ``y`` are extreme at the ends of the
        angle range or where the arc crosses an axis through the centre.

        Returns
        -------
        (x_min, x_max, y_min, y_max) : tuple of float, or None
        """
        H, W = (int(s) for s in shape[-2:])
        m = self.region((H, W)) > 0
        rows = np.flatnonzero(m.any(axis=1))
        if rows.size == 0:
            return None
        first = m[rows].argmax(axis=1)
        last = W - 1 - m[rows, ::-1].argmax(axis=1)
        cx, cy = self.center
        dx = np.concatenate([first, last]) - cx
        dy = np.concatenate([rows, rows]) - cy
        r, phi = np.hypot(dx, dy), np.arctan2(dy, dx)
        lo, hi = min(0.0, self.angle), max(0.0, self.angle)
        # the source is c + r (cos, sin)(phi + theta): candidates are the two ends of [lo, hi] and,
        # where it lies in [lo, hi], the first theta >= lo with phi + theta a multiple of pi / 2
        cand = [np.full_like(phi, lo), np.full_like(phi, hi)]
        for k in range(4):
            t = lo + np.mod(k * np.pi / 2 - phi - lo, 2 * np.pi)
            cand.append(np.where(t <= hi, t, lo))
        a = phi + np.stack(cand)
        qx, qy = cx + r * np.cos(a), cy + r * np.sin(a)
        return float(qx.min()), float(qx.max()), float(qy.min()), float(qy.max())

    def boundary_margins(self, shape=None):
        """Pads ``(top, bottom, left, right)`` (pixels) that hold everything rotating into the frame.

        What :func:`pnp.solve` pads by. Each side gets how far the points that
        the frame's moving pixels sample (:meth:`source_extent`) reach beyond
        the frame's outermost pixel centre on that side, rounded up, plus 2
        pixels for the interpolation; 0 where they stay within half a pixel of
        it (the operator keeps such samples, clamped to the border). With a
        centre far outside the frame the motion in the frame is almost a
        translation, and only the side it comes from needs a wide pad; a disk
        or annulus (``radius``) needs only what its own region reaches.

        Parameters
        ----------
        shape : tuple (H, W), optional
            Frame size; default: the mask's shape, else the shape last seen by
            :meth:`input_shape` (which :func:`pnp.solve` calls first).

        Returns
        -------
        tuple of 4 int
            Each at most :meth:`boundary_margin`.
        """
        H, W = self._frame_shape_or(shape, "boundary_margins")
        ext = self.source_extent((H, W))
        if ext is None:
            return (0, 0, 0, 0)
        x0, x1, y0, y1 = ext
        reach = (-y0, y1 - (H - 1), -x0, x1 - (W - 1))
        # 1e-9: rounding of the rotation of a point that stays on the border
        return tuple(int(np.ceil(d - 1e-9)) + 2 if d > 0.5 else 0 for d in reach)

    def boundary_margin(self, shape=None):
        """One pad width (pixels) for all four sides: enough on every side, often far more than needed.

        :func:`pnp.solve` pads each side by :meth:`boundary_margins` instead
        (until the mixer audit of 2026-11-27 it padded every side by this
        width: with a centre far outside the frame that made the padded grid
        tens of times larger than the frame).

        Parameters
        ----------
        shape : tuple (H, W), optional
            Frame size; default: the mask's shape, else the shape last seen by
            :meth:`input_shape` (which :func:`pnp.solve` calls first).

        Returns
        -------
        int
            0 if no sample of the rotating region leaves the frame by more than
            half a pixel, else the largest displacement plus 2 pixels.
        """
        H, W = self._frame_shape_or(shape, "boundary_margin")
        if not any(self.boundary_margins((H, W))):
            return 0
        return int(np.ceil(self.max_displacement((H, W)))) + 2

    def padded(self, pad):
        """The same blur on a padded frame (the centre moves by the top and left pads).

        Parameters
        ----------
        pad : int or tuple of 4 int
            Pixels added on every side, or ``(top, bottom, left, right)``: :func:`pnp.solve`
            enlarges the bottom and right pads to an FFT-friendly size.

        A user mask is extended by repeating its border values, so a rotating
        region that touches the frame border continues into the pad.
        """
        if np.ndim(pad) == 0:
            pads = (int(pad),) * 4
        else:
            pads = tuple(int(q) for q in pad)
            if len(pads) != 4:
                raise ValueError(f"pad must be an int or (top, bottom, left, right), got {pad!r}")
        if min(pads) < 0:
            raise ValueError(f"pad must be >= 0, got {pad!r}")
        if not any(pads):
            return self
        if pads not in self._padded:
            top, bottom, left, right = pads
            cx, cy = self.center
            mask = None if self.mask is None else np.pad(self.mask, ((top, bottom), (left, right)), mode="edge")
            self._padded[pads] = self._replace((cx + left, cy + top), mask)
        return self._padded[pads]

    def _replace(self, center, mask):
        """The same blur with another centre and mask (what :meth:`padded` builds)."""
        return RotationalBlur(center, self.angle, weights=self.weights, mask=mask, radius=self.radius,
                              spacing=self.spacing, ring_width=self.ring_width)
