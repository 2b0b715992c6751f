"""Synthetic rotational-blur data without the inverse crime, and a rotating-disk test scene.

The observation is not made with :class:`pnp.operators.rotational.RotationalBlur`
(which restores it): the sharp image is interpolated onto a grid ``supersample``
times finer (bicubic), rotated there at many sub-steps of the exposure (at least
64; bilinear or cubic-spline interpolation on the fine grid), averaged, and integrated back over the pixel area
(block mean), as a sensor would. The ground truth is the same fine scene
integrated over the pixels without rotation. Content that rotates into the
frame comes from a mirror extension of the image (the scene continues beyond
the frame), so the rim of the observation holds information the frame alone
does not have, as in a real photograph.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ._checks import check_int
from ._layout import chw_to_public, to_internal
from .operators.rotational import RotationalBlur, check_center, rotation_sample_angles

__all__ = ["SyntheticRotation", "synthesize_rotational_blur", "rotating_disk_scene", "rotate"]


@dataclass
class SyntheticRotation:
    """A synthetic observation and what produced it.

    Attributes
    ----------
    blurred : ndarray, (H, W) or (H, W, C)
        The noisy blurred observation (float, 0-1 scale, not clipped).
    sharp : ndarray, same shape
        Ground truth: the scene at the start of the exposure.
    center : (float, float)
        Rotation centre ``(x, y)`` in pixels.
    angle : float
        Rotation during the exposure (radians, counter-clockwise on screen).
    noise_level : float
        Standard deviation of the added Gaussian noise (0-1 scale).
    mask : ndarray or None, shape (H, W)
        The rotating region, if not the whole frame.
    """

    blurred: np.ndarray
    sharp: np.ndarray
    center: tuple
    angle: float
    noise_level: float
    mask: np.ndarray | None = None

    def operator(self, **kwargs):
        """The matching :class:`RotationalBlur` (true parameters) for restoring ``blurred``."""
        return RotationalBlur(self.center, self.angle, mask=self.mask, **kwargs)


def rotate(image, center, theta, order=3, mode="mirror"):
    """Rotate a ``(C, H, W)`` image by ``theta`` radians counter-clockwise on screen around ``center`` (x, y).

    Returns the image whose pixel ``p`` holds the input at ``c + R(-theta)(p - c)``
    (spline interpolation of ``order``; ``mode`` as in
    :func:`scipy.ndimage.map_coordinates`).
    """
    C, H, W = image.shape
    cx, cy = center
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float64)
    dx, dy = xx - cx, yy - cy
    c, s = np.cos(theta), np.sin(theta)
    coords = np.array([cy + dx * s + dy * c, cx + dx * c - dy * s])
    return np.stack([ndimage.map_coordinates(image[k], coords, order=order, mode=mode) for k in range(C)])


def _block_mean(x, s):
    C, H, W = x.shape
    return x.reshape(C, H // s, s, W // s, s).mean(axis=(2, 4))


def synthesize_rotational_blur(image, center, angle, noise_level=2.55 / 255, substeps=None, supersample=2,
                               weights=None, mask=None, radius=None, seed=None, order=1, progress=None):
    """Blur ``image`` by a rotation during the exposure, independently of the restoring operator.

    Parameters
    ----------
    image : ndarray, (H, W) or (H, W, C)
        Sharp image (uint8, uint16 or float 0-1).
    center : (float, float)
        Rotation centre ``(x, y)`` in pixels of ``image``.
    angle : float
        Rotation during the exposure, radians, counter-clockwise on screen.
    noise_level : float
        Standard deviation of the white Gaussian noise (0-1 scale; finite,
        >= 0).
    substeps : int, optional
        Rotations averaged over the exposure (an integer >= 1, at most
        20000); values below 64 are raised to 64. By default enough for steps
        of at most 0.5 pixel (one fine pixel) at the largest radius, and at
        least 64.
    supersample : int
        Factor of the fine grid (an integer >= 1; 2 by default).
    weights : array_like, optional
        Shutter profile over the exposure (as in :class:`RotationalBlur`).
    mask : ndarray, (H, W), optional
        Rotating region (values in [0, 1]); the rest is a static background.
    radius : float or (float, float), optional
        Rotating disk or annulus around ``center`` instead of ``mask``.
    seed : int, optional
        Seed of the noise.
    order : {1, 3}
        Spline order of the rotations on the fine grid (the fine grid itself is
        a bicubic interpolation of the image; 1 is about three times faster
        and differs from 3 by far less than the noise).
    progress : bool, optional
        A tqdm progress bar over the sub-steps of the exposure; ``None``
        shows it only on a terminal (as the solvers do).

    Returns
    -------
    SyntheticRotation

    Raises
    ------
    TypeError
        If ``noise_level`` is not a number, or ``substeps`` is not an integer
        (a float such as 2.7 or NaN, a string).
    ValueError
        If ``noise_level`` is not a finite number in [0, 1] (0-1 intensity
        scale: 2.55 instead of 2.55/255 is refused), ``supersample`` is
        not an integer >= 1, ``order`` is not 1 or 3, or ``substeps`` is
        below 1 or too large (more than 20000, given or by default).
    """
    from tqdm.auto import tqdm

    from .noise import check_noise_level

    noise_level = check_noise_level(noise_level)
    if isinstance(supersample, bool) or not isinstance(supersample, numbers.Integral) or supersample < 1:
        raise ValueError(f"supersample must be an integer >= 1, got {supersample!r}")
    if substeps is not None:
        check_int(substeps, "substeps", 1, expected="an integer >= 1 (values below 64 are raised to 64)")
    x, layout = to_internal(image, "image")
    C, H, W = x.shape
    s = int(supersample)
    ref = RotationalBlur(center, angle, weights=weights, mask=mask, radius=radius)
    region = ref.region((H, W))
    margin = int(np.ceil(ref.max_displacement((H, W)))) + 4
    r_max = float(ref.radii((H, W)).max())
    if substeps is None:
        substeps = int(np.ceil(abs(ref.angle) * r_max / 0.5))
    substeps = max(64, int(substeps))
    if substeps > 20000:
        raise ValueError(f"substeps={substeps} is too many; reduce the angle or the image size")

    xp = np.pad(x, ((0, 0), (margin, margin), (margin, margin)), mode="symmetric")
    mp = np.pad(region, margin, mode="edge")
    # the fine scene: pixel (i, j) of the padded frame covers fine pixels s*i .. s*i + s - 1
    fine = np.stack([ndimage.zoom(xp[k], s, order=3, mode="mirror", grid_mode=True) for k in range(C)])
    # the bicubic zoom overshoots at edges: clip once, so that the scene that is blurred and
    # the returned ground truth are the same (both in [0, 1])
    np.clip(fine, 0, 1, out=fine)
    fine_mask = ndimage.zoom(mp, s, order=1, mode="nearest", grid_mode=True)
    cx, cy = ref.center
    fc = ((cx + margin + 0.5) * s - 0.5, (cy + margin + 0.5) * s - 0.5)
    thetas, w = rotation_sample_angles(ref.angle, substeps, ref.weights)
    if order not in (1, 3):
        raise ValueError(f"order must be 1 or 3, got {order!r}")
    coeffs = [ndimage.spline_filter(fine[k], order=3, mode="mirror") if order == 3 else fine[k] for k in range(C)]
    Hf, Wf = fine.shape[-2:]
    dy, dx = np.mgrid[0:Hf, 0:Wf].astype(np.float64)
    dx -= fc[0]
    dy -= fc[1]
    acc = np.zeros_like(fine)
    with tqdm(total=len(thetas), desc="rotational blur", unit="step", leave=False,
              disable=(None if progress is None else not progress)) as bar:
        for theta, wk in zip(thetas, w):
            c, s_ = np.cos(theta), np.sin(theta)
            coords = np.array([fc[1] + dx * s_ + dy * c, fc[0] + dx * c - dy * s_])
            for k in range(C):
                acc[k] += wk * ndimage.map_coordinates(coeffs[k], coords, order=order, mode="mirror",
                                                       prefilter=False)
            bar.update(1)
    moving = fine_mask[None] * acc + (1 - fine_mask[None]) * fine
    crop = (slice(None), slice(margin, margin + H), slice(margin, margin + W))
    blurred = _block_mean(moving, s)[crop]
    sharp = _block_mean(fine, s)[crop]
    rng = np.random.default_rng(seed)
    blurred = blurred + float(noise_level) * rng.standard_normal(blurred.shape)
    return SyntheticRotation(
        blurred=chw_to_public(blurred, layout.ndim),
        sharp=chw_to_public(sharp, layout.ndim),
        center=ref.center, angle=ref.angle, noise_level=float(noise_level),
        mask=None if mask is None and radius is None else region,
    )


def rotating_disk_scene(size=256, radius=None, center=None, seed=0):
    """A textured disk (the rotating part, e.g. a mixer's cup) pasted over a static background.

    Parameters
    ----------
    size : int
        Height and width of the colour image (pixels).
    radius : float, optional
        Disk radius in pixels (default ``0.4 * size``).
    center : (float, float), optional
        Disk centre ``(x, y)`` in pixels, two finite numbers (default:
        slightly off the image centre).
    seed : int
        Seed of the random texture details.

    Returns
    -------
    image : ndarray, (size, size, 3), float64 in [0, 1]
    center : (float, float)
    radius : float

    Raises
    ------
    TypeError
        If ``center`` is not numeric.
    ValueError
        If ``size`` is below 32, ``radius`` is not a finite number > 0, or
        ``center`` is not two finite numbers.
    """
    from skimage import data, transform

    size = int(size)
    if size < 32:
        raise ValueError(f"size must be >= 32 pixels, got {size}")
    if radius is not None and (isinstance(radius, bool) or not isinstance(radius, numbers.Real)
                               or not np.isfinite(radius) or radius <= 0):
        raise ValueError(f"radius must be a finite number of pixels > 0, got {radius!r}")
    radius = 0.4 * size if radius is None else float(radius)
    center = (0.52 * size, 0.48 * size) if center is None else check_center(center)
    bg = transform.resize(data.brick() / 255.0, (size, size), anti_aliasing=True)
    bg = np.stack([0.55 * bg + 0.25, 0.5 * bg + 0.2, 0.45 * bg + 0.15], axis=-1)
    tex = transform.resize(data.astronaut() / 255.0, (size, size, 3), anti_aliasing=True)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    r = np.hypot(xx - center[0], yy - center[1])
    phi = np.arctan2(yy - center[1], xx - center[0])
    # six radial blades and random specks on the disk, so that every radius has texture
    blades = 0.5 + 0.5 * np.cos(6 * phi + 0.03 * r)
    rng = np.random.default_rng(seed)
    specks = ndimage.gaussian_filter(rng.random((size, size)), 1.0)
    specks = (specks - specks.mean()) / (specks.std() + 1e-12)
    disk = 0.75 * tex + 0.2 * blades[..., None] + 0.03 * specks[..., None]
    rim = np.exp(-0.5 * ((r - 0.93 * radius) / 1.5) ** 2)[..., None]
    disk = disk * (1 - 0.8 * rim)
    m = np.clip(radius - r + 0.5, 0, 1)[..., None]
    img = np.clip(m * disk + (1 - m) * bg, 0, 1)
    return img, center, radius
