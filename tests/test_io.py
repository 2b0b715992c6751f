"""pnp.io: images (8/16 bit, PNG/JPEG/TIFF), atomic writes, kernels (PNG/NPY/NPZ/MAT)."""

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from skimage import data

from pnp import io
from pnp.data import data_root


def _gray16():
    rng = np.random.default_rng(0)
    return (data.camera()[:40, :48].astype(np.uint16) * 257 + rng.integers(0, 200, (40, 48))).astype(np.uint16)


def _rgb16():
    rng = np.random.default_rng(1)
    return (data.astronaut()[:24, :36].astype(np.uint16) * 257 + rng.integers(0, 200, (24, 36, 3))).astype(np.uint16)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
@pytest.mark.parametrize("make", [lambda: data.camera()[:40, :48], lambda: data.astronaut()[:24, :36], _gray16, _rgb16])
def test_lossless_roundtrip_keeps_bit_depth(tmp_path, suffix, make):
    img = make()
    path = tmp_path / f"img{suffix}"
    io.write_image(path, img)
    back = io.read_image(path)
    assert back.dtype == img.dtype
    assert back.shape == img.shape
    np.testing.assert_array_equal(back, img)


def test_jpeg_is_8_bit_and_close(tmp_path):
    img = data.astronaut()[:64, :64]
    io.write_image(tmp_path / "a.jpg", img)
    back = io.read_image(tmp_path / "a.jpg")
    assert back.dtype == np.uint8 and back.shape == img.shape
    assert np.abs(back.astype(float) - img).mean() < 6
    io.write_image(tmp_path / "b.jpeg", _rgb16())  # 16-bit data is reduced, not refused
    assert io.read_image(tmp_path / "b.jpeg").dtype == np.uint8


def test_float_images_are_stored_as_16_bit_png(tmp_path):
    x = np.linspace(0, 1, 30 * 20).reshape(30, 20)
    io.write_image(tmp_path / "f.png", x)
    back = io.read_image(tmp_path / "f.png")
    assert back.dtype == np.uint16
    np.testing.assert_allclose(back / 65535, x, atol=1 / 65535)


def test_alpha_channel_is_dropped_unless_kept(tmp_path):
    rgba = np.dstack([data.astronaut()[:16, :16], np.full((16, 16), 200, np.uint8)])
    io.write_image(tmp_path / "a.png", rgba)
    assert io.read_image(tmp_path / "a.png").shape == (16, 16, 3)
    assert io.read_image(tmp_path / "a.png", keep_alpha=True).shape == (16, 16, 4)


def _png16_with_filters(img, filters):
    """Encode a uint16 HxWxC array as PNG using the given filter type on each row (reference encoder)."""
    h, w, c = img.shape
    raw = img.astype(">u2").reshape(h, w * c).view(np.uint8).astype(np.int64)
    bpp = 2 * c
    out = []
    for r in range(h):
        x = raw[r]
        up = raw[r - 1] if r else np.zeros_like(x)
        left = np.concatenate([np.zeros(bpp, np.int64), x[:-bpp]])
        upleft = np.concatenate([np.zeros(bpp, np.int64), up[:-bpp]])
        f = filters[r % len(filters)]
        if f == 0:
            pred = 0
        elif f == 1:
            pred = left
        elif f == 2:
            pred = up
        elif f == 3:
            pred = (left + up) // 2
        else:
            p = left + up - upleft
            pa, pb, pc = np.abs(p - left), np.abs(p - up), np.abs(p - upleft)
            pred = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, up, upleft))
        out.append(bytes([f]) + ((x - pred) % 256).astype(np.uint8).tobytes())

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    ctype = {1: 0, 3: 2, 4: 6}[c]
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, ctype, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"".join(out))) + chunk(b"IEND", b""))


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_16_bit_png_decoder_handles_all_row_filters(tmp_path, channels):
    rng = np.random.default_rng(channels)
    img = rng.integers(0, 65536, size=(10, 7, channels)).astype(np.uint16)
    path = tmp_path / "f.png"
    path.write_bytes(_png16_with_filters(img, filters=[0, 1, 2, 3, 4]))
    back = io.read_image(path, keep_alpha=True)
    np.testing.assert_array_equal(back.reshape(img.shape), img)


def test_unreadable_and_missing_images(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"this is not an image")
    with pytest.raises(ValueError, match="not a readable image"):
        io.read_image(bad)
    with pytest.raises(FileNotFoundError, match="not found"):
        io.read_image(tmp_path / "missing.png")
    other = tmp_path / "x.bmp"
    other.write_bytes(b"")
    with pytest.raises(ValueError, match="unsupported image format"):
        io.read_image(other)


def test_write_is_atomic_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "keep.png"
    io.write_image(target, data.camera()[:8, :8])
    before = target.read_bytes()
    import imageio.v3 as iio

    def boom(*args, **kwargs):
        Path(args[0]).write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(iio, "imwrite", boom)
    with pytest.raises(OSError, match="disk full"):
        io.write_image(target, data.camera()[:16, :16])
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.png"]


def test_to_uint_rescales_between_depths():
    a8 = np.array([[0, 128, 255]], np.uint8)
    a16 = io.to_uint(a8, np.uint16)
    np.testing.assert_array_equal(a16, [[0, 128 * 257, 65535]])
    np.testing.assert_array_equal(io.to_uint(a16, np.uint8), a8)
    np.testing.assert_array_equal(io.to_uint(np.array([-0.5, 0.5, 2.0]), np.uint8), [0, 128, 255])
    with pytest.raises(ValueError, match="uint8 or uint16"):
        io.to_uint(a8, np.float32)


# -- kernels -----------------------------------------------------------------
def _kernel(n=5, seed=0):
    return np.random.default_rng(seed).random((n, n + 2))


def test_kernel_from_npy_png_and_npz_is_normalised(tmp_path):
    k = _kernel()
    np.save(tmp_path / "k.npy", k)
    np.testing.assert_allclose(io.read_kernel(tmp_path / "k.npy"), k / k.sum())
    io.write_image(tmp_path / "k.png", np.round(k / k.max() * 65535).astype(np.uint16))
    kp = io.read_kernel(tmp_path / "k.png")
    np.testing.assert_allclose(kp, k / k.sum(), atol=1e-5)
    np.savez(tmp_path / "ks.npz", a=k, b=2 * k[:3, :3])
    np.testing.assert_allclose(io.read_kernel(tmp_path / "ks.npz", key="b"), k[:3, :3] / k[:3, :3].sum())
    with pytest.raises(ValueError, match=r"several variables \['a', 'b'\]"):
        io.read_kernel(tmp_path / "ks.npz")


def test_kernel_stack_needs_an_index(tmp_path):
    stack = np.stack([_kernel(seed=s) for s in range(3)])
    np.save(tmp_path / "s.npy", stack)
    with pytest.raises(ValueError, match="holds 3 kernels.*index 0..2"):
        io.read_kernel(tmp_path / "s.npy")
    np.testing.assert_allclose(io.read_kernel(tmp_path / "s.npy", index=2), stack[2] / stack[2].sum())
    with pytest.raises(ValueError, match="index must be an integer in 0..2"):
        io.read_kernel(tmp_path / "s.npy", index=3)


def test_kernel_from_mat_v5_cell_and_stack(tmp_path):
    ks = [_kernel(n, seed=n) for n in (3, 5, 7)]
    cell = np.empty((1, 3), dtype=object)
    for i, k in enumerate(ks):
        cell[0, i] = k
    scipy.io.savemat(tmp_path / "c.mat", {"kernels": cell})
    np.testing.assert_allclose(io.read_kernel(tmp_path / "c.mat", index=1), ks[1] / ks[1].sum())
    hwn = np.dstack([_kernel(seed=s) for s in range(4)])  # MATLAB stacks kernels along the last axis
    scipy.io.savemat(tmp_path / "s.mat", {"K": hwn, "other": np.eye(3)})
    np.testing.assert_allclose(io.read_kernel(tmp_path / "s.mat", key="K", index=3), hwn[..., 3] / hwn[..., 3].sum())
    with pytest.raises(ValueError, match="no variable 'nope'"):
        io.read_kernel(tmp_path / "s.mat", key="nope")


def test_kernel_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="kernel file not found"):
        io.read_kernel(tmp_path / "none.npy")
    np.save(tmp_path / "z.npy", np.zeros((3, 3)))
    with pytest.raises(ValueError, match="all zeros"):
        io.read_kernel(tmp_path / "z.npy")
    (tmp_path / "k.txt").write_text("1 2 3")
    with pytest.raises(ValueError, match="unsupported kernel format"):
        io.read_kernel(tmp_path / "k.txt")


def test_levin_mat_v73_matches_npz():
    root = data_root(required=False)
    if not (root / "kernels" / "Levin09.mat").is_file():
        pytest.skip(f"shared kernels not found under {root} (set PNP_DATA)")
    with np.load(root / "kernels" / "levin09.npz") as f:
        ref = f["k3"]
    k = io.read_kernel(root / "kernels" / "Levin09.mat", index=3)
    np.testing.assert_allclose(k, ref / ref.sum(), atol=1e-12)


def test_written_files_get_the_mode_of_a_plain_open(tmp_path):
    import os

    umask = os.umask(0o022)
    try:
        io.write_image(tmp_path / "new.png", data.camera()[:8, :8])
        assert (tmp_path / "new.png").stat().st_mode & 0o777 == 0o644  # not mkstemp's 0o600
        os.umask(0o002)
        io.write_image(tmp_path / "new.tif", data.camera()[:8, :8])
        assert (tmp_path / "new.tif").stat().st_mode & 0o777 == 0o664
    finally:
        os.umask(umask)
    (tmp_path / "new.png").chmod(0o640)  # an overwritten file keeps its mode
    io.write_image(tmp_path / "new.png", data.camera()[:16, :16])
    assert (tmp_path / "new.png").stat().st_mode & 0o777 == 0o640
    assert io.read_image(tmp_path / "new.png").shape == (16, 16)


@pytest.mark.parametrize("suffix", [".png", ".tif", ".jpg"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_single_channel_images_are_written_as_gray(tmp_path, suffix, dtype):
    img = (data.camera()[:16, :12].astype(np.uint16) * (257 if dtype == np.uint16 else 1)).astype(dtype)
    io.write_image(tmp_path / f"g{suffix}", img[..., None])
    back = io.read_image(tmp_path / f"g{suffix}")
    assert back.shape == (16, 12)
    if suffix != ".jpg":
        np.testing.assert_array_equal(back, img)


def _asymmetric(shape, dtype=np.uint8):
    return (np.arange(np.prod(shape)) * 7 % 251).reshape(shape).astype(dtype)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_and_tiff_orientation_are_applied(tmp_path, orientation):
    import tifffile
    from PIL import Image, ImageOps

    def viewer(p):  # what Pillow (like an image viewer) shows
        with Image.open(p) as im:
            return np.asarray(ImageOps.exif_transpose(im))

    rgb = _asymmetric((6, 4, 3))
    im = Image.fromarray(rgb)
    exif = im.getexif()
    exif[0x0112] = orientation
    im.save(tmp_path / "o.png", exif=exif)
    np.testing.assert_array_equal(io.read_image(tmp_path / "o.png"), viewer(tmp_path / "o.png"))
    gray16 = _asymmetric((6, 4), np.uint16) * 257  # goes through the 16-bit PNG decoder
    Image.fromarray(gray16).save(tmp_path / "g16.png", exif=exif)
    back16 = io.read_image(tmp_path / "g16.png")
    assert back16.dtype == np.uint16
    np.testing.assert_array_equal(back16, viewer(tmp_path / "g16.png"))
    tifffile.imwrite(tmp_path / "o.tif", rgb, photometric="rgb", extratags=[(274, "H", 1, orientation, True)])
    np.testing.assert_array_equal(io.read_image(tmp_path / "o.tif"), viewer(tmp_path / "o.png"))
    if orientation in (5, 6, 7, 8):
        assert io.read_image(tmp_path / "o.tif").shape == (4, 6, 3)


def test_cmyk_images_are_converted_to_rgb(tmp_path):
    import tifffile
    from PIL import Image

    rgb = np.zeros((16, 16, 3), np.uint8)
    rgb[:8] = [255, 0, 0]
    rgb[8:] = [40, 200, 90]
    cmyk = Image.fromarray(rgb).convert("CMYK")
    cmyk.save(tmp_path / "c.jpg", quality=100)
    tifffile.imwrite(tmp_path / "c.tif", np.asarray(cmyk), photometric="separated")
    for name in ("c.jpg", "c.tif"):
        back = io.read_image(tmp_path / name)
        assert back.shape == (16, 16, 3), name
        assert np.abs(back.astype(int) - rgb).max() <= 3, name
    tifffile.imwrite(tmp_path / "inks.tif", np.zeros((8, 8, 4), np.uint8), photometric="separated",
                     extratags=[(332, "H", 1, 2, True)])  # InkSet 2: not CMYK
    with pytest.raises(ValueError, match="only CMYK can be read"):
        io.read_image(tmp_path / "inks.tif")


def test_tiff_layout_comes_from_its_tags_not_its_shape(tmp_path):
    import tifffile

    rng = np.random.default_rng(0)
    pages = rng.integers(0, 256, (3, 20, 30)).astype(np.uint8)
    for n in (2, 3, 4):
        tifffile.imwrite(tmp_path / f"stack{n}.tif", pages[:n] if n < 4 else np.concatenate([pages, pages[:1]]),
                         photometric="minisblack")
        with pytest.raises(ValueError, match=f"multi-page TIFF \\({n} images"):
            io.read_image(tmp_path / f"stack{n}.tif")
    tifffile.imwrite(tmp_path / "planar.tif", pages, photometric="rgb", planarconfig="separate")
    np.testing.assert_array_equal(io.read_image(tmp_path / "planar.tif"), np.moveaxis(pages, 0, -1))
    with tifffile.TiffWriter(tmp_path / "thumb.tif") as tif:  # an image and its reduced-resolution thumbnail
        tif.write(pages[0], photometric="minisblack")
        tif.write(pages[0][::4, ::4], photometric="minisblack", subfiletype=1)
    np.testing.assert_array_equal(io.read_image(tmp_path / "thumb.tif"), pages[0])
    tifffile.imwrite(tmp_path / "white0.tif", pages[0], photometric="miniswhite")
    np.testing.assert_array_equal(io.read_image(tmp_path / "white0.tif"), 255 - pages[0])
    tifffile.imwrite(tmp_path / "channels.tif", np.moveaxis(pages, 0, -1), photometric="minisblack",
                     planarconfig="contig")
    with pytest.raises(ValueError, match=r"MINISBLACK TIFF with 3 channels per pixel \(1 colour, 2 extra\)"):
        io.read_image(tmp_path / "channels.tif")
