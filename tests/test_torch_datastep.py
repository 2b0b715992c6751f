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


@pytest.mark.parametrize("compute_dtype, tol", [(torch.float64, 1e-4), (None, None)])
def test_float32_masked_step_at_small_alpha(compute_dtype, tol):
    """A float32 masked step at DPIR's first penalty: its CG runs in float64 (3.7e-2 off in float32)."""
    from skimage import data

    from pnp.datasteps.torch_fft import TorchMaskedDataStep
    from pnp.kernels import motion_kernel

    from pnp.boundary import pad_observation

    k = motion_kernel(9, 30)
    x = data.camera()[200:296, 200:296] / 255.0
    op = Blur(k)
    y0 = op.forward(np.pad(x, 12, mode="reflect")[None])[:, 12:-12, 12:-12]
    y = y0 + np.random.default_rng(0).normal(0, 0.255 / 255, y0.shape)
    y, (t, l) = pad_observation(y, op.boundary_margin(), "taper")
    mask = np.zeros(y.shape[1:], bool)
    mask[t:t + 96, l:l + 96] = True
    v = op.initial(y)
    # a penalty at which the float64 CG is stable (in other cases 15 unconverged iterations of this
    # ill-conditioned system amplify even float64 round-off to 1e-2)
    ref = op.data_step(y, observed=mask)(v, 6e-6)
    step = TorchMaskedDataStep(torch.tensor(k, dtype=torch.float32), torch.tensor(y[None], dtype=torch.float32),
                               torch.tensor(mask), compute_dtype=compute_dtype)
    out = step(torch.tensor(v[None], dtype=torch.float32), 6e-6)
    assert out.dtype == torch.float32
    err = np.linalg.norm(out[0].double().numpy() - ref) / np.linalg.norm(ref)
    if tol is not None:
        assert err <= tol
    else:  # in float32 the round-off shows: what the default avoids
        assert err > 1e-3


def test_masked_step_refuses_a_bad_compute_dtype(rng):
    from pnp.datasteps.torch_fft import TorchMaskedDataStep

    with pytest.raises(TypeError, match="compute_dtype must be a torch float dtype"):
        TorchMaskedDataStep(torch.ones(3, 3) / 9, torch.rand(1, 1, 8, 8), torch.ones(8, 8, dtype=torch.bool),
                            compute_dtype=torch.int64)


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


# -- per-sample CG of the masked step -------------------------------------------------------

def _masked_batch(rng):
    from skimage import data

    H = W = 32
    obs = np.zeros((H, W), bool)
    obs[6:-6, 6:-6] = True
    k0 = np.ones((7, 7)) / 49
    k1 = np.zeros((7, 7))
    k1[3, :] = 1 / 7  # horizontal motion blur
    img = data.camera()[100:100 + H, 100:100 + W] / 255.0
    y0 = Blur(k0).forward(img[None])
    y1 = 100 * rng.standard_normal((1, H, W))  # a sample on another scale, the audit's case
    v0, v1 = 0.9 * img[None], rng.random((1, H, W))
    return obs, [k0, k1], [y0, y1], [v0, v1]


@pytest.mark.parametrize("alpha", [1e-3, 1e-1, "per-sample"])
def test_masked_step_batch_equals_the_samples_alone(rng, alpha):
    """Each sample has its own CG: a batch gives each sample its result alone (a x100 sample included)."""
    from pnp.datasteps.torch_fft import TorchMaskedDataStep

    obs, ks, ys, vs = _masked_batch(rng)
    alphas = [1e-3, 3e-2] if alpha == "per-sample" else [alpha, alpha]
    a_batch = torch.tensor(alphas, dtype=torch.float64) if alpha == "per-sample" else alpha
    batched = TorchMaskedDataStep(torch.tensor(np.stack(ks)), torch.tensor(np.stack(ys)), torch.tensor(obs))(
        torch.tensor(np.stack(vs)), a_batch)
    for b in range(2):
        alone = TorchMaskedDataStep(torch.tensor(ks[b]), torch.tensor(ys[b])[None], torch.tensor(obs))(
            torch.tensor(vs[b])[None], alphas[b])[0]
        scale = alone.abs().max()
        assert (batched[b] - alone).abs().max() <= 1e-10 * scale, b
    # and sample 0 is as close to the exact masked minimiser as the numpy step (it was 4.16 off in such a batch)
    from pnp.datasteps.masked import MaskedDataStep

    exact = MaskedDataStep(Blur(ks[0]), ys[0], obs, maxiter=500, tol=1e-12)(vs[0], alphas[0])
    ref = MaskedDataStep(Blur(ks[0]), ys[0], obs)(vs[0], alphas[0])
    rel = np.linalg.norm(batched[0].numpy() - exact) / np.linalg.norm(exact)
    assert rel <= 1.01 * np.linalg.norm(ref - exact) / np.linalg.norm(exact) + 1e-12


def test_masked_step_stays_differentiable_per_sample(rng):
    from pnp.datasteps.torch_fft import TorchMaskedDataStep

    obs, ks, ys, vs = _masked_batch(rng)
    v = torch.tensor(np.stack(vs), requires_grad=True)
    alpha = torch.tensor([1e-2, 1e-1], dtype=torch.float64, requires_grad=True)
    out = TorchMaskedDataStep(torch.tensor(np.stack(ks)), torch.tensor(np.stack(ys)), torch.tensor(obs))(v, alpha)
    out.sum().backward()
    for t in (v, alpha):
        assert torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0


# -- input checks ----------------------------------------------------------------------------

def _step_inputs(rng):
    k = torch.tensor(rng.random((5, 5)))
    y = torch.tensor(rng.random((1, 3, 16, 16)))
    v = torch.tensor(rng.random((1, 3, 16, 16)))
    return k / k.sum(), y, v


def _make_step(kind, k, y):
    """A torch data step of the given kind on ``y`` (1, 3, 16, 16): the three share the checks of v and alpha."""
    from pnp.datasteps.torch_fft import TorchMaskedDataStep

    if kind == "fft":
        return TorchFFTDataStep(k, y)
    if kind == "masked":
        return TorchMaskedDataStep(k, y, torch.ones(16, 16, dtype=torch.bool))
    from pnp.operators.rotational import RotationalBlur

    return RotationalBlur(center=(7.5, 7.5), angle=0.2).torch_data_step(y)  # TorchCGDataStep


@pytest.mark.parametrize("kind", ["fft", "masked", "cg"])
@pytest.mark.parametrize("alpha", [0.0, -0.5, float("nan"), float("inf"), torch.tensor([0.1, 0.0]).double()[1:],
                                   torch.tensor(float("nan"), dtype=torch.float64)])
def test_torch_steps_refuse_alpha_that_is_not_positive_and_finite(rng, kind, alpha):
    k, y, v = _step_inputs(rng)
    step = _make_step(kind, k, y)
    with pytest.raises(ValueError, match="alpha must be > 0 and finite"):
        step(v, alpha)


@pytest.mark.parametrize("kind", ["fft", "masked", "cg"])
def test_torch_steps_refuse_v_and_alpha_of_other_shapes(rng, kind):
    """No broadcasting: v must have the step's shape, alpha a batch of 1 or B."""
    k, y, v = _step_inputs(rng)
    step = _make_step(kind, k, y)
    for bad in (v[:, :1], v[0, 0], torch.cat([v, v]), v[..., :8, :8]):
        with pytest.raises(ValueError, match=rf"v has shape \({', '.join(map(str, bad.shape))},?\), "
                                             r"expected \(1, 3, 16, 16\)"):
            step(bad, 0.1)
    with pytest.raises(TypeError, match="v must be a float tensor"):
        step((v * 255).to(torch.uint8), 0.1)
    with pytest.raises(ValueError, match=r"alpha must be a number or a tensor of shape .* got shape \(3,\)"):
        step(v, torch.tensor([0.1, 0.2, 0.3], dtype=torch.float64))
    # the accepted forms agree
    ref = step(v, 0.1)
    for a in (torch.tensor(0.1, dtype=torch.float64), torch.tensor([0.1], dtype=torch.float64),
              torch.full((1, 1, 1, 1), 0.1, dtype=torch.float64), np.float64(0.1), np.array([0.1])):
        torch.testing.assert_close(step(v, a), ref)


def test_torch_fft_step_checks_its_construction(rng):
    from pnp.datasteps.torch_fft import TorchMaskedDataStep

    k, y, v = _step_inputs(rng)
    with pytest.raises(ValueError, match="kernel must hold one kernel or one per sample"):
        TorchFFTDataStep(torch.stack([k, k]), y)  # batch 2 for a batch of 1: no silent growth
    with pytest.raises(ValueError, match="kernel must hold one kernel or one per sample"):
        TorchFFTDataStep(torch.stack([k, k]), y.expand(3, -1, -1, -1))
    with pytest.raises(ValueError, match="kernel of size 20x20 is larger than the image grid 16x16"):
        TorchFFTDataStep(torch.ones(20, 20, dtype=torch.float64) / 400, y)
    assert TorchFFTDataStep(torch.ones(20, 20, dtype=torch.float64) / 400, y, scale=2).shape == (1, 3, 32, 32)
    with pytest.raises(ValueError, match="scale must be an integer >= 1, got 2.7"):
        TorchFFTDataStep(k, y, scale=2.7)
    with pytest.raises(ValueError, match="scale must be an integer >= 1, got 0"):
        TorchFFTDataStep(k, y, scale=0)
    with pytest.raises(TypeError, match="y must be a float tensor"):
        TorchFFTDataStep(k, (y * 255).to(torch.uint8))
    with pytest.raises(TypeError, match="kernel must be a float tensor"):
        TorchFFTDataStep(torch.ones(3, 3, dtype=torch.int64), y)
    with pytest.raises(ValueError, match=r"y must have shape \(B, C, h, w\)"):
        TorchFFTDataStep(k, y[0])
    with pytest.raises(ValueError, match="y must hold finite values"):
        TorchFFTDataStep(k, torch.where(y > 0.99, torch.nan, y))
    with pytest.raises(ValueError, match="kernel must hold finite values"):
        TorchFFTDataStep(torch.full((3, 3), float("nan"), dtype=torch.float64), y)
    for cls in (TorchFFTDataStep, TorchMaskedDataStep):
        with pytest.raises(ValueError, match=r"observed must be an \(h, w\) = \(16, 16\) mask"):
            cls(k, y, observed=torch.ones(1, 16, dtype=torch.bool))
    # an array mask is converted, as TorchCGDataStep does, and gives the tensor mask's result
    mask = rng.random((16, 16)) > 0.3
    for cls in (TorchFFTDataStep, TorchMaskedDataStep):
        torch.testing.assert_close(cls(k, y, observed=mask)(v, 0.1), cls(k, y, observed=torch.tensor(mask))(v, 0.1))


def test_psf2otf_torch_refuses_a_kernel_larger_than_the_grid():
    from pnp.datasteps.torch_fft import psf2otf_torch

    with pytest.raises(ValueError, match="kernel of size 9x3 is larger than the image grid 8x8"):
        psf2otf_torch(torch.ones(9, 3), (8, 8))
    with pytest.raises(ValueError, match=r"kernel must have shape \(B, kh, kw\) or \(kh, kw\)"):
        psf2otf_torch(torch.ones(1, 1, 3, 3), (8, 8))
    assert psf2otf_torch(torch.ones(8, 8) / 64, (8, 8)).shape == (1, 1, 8, 8)


# -- ClosedFormBlur on the torch path --------------------------------------------------------

@pytest.mark.parametrize("precision, dtype, tol", [("double", torch.float64, 1e-10), ("single", torch.float32, 2e-5)])
@pytest.mark.parametrize("scale", [1, 2])
def test_closed_form_blur_torch_step_matches_its_numpy_step(rng, precision, dtype, tol, scale):
    """ClosedFormBlur's torch step is its own one-pass refill step, not the wrapped Blur's masked CG."""
    from pnp.datasteps.fft import ClosedFormBlur
    from pnp.datasteps.torch_fft import TorchMaskedDataStep

    k = rng.random((5, 5))
    k /= k.sum()
    cf = ClosedFormBlur(Blur(k, scale), precision=precision)
    y = rng.random((3, 20, 18))
    v = rng.random((3, 20 * scale, 18 * scale))
    mask = np.zeros((20, 18), bool)
    mask[3:-3, 2:-2] = True
    ref = cf.data_step(y, observed=mask)(v, 0.05)
    for yt_dtype in (torch.float32, torch.float64):
        step = cf.torch_data_step(torch.tensor(y[None], dtype=yt_dtype), observed=mask)
        assert not isinstance(step, TorchMaskedDataStep)
        out = step(torch.tensor(v[None], dtype=yt_dtype), 0.05)
        assert out.dtype == yt_dtype  # computed in the precision's dtype, returned in v's
        err = np.linalg.norm(out[0].double().numpy() - ref) / np.linalg.norm(ref)
        assert err <= (tol if yt_dtype == torch.float64 or precision == "single" else 2e-6)
    # the wrapped Blur's torch step (exact masked CG) gives another result
    exact = Blur(k, scale).torch_data_step(torch.tensor(y[None]), observed=mask)(torch.tensor(v[None]), 0.05)
    assert np.abs(exact[0].numpy() - ref).max() > 1e-3


def test_closed_form_blur_in_solve_on_the_torch_path(tmp_path):
    """pnp.solve(ClosedFormBlur, device="cpu") runs ClosedFormBlur's step: it agrees with the numpy path."""
    from skimage import data

    import pnp
    from pnp.datasteps.fft import ClosedFormBlur

    prior = _tiny_drunet(tmp_path)
    x = data.camera()[200:264, 200:264] / 255.0
    k = np.ones((7, 7)) / 49
    y = pnp.add_noise(pnp.blur(x, k, boundary="reflect"), 0.01, seed=0)
    kw = dict(prior=prior, noise_level=0.01, iters=3, progress=False)
    cf = ClosedFormBlur(Blur(k), precision="single")
    ref = pnp.solve(y, cf, **kw)
    out = pnp.solve(y, cf, device="cpu", **kw)
    plain = pnp.solve(y, Blur(k), device="cpu", **kw)
    assert np.abs(out - ref).max() < 1e-4
    assert np.abs(plain - out).max() > 10 * np.abs(out - ref).max()  # not the wrapped Blur's step


def _tiny_drunet(tmp_path, **kw):
    import json

    from deepinv.models import DRUNet as Net

    from priors.drunet import DRUNet

    torch.manual_seed(0)
    arch = dict(nc=[8, 16, 32, 64], nb=1)
    net = Net(in_channels=1, out_channels=1, pretrained=None, **arch)
    torch.save(net.state_dict(), tmp_path / "tiny.pt")
    (tmp_path / "tiny.json").write_text(json.dumps(dict(arch, in_channels=1, out_channels=1, residual=False)))
    return DRUNet(weights=tmp_path / "tiny.pt", **kw)
