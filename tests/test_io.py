"""pnp.io: images (8/16 bit, PNG/JPEG/TIFF), atomic writes, kernels (PNG/NPY/NPZ/MAT)."""

import os
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
    np.testing.assert_array_equal(io.to_uint(np.array([-0.2, 0.5, 1.2]), np.uint8), [0, 128, 255])
    with pytest.warns(UserWarning, match="0-1 scale"):  # far off the 0-1 scale: clipped, with a warning
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


# -- write_image: layouts, refused input, links, long names ---------------------------
def _nothing_written(folder):
    return not any(folder.iterdir())


@pytest.mark.parametrize("shape", [(3, 5, 2), (4, 6, 2), (20, 30, 2), (3, 7, 4), (4, 4, 4), (9, 7, 4),
                                   (3, 8, 1), (3, 3, 3), (1, 1, 2)])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32, np.float64])
def test_tiff_keeps_every_channel_layout_and_dtype(tmp_path, shape, dtype):
    rng = np.random.default_rng(sum(shape))
    img = rng.random(shape).astype(dtype) if dtype in (np.float32, np.float64) else \
        rng.integers(0, np.iinfo(dtype).max + 1, shape).astype(dtype)
    io.write_image(tmp_path / "a.tif", img)
    back = io.read_image(tmp_path / "a.tif", keep_alpha=True)
    assert back.dtype == dtype  # float64 stays float64
    np.testing.assert_array_equal(back, img[..., 0] if shape[2] == 1 else img)
    if shape[2] in (2, 4):  # the alpha channel is dropped by default
        np.testing.assert_array_equal(io.read_image(tmp_path / "a.tif"), img[..., :-1].squeeze(-1)
                                      if shape[2] == 2 else img[..., :3])


@pytest.mark.parametrize("suffix", [".png", ".tif", ".jpg"])
@pytest.mark.parametrize("shape", [(6, 30, 5), (6, 5, 0), (0, 5), (5, 0), (0, 0, 3), (4,), (2, 3, 4, 1)])
def test_write_refuses_bad_shapes_before_writing(tmp_path, suffix, shape):
    with pytest.raises(ValueError, match=r"channels|empty|shape \(H, W\)"):
        io.write_image(tmp_path / f"a{suffix}", np.zeros(shape, np.uint8))
    assert _nothing_written(tmp_path)


@pytest.mark.parametrize("suffix", [".png", ".tif", ".jpg"])
@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.int8, np.bool_, np.complex64, object])
def test_write_and_to_uint_refuse_dtypes_of_unknown_scale(tmp_path, suffix, dtype):
    img = np.ones((4, 5), dtype=dtype)
    with pytest.raises(TypeError, match="image must have dtype uint8, uint16 or float"):
        io.write_image(tmp_path / f"a{suffix}", img)
    assert _nothing_written(tmp_path)
    with pytest.raises(TypeError, match="image must have dtype uint8, uint16 or float"):
        io.to_uint(img, np.uint8)


@pytest.mark.parametrize("suffix", [".png", ".tif", ".jpg"])
@pytest.mark.parametrize("dtype", [">u2", ">u1", ">f8", "<u2"])
def test_any_byte_order_is_accepted(tmp_path, suffix, dtype):
    native = np.dtype(dtype).newbyteorder("=")
    x = np.linspace(0, 1, 8 * 6).reshape(8, 6)
    img = (x if native.kind == "f" else np.rint(x * np.iinfo(native).max)).astype(dtype)
    np.testing.assert_array_equal(io.to_uint(img, np.uint8), np.rint(x * 255).astype(np.uint8))
    io.write_image(tmp_path / f"a{suffix}", img)
    back = io.read_image(tmp_path / f"a{suffix}")
    if suffix == ".jpg":
        assert back.dtype == np.uint8 and np.abs(back / 255.0 - x).max() < 0.05
    elif suffix == ".png" and native.kind == "f":
        np.testing.assert_array_equal(back, np.rint(x * 65535).astype(np.uint16))
    else:
        assert back.dtype == native
        np.testing.assert_array_equal(back, img)


@pytest.mark.parametrize("suffix", [".png", ".tif", ".jpg"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_write_and_to_uint_refuse_nan_and_infinity(tmp_path, suffix, bad):
    img = np.full((4, 5), 0.5)
    img[1, 2] = bad
    with pytest.raises(ValueError, match="NaN or infinite"):
        io.write_image(tmp_path / f"a{suffix}", img)
    assert _nothing_written(tmp_path)
    with pytest.raises(ValueError, match="NaN or infinite"):
        io.to_uint(img, np.uint16)


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_floats_off_the_0_1_scale_warn_but_small_overshoot_does_not(tmp_path, suffix):
    import warnings

    img255 = np.full((8, 8), 128.0)
    with pytest.warns(UserWarning, match=r"values in \[128, 128\].*0-1 scale"):
        io.write_image(tmp_path / f"a{suffix}", img255)
    assert io.read_image(tmp_path / f"a{suffix}").min() == (65535 if suffix == ".png" else 255)  # clipped
    ringing = np.full((8, 8), 0.5)
    ringing[0, 0], ringing[1, 1], ringing[2, 2] = 1.0000001, -1e-9, 1.2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        io.write_image(tmp_path / f"b{suffix}", ringing)
    back = io.read_image(tmp_path / f"b{suffix}")
    if suffix == ".png":
        assert back[0, 0] == back[2, 2] == 65535 and back[1, 1] == 0


def test_float_tiff_keeps_values_outside_0_1(tmp_path):
    img = np.array([[-0.25, 0.5], [1.5, 300.0]])
    io.write_image(tmp_path / "a.tif", img)
    back = io.read_image(tmp_path / "a.tif")
    assert back.dtype == np.float64
    np.testing.assert_array_equal(back, img)


@pytest.mark.parametrize("channels", [2, 4])
def test_jpeg_refuses_an_alpha_channel_clearly(tmp_path, channels):
    img = np.full((6, 6, channels), 200, np.uint8)
    with pytest.raises(ValueError, match=r"JPEG has no alpha channel.*image\[\.\.\., :3\]"):
        io.write_image(tmp_path / "a.jpg", img)
    assert _nothing_written(tmp_path)


def _with_trns(png, trns):
    """``png`` bytes with a tRNS chunk inserted after IHDR."""
    at = 8 + 25  # magic + IHDR chunk
    chunk = struct.pack(">I", len(trns)) + b"tRNS" + trns + struct.pack(">I", zlib.crc32(b"tRNS" + trns) & 0xFFFFFFFF)
    return png[:at] + chunk + png[at:]


@pytest.mark.filterwarnings("ignore:Palette images with Transparency")  # Pillow, on the RGB (keep_alpha=False) read
def test_png_transparency_chunk_becomes_alpha(tmp_path):
    from PIL import Image

    index = np.arange(12, dtype=np.uint8).reshape(3, 4) % 4
    pal = Image.fromarray(index, "L").convert("P")
    pal.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9])
    pal.save(tmp_path / "p.png", transparency=bytes([0, 128, 255, 255]))
    back = io.read_image(tmp_path / "p.png", keep_alpha=True)
    assert back.shape == (3, 4, 4)
    np.testing.assert_array_equal(back[..., 3], np.array([0, 128, 255, 255])[index])
    assert io.read_image(tmp_path / "p.png").shape == (3, 4, 3)

    gray = np.array([[0, 5], [5, 7]], np.uint8)
    Image.fromarray(gray).save(tmp_path / "g.png", transparency=5)
    np.testing.assert_array_equal(io.read_image(tmp_path / "g.png", keep_alpha=True),
                                  np.dstack([gray, [[255, 0], [0, 255]]]))
    np.testing.assert_array_equal(io.read_image(tmp_path / "g.png"), gray)

    gray16 = np.array([[0, 5000], [5000, 7]], np.uint16)[..., None]  # through the 16-bit decoder
    (tmp_path / "g16.png").write_bytes(_with_trns(_png16_with_filters(gray16, [0]), struct.pack(">H", 5000)))
    np.testing.assert_array_equal(io.read_image(tmp_path / "g16.png", keep_alpha=True),
                                  np.dstack([gray16, [[65535, 0], [0, 65535]]]))
    np.testing.assert_array_equal(io.read_image(tmp_path / "g16.png"), gray16[..., 0])

    rgb16 = np.array([[[1, 2, 3], [1, 2, 4]], [[9, 9, 9], [1, 2, 3]]], np.uint16)
    (tmp_path / "c16.png").write_bytes(_with_trns(_png16_with_filters(rgb16, [1]), struct.pack(">3H", 1, 2, 3)))
    np.testing.assert_array_equal(io.read_image(tmp_path / "c16.png", keep_alpha=True),
                                  np.dstack([rgb16, [[0, 65535], [65535, 0]]]))
    np.testing.assert_array_equal(io.read_image(tmp_path / "c16.png"), rgb16)


def test_write_through_a_symlink_updates_its_target(tmp_path):
    real_dir = tmp_path / "real"
    real_dir.mkdir()
    target = real_dir / "img.png"
    io.write_image(target, np.zeros((4, 4), np.uint8))
    link = tmp_path / "link.png"
    link.symlink_to(target)
    io.write_image(link, np.full((6, 5), 77, np.uint8))
    assert link.is_symlink() and link.resolve() == target.resolve()
    np.testing.assert_array_equal(io.read_image(target), np.full((6, 5), 77, np.uint8))
    assert sorted(p.name for p in real_dir.iterdir()) == ["img.png"]  # no temporary file left


@pytest.mark.parametrize("stem", ["a" * 251, "\u00e9" * 125, "b" * 249 + "." + "c" * 1])
def test_long_file_names_can_be_written(tmp_path, stem):
    path = tmp_path / f"{stem}.png"
    assert len(os.fsencode(path.name)) <= 255
    io.write_image(path, data.camera()[:8, :8])
    np.testing.assert_array_equal(io.read_image(path), data.camera()[:8, :8])
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
    assert len(os.fsencode(Path(io._temporary_file(tmp_path / ("x" * 300 + ".png"))).name)) <= 255


def test_temporary_names_of_normal_length_keep_their_format(tmp_path):
    import re

    tmp = Path(io._temporary_file(tmp_path / "scan_01.tiff"))
    assert re.fullmatch(r"\.scan_01\.[0-9a-f]{12}\.tiff", tmp.name)
