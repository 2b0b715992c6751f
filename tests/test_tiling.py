"""Large images: tiled priors (priors.tiling, TorchDenoiser tiling) and the float32 FFT data step."""

import numpy as np
import pytest

import pnp
from pnp import fft as pfft
from pnp.datasteps.fft import FFTDataStep, ClosedFormBlur
from pnp.operators import Blur
from priors.tiling import auto_tile_size, blend_tiles, check_tile_args, ramp, tile_starts

torch = pytest.importorskip("torch")


# -- tile placement and window ------------------------------------------------------------

@pytest.mark.parametrize("n, tile, overlap, multiple", [
    (100, 100, 8, 1), (101, 100, 8, 1), (1000, 256, 32, 8), (777, 128, 16, 8), (300, 64, 0, 1),
    (4160, 1024, 32, 8),
])
def test_tiles_cover_the_axis_with_overlap(n, tile, overlap, multiple):
    bounds = tile_starts(n, tile, overlap, multiple)
    assert bounds[0][0] == 0 and bounds[-1][1] == n
    for (a0, a1), (b0, b1) in zip(bounds, bounds[1:]):
        assert a1 - b0 >= overlap  # neighbours share at least `overlap` pixels
        assert b0 > a0
    assert all(s % multiple == 0 for s, _ in bounds)
    assert all(e - s <= tile + multiple - 1 for s, e in bounds)


def test_ramps_of_neighbours_sum_to_one():
    L = 16
    fall = ramp(64, 0, L)[-L:]
    rise = ramp(64, L, 0)[:L]
    np.testing.assert_allclose(fall + rise, 1.0, atol=1e-6)
    w = ramp(40, 8, 8)
    assert w.min() > 0 and w.max() == 1.0 and np.all(w[8:32] == 1)


def test_blend_is_exact_for_pointwise_functions(rng):
    x = rng.random((3, 150, 170))
    out = blend_tiles(lambda t: t**2 + 1, x, tile=48, overlap=8)
    np.testing.assert_allclose(out, x**2 + 1, rtol=1e-6)


def test_blend_of_local_filter_matches_whole_image(rng):
    from scipy import ndimage

    x = rng.random((1, 130, 140))

    def box(t):  # 3x3 mean with zero padding: wrong values on each tile's edge
        return ndimage.uniform_filter(t, size=(1, 3, 3), mode="constant")

    whole = box(x)
    tiled = blend_tiles(box, x, tile=40, overlap=16)
    interior = (slice(None), slice(1, -1), slice(1, -1))
    err = np.abs(tiled - whole)[interior]
    assert err.max() < 2e-3
    # without the window (hard average of overlapping tiles) the tile edges show
    flat = blend_tiles(box, x, tile=40, overlap=0)
    assert np.abs(flat - whole)[interior].max() > 10 * err.max()


def test_check_tile_args_messages():
    with pytest.raises(ValueError, match="tile=20 is too small for overlap=16"):
        check_tile_args(20, 16, 8)
    with pytest.raises(ValueError, match="overlap must be an integer >= 0"):
        check_tile_args(64, -1)
    with pytest.raises(ValueError, match="memory_budget_mb must be > 0"):
        auto_tile_size(0, 512)


def test_auto_tile_size_fits_the_budget():
    sizes = [auto_tile_size(mb, 512, multiple=8, overlap=32) for mb in (8, 64, 256, 1024)]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]
    for mb, t in zip((8, 64, 256, 1024), sizes):
        assert t % 8 == 0
        assert (t + 8) ** 2 * 512 <= mb * 2**20 or t == 72  # 72 = the floor 2 * overlap + multiple


# -- TorchDenoiser tiling -------------------------------------------------------------------

class _SmallCNN(torch.nn.Module):
    """Two 3x3 convolutions (receptive field 5 px), random weights; records input sizes."""

    def __init__(self, channels, seen):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.c1 = torch.nn.Conv2d(channels, 8, 3, padding=1)
        self.c2 = torch.nn.Conv2d(8, channels, 3, padding=1)
        for p in self.parameters():
            p.data = 0.3 * torch.randn(p.shape, generator=g)
        self.seen = seen

    def forward(self, x, sigma):
        self.seen.append(tuple(x.shape[-2:]))
        return x + 0.1 * self.c2(torch.relu(self.c1(x)))


def _adapter(seen, **kw):
    from priors.torch_adapter import TorchDenoiser

    return TorchDenoiser(lambda c: _SmallCNN(c, seen), **kw)


def test_tiled_network_matches_whole_image(rng):
    x = rng.random((150, 170, 3))
    seen = []
    whole = _adapter(seen, tile=None)(x, 0.1)
    assert seen == [(152, 176)]
    seen.clear()
    tiled = _adapter(seen, tile=64, overlap=16)(x, 0.1)
    assert tiled.shape == x.shape and tiled.dtype == np.float64
    assert len(seen) > 4 and max(max(s) for s in seen) <= 64 + 8
    assert pnp.psnr(np.clip(tiled, 0, 1), np.clip(whole, 0, 1)) > 60


def test_auto_tiling_bounds_the_network_input(rng):
    seen = []
    # 8 channels of width -> 256 B/px; a 1 MiB budget allows 64x64 network inputs: tiles of 56 (+8)
    prior = _adapter(seen, tile="auto", overlap=8, memory_budget_mb=1.0)
    assert prior.pixel_bytes(1) == 32 * 8
    assert prior.tile_size((1, 60, 60)) is None  # small images run whole, as before
    assert prior.tile_size((1, 300, 200)) == 56
    out = prior(rng.random((300, 200)), 0.05)
    assert out.shape == (300, 200)
    assert max(h * w for h, w in seen) <= 64 * 64


def test_torch_denoiser_validates_tiling_args():
    with pytest.raises(ValueError, match="tile must be 'auto', None or an integer"):
        _adapter([], tile="big")
    with pytest.raises(ValueError, match="memory_budget_mb"):
        _adapter([], memory_budget_mb=-5)
    with pytest.raises(ValueError, match="too small"):
        _adapter([], tile=32, overlap=32)


def test_drunet_tiled_close_to_untiled(tmp_path, rng):
    """A real (small, random-weight) DRUNet: tiles at aligned offsets barely change the output."""
    import json

    from deepinv.models import DRUNet as Net

    from priors.drunet import DRUNet

    arch = dict(nc=[16, 32, 64, 128], nb=1)
    torch.manual_seed(0)
    path = tmp_path / "net.pt"
    torch.save(Net(in_channels=1, out_channels=1, pretrained=None, **arch).state_dict(), path)
    path.with_suffix(".json").write_text(json.dumps(dict(arch, residual=False)))  # deepinv's direct form
    from skimage import data

    x = data.camera()[:128, :160] / 255.0
    y = x + 0.05 * rng.standard_normal(x.shape)
    prior = DRUNet(weights=path)
    prior.tile = None
    whole = prior(y, 0.05)
    prior.tile, prior.overlap = 80, 16
    tiled = prior(y, 0.05)
    assert pnp.psnr(np.clip(tiled, 0, 1), np.clip(whole, 0, 1)) > 40


def test_torch_denoiser_pickles_without_its_network():
    import pickle

    import functools

    from priors.torch_adapter import TorchDenoiser

    prior = TorchDenoiser(functools.partial(_SmallCNN, seen=[]), tile=64, overlap=8)
    prior(np.zeros((40, 40)), 0.1)
    assert prior._models
    clone = pickle.loads(pickle.dumps(prior))
    assert clone._models == {} and clone.tile == 64


# -- float32 FFT data step ------------------------------------------------------------------

@pytest.mark.parametrize("scale", [1, 2])
@pytest.mark.parametrize("masked", [False, True])
def test_single_precision_step_matches_double(rng, levin_k3, scale, masked):
    op = Blur(levin_k3, scale=scale)
    y = rng.random((3, 40, 44))
    v = rng.random(op.input_shape(y.shape))
    mask = None
    if masked:
        mask = np.zeros(y.shape[-2:], dtype=bool)
        mask[6:-6, 5:-5] = True
    d = FFTDataStep(op, y, observed=mask)(v, 0.03)
    s = FFTDataStep(op, y, observed=mask, precision="single")(v, 0.03)
    assert s.dtype == np.float32 and d.dtype == np.float64
    rel = np.abs(s - d).max() / np.abs(d).max()
    assert 0 < rel < 1e-5


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("alpha", [1e-4, 6e-6])
def test_single_precision_super_resolution_step_at_small_alpha(rng, levin_k3, scale, alpha):
    # the first DPIR iterations use alpha ~ 6e-4 (noise 2.55/255) down to ~6e-6; USRNet's form
    # (a difference of nearly equal spectra divided by alpha) lost 2e-4 .. 3e-3 in float32 here
    op = Blur(levin_k3, scale=scale)
    y = rng.random((3, 24, 20))
    v = rng.random(op.input_shape(y.shape))
    d = FFTDataStep(op, y)(v, alpha)
    s = FFTDataStep(op, y, precision="single")(v, alpha)
    assert np.abs(s - d).max() / np.abs(d).max() < 2e-5


def test_single_precision_step_is_optimal(rng, levin_k3):
    # gradient of ||y - A z||^2 + alpha ||z - v||^2 vanishes at the step's output
    op = Blur(levin_k3)
    y, v, alpha = rng.random((1, 48, 48)), rng.random((1, 48, 48)), 0.05
    z = FFTDataStep(op, y, precision="single")(v, alpha).astype(np.float64)
    grad = op.adjoint(op.forward(z) - y) + alpha * (z - v)
    grad_at_v = op.adjoint(op.forward(v) - y)
    assert np.abs(grad).max() < 1e-5 * np.abs(grad_at_v).max() + 1e-6


def test_precision_plans_are_cached_separately(rng):
    pfft.clear_cache()
    shape = (2, 30, 32)
    a = pfft.get_fft(shape, precision="single")
    b = pfft.get_fft(shape)
    assert a is pfft.get_fft(shape, precision="single") and a is not b
    x = rng.random(shape)
    fa = a.forward(x)
    assert fa.dtype == np.complex64 and b.forward(x).dtype == np.complex128
    np.testing.assert_allclose(a.inverse(fa), x, atol=1e-6)
    with pytest.raises(ValueError, match="precision must be one of"):
        pfft.get_fft(shape, precision="half")
    with pytest.raises(ValueError, match="this plan expects"):
        a.forward(np.zeros((2, 30, 30)))


def test_solve_with_single_precision_blur(camera256, levin_k3):
    y = pnp.add_noise(pnp.blur(camera256, levin_k3, boundary="reflect"), 0.01, seed=0)
    kw = dict(prior="tv", noise_level=0.01, iters=4, progress=False)
    d = pnp.solve(y, ClosedFormBlur(Blur(levin_k3), precision="double"), **kw)
    s = pnp.solve(y, ClosedFormBlur(Blur(levin_k3)), **kw)
    assert np.abs(d - s).max() < 1e-4  # float32 vs float64: same algorithm, rounding only
    exact = pnp.solve(y, Blur(levin_k3), **kw)  # the exact masked step of Blur
    assert pnp.psnr(s, camera256) > pnp.psnr(y, camera256) + 2
    assert abs(pnp.psnr(s, camera256) - pnp.psnr(exact, camera256)) < 1.0
    with pytest.raises(TypeError, match="Blur-like"):
        ClosedFormBlur(object())
    with pytest.raises(ValueError, match="precision must be one of"):
        ClosedFormBlur(Blur(levin_k3), precision="half")


def test_tile_starts_uses_no_more_tiles_than_needed():
    from priors.tiling import _valid, tile_starts

    assert tile_starts(218, 128, 32, 8) == [(0, 128), (88, 218)]  # was 3 tiles
    for tile, overlap, multiple in ((128, 32, 8), (64, 16, 1), (40, 16, 8)):
        for n in range(tile + 1, 3 * tile + 40):
            bounds = tile_starts(n, tile, overlap, multiple)
            assert _valid(bounds, n, tile, overlap, multiple), (n, bounds)
            fewest = -(-(n - overlap) // (tile - overlap))
            assert len(bounds) <= fewest + 1, (n, bounds)


# -- tiling on the torch path ---------------------------------------------------------------

def test_blend_tiles_tensor_matches_blend_tiles(rng):
    from priors.tiling import blend_tiles_tensor

    x = rng.random((3, 150, 170)).astype(np.float32)

    def fn(t):
        return t ** 2 + torch.roll(t, 1, dims=-1)  # depends on the tile's neighbourhood: the windows matter

    ref = blend_tiles(lambda t: fn(torch.from_numpy(t)[None])[0].numpy(), x, tile=48, overlap=8, multiple=8)
    out = blend_tiles_tensor(fn, torch.from_numpy(x)[None].expand(2, -1, -1, -1), tile=48, overlap=8, multiple=8)
    assert out.shape == (2, 3, 150, 170) and out.dtype == torch.float32
    np.testing.assert_allclose(out[1].numpy(), ref, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match=r"the tile function returned shape \(1, 3, 43, 41\), expected a tensor "
                                         r"of shape \(1, 'C_out', 44, 41\)"):
        blend_tiles_tensor(lambda t: t[..., 1:, :], torch.from_numpy(x)[None], tile=48, overlap=8)


@pytest.mark.parametrize("kw", [dict(tile=64, overlap=16), dict(tile="auto", overlap=8, memory_budget_mb=1.0)])
def test_solve_on_the_torch_path_tiles_like_the_numpy_path(rng, kw):
    """pnp.solve(device="cpu") obeys the prior's tile / memory_budget_mb, as the numpy path does."""
    y = rng.random((160, 150))
    k = np.ones((3, 3)) / 9
    results, sizes = {}, {}
    for dev in (None, "cpu"):
        seen = []
        results[dev] = pnp.solve(y, k, prior=_adapter(seen, **kw), noise_level=0.01, iters=2, device=dev,
                                 boundary="circular", progress=False)
        sizes[dev] = sorted(set(seen))
    assert sizes["cpu"] == sizes[None]
    assert max(h * w for h, w in sizes["cpu"]) <= 72 * 72 and len(sizes["cpu"]) > 1
    np.testing.assert_allclose(results["cpu"], results[None], atol=1e-5)


def test_denoise_tensor_tiled_runs_whole_when_small(rng):
    seen = []
    prior = _adapter(seen, tile=64, overlap=16)
    x = torch.from_numpy(rng.random((1, 1, 50, 60)).astype(np.float32))
    torch.testing.assert_close(prior.denoise_tensor_tiled(x, 0.1), prior.denoise_tensor(x, 0.1))
    assert seen == [(56, 64), (56, 64)]  # one whole-image call each
    with pytest.raises(ValueError, match="sigma"):
        prior.denoise_tensor_tiled(x, 2.0)
