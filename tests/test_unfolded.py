"""Learned schedule and unfolded network."""

import numpy as np
import pytest
import torch
from skimage import data

from pnp.learned_schedule import HyperNet, LearnedSchedule, kernel_descriptor
from pnp.schedules import DPIRSchedule
from pnp.unfolded import UnfoldedHQS


class TinyDenoiser(torch.nn.Module):
    def __init__(self, c=1):
        super().__init__()
        self.conv = torch.nn.Conv2d(c + 1, c, 3, padding=1)

    def forward(self, x, sigma):
        s = sigma.view(-1, 1, 1, 1).expand(-1, 1, *x.shape[-2:]) if torch.is_tensor(sigma) else \
            torch.full_like(x[:, :1], float(sigma))
        return x - 0.1 * self.conv(torch.cat([x, s], 1))


def test_untrained_hypernet_is_dpir():
    ls = LearnedSchedule(HyperNet(8))
    a, s = ls.params(0.01, 8, 1)
    a0, s0 = DPIRSchedule().params(0.01, 8, 1)
    np.testing.assert_allclose(a, a0, rtol=1e-12)
    np.testing.assert_allclose(s, s0, rtol=1e-12)
    a2, s2 = DPIRSchedule().params(0.01, 8, 3)
    np.testing.assert_allclose(ls.params(0.01, 8, 3)[1], s2, rtol=1e-12)


def test_reading_a_schedule_leaves_its_network_in_float32_for_the_unfolded_model():
    net = HyperNet(4)
    ls = LearnedSchedule(net)
    ls.params(0.01, 4)
    assert all(p.dtype == torch.float32 for p in net.parameters())
    model = UnfoldedHQS(TinyDenoiser(), ls.net)  # float32 batches still run after params()
    y = torch.rand(1, 1, 16, 16)
    out = model(y, torch.ones(1, 3, 3) / 9, torch.full((1,), 0.01))
    assert out.shape == y.shape and out.dtype == torch.float32


def test_schedule_positive_save_load_interpolate(tmp_path):
    torch.manual_seed(0)
    net = HyperNet(6, descriptor_dim=2)
    for p in net.parameters():
        p.data.normal_(0, 0.5)
    ls = LearnedSchedule(net, descriptor=[0.3, 1.0])
    a, s = ls.params(0.02, 6)
    assert np.all(a > 0) and np.all(s > 0)
    ls.save(tmp_path / "sched.pt")
    back = LearnedSchedule.load(tmp_path / "sched.pt", descriptor=[0.3, 1.0])
    np.testing.assert_allclose(back.params(0.02, 6)[0], a, rtol=1e-10)
    a3, s3 = ls.params(0.02, 3)
    assert a3[0] == pytest.approx(a[0]) and a3[-1] == pytest.approx(a[-1]) and len(a3) == 3
    with pytest.raises(ValueError, match="descriptor"):
        LearnedSchedule(net).params(0.02, 6)


def test_learned_schedule_in_solve():
    import pnp

    x = data.camera()[200:264, 200:264] / 255.0
    k = np.ones((5, 5)) / 25
    y = pnp.add_noise(pnp.blur(x, k), 0.01, seed=0)
    a = pnp.solve(y, k, prior="tv", noise_level=0.01, iters=4, schedule=LearnedSchedule(HyperNet(4)))
    b = pnp.solve(y, k, prior="tv", noise_level=0.01, iters=4, schedule=DPIRSchedule())
    np.testing.assert_allclose(a, b, atol=1e-9)


def test_shipped_schedule_loads_by_default():
    from pnp.learned_schedule import SHIPPED_SCHEDULE

    assert SHIPPED_SCHEDULE.is_file() and SHIPPED_SCHEDULE.with_suffix(".json").is_file()
    ls = LearnedSchedule.load()
    assert ls.iters == 8 and ls.net.descriptor_dim == 0
    a, s = ls.params(2.55 / 255)
    a0, s0 = DPIRSchedule().params(2.55 / 255, 8)
    assert np.all(a > 0) and np.all(s > 0)
    assert not np.allclose(s, s0, rtol=1e-3)  # trained: not the DPIR starting point
    np.testing.assert_allclose(LearnedSchedule.load(SHIPPED_SCHEDULE).params(2.55 / 255)[1], s)
    # the shipped file is the 812-step checkpoint's network (values measured at export)
    assert 255 * s[0] == pytest.approx(74.43, abs=0.01) and 255 * s[-1] == pytest.approx(1.629, abs=1e-3)


def test_kernel_descriptor():
    d_small = kernel_descriptor(np.pad(np.ones((1, 1)), 3))
    d_big = kernel_descriptor(np.ones((7, 7)))
    assert d_small[0] == pytest.approx(0) and d_big[0] > d_small[0]
    assert d_small[1] == pytest.approx(0) and d_big[1] == pytest.approx(np.log(49))
    for L in (3, 8):  # a uniform line of L pixels, as the docstring says
        d = kernel_descriptor(np.pad(np.ones((1, L)), 2))
        assert d == pytest.approx([np.log1p(np.sqrt((L * L - 1) / 12)), np.log(L)], rel=1e-12)


@pytest.mark.parametrize("scale", [1, 2])
def test_unfolded_forward_backward(scale):
    torch.manual_seed(0)
    model = UnfoldedHQS(TinyDenoiser(), HyperNet(3), freeze_prior=True)
    y = torch.rand(2, 1, 20, 20)
    k = torch.rand(2, 5, 5)
    k = k / k.sum(dim=(1, 2), keepdim=True)
    out = model(y, k, torch.tensor([0.01, 0.05]), scale=scale)
    assert out.shape == (2, 1, 20 * scale, 20 * scale)
    out.mean().backward()
    assert all(p.grad is None for p in model.prior.parameters())
    grads = [p.grad for p in model.hypernet.parameters()]
    assert grads[-1] is not None and grads[-1].abs().sum() > 0  # last layer gets gradient at init


def test_unfolded_matches_numpy_hqs():
    """With the untrained (DPIR) schedule, the unfolded net equals pnp.solve's HQS loop."""
    import pnp

    torch.manual_seed(0)
    den = TinyDenoiser().double()
    x = data.camera()[200:248, 200:248] / 255.0
    k = np.ones((5, 5)) / 25
    y = pnp.add_noise(pnp.blur(x, k), 0.01, seed=0)

    def prior_np(img, sigma):
        with torch.no_grad():
            return den(torch.tensor(img)[None, None], torch.tensor([sigma], dtype=torch.float64))[0, 0].numpy()

    ref = pnp.solve(y, k, prior=prior_np, noise_level=0.01, iters=4, boundary="circular")
    model = UnfoldedHQS(den, HyperNet(4).double())
    with torch.no_grad():
        out = model(torch.tensor(y)[None, None], torch.tensor(k)[None], torch.tensor([0.01], dtype=torch.float64))
    np.testing.assert_allclose(out[0, 0].numpy(), ref, atol=1e-9)


def test_shipped_k4_schedule_loads():
    from pnp.learned_schedule import SHIPPED_SCHEDULE

    path = SHIPPED_SCHEDULE.with_name("learned_schedule_K4.pt")
    ls = LearnedSchedule.load(path)
    assert ls.iters == 4
    a, s = ls.params(2.55 / 255)
    assert a.shape == (4,) and s.shape == (4,) and np.all(a > 0) and np.all(s > 0)
    assert np.all(np.diff(s) < 0)  # noise levels decrease over the iterations
    a0, s0 = DPIRSchedule().params(2.55 / 255, 4)
    assert not np.allclose(s, s0, rtol=1e-3)  # trained: not the DPIR starting point
    # values measured at export (the 319-step checkpoint trained on 120x120 patches)
    assert 255 * s[0] == pytest.approx(71.366, abs=0.01) and 255 * s[-1] == pytest.approx(2.266, abs=1e-3)


def test_shipped_k4_schedule_restores_like_the_hand_schedule():
    # astronaut crop, camera shake, noise 2.55/255: measured 22.08 dB blurred, 32.14 learned K = 4, 31.97 hand K = 4
    import pnp
    from pnp.kernels import camera_shake_kernel
    from pnp.learned_schedule import SHIPPED_SCHEDULE

    x = data.astronaut()[30:158, 170:298] / 255.0
    k = camera_shake_kernel(size=17, seed=0)
    y = pnp.add_noise(pnp.blur(x, k), 2.55 / 255, seed=0)
    ls = LearnedSchedule.load(SHIPPED_SCHEDULE.with_name("learned_schedule_K4.pt"))
    opts = dict(noise_level=2.55 / 255, iters=4, boundary="circular")
    learned = pnp.psnr(np.clip(pnp.solve(y, k, schedule=ls, **opts), 0, 1), x)
    hand = pnp.psnr(np.clip(pnp.solve(y, k, **opts), 0, 1), x)
    assert learned > pnp.psnr(np.clip(y, 0, 1), x) + 9.0
    assert learned > hand - 0.2


def test_blur_descriptor_values():
    from pnp.learned_schedule import blur_descriptor
    from pnp.operators.blur import Blur
    from pnp.operators.rotational import RotationalBlur

    assert kernel_descriptor(np.ones((1, 1))) == pytest.approx([0.0, 0.0], abs=1e-12)
    line = np.ones((1, 12))
    spread = np.sqrt((np.arange(12) - 5.5).var())  # second moment of the line
    assert kernel_descriptor(line) == pytest.approx([np.log1p(spread), np.log(12)])
    assert blur_descriptor(Blur(line)) == pytest.approx(kernel_descriptor(line))
    with pytest.raises(ValueError, match="2-D"):
        kernel_descriptor(np.ones((2, 2, 2)))
    d5, d10, d20 = (blur_descriptor(RotationalBlur((40, 30), np.deg2rad(a)), (61, 81)) for a in (5, 10, 20))
    assert d5[0] < d10[0] < d20[0] and d5[1] < d10[1] < d20[1]
    # an arc of the frame average: pixel at radius r sees L = r * angle pixels
    H, W, ang = 61, 81, np.deg2rad(10)
    rr = np.hypot(*np.mgrid[0:H, 0:W][::-1] - np.array([40, 30])[:, None, None])
    assert d10[1] == pytest.approx(np.log(np.maximum(rr * ang, 1.0)).mean(), rel=0.02)
    # only the rotating disk blurs: a smaller descriptor than the whole frame
    disk = blur_descriptor(RotationalBlur((40, 30), np.deg2rad(10), radius=15), (61, 81))
    assert disk[0] < d10[0] and disk[1] < d10[1]
    with pytest.raises(ValueError, match="frame shape"):
        blur_descriptor(RotationalBlur((40, 30), 0.1))


def test_descriptor_schedule_in_solve():
    """pnp.solve hands the operator's descriptor to a schedule that reads one."""
    import pnp
    from pnp.learned_schedule import blur_descriptor
    from pnp.schedules import DPIRSchedule

    net = HyperNet(4, descriptor_dim=2).double()
    plain = LearnedSchedule(HyperNet(4))
    assert plain.for_operator(None, (8, 8)) is plain  # no descriptor input: unchanged
    sched = LearnedSchedule(net)
    with pytest.raises(ValueError, match="length 2"):
        sched.with_descriptor([1.0])
    k = np.ones((1, 7)) / 7
    # untrained: exactly DPIR, whatever the descriptor
    a, s = sched.for_operator(k, (32, 32)).params(0.02)
    a0, s0 = DPIRSchedule().params(0.02, 4)
    np.testing.assert_allclose(a, a0, rtol=1e-12)
    np.testing.assert_allclose(s, s0, rtol=1e-12)
    # make the descriptor matter: sigma_k now grows with the first descriptor entry
    with torch.no_grad():
        net.layers[0].weight.zero_()
        net.layers[0].bias.fill_(1.0)
        net.layers[0].weight[0, 2, 0] = 1.0
        net.layers[2].weight.zero_()
        net.layers[2].weight[0, 0, 0] = 1.0
        net.layers[2].bias.zero_()
        net.layers[4].weight[4:, 0, 0] = 0.5
    x = data.camera()[100:164, 100:164] / 255.0
    y = pnp.add_noise(pnp.blur(x, k, boundary="circular"), 0.01, seed=0)
    _, info = pnp.solve(y, k, prior="tv", noise_level=0.01, iters=4, schedule=sched,
                        boundary="circular", return_info=True)
    expected = sched.with_descriptor(blur_descriptor(k)).params(0.01, 4)
    np.testing.assert_allclose(info["sigmas"], expected[1], rtol=1e-9)
    np.testing.assert_allclose(info["alphas"], expected[0], rtol=1e-9)
    assert np.all(np.asarray(info["sigmas"]) > DPIRSchedule().params(0.01, 4)[1])


def test_load_explains_missing_and_mismatched_files(tmp_path):
    import shutil

    src = tmp_path / "k4.pt"
    LearnedSchedule(HyperNet(4)).save(src)
    with pytest.raises(FileNotFoundError, match="not found.*NAME.pt state dict with its NAME.json"):
        LearnedSchedule.load(tmp_path / "nope.pt")
    with pytest.raises(ValueError, match="pass the .pt file, not its .json"):
        LearnedSchedule.load(tmp_path / "k4.json")
    shutil.copy(src, tmp_path / "a.pt")
    with pytest.raises(FileNotFoundError, match="a.json is missing"):
        LearnedSchedule.load(tmp_path / "a.pt")
    for text in ("{}", "{not json", '{"base": {}, "colour": 1}'):
        (tmp_path / "a.json").write_text(text)
        with pytest.raises(ValueError, match="a.json is not a schedule configuration"):
            LearnedSchedule.load(tmp_path / "a.pt")
    (tmp_path / "b.pt").write_bytes(b"garbage")
    shutil.copy(tmp_path / "k4.json", tmp_path / "b.json")
    with pytest.raises(ValueError, match="b.pt is not a readable state dict") as err:
        LearnedSchedule.load(tmp_path / "b.pt")
    assert "weights_only" not in str(err.value)  # no advice to unpickle an untrusted file
    LearnedSchedule(HyperNet(8)).save(tmp_path / "k8.pt")
    shutil.copy(src, tmp_path / "c.pt")
    shutil.copy(tmp_path / "k8.json", tmp_path / "c.json")
    with pytest.raises(ValueError, match="c.pt does not match its configuration .*c.json"):
        LearnedSchedule.load(tmp_path / "c.pt")


def test_load_and_with_descriptor_check_the_descriptor(tmp_path):
    LearnedSchedule(HyperNet(4, descriptor_dim=2)).save(tmp_path / "d.pt")
    for bad in ([1.0, 2.0, 3.0], [1.0], [1.0, float("nan")]):
        with pytest.raises(ValueError, match="length 2"):
            LearnedSchedule.load(tmp_path / "d.pt", descriptor=bad)
    assert LearnedSchedule.load(tmp_path / "d.pt", descriptor=[1, 2]).descriptor == [1.0, 2.0]
    LearnedSchedule(HyperNet(4)).save(tmp_path / "p.pt")
    with pytest.raises(ValueError, match="without a blur descriptor"):
        LearnedSchedule.load(tmp_path / "p.pt", descriptor=[1.0, 2.0])


def test_save_refuses_to_overwrite_and_needs_a_pt_suffix(tmp_path):
    """x.pt and x.pth would share x.json: a second save must not silently change the first schedule."""
    first = LearnedSchedule(HyperNet(4))
    first.save(tmp_path / "y.pt")
    other = LearnedSchedule(HyperNet(4, base=DPIRSchedule(sigma_max=20 / 255)))
    with pytest.raises(ValueError, match="must end in .pt"):
        other.save(tmp_path / "y.v2")
    with pytest.raises(ValueError, match="must end in .pt"):
        other.save(tmp_path / "y.json")
    with pytest.raises(FileExistsError, match="exists already"):
        other.save(tmp_path / "y.pt")
    loaded = LearnedSchedule.load(tmp_path / "y.pt")
    np.testing.assert_allclose(loaded.params(0.01, 4)[1], first.params(0.01, 4)[1])
    other.save(tmp_path / "y.pt", overwrite=True)
    np.testing.assert_allclose(LearnedSchedule.load(tmp_path / "y.pt").params(0.01, 4)[1], other.params(0.01, 4)[1])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["y.json", "y.pt"]  # no temporary files left
    first.save(tmp_path / "new" / "dir" / "z.pt")  # missing folders are made, as for prior exports
    assert sorted(p.name for p in (tmp_path / "new" / "dir").iterdir()) == ["z.json", "z.pt"]


def test_schedule_inputs_are_validated():
    with pytest.raises(ValueError, match="length 2"):
        LearnedSchedule(HyperNet(4, descriptor_dim=2), descriptor=[1.0, float("nan")])
    with pytest.raises(ValueError, match="without a blur descriptor"):
        LearnedSchedule(HyperNet(4), descriptor=[5.0, 5.0])
    sched = LearnedSchedule(HyperNet(4))
    for bad in (-0.01, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="noise_level must be a finite number >= 0"):
            sched.params(bad, 4)
    with pytest.raises(ValueError, match="iters must be an integer >= 1"):
        sched.params(0.01, 0)
    with pytest.raises(ValueError, match="on the wrong scale"):  # the same check as pnp.solve's
        sched.params(2.55, 4)
    with pytest.raises(TypeError, match="noise_level must be a number"):
        sched.params("low", 4)


@pytest.mark.parametrize("s", [2, 3, 4])
def test_unfolded_start_is_aligned_like_pnp_solve(s):
    """The unrolled model must start where pnp.solve starts (fine pixel s*i on coarse pixel i)."""
    import torch.nn.functional as F

    from pnp.kernels import gaussian_kernel
    from pnp.operators.blur import Blur
    from pnp.unfolded import aligned_upsample

    x = data.camera()[100:196, 100:196] / 255.0
    y = x[::s, ::s]
    ref = Blur(gaussian_kernel(1.0), scale=s).initial(y[None])[0]
    new = aligned_upsample(torch.from_numpy(y)[None, None], s)[0, 0].numpy()
    centred = F.interpolate(torch.from_numpy(y)[None, None], scale_factor=s, mode="bicubic",
                            align_corners=False)[0, 0].numpy()

    def rms(a):
        return np.sqrt(np.mean((a[8:-8, 8:-8] - ref[8:-8, 8:-8]) ** 2))

    assert new.shape == ref.shape
    assert rms(new) < 0.01  # measured 0.004-0.007 (cubic convolution vs cubic spline)
    assert rms(centred) > 3 * rms(new)  # the old, centred start: 0.035-0.079


def test_plot_draws_both_curves_on_a_pair_of_axes_and_refuses_one_axes():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sched = LearnedSchedule.load()
    fig = sched.plot(2.55 / 255)
    assert len(fig.axes) == 2 and all(len(a.get_lines()) == 2 for a in fig.axes)
    fig2, axes = plt.subplots(2, 1)
    assert sched.plot(7.65 / 255, ax=axes) is fig2
    learned = axes[0].get_lines()[1].get_ydata()
    np.testing.assert_allclose(learned, 255 * sched.params(7.65 / 255)[1], rtol=1e-6)
    _, one = plt.subplots()
    with pytest.raises(TypeError, match="pair of matplotlib Axes"):
        sched.plot(0.01, ax=one)
    plt.close("all")


class _FilePrior:
    """TV with a weights file, as a network prior reports its files."""

    def __init__(self, path):
        self.path = path

    def weight_files(self):
        return [self.path]

    def __call__(self, x, sigma):
        from priors.tv import TV

        return TV()(x, sigma)


def test_solve_warns_when_a_schedule_meets_another_prior_than_it_was_trained_with(tmp_path):
    import hashlib
    import warnings

    import pnp

    ours, other = tmp_path / "ours.pt", tmp_path / "other.pt"
    ours.write_bytes(b"weights the schedule was trained with")
    other.write_bytes(b"other weights")
    sched = LearnedSchedule(HyperNet(4), trained_with=dict(prior_sha256=hashlib.sha256(ours.read_bytes()).hexdigest()))
    sched.save(tmp_path / "s.pt")
    loaded = LearnedSchedule.load(tmp_path / "s.pt")
    assert loaded.trained_with == sched.trained_with
    assert loaded.check_prior(_FilePrior(ours)) is None
    assert "trained against another prior" in loaded.check_prior(_FilePrior(other))
    y = data.camera()[::8, ::8] / 255.0
    opts = dict(noise_level=0.01, iters=4, boundary="circular", progress=False, schedule=loaded)
    with pytest.warns(UserWarning, match="trained against another prior"):
        pnp.solve(y, np.ones((3, 3)) / 9, prior=_FilePrior(other), **opts)
    with pytest.warns(UserWarning, match="trained against another prior"):
        pnp.solve(y, np.ones((3, 3)) / 9, prior="tv", **opts)  # no weights at all
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pnp.solve(y, np.ones((3, 3)) / 9, prior=_FilePrior(ours), **opts)
        pnp.solve(y, np.ones((3, 3)) / 9, prior="tv", **dict(opts, schedule=LearnedSchedule(HyperNet(4))))
    with pytest.raises(TypeError, match="trained_with must be a dict"):
        LearnedSchedule(HyperNet(4), trained_with="ours.pt")


@pytest.mark.parametrize("iters, exc", [(2.7, TypeError), (True, TypeError), ("8", TypeError), (0, ValueError),
                                        (-1, ValueError)])
def test_learned_schedule_refuses_non_integer_iters(iters, exc):
    """2.7 gave 2 pairs (truncated); now an error, as for the hand schedules."""
    sched = LearnedSchedule(HyperNet(4))
    with pytest.raises(exc, match="iters must be an integer >= 1"):
        sched(0.01, iters)
    assert len(sched(0.01, np.int64(3))) == 3 and len(sched.params(0.01)[0]) == 4


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(iters=2.5), TypeError, "iters must be an integer"),
    (dict(iters=0), ValueError, "iters must be an integer >= 1"),
    (dict(iters=True), TypeError, "iters must be an integer"),
    (dict(iters=4, descriptor_dim=1.5), TypeError, "descriptor_dim must be an integer"),
    (dict(iters=4, descriptor_dim=-1), ValueError, "descriptor_dim must be an integer >= 0"),
    (dict(iters=4, width=0), ValueError, "width must be an integer >= 1"),
])
def test_hypernet_refuses_bad_sizes(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        HyperNet(**kwargs)


def test_schedule_json_with_fractional_iters_is_refused(tmp_path):
    import json

    LearnedSchedule(HyperNet(8)).save(tmp_path / "s.pt")
    cfg = json.loads((tmp_path / "s.json").read_text())
    cfg["iters"] = 8.9
    (tmp_path / "s.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="s.json is not a schedule configuration.*iters must be an integer"):
        LearnedSchedule.load(tmp_path / "s.pt")
    cfg["iters"], cfg["base"]["sigma_max"] = 8, 49  # a base schedule on the 0-255 scale
    (tmp_path / "s.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="sigma_max=49 is on the wrong scale"):
        LearnedSchedule.load(tmp_path / "s.pt")


def _unfolded_batch(B=2):
    torch.manual_seed(0)
    model = UnfoldedHQS(TinyDenoiser(), HyperNet(3))
    y = torch.rand(B, 1, 20, 20)
    k = torch.rand(B, 5, 5)
    return model, y, k / k.sum(dim=(1, 2), keepdim=True)


def test_unfolded_forward_takes_a_float_noise_and_float64_data():
    model, y, k = _unfolded_batch()
    with torch.no_grad():
        ref = model(y, k, torch.full((2,), 0.02))
        assert torch.equal(model(y, k, 0.02), ref)  # a number is used for every sample
        assert torch.equal(model(y, k, torch.tensor(0.02)), ref)
        out = model(y.double(), k.double(), torch.full((2,), 0.02, dtype=torch.float64))
    assert out.dtype == torch.float64  # computed in the network's float32, returned as given
    torch.testing.assert_close(out.float(), ref)


@pytest.mark.parametrize("noise, exc, match", [
    (2.55, ValueError, "noise=2.55 is on the wrong scale"),
    (torch.full((2,), 2.55), ValueError, "noise=2.55 is on the wrong scale"),
    (torch.tensor([0.01]), ValueError, r"noise must be a number or a tensor of shape \(B,\) = \(2,\)"),
    (torch.full((2, 1), 0.01), ValueError, r"shape \(B,\)"),
    (torch.tensor([0.01, float("nan")]), ValueError, "finite noise levels >= 0"),
    (-0.01, ValueError, "finite number >= 0"),
    ("0.01", TypeError, "noise must be a number"),
    (torch.tensor([1, 2]), TypeError, "noise must be a float tensor"),
])
def test_unfolded_forward_checks_the_noise(noise, exc, match):
    model, y, k = _unfolded_batch()
    with pytest.raises(exc, match=match):
        model(y, k, noise)


def test_unfolded_forward_checks_y_and_the_kernel():
    model, y, k = _unfolded_batch()
    noise = torch.full((2,), 0.01)
    with pytest.raises(ValueError, match=r"kernel must have shape \(B, kh, kw\) with B=2"):
        model(y, k[:1].expand(3, -1, -1), noise)
    with pytest.raises(TypeError, match="kernel must be a torch tensor"):
        model(y, k.numpy(), noise)
    with pytest.raises(TypeError, match="y must be a float tensor"):
        model((y * 255).to(torch.uint8), k, noise)
    with pytest.raises(ValueError, match=r"y must have shape \(B, C, h, w\)"):
        model(y[0], k, noise)
    with pytest.raises(ValueError, match="scale must be an integer >= 1"):
        model(y, k, noise, scale=0)
    assert model(y, k[0], noise).shape == y.shape  # one kernel for the batch


def test_unfolded_forward_checks_values_sizes_and_the_descriptor():
    model, y, k = _unfolded_batch()
    noise = torch.full((2,), 0.01)
    with pytest.raises(ValueError, match=r"kernel of size 21x21 is larger than the image it blurs, 20x20"):
        model(y, torch.ones(21, 21) / 441, noise)
    assert model(y[..., ::2, ::2], torch.ones(19, 19) / 361, noise, scale=2).shape == y.shape  # fine grid 20x20
    with pytest.raises(ValueError, match="scale must be an integer >= 1, got 2.7"):
        model(y, k, noise, scale=2.7)
    with pytest.raises(ValueError, match="kernel must have a positive sum.*got sum -1"):
        model(y, -torch.ones(3, 3) / 9, noise)
    with pytest.raises(ValueError, match="kernel must have a positive sum.*got sums 1, 0"):
        model(y, torch.stack([torch.ones(3, 3) / 9, torch.zeros(3, 3)]), noise)
    with pytest.raises(ValueError, match="kernel must hold finite values"):
        model(y, torch.full((3, 3), float("nan")), noise)
    with pytest.raises(ValueError, match="y must hold finite values"):
        model(torch.where(y > 0.9, torch.nan, y), k, noise)
    with pytest.raises(ValueError, match=r"y is not on the 0-1 intensity scale.*divide it by its white level"):
        model(y * 255, k, noise)  # was accepted and restored on the wrong scale
    assert model(y * 1.4 - 0.2, k, noise).shape == y.shape  # noise and overshoot around [0, 1] stay accepted
    with pytest.raises(ValueError, match="descriptor was given, but this hypernet takes none"):
        model(y, k, noise, descriptor=torch.rand(2, 2))
    with pytest.raises(ValueError, match="descriptor was given, but this HyperNet takes none"):
        HyperNet(3)(noise, torch.ones(2), torch.rand(2, 2))
    dmodel = UnfoldedHQS(TinyDenoiser(), HyperNet(3, descriptor_dim=2))
    with pytest.raises(ValueError, match=r"descriptor must have shape \(B, 2\) = \(2, 2\), got \(2, 3\)"):
        dmodel(y, k, noise, descriptor=torch.rand(2, 3))
    with pytest.raises(ValueError, match="needs a blur descriptor"):
        dmodel(y, k, noise)
    assert dmodel(y, k, noise, descriptor=torch.rand(2, 2)).shape == y.shape


@pytest.mark.parametrize("iters", [1, 3, 8])
@pytest.mark.parametrize("scale", [1, 2, 4])
def test_hypernet_base_schedule_in_torch_has_the_dpir_values(iters, scale):
    """The torch base schedule equals DPIRSchedule.params (1e-6 relative in float32, 1e-12 in float64)."""
    noise = [0.0, 0.3 / 255, 0.01, 0.05, 0.3, 1.0]
    for dtype, rtol in ((torch.float32, 1e-6), (torch.float64, 1e-12)):
        net = HyperNet(iters).to(dtype)
        a, s = net.base_schedule(torch.tensor(noise, dtype=dtype), torch.full((len(noise),), float(scale)))
        assert a.dtype == s.dtype == dtype and a.shape == s.shape == (len(noise), iters)
        for i, n in enumerate(noise):
            a0, s0 = DPIRSchedule().params(n, iters, scale)
            np.testing.assert_allclose(a[i].double().numpy(), a0, rtol=rtol)
            np.testing.assert_allclose(s[i].double().numpy(), s0, rtol=rtol)
    # a scale tensor of mixed values, per sample, as the unfolded model gives
    a, s = HyperNet(iters).double().base_schedule(torch.tensor([0.01, 0.01], dtype=torch.float64),
                                                  torch.tensor([1.0, 3.0], dtype=torch.float64))
    for i, sc in enumerate((1, 3)):
        np.testing.assert_allclose(s[i].numpy(), DPIRSchedule().params(0.01, iters, sc)[1], rtol=1e-12)
    # the checks of DPIRSchedule.params still apply
    with pytest.raises(ValueError, match="noise"):
        HyperNet(iters).base_schedule(torch.tensor([float("nan")]), torch.ones(1))
    with pytest.raises(ValueError, match="scale must be an integer >= 1"):
        HyperNet(iters).base_schedule(torch.tensor([0.01]), torch.zeros(1))


def test_hypernet_schedule_gradient_to_the_noise_level():
    """d(alphas, sigmas)/d(noise) by autograd matches finite differences (the base schedule was cut by .tolist())."""
    torch.manual_seed(0)
    net = HyperNet(4).double()
    for p in net.layers[-1].parameters():  # a trained-like net: the corrections depend on the noise level
        torch.nn.init.normal_(p, std=0.1)
    noise = torch.tensor([0.004, 0.02, 0.1], dtype=torch.float64, requires_grad=True)
    scale = torch.tensor([1.0, 2.0, 1.0], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda n: net(n, scale), (noise,))
    # below the floor the schedule does not depend on the noise level (DPIRSchedule: max(noise, floor))
    low = torch.tensor([1e-5], dtype=torch.float64, requires_grad=True)
    net0 = HyperNet(3).double()
    net0(low, torch.ones(1, dtype=torch.float64))[0].sum().backward()
    assert low.grad.item() == 0.0
    # the unfolded model: d(output)/d(noise) of the untrained net, against a central difference
    model, y, k = _unfolded_batch(1)
    model = model.double()
    y, k = y.double(), k.double()
    n0 = torch.tensor([0.02], dtype=torch.float64, requires_grad=True)
    model(y, k, n0).sum().backward()
    eps = 1e-6
    with torch.no_grad():
        fd = (model(y, k, n0.detach() + eps).sum() - model(y, k, n0.detach() - eps).sum()) / (2 * eps)
    assert abs(fd.item()) > 1e-3
    assert n0.grad.item() == pytest.approx(fd.item(), rel=1e-5)
