"""pnp.plot: figures, axes counts and titles with real metric values."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from skimage import data  # noqa: E402

import pnp  # noqa: E402
from pnp import plot  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _images():
    x = data.camera()[100:164, 100:164] / 255.0
    k = np.ones((5, 5)) / 25
    y = pnp.add_noise(pnp.blur(x, k), 0.02, seed=0)
    return x, y, k


def test_compare_titles_carry_psnr_and_ssim():
    x, y, _ = _images()
    fig = plot.compare([y, x], ["blurred", "truth"], reference=x)
    assert len(fig.axes) == 2
    title = fig.axes[0].get_title()
    assert title.startswith("blurred")
    assert f"PSNR {pnp.psnr(y, x):.2f} dB" in title
    assert f"SSIM {pnp.ssim(y, x):.3f}" in title
    assert "PSNR" not in fig.axes[1].get_title()  # the reference itself gets no score


def test_compare_zoom_adds_an_inset_per_image_and_handles_sizes():
    x, y, _ = _images()
    small = x[::2, ::2]
    rgb = np.dstack([x] * 3).astype(np.float32)
    fig = plot.compare([small, y, (rgb * 255).astype(np.uint8)], reference=x, zoom=(10, 20, 16, 16))
    assert len(fig.axes) == 3
    insets = [child for ax in fig.axes for child in ax.child_axes]
    assert len(insets) == 3
    assert insets[0].get_xlim() == pytest.approx((20 / 2 - 0.5, 20 / 2 + 8 - 0.5))
    assert "PSNR" not in fig.axes[0].get_title()  # a different shape: no score
    assert "PSNR" in fig.axes[1].get_title()


def test_compare_grid_and_validation():
    x, y, _ = _images()
    fig = plot.compare([x] * 5, ncols=2)
    assert len(fig.axes) == 5  # unused grid cells removed
    with pytest.raises(ValueError, match="titles has 1 entries for 2 images"):
        plot.compare([x, y], ["one"])
    with pytest.raises(ValueError, match="zoom must be"):
        plot.compare([x], zoom=(1, 2, 3))
    with pytest.raises(ValueError, match=r"images\[0\] must have shape"):
        plot.compare([np.zeros((4, 4, 5))])


def test_show_kernel_returns_figure_with_colorbar():
    _, _, k = _images()
    fig = plot.show_kernel(k)
    assert len(fig.axes) == 2
    assert fig.axes[0].get_title() == "kernel 5 x 5"
    fig2, ax = plt.subplots(1, 2)
    assert plot.show_kernel(k, ax=ax[1], title="mine") is fig2
    assert ax[1].get_title() == "mine"
    with pytest.raises(ValueError, match="2-D"):
        plot.show_kernel(np.ones(3))


def test_psnr_curve_from_solve_history():
    x, y, k = _images()
    _, info = pnp.solve(y, k, prior="tv", noise_level=0.02, iters=3, x_true=x, return_info=True)
    fig = plot.psnr_curve(info, sigma=True)
    line = fig.axes[0].lines[0]
    np.testing.assert_allclose(line.get_ydata(), info["history"]["psnr"])
    np.testing.assert_array_equal(line.get_xdata(), [1, 2, 3])
    assert len(fig.axes) == 2  # PSNR axes + sigma twin
    fig = plot.psnr_curve({"a": info["history"], "b": info["history"]})
    assert len(fig.axes[0].lines) == 2
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["a", "b"]


def test_psnr_curve_needs_psnr():
    with pytest.raises(ValueError, match="x_true"):
        plot.psnr_curve({"history": {"sigma": [0.1]}})
    with pytest.raises(TypeError, match="history dict"):
        plot.psnr_curve([3])


def test_compare_refuses_zoom_outside_and_fractional_ncols():
    x, y, _ = _images()
    with pytest.raises(ValueError, match=r"reaches outside the largest image \(64x64\)"):
        plot.compare([x], zoom=(100, 100, 8, 8))
    with pytest.raises(ValueError, match="reaches outside"):
        plot.compare([x, x[::2, ::2]], zoom=(60, 0, 8, 8))  # partly outside the largest image
    assert len(plot.compare([x, x[::2, ::2]], zoom=(56, 56, 8, 8)).axes) == 2  # the last corner is inside
    for ncols in (1.7, 0, True, "2"):
        with pytest.raises(ValueError, match="ncols must be an integer >= 1"):
            plot.compare([x, y], ncols=ncols)


def test_compare_skips_scores_for_non_finite_images():
    x, y, _ = _images()
    bad = y.copy()
    bad[0, 0] = np.nan
    fig = plot.compare([bad, y], ["nan", "y"], reference=x)
    assert fig.axes[0].get_title() == "nan" and "PSNR" in fig.axes[1].get_title()


def test_psnr_curve_refuses_labels_with_a_dict():
    h = {"psnr": [20.0, 21.0, 22.0], "sigma": [0.1, 0.05, 0.01]}
    with pytest.raises(ValueError, match="labels cannot be given with a dict of histories"):
        plot.psnr_curve({"a": h, "b": h}, labels=["x", "y"])
    texts = [t.get_text() for t in plot.psnr_curve({"a": h, "b": h}).axes[0].get_legend().get_texts()]
    assert texts == ["a", "b"]


@pytest.mark.parametrize("kernel, exc, match", [
    (np.ones((3, 3), dtype=complex), TypeError, "real numeric"),
    (np.ones((3, 3), dtype=bool), TypeError, "real numeric"),
    (np.full((3, 3), np.nan), ValueError, "NaN or infinite"),
])
def test_show_kernel_refuses_complex_and_non_finite_kernels(kernel, exc, match):
    from pnp.plot import show_kernel

    with pytest.raises(exc, match=match):
        show_kernel(kernel)


def test_compare_refuses_other_integer_images_and_labels_tiny_ones_with_psnr_only():
    x = np.random.default_rng(0).random((16, 16))
    with pytest.raises(TypeError, match="must be uint8, uint16 or float"):  # an int32 0-255 image showed white
        plot.compare([(x * 255).astype(np.int32)])
    tiny = np.random.default_rng(1).random((6, 6))
    fig = plot.compare([tiny * 0.9], reference=tiny)  # raised SSIM's 7x7-window error
    assert fig.axes[0].get_title().startswith("PSNR") and "SSIM" not in fig.axes[0].get_title()
    big = plot.compare([x.astype(np.float32) * 0.9], reference=x)
    assert "SSIM" in big.axes[0].get_title()
    assert plot.compare([(x * 65535).astype(">u2")]).axes[0].images[0].get_array().max() <= 1.0
