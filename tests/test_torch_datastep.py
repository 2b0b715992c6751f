"""The torch data step agrees with the pyFFTW one and is differentiable."""

import numpy as np
import pytest
import torch

from pnp.datasteps.torch_fft import TorchFFTDataStep
from pnp.operators import Blur


@pytest.mark.parametrize("scale", [1, 2, 3, 4])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
def test_agrees_with_pyfftw(rng, scale, channels, dtype, tol):
    k = rng.random((7, 6))
    k /= k.sum()
    y = rng.random((channels, 12, 10))
    v = rng.random((channels, 12 * scale, 10 * scale))
    ref = Blur(k, scale).data_step(y)(v, 0.07)
    step = TorchFFTDataStep(torch.tensor(k, dtype=dtype), torch.tensor(y[None], dtype=dtype), scale)
    out = step(torch.tensor(v[None], dtype=dtype), 0.07)[0].numpy()
    assert np.linalg.norm(out - ref) <= tol * np.linalg.norm(ref)


@pytest.mark.parametrize("scale", [2, 4])
def test_float32_super_resolution_step_at_small_alpha(rng, scale):
    # DPIR's first penalties (alpha ~ 6e-4 .. 6e-6) must not cost float32 its accuracy
    k = rng.random((7, 6))
    k /= k.sum()
    y = rng.random((3, 12, 10))
    v = rng.random((3, 12 * scale, 10 * scale))
    ref = Blur(k, scale).data_step(y)(v, 6e-6)
    step = TorchFFTDataStep(torch.tensor(k, dtype=torch.float32), torch.tensor(y[None], dtype=torch.float32), scale)
    out = step(torch.tensor(v[None], dtype=torch.float32), 6e-6)[0].numpy()
    assert np.linalg.norm(out - ref) <= 2e-5 * np.linalg.norm(ref)


def test_masked_step_agrees_with_pyfftw(rng):
    k = rng.random((5, 5))
    k /= k.sum()
    y = rng.random((1, 16, 16))
    mask = rng.random((16, 16)) > 0.4
    v = rng.random((1, 16, 16))
    from pnp.datasteps.fft import FFTDataStep
    from pnp.datasteps.torch_fft import TorchMaskedDataStep

    # the one-pass refill step
    ref = FFTDataStep(Blur(k), y, observed=mask)(v, 0.1)
    step = TorchFFTDataStep(torch.tensor(k), torch.tensor(y[None]), observed=torch.tensor(mask))
    np.testing.assert_allclose(step(torch.tensor(v[None]), 0.1)[0].numpy(), ref, atol=1e-10)
    # the exact masked step (preconditioned CG), numpy and torch
    ref = Blur(k).data_step(y, observed=mask)(v, 0.1)
    step = TorchMaskedDataStep(torch.tensor(k), torch.tensor(y[None]), torch.tensor(mask))
    np.testing.assert_allclose(step(torch.tensor(v[None]), 0.1)[0].numpy(), ref, atol=1e-8)


def test_batch_with_one_kernel_per_sample(rng):
    ks = [rng.random((5, 5)) for _ in range(3)]
    ks = [k / k.sum() for k in ks]
    y = rng.random((3, 1, 12, 12))
    v = rng.random((3, 1, 24, 24))
    step = TorchFFTDataStep(torch.tensor(np.stack(ks)), torch.tensor(y), scale=2)
    out = step(torch.tensor(v), torch.tensor([0.01, 0.1, 1.0], dtype=torch.float64)).numpy()
    for b in range(3):
        ref = Blur(ks[b], 2).data_step(y[b])(v[b], [0.01, 0.1, 1.0][b])
        np.testing.assert_allclose(out[b], ref, atol=1e-10)


def test_gradients_flow(rng):
    k = torch.tensor(rng.random((5, 5)) / 12.5, requires_grad=True)
    y = torch.tensor(rng.random((1, 1, 8, 8)), requires_grad=True)
    v = torch.tensor(rng.random((1, 1, 16, 16)), requires_grad=True)
    alpha = torch.tensor(0.1, dtype=torch.float64, requires_grad=True)
    out = TorchFFTDataStep(k, y, scale=2)(v, alpha)
    out.sum().backward()
    for t in (k, y, v, alpha):
        assert t.grad is not None and torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0
    # gradient check of a small case
    ys = torch.tensor(rng.random((1, 1, 6, 6)))
    ks = torch.tensor(rng.random((3, 3)) / 4.5)
    vs = torch.tensor(rng.random((1, 1, 6, 6)), requires_grad=True)
    assert torch.autograd.gradcheck(lambda vv: TorchFFTDataStep(ks, ys)(vv, 0.3), (vs,))


def test_solve_on_torch_device_matches_numpy_path(tmp_path):
    """pnp.solve(device="cpu") runs the loop in torch and agrees with the numpy loop."""
    import json

    from deepinv.models import DRUNet as Net
    from skimage import data

    import pnp
    from priors.drunet import DRUNet

    torch.manual_seed(0)
    arch = dict(nc=[8, 16, 32, 64], nb=1)
    net = Net(in_channels=1, out_channels=1, pretrained=None, **arch)
    torch.save(net.state_dict(), tmp_path / "tiny.pt")
    (tmp_path / "tiny.json").write_text(json.dumps(dict(arch, in_channels=1, out_channels=1, residual=False)))
    x = data.camera()[200:264, 200:264] / 255.0
    k = np.ones((5, 5)) / 25
    y = pnp.add_noise(pnp.blur(x, k, boundary="reflect"), 0.01, seed=0)
    kw = dict(noise_level=0.01, iters=3)
    ref = pnp.solve(y, k, prior=DRUNet(weights=tmp_path / "tiny.pt"), **kw)
    out = pnp.solve(y, k, prior=DRUNet(weights=tmp_path / "tiny.pt"), device="cpu", **kw)
    assert out.shape == ref.shape and out.dtype == ref.dtype
    assert np.abs(out - ref).max() < 1e-3  # float32 torch loop vs float64 numpy loop
    with pytest.raises(TypeError, match="torch prior"):
        pnp.solve(y, k, prior="tv", device="cpu", **kw)
    with pytest.raises(ValueError, match="not available"):
        pnp.solve(y, k, prior=DRUNet(weights=tmp_path / "tiny.pt"), device="nodevice", **kw)
