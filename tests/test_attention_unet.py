"""Tests of the attention U-Net denoiser: shapes, any input size, sigma forms, no seams."""

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from priors.attention_unet import AttentionUNet, NeighbourhoodAttention, sigma_map  # noqa: E402

WEIGHTS = Path(__file__).resolve().parent.parent / "priors" / "weights"


def _tiny(channels=1):
    torch.manual_seed(0)
    return AttentionUNet(channels, widths=(8, 8, 16, 16), attn_blocks=1, heads=2, window=3).eval()


@pytest.mark.parametrize("channels", [1, 3])
def test_shapes_gray_and_colour(channels):
    net = _tiny(channels)
    x = torch.rand(2, channels, 64, 48)
    with torch.no_grad():
        y = net(x, 0.1)
    assert y.shape == x.shape and y.dtype == torch.float32


@pytest.mark.parametrize("size", [(97, 131), (5, 3), (8, 8), (1, 17)])
def test_any_input_size(size):
    net = _tiny(3)
    x = torch.rand(1, 3, *size)
    with torch.no_grad():
        y = net(x, 25 / 255)
    assert y.shape == x.shape
    assert torch.isfinite(y).all()


def test_sigma_float_tensor_and_map_agree():
    net = _tiny(1)
    torch.nn.init.normal_(net.tail.weight, std=0.1)  # make the output depend on sigma
    x = torch.rand(2, 1, 40, 40)
    with torch.no_grad():
        a = net(x, 0.1)
        b = net(x, torch.tensor([0.1, 0.1]))
        c = net(x, torch.full((2, 1, 40, 40), 0.1))
        d = net(x, torch.tensor(0.1))
        e = net(x, torch.tensor([0.1, 0.3]))
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a, c)
    torch.testing.assert_close(a, d)
    torch.testing.assert_close(e[0], a[0])
    assert not torch.allclose(e[1], a[1])


def test_bad_inputs_raise():
    net = _tiny(1)
    with pytest.raises(ValueError, match="shape"):
        net(torch.rand(1, 3, 16, 16), 0.1)
    with pytest.raises(ValueError, match="sigma"):
        sigma_map(torch.rand(2, 1, 8, 8), torch.rand(3))
    with pytest.raises(ValueError, match="channels"):
        AttentionUNet(channels=2)
    with pytest.raises(ValueError, match="odd"):
        NeighbourhoodAttention(8, heads=2, window=4)


def test_neighbourhood_attention_is_translation_equivariant():
    """Shifting the input shifts the output: there are no fixed window blocks."""
    torch.manual_seed(0)
    att = NeighbourhoodAttention(8, heads=2, window=5).eval()
    x = torch.randn(1, 8, 24, 24)
    with torch.no_grad():
        y = att(x)
        ys = att(torch.roll(x, shifts=(3, 5), dims=(2, 3)))
    # compare away from the borders (where the masked neighbourhood differs)
    inner = (slice(None), slice(None), slice(8, 16), slice(8, 16))
    torch.testing.assert_close(torch.roll(y, shifts=(3, 5), dims=(2, 3))[inner], ys[inner])


def _seam_ratio(net, window_px, size=224, sigma=25 / 255, draws=4, margin=8):
    """MAE on pixels within 2 px of the window grid divided by the MAE elsewhere."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    ramp = 0.15 + 0.7 * (0.6 * xx + 0.4 * yy) / size
    clean = torch.from_numpy(ramp)[None, None].repeat(1, net.channels, 1, 1)
    gen = torch.Generator().manual_seed(7)
    err = torch.zeros(size, size)
    with torch.no_grad():
        for _ in range(draws):
            noisy = clean + sigma * torch.randn(clean.shape, generator=gen)
            err += (net(noisy, sigma) - clean).abs().mean(dim=(0, 1))
    err = err.numpy()
    dist_y = np.minimum(yy % window_px, window_px - yy % window_px)
    dist_x = np.minimum(xx % window_px, window_px - xx % window_px)
    border = (np.minimum(dist_y, dist_x) < 2)
    keep = np.zeros_like(border)
    keep[margin:-margin, margin:-margin] = True
    err = err / draws
    return err[border & keep].mean() / err[~border & keep].mean(), err[keep].mean()


def test_no_seams_random_weights():
    """An untrained (random) network must not treat window-border pixels differently."""
    torch.manual_seed(0)
    net = AttentionUNet(1).eval()
    torch.nn.init.normal_(net.tail.weight, std=0.02)
    ratio, _ = _seam_ratio(net, window_px=net.config["window"] * net.multiple)
    assert 1 / 1.1 < ratio < 1.1


@pytest.mark.skipif(
    not (WEIGHTS / "attention_unet_gray.pt").exists(), reason="no trained attention_unet_gray.pt"
)
def test_no_seams_trained_weights():
    """The shipped gray model denoises a ramp with the same error on window borders as inside."""
    import json

    cfg = json.loads((WEIGHTS / "attention_unet_gray.json").read_text())
    net = AttentionUNet(**cfg).eval()
    net.load_state_dict(torch.load(WEIGHTS / "attention_unet_gray.pt", weights_only=True))
    ratio, mae = _seam_ratio(net, window_px=cfg["window"] * net.multiple)
    assert 1 / 1.1 < ratio < 1.1
    # and it really denoises: the noise itself has MAE 25/255 * sqrt(2/pi) ~ 0.078
    assert mae < 0.03


def test_prior_wrapper_runs_on_numpy(tmp_path):
    import json

    from priors.attention_prior import AttentionUNetPrior
    from priors.attention_unet import load_attention_unet

    net = _tiny(1)
    torch.save(net.state_dict(), tmp_path / "w.pt")
    (tmp_path / "w.json").write_text(json.dumps(net.config))
    torch.testing.assert_close(load_attention_unet(tmp_path / "w.pt").head.weight, net.head.weight)
    prior = AttentionUNetPrior(weights=tmp_path / "w.pt")
    img = np.random.default_rng(0).random((21, 30))
    out = prior(img, 0.1)
    assert out.shape == img.shape
    np.testing.assert_allclose(out, img, atol=1e-6)  # zero-initialised tail: identity
    with pytest.raises(FileNotFoundError, match="not found"):
        AttentionUNetPrior(weights=tmp_path / "missing.pt")


@pytest.mark.parametrize("channels", [1, 3])
def test_named_shipped_weights_small_and_default(channels):
    """weights="small" loads the earlier, narrower network; both denoise, the default better."""
    from skimage import data

    from priors.attention_prior import AttentionUNetPrior

    x = data.astronaut()[100:228, 150:278] / 255.0
    x = x.mean(axis=2) if channels == 1 else x
    y = x + np.random.default_rng(0).normal(0, 25 / 255, x.shape)
    psnr, nets = {}, {}
    for which in ("ours", "small"):
        prior = AttentionUNetPrior(weights=which)
        out = prior(y, 25 / 255)
        psnr[which] = 10 * np.log10(1 / np.mean((np.clip(out, 0, 1) - x) ** 2))
        nets[which] = prior._load(channels)
    assert nets["small"].config["widths"] == [24, 48, 96, 128]
    assert nets["ours"].config["widths"][0] > nets["small"].config["widths"][0]
    assert psnr["small"] > 28.0 and psnr["ours"] > psnr["small"] + 0.05
    with pytest.raises(FileNotFoundError, match="'small'"):
        AttentionUNetPrior(weights="tiny")


def test_neighbourhood_attention_matches_direct_per_token_computation():
    import torch

    from priors.attention_unet import NeighbourhoodAttention

    torch.manual_seed(0)
    att = NeighbourhoodAttention(8, heads=2, window=3).double()
    with torch.no_grad():
        att.rel_bias.normal_()
    x = torch.randn(1, 8, 5, 6, dtype=torch.float64)
    with torch.no_grad():
        out = att(x)
        q, k, v = att.qkv(x).chunk(3, dim=1)
        ref = torch.zeros_like(q)
        for hh in range(2):
            sl = slice(4 * hh, 4 * hh + 4)
            for i in range(5):
                for j in range(6):
                    logits, vals = [], []
                    for dy in range(3):
                        for dx in range(3):
                            ii, jj = i + dy - 1, j + dx - 1
                            if 0 <= ii < 5 and 0 <= jj < 6:
                                logits.append((q[0, sl, i, j] * k[0, sl, ii, jj]).sum() / 2.0
                                              + att.rel_bias[hh, dy * 3 + dx])
                                vals.append(v[0, sl, ii, jj])
                    wts = torch.softmax(torch.stack(logits), 0)
                    ref[0, sl, i, j] = (wts[:, None] * torch.stack(vals)).sum(0)
        ref = att.proj(ref)
    assert torch.allclose(out, ref, atol=1e-12)


@pytest.mark.skipif(
    not (WEIGHTS / "attention_unet_color_unfolded.pt").exists(), reason="no attention_unet_color_unfolded.pt"
)
def test_unfolded_prior_is_registered_colour_only_and_restores():
    """The prior fine-tuned in the unfolded model loads offline by name and deblurs colour images."""
    from skimage import data

    import pnp
    from pnp.kernels import motion_kernel
    from priors import available_priors, get_prior

    assert "attention-unet-unfolded" in available_priors()
    x = data.astronaut()[:96, 160:256] / 255.0
    k = motion_kernel(9, 30)
    y = pnp.add_noise(pnp.blur(x, k, boundary="circular"), 7.65 / 255, seed=0)
    out = pnp.solve(y, k, prior="attention-unet-unfolded", noise_level=7.65 / 255, boundary="circular")
    assert out.shape == x.shape
    assert pnp.psnr(out, x) > pnp.psnr(y, x) + 3.5  # measured: 24.03 -> 28.39 dB (plain weights 28.14)
    with pytest.raises(ValueError, match="3-channel"):  # colour weights only
        get_prior("attention-unet-unfolded")(x[..., 0], 0.05)
    with pytest.raises(TypeError, match="fixed weights"):
        get_prior("attention-unet-unfolded", weights="other.pt")
