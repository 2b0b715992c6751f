"""Reading and writing images and blur kernels.

Images
------
:func:`read_image` reads PNG, JPEG and TIFF files with their bit depth
(uint8 or uint16; float TIFFs stay float) in the public layout ``HxW`` or
``HxWxC``. :func:`write_image` writes atomically (a temporary file in the
target folder, then a rename), so an interrupted write never leaves a
half-written file, and keeps the array's bit depth where the format allows.

Pillow reduces 16-bit colour PNGs to 8 bits, so those are decoded and
encoded here with a small pure-numpy PNG codec.

Kernels
-------
:func:`read_kernel` reads a blur kernel from an image (PNG/TIFF/JPEG, colour
is averaged to gray), a NumPy ``.npy``/``.npz`` file or a MATLAB ``.mat`` file
(v5 with :func:`scipy.io.loadmat`, v7.3 with h5py), and returns it as a
float64 array normalised to unit sum.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import stat
import struct
import zlib
from pathlib import Path

import numpy as np

from ._layout import check_float_image, native_with_scale

__all__ = ["IMAGE_SUFFIXES", "KERNEL_SUFFIXES", "read_image", "write_image", "read_kernel", "to_uint", "file_sha256"]

#: File suffixes :func:`read_image` and :func:`write_image` understand.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
#: File suffixes :func:`read_kernel` understands.
KERNEL_SUFFIXES = IMAGE_SUFFIXES + (".npy", ".npz", ".mat")


def check_image_suffix(suffix):
    """Raise ValueError unless ``suffix`` (e.g. ``".png"``) is one of :data:`IMAGE_SUFFIXES`."""
    if suffix not in IMAGE_SUFFIXES:
        raise ValueError(f"suffix must be one of {IMAGE_SUFFIXES}, got {suffix!r}")

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# -- images -------------------------------------------------------------------
def _same_file(a, b):
    """True if paths ``a`` and ``b`` name the same file or folder (symlinks and hard links resolved).

    Paths that do not exist yet are compared after :meth:`pathlib.Path.resolve`.
    """
    a, b = Path(a), Path(b)
    if a.resolve() == b.resolve():
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def read_image(path, keep_alpha=False):
    """Read an image file into the public layout.

    Parameters
    ----------
    path : str or os.PathLike
        A PNG, JPEG or TIFF file.
    keep_alpha : bool
        Keep an alpha channel (``HxWx4`` / ``HxWx2``); by default it is dropped
        so the result can go straight to :func:`pnp.solve`. The transparency
        of a PNG without an alpha channel (a ``tRNS`` chunk: transparent
        palette entries, or one transparent gray value or RGB colour) is
        returned as an alpha channel too: ``0`` where a pixel is fully
        transparent, the maximum (255 or 65535) where it is opaque.

    Returns
    -------
    ndarray, shape (H, W) or (H, W, C)
        uint8 or uint16 as stored in the file (float for float TIFFs);
        ``C`` is 3 (RGB) unless ``keep_alpha`` keeps an alpha channel.
        Gray images stored as RGB with three equal channels stay ``HxWx3``.
        With ``keep_alpha=True``, images with transparency are returned as
        ``(H, W, 2)`` (gray + alpha) or ``(H, W, 4)`` (RGBA).

    Notes
    -----
    The image is returned the way image viewers show it:

    - an EXIF orientation (JPEG, PNG) or TIFF orientation tag is applied
      (a portrait photo stored sideways comes back upright);
    - CMYK images (JPEG, TIFF) are converted to RGB (naively, without a
      colour profile); palette TIFFs are expanded to RGB;
    - TIFF files are interpreted with their photometric and planar
      configuration tags. A TIFF with several pages (a stack) is refused,
      except for reduced-resolution copies (thumbnails) next to one image.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a readable image of a supported format, or holds
        several images (a multi-page TIFF) or an unsupported colour space.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image file not found: {path}")
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise ValueError(f"{path}: unsupported image format {suffix!r}; expected one of {', '.join(IMAGE_SUFFIXES)}")
    try:
        if suffix in (".tif", ".tiff"):
            img, orientation = _read_tiff(path)
        else:
            img, orientation = _read_pillow(path, suffix, keep_alpha)
    except _UnsupportedImage as exc:
        raise ValueError(f"{path}: {exc}") from None
    except (OSError, ValueError, SyntaxError, RuntimeError, zlib.error, struct.error) as exc:
        raise ValueError(f"{path}: not a readable image ({type(exc).__name__}: {exc})") from exc
    img = _apply_orientation(img, orientation)
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] not in (1, 2, 3, 4)):
        raise ValueError(f"{path}: expected a single 2-D gray or colour image, got an array of shape {img.shape}")
    if img.dtype == np.bool_:
        img = img.astype(np.uint8) * 255
    elif img.dtype not in (np.uint8, np.uint16) and not np.issubdtype(img.dtype, np.floating):
        raise ValueError(f"{path}: unsupported pixel type {img.dtype}; expected 8 or 16 bit integers or floats")
    if img.ndim == 3 and not keep_alpha:
        if img.shape[2] in (2, 4):
            img = img[..., :-1]
        if img.shape[2] == 1:
            img = img[..., 0]
    return img


#: TIFF/EXIF tag of the orientation in which a viewer shows the stored pixels.
_ORIENTATION = 274


class _UnsupportedImage(Exception):
    """A readable file whose content :func:`read_image` does not support (the message says why)."""


def _apply_orientation(img, orientation):
    """Turn ``img`` as a viewer shows it, for an EXIF/TIFF orientation 1..8 (other values: unchanged)."""
    turn = {
        2: lambda a: a[:, ::-1],                  # mirrored left-right
        3: lambda a: a[::-1, ::-1],               # rotated 180 degrees
        4: lambda a: a[::-1],                     # mirrored top-bottom
        5: lambda a: a.swapaxes(0, 1),            # transposed
        6: lambda a: np.rot90(a, -1),             # rotated 90 degrees clockwise for display
        7: lambda a: a.swapaxes(0, 1)[::-1, ::-1],  # transversed
        8: lambda a: np.rot90(a, 1),              # rotated 90 degrees counter-clockwise for display
    }.get(int(orientation) if isinstance(orientation, (int, np.integer)) else 1)
    return img if turn is None else np.ascontiguousarray(turn(img))


def _cmyk_to_rgb(cmyk):
    """Naive CMYK -> RGB (``R = (1 - C)(1 - K)``...) of an integer or float (0-1) ``HxWx4`` array."""
    top = np.iinfo(cmyk.dtype).max if cmyk.dtype.kind in "ui" else 1.0
    c = cmyk.astype(np.float64) / top
    rgb = (1 - c[..., :3]) * (1 - c[..., 3:4])
    if cmyk.dtype.kind in "ui":
        return np.rint(rgb * top).astype(cmyk.dtype)
    return rgb.astype(cmyk.dtype)


def _exif_orientation(exif):
    """The orientation tag of raw EXIF data (a TIFF header and IFD), 1 if it has none."""
    from PIL import Image

    info = Image.Exif()
    info.load(exif)
    return info.get(_ORIENTATION, 1)


def _read_pillow(path, suffix, keep_alpha=False):
    """``(image, orientation)`` of a PNG or JPEG file (CMYK converted to RGB).

    With ``keep_alpha``, the ``tRNS`` transparency of a palette, gray or RGB
    PNG becomes an alpha channel (``HxWx4`` / ``HxWx2``).
    """
    if suffix == ".png" and _png_header(path)[0] == 16:  # Pillow would reduce it to 8 bits
        img, exif = _read_png(path, keep_alpha)
        return img, 1 if exif is None else _exif_orientation(exif)
    from PIL import Image

    with Image.open(path) as im:  # reads the header: colour mode and EXIF orientation
        orientation = im.getexif().get(_ORIENTATION, 1)
        if im.mode == "CMYK":  # the K channel is not an alpha channel
            return np.asarray(im.convert("RGB")), orientation
        if keep_alpha and im.info.get("transparency") is not None and im.mode in ("P", "RGB", "1", "L"):
            return np.asarray(im.convert("LA" if im.mode in ("1", "L") else "RGBA")), orientation
    import imageio.v3 as iio

    return np.asarray(iio.imread(path, plugin="pillow")), orientation


def _read_tiff(path):
    """``(image, orientation)`` of a single-image TIFF, its layout taken from the TIFF tags.

    The colour interpretation (gray, RGB, palette, CMYK) and the sample
    layout (interleaved or planar) come from the photometric and
    planar-configuration tags, never from the array shape, so that a stack of
    three gray pages is not taken for an RGB image.
    """
    import tifffile

    P = tifffile.PHOTOMETRIC
    with tifffile.TiffFile(path) as tif:
        n = len(tif.pages)
        if n > 1:  # reduced-resolution copies (thumbnails, pyramid levels) are not images of their own
            n = sum(not getattr(tif.pages[i], "is_reduced", False) for i in range(n))
        if n != 1:
            raise _UnsupportedImage(
                f"a multi-page TIFF ({n} images, e.g. a stack or a multi-page scan); expected a single "
                "image: save the page you want as a file of its own")
        page = tif.pages[0]
        img = page.asarray()
        photometric, samples, extra = page.photometric, page.samplesperpixel, len(page.extrasamples)
        orientation = page.tags.get(_ORIENTATION)
        orientation = 1 if orientation is None else orientation.value
        inkset = page.tags.get(332)  # InkSet: 1 = CMYK
        colormap = page.colormap
        planar = page.planarconfig == tifffile.PLANARCONFIG.SEPARATE
    if samples > 1 and planar:
        img = np.moveaxis(img, 0, -1)  # (S, H, W) -> (H, W, S)
    colour = samples - extra  # samples that are not alpha or other extra channels
    expected = {P.MINISBLACK: 1, P.MINISWHITE: 1, P.PALETTE: 1, P.SEPARATED: 4, P.RGB: 3, P.YCBCR: 3}
    if photometric in expected and (colour != expected[photometric] or extra > 1):
        raise _UnsupportedImage(
            f"a {photometric.name} TIFF with {samples} channels per pixel ({colour} colour, {extra} extra); "
            f"expected {expected[photometric]} colour channel(s), optionally with one alpha channel")
    if photometric in (P.MINISBLACK, P.MINISWHITE):
        if photometric == P.MINISWHITE:  # 0 is white: invert
            if img.dtype == np.bool_:
                img = ~img
            elif img.dtype.kind == "u":
                img = np.iinfo(img.dtype).max - img
            else:
                raise _UnsupportedImage(f"a {img.dtype} TIFF with photometric MINISWHITE is not supported")
    elif photometric == P.PALETTE and colormap is not None and img.ndim == 2:
        img = tifffile.apply_colormap(img, colormap)  # (H, W, 3) uint16
        if colormap.max() <= 255:
            img = img.astype(np.uint8)
        elif np.all(colormap % 257 == 0):
            img = (img // 257).astype(np.uint8)
    elif photometric == P.SEPARATED:
        if inkset is not None and inkset.value != 1:
            raise _UnsupportedImage("a separated (print) TIFF whose inks are not CMYK; only CMYK can be read")
        img = np.concatenate([_cmyk_to_rgb(img[..., :4]), img[..., 4:]], axis=-1)
    elif photometric in (P.RGB, P.YCBCR):  # tifffile decodes JPEG-compressed YCbCr to RGB
        pass
    else:
        raise _UnsupportedImage(f"TIFF colour space {photometric.name} is not supported; "
                                "expected gray, RGB, palette or CMYK")
    return img, orientation


def _to_uint(image, dtype, name, stacklevel):
    """:func:`to_uint` with the argument name and warning stack level of the public caller."""
    dtype = np.dtype(dtype)
    if dtype not in (np.uint8, np.uint16):
        raise ValueError(f"dtype must be uint8 or uint16, got {dtype}")
    image, scale = native_with_scale(np.asarray(image), name)
    if image.dtype == dtype:
        return image
    top = np.iinfo(dtype).max
    if scale != 1.0:  # uint8 or uint16
        x = image.astype(np.float64) / scale
    else:
        check_float_image(image, name, ", so values outside 0-1 are clipped", stacklevel + 1)
        x = np.clip(image.astype(np.float64), 0, 1)
    return np.rint(x * top).astype(dtype)


def to_uint(image, dtype):
    """Convert a float image (0-1 scale) or a uint8/uint16 image to ``uint8`` / ``uint16``.

    Floats are clipped to 0-1 and rounded; integers are rescaled between
    8 and 16 bits (``v * 257`` up, ``round(v / 257)`` down).

    Parameters
    ----------
    image : ndarray
        uint8, uint16 or float (0-1 scale), in either byte order; any shape.
    dtype : {numpy.uint8, numpy.uint16}
        The wanted dtype.

    Returns
    -------
    ndarray
        ``image`` in ``dtype`` (native byte order), same shape.

    Raises
    ------
    TypeError
        If ``image`` has another dtype (e.g. int32, bool: their scale is
        unknown; convert them first).
    ValueError
        If ``dtype`` is not uint8 or uint16, or a float image contains NaN or
        infinity.

    Warns
    -----
    UserWarning
        If a float image has values far outside 0-1 (below -0.5 or above
        1.5, e.g. a 0-255 image): they are clipped.
    """
    return _to_uint(image, dtype, "image", stacklevel=2)


def file_sha256(path):
    """The sha256 (hex) of a file's bytes, e.g. of a weights file.

    Computed once per path, size and modification time, and then remembered
    (the last 64 files): asking again for an unchanged file reads nothing.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    str
        64 hex digits.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    """
    st = os.stat(path)
    return _file_sha256(os.fspath(path), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _file_sha256(path, size, mtime_ns):  # size and mtime_ns: the cache key of one version of the file
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


#: The longest file name (in bytes) of common file systems (ext4, XFS, Btrfs, APFS, NTFS...).
_NAME_MAX = 255


def _temporary_file(path):
    """Create an empty temporary file next to ``path`` for an atomic write; return its name.

    The file is named ``.{stem}.<12 hex digits>{suffix}`` in the folder of
    ``path``; for a very long ``stem`` only its beginning is used, so that the
    name stays within 255 bytes.
    It gets the permissions that a plain ``open(path, "w")`` would give the
    final file: those of ``path`` if it exists (an overwritten file keeps its
    mode), else ``0o666`` minus the process umask (not the ``0o600`` of
    :func:`tempfile.mkstemp`). Write to it, then ``os.replace`` it onto
    ``path``.

    Parameters
    ----------
    path : str or os.PathLike
        The file that will be replaced.

    Returns
    -------
    str
        The name of the temporary file (it exists and is empty).
    """
    path = Path(path)
    folder = path.parent
    stem = path.stem
    budget = _NAME_MAX - len(os.fsencode(f"..{'0' * 12}{path.suffix}"))
    while stem and len(os.fsencode(stem)) > budget:
        stem = stem[:-1]
    for _ in range(100):
        tmp = folder / f".{stem}.{os.urandom(6).hex()}{path.suffix}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies, as for open()
        except FileExistsError:
            continue
        try:
            mode = os.stat(path).st_mode
        except OSError:  # a new file: keep the umask-derived mode
            pass
        else:
            try:
                os.chmod(tmp, stat.S_IMODE(mode))
            except OSError:  # pragma: no cover - e.g. a file system without permissions
                pass
        os.close(fd)
        return str(tmp)
    raise FileExistsError(f"could not create a temporary file next to {path}")  # pragma: no cover


@contextlib.contextmanager
def _atomic_target(path):
    """Write ``path`` atomically: yield a temporary file name (:func:`_temporary_file`) to write to.

    On success the temporary file replaces ``path`` (``os.replace``); on any
    error, or an interruption, it is deleted and the exception goes on. A
    symbolic link is followed: the file it points to is replaced (next to
    it), and the link stays.
    """
    path = os.path.realpath(path)
    tmp = _temporary_file(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_image(path, image):
    """Write an image atomically, keeping its bit depth where the format allows.

    Parameters
    ----------
    path : str or os.PathLike
        Target file; the format follows the suffix (PNG, JPEG or TIFF). If it
        is a symbolic link, the file it points to is written and the link
        stays.
    image : ndarray, shape (H, W) or (H, W, C)
        uint8 or uint16, or float on the 0-1 scale, in either byte order.
        ``C`` is 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA); JPEG takes
        no alpha channel. PNG and TIFF keep 8 and 16 bits; JPEG is 8 bit only
        (16-bit data is reduced). Floats are stored as 16-bit PNG or 8-bit
        JPEG (clipped to 0-1), or as float TIFF: float32 and float64 as they
        are (values unchanged, also outside 0-1), float16 as float32 and
        longer floats as float64.

    Raises
    ------
    TypeError
        If ``image`` is not uint8, uint16 or float (e.g. int32 or bool, whose
        scale is unknown).
    ValueError
        If the suffix is not a supported format, ``image`` is empty, has the
        wrong number of dimensions or channels, has an alpha channel and the
        target is JPEG, or is float with NaN or infinite values.
    FileNotFoundError
        If the target folder does not exist.

    Warns
    -----
    UserWarning
        If a float image written as PNG or JPEG has values far outside 0-1
        (below -0.5 or above 1.5, e.g. a 0-255 image): they are clipped. A
        small overshoot is clipped silently.

    Notes
    -----
    The data is first written to a temporary file in the same folder and then
    renamed over ``path``, so readers never see a partial file. Everything is
    checked before the temporary file is made: a refused image leaves no file
    behind and an existing ``path`` unchanged.

    TIFF files are written with explicit tags (gray or RGB, interleaved
    samples, the alpha channel marked as unassociated alpha), so
    :func:`read_image` with ``keep_alpha=True`` gives the array back.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise ValueError(f"{path}: unsupported output format {suffix!r}; expected one of {', '.join(IMAGE_SUFFIXES)}")
    image, scale = native_with_scale(np.asarray(image), "image")
    if image.ndim not in (2, 3):
        raise ValueError(f"image must have shape (H, W) or (H, W, C), got {image.shape}")
    if image.ndim == 3 and image.shape[2] not in (1, 2, 3, 4):
        raise ValueError(f"image has {image.shape[2]} channels (shape {image.shape}); expected 1 (gray), "
                         "2 (gray + alpha), 3 (RGB) or 4 (RGBA) in the last axis (H, W, C)")
    if image.size == 0:
        raise ValueError(f"image is empty: shape {image.shape}; expected at least 1x1 pixels")
    tiff, jpeg = suffix in (".tif", ".tiff"), suffix in (".jpg", ".jpeg")
    if jpeg and image.ndim == 3 and image.shape[2] in (2, 4):
        raise ValueError(f"{path}: JPEG has no alpha channel, got an image of shape {image.shape}; drop the "
                         "alpha channel (image[..., :3] for RGBA, image[..., :1] for gray + alpha) or write "
                         "PNG or TIFF")
    if jpeg:
        image = _to_uint(image, np.uint8, "image", stacklevel=2)
    elif scale == 1.0:  # floats
        if tiff:
            check_float_image(image, "image")  # finite; kept as it is, also outside 0-1
            if image.dtype.itemsize != 4:
                image = image.astype(np.float32 if image.dtype.itemsize < 4 else np.float64)
        else:
            image = _to_uint(image, np.uint16, "image", stacklevel=2)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]  # a single channel is a gray image
    path = Path(os.path.realpath(path))  # through a symbolic link: write the file it points to
    if not path.parent.is_dir():
        raise FileNotFoundError(f"output folder does not exist: {path.parent}")
    with _atomic_target(path) as tmp:
        if tiff:
            import tifffile

            channels = 1 if image.ndim == 2 else image.shape[2]
            tifffile.imwrite(tmp, image, photometric="minisblack" if channels < 3 else "rgb",
                             planarconfig=None if channels == 1 else "contig",
                             extrasamples=["unassalpha"] if channels in (2, 4) else None)
        elif suffix == ".png" and image.dtype == np.uint16 and image.ndim == 3:
            _write_png(tmp, image)
        else:
            import imageio.v3 as iio

            iio.imwrite(tmp, image, plugin="pillow", extension=suffix)


# -- a small PNG codec for 16-bit colour (Pillow reduces it to 8 bits) ---------
def _chunks(data):
    pos = len(_PNG_MAGIC)
    while pos + 8 <= len(data):
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        yield ctype, data[pos + 8:pos + 8 + length]
        pos += 12 + length


def _png_header(path):
    """``(bit_depth, colour_type)`` of a PNG file, ``(None, None)`` if it is not one."""
    with open(path, "rb") as f:
        head = f.read(33)
    if not head.startswith(_PNG_MAGIC) or head[12:16] != b"IHDR":
        return None, None
    return head[24], head[25]


def _read_png(path, keep_alpha=False):
    """Decode a non-interlaced 16-bit PNG (gray, gray+alpha, RGB, RGBA) to uint16.

    Returns the image and the raw EXIF data of its ``eXIf`` chunk (None if it has none).
    With ``keep_alpha``, the transparent colour of a gray or RGB PNG (its
    ``tRNS`` chunk) becomes an alpha channel: 0 where a pixel has that
    colour, 65535 elsewhere.
    """
    data = Path(path).read_bytes()
    ihdr, idat, exif, trns = None, [], None, None
    for ctype, body in _chunks(data):
        if ctype == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif ctype == b"IDAT":
            idat.append(body)
        elif ctype == b"eXIf":
            exif = body
        elif ctype == b"tRNS":
            trns = body
    if ihdr is None:
        raise ValueError("missing IHDR chunk")
    w, h, depth, ctype, _, _, interlace = ihdr
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(ctype)
    if depth != 16 or channels is None:
        raise ValueError(f"unsupported PNG (bit depth {depth}, colour type {ctype})")
    if interlace:
        raise ValueError("interlaced 16-bit PNGs are not supported; re-save without interlacing")
    bpp = 2 * channels
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), dtype=np.uint8)
    if raw.size != h * (w * bpp + 1):
        raise ValueError("truncated image data")
    rows = raw.reshape(h, w * bpp + 1)
    ftype = rows[:, 0]
    if np.any(ftype > 4):
        raise ValueError(f"bad PNG filter type {int(ftype.max())}")
    out = _unfilter(rows[:, 1:].reshape(h, w, bpp), ftype).reshape(h, w * bpp)
    img = out.view(">u2").reshape(h, w, channels).astype(np.uint16)
    if keep_alpha and trns is not None and channels in (1, 3) and len(trns) == 2 * channels:
        transparent = np.all(img == np.frombuffer(trns, dtype=">u2"), axis=-1)
        img = np.concatenate([img, np.where(transparent, 0, 65535).astype(np.uint16)[..., None]], axis=-1)
    return (img[..., 0] if img.shape[2] == 1 else img), exif


def _unfilter(filtered, ftype):
    """Undo the PNG row filters of ``filtered`` ``(h, w, bpp)`` bytes, ``ftype`` the filter of each row.

    Pixel ``(r, i)`` depends on its left, upper and upper-left neighbours, so
    the pixels of one anti-diagonal ``r + i = d`` are independent: the loop runs
    over the ``h + w - 1`` diagonals with every filter type vectorised.
    """
    h, w, bpp = filtered.shape
    if np.all(ftype == 0):
        return filtered.copy()
    f = filtered.astype(np.int16)
    out = np.zeros((h + 1, w + 1, bpp), dtype=np.int16)  # a zero row and column in front
    kind = ftype.astype(np.int16)
    for d in range(h + w - 1):
        r = np.arange(max(0, d - w + 1), min(h, d + 1))
        i = d - r
        left, up, upleft = out[r + 1, i], out[r, i + 1], out[r, i]
        t = kind[r][:, None]
        p = left + up - upleft
        pa, pb, pc = np.abs(p - left), np.abs(p - up), np.abs(p - upleft)
        paeth = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, up, upleft))
        pred = np.select([t == 1, t == 2, t == 3, t == 4], [left, up, (left + up) // 2, paeth], 0)
        out[r + 1, i + 1] = (f[r, i] + pred) & 255
    return out[1:, 1:].astype(np.uint8)


def _write_png(path, image):
    """Encode a ``uint16`` ``HxWxC`` array (C = 1..4) as a 16-bit PNG (filter 0, zlib level 6)."""
    h, w, c = image.shape
    ctype = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    rows = image.astype(">u2").reshape(h, w * c).view(np.uint8)
    raw = np.concatenate([np.zeros((h, 1), dtype=np.uint8), rows], axis=1).tobytes()

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    png = (_PNG_MAGIC + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, ctype, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))
    Path(path).write_bytes(png)


# -- kernels ------------------------------------------------------------------
def _mat_arrays(path):
    """``{name: [2-D arrays]}`` from a MATLAB file (cell arrays flattened in MATLAB order)."""
    import scipy.io

    try:
        content = scipy.io.loadmat(path)
    except NotImplementedError:  # MATLAB v7.3 = HDF5
        return _mat73_arrays(path)
    found = {}
    for name, value in content.items():
        if name.startswith("__"):
            continue
        found[name] = _flatten_mat(value, last_axis_stack=True)
    return found


def _flatten_mat(value, last_axis_stack):
    value = np.asarray(value)
    if value.dtype == object:
        out = []
        for item in value.ravel(order="F"):
            out.extend(_flatten_mat(item, last_axis_stack))
        return out
    if not np.issubdtype(value.dtype, np.number):
        return []
    value = np.squeeze(value) if value.ndim > 2 else value
    if value.ndim == 2:
        return [value]
    if value.ndim == 3:
        stack = np.moveaxis(value, -1, 0) if last_axis_stack else value
        return list(stack)
    return []


def _mat73_arrays(path):
    try:
        import h5py
    except ImportError as exc:  # pragma: no cover - h5py comes with our dependencies
        raise ValueError(f"{path} is a MATLAB v7.3 file; reading it needs h5py (pip install h5py)") from exc

    found = {}
    with h5py.File(path, "r") as f:
        def read(obj):
            if obj.dtype == object:  # cell array of references
                refs = np.asarray(obj[()])
                out = []
                for ref in refs.T.ravel():  # h5py shows MATLAB arrays transposed
                    out.extend(read(f[ref]))
                return out
            arr = np.asarray(obj[()])
            if not np.issubdtype(arr.dtype, np.number):
                return []
            return _flatten_mat(arr.T, last_axis_stack=True)

        for name, obj in f.items():
            if name.startswith("#") or not isinstance(obj, h5py.Dataset):
                continue
            found[name] = read(obj)
    return found


def _npy_arrays(path):
    if path.suffix.lower() == ".npy":
        arr = np.load(path, allow_pickle=False)
        return {"": _flatten_mat(arr, last_axis_stack=False)}
    with np.load(path, allow_pickle=False) as f:
        return {name: _flatten_mat(f[name], last_axis_stack=False) for name in f.files}


def read_kernel(path, key=None, index=None):
    """Read a blur kernel from an image, NumPy or MATLAB file.

    Parameters
    ----------
    path : str or os.PathLike
        ``.png``/``.jpg``/``.tif`` (intensities, colour averaged to gray),
        ``.npy``, ``.npz`` or ``.mat`` (MATLAB v5, or v7.3 through h5py).
    key : str, optional
        Variable name in a ``.npz`` or ``.mat`` file. Needed only when the file
        holds more than one variable with 2-D arrays.
    index : int, optional
        Which kernel of a stack or cell array (0-based): a ``.npy`` stack is
        indexed along its first axis, a MATLAB ``HxWxN`` array along its last
        axis, a cell array in MATLAB's column-major order. Needed only when
        the chosen variable holds more than one kernel.

    Returns
    -------
    ndarray, shape (kh, kw), float64
        The kernel divided by its sum (origin at ``(kh // 2, kw // 2)``, see
        :mod:`pnp.psf`).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file holds no usable kernel, or several and ``key`` / ``index``
        do not pick one (the message lists the choices).
    """
    from .psf import validate_kernel

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"kernel file not found: {path}")
    suffix = path.suffix.lower()
    if suffix not in KERNEL_SUFFIXES:
        raise ValueError(f"{path}: unsupported kernel format {suffix!r}; expected one of {', '.join(KERNEL_SUFFIXES)}")
    if suffix in IMAGE_SUFFIXES:
        img = read_image(path)
        k = img.astype(np.float64)
        if k.ndim == 3:
            k = k.mean(axis=2)
        if key is not None or index not in (None, 0):
            raise ValueError(f"{path}: an image file holds one kernel; key/index do not apply")
        return validate_kernel(k, name=f"kernel from {path.name}")
    try:
        found = _mat_arrays(path) if suffix == ".mat" else _npy_arrays(path)
    except (OSError, ValueError, TypeError) as exc:
        raise ValueError(f"{path}: not a readable {suffix} file ({type(exc).__name__}: {exc})") from exc
    found = {name: arrays for name, arrays in found.items() if arrays}
    if not found:
        raise ValueError(f"{path}: no 2-D numeric array found")
    if key is None:
        if len(found) > 1:
            raise ValueError(f"{path} holds several variables {sorted(found)}; choose one with key (--kernel-key)")
        key = next(iter(found))
    elif key not in found:
        raise ValueError(f"{path}: no variable {key!r} with 2-D arrays; choose one of {sorted(found)}")
    arrays = found[key]
    if index is None:
        if len(arrays) > 1:
            raise ValueError(f"{path}{':' + key if key else ''} holds {len(arrays)} kernels; "
                             f"choose one with index 0..{len(arrays) - 1} (--kernel-index)")
        index = 0
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < len(arrays):
        raise ValueError(f"index must be an integer in 0..{len(arrays) - 1}, got {index!r}")
    return validate_kernel(arrays[index], name=f"kernel from {path.name}")
