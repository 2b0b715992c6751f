"""Geometric self-ensemble of a prior (priors.ensemble)."""

import numpy as np
import pytest

import pnp
from priors import get_prior
from priors.ensemble import SelfEnsemble, dihedral, dihedral_inverse
from priors.registry import split_ensemble


@pytest.mark.parametrize("shape", [(5, 7), (5, 7, 3)])
def test_dihedral_group(shape):
    x = np.random.default_rng(0).standard_normal(shape)
    seen = set()
    for k in range(8):
        t = dihedral(x, k)
        np.testing.assert_array_equal(dihedral_inverse(t, k), x)
        seen.add(t.tobytes() + bytes(t.shape))
    assert len(seen) == 8  # eight distinct transforms of a generic image
    with pytest.raises(ValueError, match="0..7"):
        dihedral(x, 8)


def test_equivariant_prior_unchanged():
    from scipy import ndimage

    blur = lambda x, sigma: ndimage.gaussian_filter(x, 1.0, mode="reflect")  # noqa: E731
    x = np.random.default_rng(1).random((12, 9))
    np.testing.assert_allclose(SelfEnsemble(blur)(x, 0.1), blur(x, 0.1), atol=1e-12)


def test_ensemble_averages_non_equivariant_prior():
    shift = lambda x, sigma: np.roll(x, 1, axis=1)  # noqa: E731
    x = np.random.default_rng(2).random((6, 8, 3))
    out = SelfEnsemble(shift, n=2)(x, 0.1)
    expected = 0.5 * (np.roll(x, 1, axis=1) + np.roll(x, -1, axis=1))
    np.testing.assert_allclose(out, expected, atol=1e-12)
    assert out.shape == x.shape


def test_names_and_errors():
    assert split_ensemble("drunet+x8") == ("drunet", 8)
    assert split_ensemble("drunet") == ("drunet", 1)
    assert split_ensemble("drunet+x3") == ("drunet+x3", 1)
    from priors.registry import DEFAULT_PRIOR, resolve_prior_name

    assert resolve_prior_name("Default+X8") == (DEFAULT_PRIOR, 8)
    assert resolve_prior_name("tv") == ("tv", 1)
    p = get_prior("tv+x4")
    assert isinstance(p, SelfEnsemble) and p.n == 4
    with pytest.raises(ValueError, match="self-ensemble suffix"):
        get_prior("drunet+x3")
    with pytest.raises(ValueError, match="n must be one of"):
        SelfEnsemble("tv", n=3)
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        SelfEnsemble("tv")(np.zeros(4), 0.1)


def test_ensemble_improves_attention_unet():
    """x8 self-ensemble of the default prior on a fixed noisy crop: a measurable PSNR gain."""
    pytest.importorskip("torch")
    from skimage import data

    # 256x256: on a 128x128 crop the grown default network (nearly equivariant) gained only 0.019 dB
    x = data.camera()[128:384, 128:384] / 255.0
    y = x + 25 / 255 * np.random.default_rng(0).standard_normal(x.shape)
    plain = get_prior("attention-unet")(y, 25 / 255)
    ens = get_prior("attention-unet+x8")(y, 25 / 255)
    gain = pnp.psnr(np.clip(ens, 0, 1), x) - pnp.psnr(np.clip(plain, 0, 1), x)
    assert gain > 0.02, gain


def test_solve_accepts_ensemble_name():
    from skimage import data

    x = data.camera()[::4, ::4] / 255.0
    from pnp.kernels import gaussian_kernel

    k = gaussian_kernel(1.5, size=9)
    y = pnp.blur(x, k) + 0.01 * np.random.default_rng(0).standard_normal(x.shape)
    out = pnp.solve(y, k, prior="tv+x2", noise_level=0.01, iters=4, progress=False)
    plain = pnp.solve(y, k, prior="tv", noise_level=0.01, iters=4, progress=False)
    assert out.shape == x.shape
    gain = pnp.psnr(np.clip(out, 0, 1), x) - pnp.psnr(np.clip(y, 0, 1), x)
    assert gain > 0.8, gain
    # TV is nearly mirror-equivariant: the ensemble changes its result by little
    assert abs(pnp.psnr(np.clip(out, 0, 1), x) - pnp.psnr(np.clip(plain, 0, 1), x)) < 0.2


def test_torch_ensemble_matches_numpy():
    torch = pytest.importorskip("torch")
    from priors.ensemble import torch_self_ensemble

    class Skewed(torch.nn.Module):  # neither mirror- nor rotation-equivariant
        def forward(self, x, sigma):
            return torch.roll(x, shifts=(1, 2), dims=(-2, -1)) * (1 + sigma) + x[..., :1, :].mean()

    net = Skewed()
    x = np.random.default_rng(3).random((7, 10, 3))

    def numpy_prior(img, sigma):
        t = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))[None]
        return net(t, sigma)[0].numpy().transpose(1, 2, 0)

    for n in (2, 4, 8):
        ens = torch_self_ensemble(net, n).eval()
        got = ens(torch.from_numpy(x.transpose(2, 0, 1).copy())[None], 0.1)[0].numpy().transpose(1, 2, 0)
        np.testing.assert_allclose(got, SelfEnsemble(numpy_prior, n=n)(x, 0.1), atol=1e-12)
    with pytest.raises(ValueError, match="n must be one of"):
        torch_self_ensemble(net, 3)


def test_ensemble_on_the_torch_path():
    """pnp.solve(..., device="cpu") with an ensemble of a torch prior matches the numpy path."""
    pytest.importorskip("torch")
    from skimage import data

    from pnp.kernels import gaussian_kernel

    x = data.camera()[200:296, 150:246] / 255.0
    k = gaussian_kernel(1.2, size=9)
    y = pnp.blur(x, k) + 0.01 * np.random.default_rng(0).standard_normal(x.shape)
    prior = get_prior("drunet+x2")
    assert hasattr(prior, "denoise_tensor") and not hasattr(SelfEnsemble("tv"), "denoise_tensor")
    a = pnp.solve(y, k, prior=prior, noise_level=0.01, iters=4, progress=False)
    b = pnp.solve(y, k, prior=prior, noise_level=0.01, iters=4, progress=False, device="cpu")
    assert b.shape == a.shape
    assert abs(pnp.psnr(np.clip(a, 0, 1), x) - pnp.psnr(np.clip(b, 0, 1), x)) < 0.05
    assert pnp.psnr(np.clip(b, 0, 1), x) > pnp.psnr(np.clip(y, 0, 1), x) + 1.0


def test_ensemble_forwards_weight_files_so_its_prior_is_recognised():
    """A learned schedule trained with a prior does not warn for that prior's +x8 ensemble."""
    import torch

    from pnp.io import file_sha256
    from pnp.learned_schedule import HyperNet, LearnedSchedule
    from priors.drunet import WEIGHTS_DIR

    torch.manual_seed(0)
    base = get_prior("attention-unet")
    ens = get_prior("attention-unet+x8")
    assert ens.weight_files() == base.weight_files() and ens.weight_files()
    assert SelfEnsemble(lambda x, sigma: x, n=2).weight_files() == []  # a prior without weights
    sha = file_sha256(WEIGHTS_DIR / "attention_unet_color.pt")
    sched = LearnedSchedule(HyperNet(4), trained_with={"prior_sha256": sha})
    assert sched.check_prior(base) is None
    assert sched.check_prior(ens) is None
    assert sched.check_prior(get_prior("attention-unet+x8", weights="small")) is not None  # other weights


def test_ensemble_checks_the_image_before_turning_it():
    """A channels-first array would be turned about the wrong axes: refused before the first transform."""
    calls = []
    ens = SelfEnsemble(lambda x, sigma: calls.append(x.shape) or x, n=8)
    with pytest.raises(ValueError, match=r"looks channels-first.*np\.moveaxis\(x, 0, -1\)"):
        ens(np.zeros((3, 16, 20)), 0.1)
    x = np.zeros((4, 4))
    x[1, 1] = np.nan
    with pytest.raises(ValueError, match="x contains NaN"):
        ens(x, 0.1)
    assert calls == []
    out = ens(np.ones((16, 20, 3), dtype=np.float32), 0.1)
    assert out.dtype == np.float32 and out.shape == (16, 20, 3) and len(calls) == 8


def _small_drunet(tmp_path, **kw):
    """DRUNet (priors.drunet) with small random weights, gray."""
    import json

    torch = pytest.importorskip("torch")
    from deepinv.models import DRUNet as Net

    from priors.drunet import DRUNet

    arch = dict(nc=[8, 16, 32, 64], nb=1)
    torch.manual_seed(0)
    path = tmp_path / "small.pt"
    torch.save(Net(in_channels=1, out_channels=1, pretrained=None, **arch).state_dict(), path)
    path.with_suffix(".json").write_text(json.dumps(dict(arch, residual=False)))
    return DRUNet(weights=path, **kw)


def _record_network_inputs(prior):
    seen = []
    prior.model(1).register_forward_pre_hook(lambda m, args: seen.append(tuple(args[0].shape[-2:])))
    return seen


def test_ensemble_of_a_tiled_prior_tiles_on_the_torch_path(tmp_path):
    """SelfEnsemble.denoise_tensor_tiled tiles each turned copy as __call__ does on arrays: same network
    calls (sizes and order) and the same result, on its own and in pnp.solve(device="cpu")."""
    import torch

    inner = _small_drunet(tmp_path, tile=64, overlap=16)
    seen = _record_network_inputs(inner)
    ens = SelfEnsemble(inner, n=8)
    x = np.random.default_rng(0).random((96, 130))

    ref = ens(x, 0.05)
    numpy_calls = list(seen)
    seen.clear()
    out = ens.denoise_tensor_tiled(torch.from_numpy(x.astype(np.float32))[None, None], 0.05)[0, 0].numpy()
    assert seen == numpy_calls
    assert len(numpy_calls) > 8 and max(max(s) for s in numpy_calls) <= 64 + 8  # tiled, the turned copies too
    np.testing.assert_allclose(out, ref, atol=1e-6)  # float32 network both ways (measured 1e-9)

    k = np.ones((3, 3)) / 9
    kw = dict(prior=ens, noise_level=0.02, iters=2, boundary="circular", progress=False)
    results, calls = {}, {}
    for dev in (None, "cpu"):
        seen.clear()
        results[dev] = pnp.solve(x, k, device=dev, **kw)
        calls[dev] = list(seen)
    assert calls["cpu"] == calls[None]
    np.testing.assert_allclose(results["cpu"], results[None], atol=1e-6)  # untiled: 8e-5 apart


def test_ensemble_of_an_untiled_torch_prior_has_no_tiled_method():
    """Only a prior that tiles gives its ensemble a denoise_tensor_tiled (pnp.solve then takes denoise_tensor)."""
    torch = pytest.importorskip("torch")

    class Plain:
        def __call__(self, x, sigma):
            return x

        def denoise_tensor(self, x, sigma):
            return torch.roll(x, 1, dims=-1)

    ens = SelfEnsemble(Plain(), n=2)
    assert hasattr(ens, "denoise_tensor") and not hasattr(ens, "denoise_tensor_tiled")
    assert hasattr(get_prior("drunet+x2"), "denoise_tensor_tiled")
