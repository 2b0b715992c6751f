"""Blur-kernel generators: Gaussian, disk (defocus), linear motion and camera shake.

Every generator returns a float64 array that sums to 1 and follows the
centring convention of :mod:`pnp.psf` (origin at ``(kh // 2, kw // 2)``):
kernels that are symmetric about a point are centred on the origin, so they do
not shift the image; camera-shake kernels have their centre of mass on the
origin (bilinear splatting preserves the centroid of the trajectory).

Geometry: ``angle`` is in degrees, counter-clockwise from the positive column
(x) axis with the row axis pointing *down* (image convention), so
``angle=90`` is a vertical motion and ``angle=45`` goes from bottom-left to
top-right. All lengths and widths are in pixels.

Sub-pixel accuracy comes from integrating each continuous model over the
pixel footprints (closed form for Gaussians, supersampling for disks,
densely sampled line integrals with bilinear splatting for segments and
trajectories), so a motion of length 7.3 px differs from one of 7 px.
"""

from __future__ import annotations

import numbers

import numpy as np
from scipy.special import erf

from ._checks import check_int, check_real

__all__ = [
    "gaussian_kernel",
    "anisotropic_gaussian_kernel",
    "disk_kernel",
    "motion_kernel",
    "camera_shake_kernel",
    "trajectory_kernel",
    "random_shake_trajectory",
]


# -- validation helpers -----------------------------------------------------------------
def _positive(value, name, allow_zero=False):
    """``value`` as a float: a finite real number > 0 (>= 0 with ``allow_zero``), else a clear error."""
    return check_real(value, name, 0, low_open=not allow_zero)


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _count(value, name, minimum=1):
    """``value`` as an int, after checking that it is an integer (not a bool or a float) >= ``minimum``."""
    return check_int(value, name, minimum)


def _angle(angle):
    """``angle`` (degrees) as a float, after checking that it is a finite real number."""
    return check_real(angle, "angle", expected="a finite real number of degrees")


def _size(size, default, name="size"):
    """``(kh, kw)`` from an int, a pair of ints or None (-> ``default``, made odd)."""
    if size is None:
        n = int(default)
        n += 1 - n % 2
        return (max(n, 1), max(n, 1))
    if _is_int(size):
        size = (size, size)
    try:
        pair = tuple(size)
    except TypeError:
        pair = ()
    if len(pair) != 2 or not all(_is_int(s) for s in pair):
        raise TypeError(f"{name} must be an int or a pair of ints, got {size!r}")
    kh, kw = (int(s) for s in pair)
    if kh < 1 or kw < 1:
        raise ValueError(f"{name} must be positive, got {size!r}")
    return kh, kw


def _centres(n):
    """Pixel-centre coordinates of an axis of length ``n`` relative to the origin ``n // 2``."""
    return np.arange(n, dtype=np.float64) - n // 2


def _normalise(k):
    total = k.sum()
    if not np.isfinite(total):
        raise ValueError(f"the kernel has a non-finite total ({total}); check the parameters for NaN or inf")
    if total <= 0:
        raise ValueError("the kernel is empty on this grid; enlarge size")
    return k / total


# -- Gaussian ---------------------------------------------------------------------------
def gaussian_kernel(sigma, size=None):
    """Isotropic Gaussian blur integrated over the pixel footprints.

    Parameters
    ----------
    sigma : float
        Standard deviation in pixels (> 0).
    size : int or (int, int), optional
        Kernel shape; default ``2 * ceil(3.5 sigma) + 1`` (odd).

    Returns
    -------
    ndarray, shape (kh, kw), float64, sums to 1
    """
    sigma = _positive(sigma, "sigma")
    kh, kw = _size(size, 2 * np.ceil(3.5 * sigma) + 1)

    def axis(n):
        c = _centres(n)
        s = np.sqrt(2.0) * sigma
        return erf((c + 0.5) / s) - erf((c - 0.5) / s)

    return _normalise(np.outer(axis(kh), axis(kw)))


def anisotropic_gaussian_kernel(sigma_u, sigma_v, angle=0.0, size=None, supersample=5):
    """Anisotropic Gaussian: std ``sigma_u`` along direction ``angle``, ``sigma_v`` across it.

    Parameters
    ----------
    sigma_u, sigma_v : float
        Standard deviations in pixels along and across the principal direction.
    angle : float
        Principal direction in degrees (see module notes).
    size : int or (int, int), optional
        Default ``2 * ceil(3.5 max(sigma_u, sigma_v)) + 1``.
    supersample : int
        Samples per pixel and axis used to integrate over the pixel footprints
        (an integer >= 1).

    Returns
    -------
    ndarray, shape (kh, kw), float64, sums to 1
    """
    su = _positive(sigma_u, "sigma_u")
    sv = _positive(sigma_v, "sigma_v")
    theta = np.deg2rad(_angle(angle))
    kh, kw = _size(size, 2 * np.ceil(3.5 * max(su, sv)) + 1)
    ss = _count(supersample, "supersample")
    off = (np.arange(ss) + 0.5) / ss - 0.5
    r = (_centres(kh)[:, None] + off[None, :]).ravel()
    c = (_centres(kw)[:, None] + off[None, :]).ravel()
    R, C = np.meshgrid(r, c, indexing="ij")
    # x to the right, y up: u = x cos + y sin with y = -row
    u = C * np.cos(theta) - R * np.sin(theta)
    v = -C * np.sin(theta) - R * np.cos(theta)
    g = np.exp(-0.5 * ((u / su) ** 2 + (v / sv) ** 2))
    k = g.reshape(kh, ss, kw, ss).sum(axis=(1, 3))
    return _normalise(k)


# -- disk -------------------------------------------------------------------------------
def disk_kernel(radius, size=None, supersample=16):
    """Uniform disk (out-of-focus blur) with an anti-aliased edge.

    Each pixel holds the fraction of its area inside the disk, computed by
    ``supersample x supersample`` sampling. A disk too small to cover any
    sample (a radius well below half a pixel) is the identity: all the mass
    at the origin, as :func:`gaussian_kernel` gives for a tiny ``sigma``.

    Parameters
    ----------
    radius : float
        Disk radius in pixels (> 0).
    size : int or (int, int), optional
        Default ``2 * ceil(radius) + 1``.
    supersample : int
        Samples per pixel and axis (an integer >= 1).

    Returns
    -------
    ndarray, shape (kh, kw), float64, sums to 1
    """
    radius = _positive(radius, "radius")
    kh, kw = _size(size, 2 * np.ceil(radius) + 1)
    ss = _count(supersample, "supersample")
    off = (np.arange(ss) + 0.5) / ss - 0.5
    r = (_centres(kh)[:, None] + off[None, :]).ravel()
    c = (_centres(kw)[:, None] + off[None, :]).ravel()
    inside = (r[:, None] ** 2 + c[None, :] ** 2) <= radius**2
    k = inside.reshape(kh, ss, kw, ss).mean(axis=(1, 3))
    if not k.any():  # smaller than the sampling: the limit of a shrinking disk, a point at the origin
        k[kh // 2, kw // 2] = 1.0
    return _normalise(k)


# -- segments and trajectories ----------------------------------------------------------
def trajectory_kernel(points, size, center=True):
    """Rasterise a continuous trajectory into a kernel (line integral, bilinear splatting).

    Parameters
    ----------
    points : ndarray, shape (n, 2)
        Trajectory ``(row, col)`` in pixels relative to the kernel origin,
        sampled at equal time steps: consecutive points are joined by straight
        segments of equal exposure time (so the speed along the path is set by
        their spacing). Segments longer than 0.1 px are subdivided here, so a
        few vertices give a continuous polyline; denser points are splatted as
        they are, each with the same weight.
    size : int or (int, int)
        Kernel shape. It must hold the whole trajectory with its bilinear
        footprint; nothing is cut off.
    center : bool
        Shift the trajectory so that its centre of mass sits on the origin.

    Returns
    -------
    ndarray, shape (kh, kw), float64, sums to 1

    Raises
    ------
    ValueError
        If more than a millionth of the mass falls outside a kernel of
        ``size``; the message names the smallest size that holds it.
    """
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) < 1:
        raise ValueError(f"points must have shape (n, 2), got {pts.shape}")
    if not np.all(np.isfinite(pts)):
        raise ValueError("points contain NaN or infinite values")
    kh, kw = _size(size, 1)
    pts, wts = _time_samples(pts, step=0.1)
    if center:
        pts = pts - (wts[:, None] * pts).sum(axis=0) / wts.sum()
    return _rasterise(pts, wts, kh, kw, "the trajectory")


#: Largest fraction of a segment's or trajectory's mass that may fall outside the kernel.
_OUTSIDE_TOL = 1e-6


def _fitting_size(pts):
    """Smallest ``(kh, kw)`` whose grid (origin ``(kh // 2, kw // 2)``) holds the bilinear footprint of ``pts``."""
    sizes = []
    for axis in (0, 1):
        lo = int(np.floor(pts[:, axis].min() + 1e-9))
        hi = int(np.ceil(pts[:, axis].max() - 1e-9))
        a, b = max(-lo, 0), max(hi, 0)  # pixels needed before and after the origin
        sizes.append(min(2 * max(a, b) + 1, 2 * max(a, b + 1)))  # odd or even size, the smaller
    return tuple(sizes)


def _rasterise(pts, wts, kh, kw, what):
    """Bilinear splatting of points ``pts`` (relative to the origin) with weights ``wts`` on a ``(kh, kw)`` grid.

    Raises ValueError, naming the smallest size that fits, if more than
    :data:`_OUTSIDE_TOL` of the weight falls outside the grid.
    """
    r = pts[:, 0] + kh // 2
    c = pts[:, 1] + kw // 2
    r0 = np.floor(r).astype(int)
    c0 = np.floor(c).astype(int)
    fr, fc = r - r0, c - c0
    k = np.zeros((kh, kw))
    outside = 0.0
    for dr, dc, w in ((0, 0, (1 - fr) * (1 - fc)), (0, 1, (1 - fr) * fc), (1, 0, fr * (1 - fc)), (1, 1, fr * fc)):
        rr, cc = r0 + dr, c0 + dc
        ok = (rr >= 0) & (rr < kh) & (cc >= 0) & (cc < kw)
        np.add.at(k, (rr[ok], cc[ok]), (w * wts)[ok])
        outside += (w * wts)[~ok].sum()
    fraction = outside / wts.sum()
    if fraction > _OUTSIDE_TOL:
        raise ValueError(f"{what} does not fit in a kernel of size {(kh, kw)}: {fraction:.2%} of its mass falls "
                         f"outside; use size={_fitting_size(pts)} or larger")
    return _normalise(k)


def _time_samples(pts, step=0.1):
    """Points and weights of a trajectory sampled at equal time steps, segments longer than ``step`` subdivided.

    Each segment ``i`` (one time step) becomes ``n_i`` points from its start,
    ``step`` px or less apart, of weight ``1 / n_i``; the last point keeps the
    weight of the last segment's points. With every segment at most ``step``
    long this returns the points unchanged, all of weight 1.
    """
    if len(pts) == 1:
        return pts, np.ones(1)
    seg = np.diff(pts, axis=0)
    n = np.maximum(np.ceil(np.hypot(seg[:, 0], seg[:, 1]) / step), 1).astype(int)
    if np.all(n == 1):
        return pts, np.ones(len(pts))
    idx = np.repeat(np.arange(len(seg)), n)
    frac = (np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)) / n[idx]
    dense = np.vstack([pts[idx] + frac[:, None] * seg[idx], pts[-1:]])
    return dense, np.append(1.0 / n[idx], 1.0 / n[-1])


def _resample_polyline(pts, step=0.05):
    """Points every ``step`` px along a polyline (exposure uniform in arc length)."""
    seg = np.diff(pts, axis=0)
    seglen = np.hypot(seg[:, 0], seg[:, 1])
    total = seglen.sum()
    if total == 0:
        return pts[:1]
    s = np.concatenate([[0.0], np.cumsum(seglen)])
    n = max(int(np.ceil(total / step)), 1)
    t = (np.arange(n) + 0.5) * (total / n)
    return np.column_stack([np.interp(t, s, pts[:, 0]), np.interp(t, s, pts[:, 1])])


def motion_kernel(length, angle, size=None):
    """Uniform linear motion: a segment of ``length`` px centred on the origin.

    The segment is integrated over the pixel grid (dense sampling with
    bilinear splatting), so non-integer lengths and any angle are rendered
    with sub-pixel accuracy. ``length=0`` gives the identity.

    Length convention: ``length`` is the length of the continuous segment.
    Bilinear splatting spreads every point of it over the two nearest pixels
    along each axis (a one-pixel tent), so the kernel is wider than the
    segment: ``motion_kernel(L, 0)`` has non-zero entries over
    ``2 * ceil(L / 2) + 1`` pixels, about ``L + 2`` (exactly ``L + 2`` for an
    odd integer ``L``, e.g. 9 for ``L = 7``, whose two end pixels hold
    ``1 / (8 L)`` each; ``L + 1`` for an even one), and its variance along
    the motion is ``L**2 / 12 + 1 / 6`` px², the segment's ``L**2 / 12`` plus
    the tent's ``1 / 6``. To recover ``L`` from a measured kernel, use
    ``L = sqrt(12 * (variance - 1 / 6))``.

    Parameters
    ----------
    length : float
        Length of the motion in pixels (>= 0).
    angle : float
        Direction in degrees (see module notes); ``angle`` and ``angle + 180``
        give the same kernel.
    size : int or (int, int), optional
        Default: the smallest odd square that holds the segment plus one pixel.
        A given size must hold the whole segment with its bilinear footprint.

    Returns
    -------
    ndarray, shape (kh, kw), float64, sums to 1

    Raises
    ------
    ValueError
        If ``size`` is too small for the segment (the message names the
        smallest size that fits), or ``angle`` is NaN or infinite.
    """
    length = _positive(length, "length", allow_zero=True)
    theta = np.deg2rad(_angle(angle))
    kh, kw = _size(size, 2 * np.ceil(length / 2) + 3)
    d = np.array([-np.sin(theta), np.cos(theta)])  # (row, col) direction
    if length == 0:
        pts = np.zeros((1, 2))
    else:
        n = max(int(np.ceil(length / 0.02)), 2)
        t = ((np.arange(n) + 0.5) / n - 0.5) * length
        pts = t[:, None] * d[None, :]
    return _rasterise(pts, np.ones(len(pts)), kh, kw,
                      f"a motion of length {length:g} px at {float(angle):g} degrees")


def random_shake_trajectory(length=60, n_samples=2000, anxiety=0.003, impulse_prob=0.001, seed=None):
    """Random camera-shake trajectory: a random walk with inertia and rare impulsive jerks.

    The model follows the spirit of Boracchi & Foi (2012): the position is
    driven by a velocity that keeps its direction (inertia), is pulled back
    towards the start (a centripetal term, so the trajectory stays compact),
    receives small Gaussian accelerations ("anxiety") and, with probability
    ``impulse_prob`` per step, a larger jerk. The trajectory is scaled so that
    its total arc length is ``length`` pixels.

    Parameters
    ----------
    length : float
        Total arc length of the trajectory in pixels.
    n_samples : int
        Number of time samples (an integer >= 2).
    anxiety : float
        Strength of the random accelerations (relative, 0-1; finite, >= 0).
    impulse_prob : float
        Probability per sample of an impulsive jerk.
    seed : int or numpy.random.Generator, optional

    Returns
    -------
    ndarray, shape (n_samples, 2)
        ``(row, col)`` positions in pixels, starting at the origin.
    """
    length = _positive(length, "length")
    n = _count(n_samples, "n_samples", minimum=2)
    anxiety = _positive(anxiety, "anxiety", allow_zero=True)
    impulse_prob = check_real(impulse_prob, "impulse_prob", 0, 1)
    rng = np.random.default_rng(seed)
    # positions in units of the total length (speed 1 over unit time), rescaled at the end
    centripetal = 3.0 * rng.uniform()  # pull towards the start, per unit time
    wobble = anxiety * 10.0 * rng.uniform()  # std of the random acceleration per sample
    big_jerk = 1.0 + 1.0 * rng.uniform()  # size of an impulsive jerk (relative to the speed)
    dt = 1.0 / n
    v = rng.standard_normal(2)
    v = v / np.hypot(*v)
    pos = np.zeros((n, 2))
    for t in range(1, n):
        dv = wobble * rng.standard_normal(2) - centripetal * dt * pos[t - 1]
        if rng.uniform() < impulse_prob:
            phi = rng.uniform(0, 2 * np.pi)
            dv = dv + big_jerk * np.array([np.cos(phi), np.sin(phi)])
        v = v + dv
        v = v / max(np.hypot(*v), 1e-12)
        pos[t] = pos[t - 1] + v * dt
    seglen = np.hypot(*np.diff(pos, axis=0).T).sum()
    return pos * (length / seglen)


def camera_shake_kernel(size=31, length=None, seed=None, anxiety=0.003, impulse_prob=0.001, max_tries=50):
    """Random camera-shake kernel: a random trajectory rasterised with sub-pixel accuracy.

    Parameters
    ----------
    size : int or (int, int)
        Kernel shape.
    length : float, optional
        Arc length of the trajectory in pixels; default ``0.9 * min(size)``.
    seed : int or numpy.random.Generator, optional
        Same seed, same kernel.
    anxiety, impulse_prob : float
        See :func:`random_shake_trajectory`.
    max_tries : int
        Trajectories whose extent does not fit in ``size`` are redrawn up to
        this many times in all (an integer >= 1), then the last one is shrunk
        to fit.

    Returns
    -------
    ndarray, shape (kh, kw), float64, sums to 1; centre of mass on the origin.
    From size 5 on, the outer ring of the kernel (first and last rows and
    columns) stays empty, for even sizes too.
    """
    kh, kw = _size(size, 1)
    if min(kh, kw) < 3:
        raise ValueError(f"size must be at least 3x3 for a camera-shake kernel, got {(kh, kw)}")
    if length is None:
        length = 0.9 * min(kh, kw)
    length = _positive(length, "length")
    max_tries = _count(max_tries, "max_tries")
    rng = np.random.default_rng(seed)
    # keep the bilinear footprint off the outer ring of the kernel: the origin is at n // 2, so
    # an even size has one row (column) less after the origin than before it. Below 5 pixels
    # there is no room inside the ring: the whole grid is used
    limit = np.array([(n + 1) // 2 - 2 if n >= 5 else (n - 1) // 2 for n in (kh, kw)], dtype=np.float64) - 0.01
    pts = None
    for _ in range(max_tries):
        pts = random_shake_trajectory(length, anxiety=anxiety, impulse_prob=impulse_prob, seed=rng)
        pts = _resample_polyline(pts, step=0.05)
        pts = pts - pts.mean(axis=0)
        if np.all(np.abs(pts).max(axis=0) <= limit):
            break
    extent = np.abs(pts).max(axis=0)
    shrink = np.min(np.where(extent > 0, limit / np.maximum(extent, 1e-12), np.inf))
    if shrink < 1:
        pts = pts * shrink
    return trajectory_kernel(pts, (kh, kw), center=True)
