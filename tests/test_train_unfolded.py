"""The unfolded-network training script: runs, checkpoints, resumes exactly, exports a schedule."""

import json

import numpy as np
import pytest
import torch

from pnp.learned_schedule import LearnedSchedule


@pytest.fixture
def fake_data(tmp_path, monkeypatch):
    from skimage import io

    rng = np.random.default_rng(0)
    for sub, ext in (("CBSD432", "jpg"), ("Train400", "png")):
        d = tmp_path / "data" / "train" / sub
        d.mkdir(parents=True)
        for i in range(3):
            img = (rng.random((60, 60, 3)) * 255).astype(np.uint8)
            io.imsave(d / f"im{i}.{ext}", img if sub == "CBSD432" else img[..., 0], check_contrast=False)
    monkeypatch.setenv("PNP_DATA", str(tmp_path / "data"))
    from deepinv.models import DRUNet

    torch.manual_seed(0)
    arch = dict(nc=[4, 8, 16, 32], nb=1, act_mode="R", downsample_mode="strideconv",
                upsample_mode="convtranspose", in_channels=1, out_channels=1)
    net = DRUNet(pretrained=None, **arch)
    torch.save(net.state_dict(), tmp_path / "prior.pt")
    (tmp_path / "prior.json").write_text(json.dumps(arch))
    return tmp_path


def _run(tmp, out, *extra):
    from priors.train_unfolded import main

    main(["--prior-weights", str(tmp / "prior.pt"), "--channels", "1", "--iters", "3", "--steps", "4",
          "--batch", "2", "--patch", "32", "--scales", "1", "2", "--rot-prob", "0.5", "--threads", "1", "--out", str(out), *extra])
    return torch.load(out / "ckpt.pt", weights_only=False)


def test_resume_is_exact_and_export(fake_data):
    straight = _run(fake_data, fake_data / "a")
    _run(fake_data, fake_data / "b", "--stop-after", "2")
    resumed = _run(fake_data, fake_data / "b", "--resume", "--export", str(fake_data / "ls.pt"))
    assert straight["step"] == resumed["step"] == 4
    for k, v in straight["hypernet"].items():
        torch.testing.assert_close(v, resumed["hypernet"][k])
    assert any(v.abs().sum() > 0 for k, v in resumed["hypernet"].items() if k.startswith("layers.4"))
    sched = LearnedSchedule.load(fake_data / "ls.pt")
    a, s = sched.params(0.01, 3)
    assert np.all(a > 0) and np.all(s > 0)
    # the schedule records the prior it was trained against (pnp.solve warns on another one)
    import hashlib

    digest = hashlib.sha256((fake_data / "prior.pt").read_bytes()).hexdigest()
    assert sched.trained_with["prior_sha256"] == digest and sched.trained_with["prior_file"] == "prior.pt"
    assert sched.trained_with["prior_finetuned"] is False
    assert json.loads((fake_data / "ls.json").read_text())["trained_with"]["prior_sha256"] == digest


def test_export_from_checkpoint_without_training(fake_data):
    blob = _run(fake_data, fake_data / "c", "--stop-after", "2")
    ckpt = fake_data / "c" / "ckpt.pt"
    before = ckpt.read_bytes()
    _run(fake_data, fake_data / "c", "--resume", "--stop-after", "0", "--export", str(fake_data / "ex.pt"))
    assert ckpt.read_bytes() == before  # the checkpoint is only read
    sched = LearnedSchedule.load(fake_data / "ex.pt")
    assert sched.iters == 3
    for k, v in blob["hypernet"].items():
        torch.testing.assert_close(sched.net.state_dict()[k].float(), v)
    with pytest.raises(SystemExit):  # exporting needs an existing checkpoint
        _run(fake_data, fake_data / "d", "--stop-after", "0", "--export", str(fake_data / "ex2.pt"))


def test_descriptor_training_resumes_and_exports_a_descriptor_schedule(fake_data, capsys):
    straight = _run(fake_data, fake_data / "e", "--descriptor", "--rot-max-angle", "30")
    _run(fake_data, fake_data / "f", "--descriptor", "--rot-max-angle", "30", "--stop-after", "2")
    resumed = _run(fake_data, fake_data / "f", "--descriptor", "--rot-max-angle", "30", "--resume",
                   "--export", str(fake_data / "ds.pt"))
    for k, v in straight["hypernet"].items():
        torch.testing.assert_close(v, resumed["hypernet"][k])
    assert resumed["hypernet"]["layers.0.weight"].shape[1] == 4  # noise, scale + 2 descriptor inputs
    sched = LearnedSchedule.load(fake_data / "ds.pt")
    assert sched.net.descriptor_dim == 2
    with pytest.raises(ValueError, match="descriptor"):
        sched.params(0.01)  # no descriptor given
    a, s = sched.with_descriptor([1.0, 2.0]).params(0.01)
    a2, s2 = sched.with_descriptor([0.0, 0.0]).params(0.01)
    assert np.all(a > 0) and np.all(s > 0)
    assert not np.allclose(s, s2, rtol=1e-6)  # the trained schedule depends on the descriptor
    with pytest.raises(SystemExit):  # resuming a descriptor run without --descriptor
        _run(fake_data, fake_data / "f", "--resume")


def test_lr_decay_follows_a_cosine_from_decay_from():
    from argparse import Namespace

    from priors.train_unfolded import lr_at

    const = Namespace(lr=1e-3, lr_floor=1.0, decay_from=0, steps=10)
    assert [lr_at(k, const) for k in (0, 5, 9)] == [1e-3] * 3
    cos = Namespace(lr=1e-3, lr_floor=0.1, decay_from=4, steps=10)
    lrs = [lr_at(k, cos) for k in range(10)]
    assert lrs[:5] == [1e-3] * 5  # constant up to the start of the decay
    assert all(b < a for a, b in zip(lrs[4:], lrs[5:]))  # then strictly decreasing
    assert lrs[7] == pytest.approx(1e-3 * (0.1 + 0.9 * 0.5))  # half-way: the mean of lr and floor
    assert lr_at(10, cos) == pytest.approx(1e-4)


def test_ema_is_the_running_average_resumes_and_is_exported(fake_data, capsys):
    base = ("--ema", "0.5", "--lr-floor", "0.2")
    straight = _run(fake_data, fake_data / "g", *base)
    _run(fake_data, fake_data / "h", *base, "--stop-after", "2")
    # resumed without --ema: the checkpoint's average continues with its decay (never goes stale)
    resumed = _run(fake_data, fake_data / "h", "--lr-floor", "0.2", "--resume",
                   "--export", str(fake_data / "ema.pt"))
    assert "continuing it with --ema 0.5" in capsys.readouterr().err
    for k, v in straight["hypernet_ema"].items():
        torch.testing.assert_close(v, resumed["hypernet_ema"][k])
        torch.testing.assert_close(straight["hypernet"][k], resumed["hypernet"][k])
    w = "layers.4.weight"
    assert not torch.allclose(resumed["hypernet_ema"][w], resumed["hypernet"][w])
    sched = LearnedSchedule.load(fake_data / "ema.pt")  # auto: the average
    torch.testing.assert_close(sched.net.state_dict()[w].float(), resumed["hypernet_ema"][w])
    _run(fake_data, fake_data / "h", "--resume", "--stop-after", "0", "--export-which", "last",
         "--export", str(fake_data / "last.pt"))
    last = LearnedSchedule.load(fake_data / "last.pt")
    torch.testing.assert_close(last.net.state_dict()[w].float(), resumed["hypernet"][w])
    # a checkpoint trained without an average cannot export one
    _run(fake_data, fake_data / "i", "--stop-after", "1")
    with pytest.raises(SystemExit):
        _run(fake_data, fake_data / "i", "--resume", "--stop-after", "0", "--export-which", "ema",
             "--export", str(fake_data / "none.pt"))
    assert "no moving average" in capsys.readouterr().err


def test_ema_update_is_an_exponential_average():
    from priors.train_unfolded import _ema_update

    ema = {"w": torch.zeros(3)}
    for v in (torch.ones(3), 3 * torch.ones(3)):
        _ema_update(ema, {"w": v}, 0.75)
    # 0.75 * (0.75 * 0 + 0.25 * 1) + 0.25 * 3
    torch.testing.assert_close(ema["w"], torch.full((3,), 0.9375))


def test_log_l1_weighs_samples_by_relative_error():
    from priors.train_unfolded import unfolded_loss

    target = torch.zeros(2, 1, 4, 4)
    out = torch.stack([torch.full((1, 4, 4), 0.01), torch.full((1, 4, 4), 0.2)])
    assert unfolded_loss(out, target, "l1").item() == pytest.approx(0.105)
    assert unfolded_loss(out, target, "log-l1").item() == pytest.approx((np.log(0.01) + np.log(0.2)) / 2, rel=1e-4)
    # halving the small error lowers log-l1 as much as halving the large one (not so for l1)
    small = out.clone(); small[0] /= 2
    large = out.clone(); large[1] /= 2
    assert unfolded_loss(small, target, "log-l1").item() == pytest.approx(unfolded_loss(large, target, "log-l1").item(), rel=1e-4)
    assert unfolded_loss(small, target, "l1") > unfolded_loss(large, target, "l1")
    with pytest.raises(ValueError, match="loss must be one of"):
        unfolded_loss(out, target, "l2")


def test_resume_notes_a_changed_learning_rate(fake_data, capsys):
    _run(fake_data, fake_data / "j", "--stop-after", "1", "--lr", "1e-3")
    capsys.readouterr()
    _run(fake_data, fake_data / "j", "--resume", "--lr", "5e-4")
    assert "--lr changed 0.001 -> 0.0005 on resume" in capsys.readouterr().err


def test_real_border_observation_is_a_valid_convolution_padded_like_solve():
    from scipy import ndimage

    from pnp.boundary import default_margin
    from priors.train_unfolded import BORDER, KSIZE, _real_border_observation, random_kernel

    rng = np.random.default_rng(3)
    P = 48
    x_big = torch.from_numpy(rng.random((2, 3, P + 2 * BORDER, P + 2 * BORDER))).float()
    ks = torch.from_numpy(np.stack([random_kernel(rng) for _ in range(2)])).float()
    for s in (1, 2, 3):
        g = torch.Generator().manual_seed(0)
        yp, observed, (r0, c0) = _real_border_observation(x_big, ks, s, torch.zeros(2), g)
        top, left = r0 // s, c0 // s
        assert (r0, c0) == (top * s, left * s) and top == left == default_margin((KSIZE, KSIZE), s)
        n = P // s
        assert observed.sum() == n * n and observed[top:top + n, left:left + n].all()
        for b in range(2):
            for c in range(3):  # linear convolution of the big patch, decimated, central n x n
                ref = ndimage.convolve(x_big[b, c].double().numpy(), ks[b].double().numpy(), mode="constant")
                ref = ref[BORDER:BORDER + P:s, BORDER:BORDER + P:s]
                np.testing.assert_allclose(yp[b, c, top:top + n, left:left + n].numpy(), ref, atol=1e-5)
        # the target (centre of x_big) sits at the offset on the restored (fine) grid:
        # fine pixel r0 + s*i is the target's row s*i, observed at padded row top + i
        assert yp.shape[-1] * s > c0 + P


def test_real_border_training_restores_the_borders_better_than_circular():
    """With an identity prior, HQS with the masked step (real-border batches) deconvolves up to
    the frame edge; the circular step on the same observation leaves wrap-around errors there."""
    from scipy import ndimage

    from pnp.unfolded import UnfoldedHQS
    from pnp.learned_schedule import HyperNet
    from priors.train_unfolded import BORDER, Batch, _real_border_observation, restore_batch
    from pnp import kernels as kgen

    class Identity(torch.nn.Module):
        def forward(self, x, sigma):
            return x

    rng = np.random.default_rng(0)
    P = 64
    x_big = torch.from_numpy(ndimage.gaussian_filter(rng.random((1, 1, P + 2 * BORDER, P + 2 * BORDER)),
                                                     sigma=(0, 0, 2, 2))).float()
    k = torch.from_numpy(kgen.gaussian_kernel(1.5, size=25)).float()[None]
    noise = torch.full((1,), 0.001)
    yp, observed, offset = _real_border_observation(x_big, k, 1, torch.zeros(1), torch.Generator().manual_seed(0))
    x = x_big[..., BORDER:-BORDER, BORDER:-BORDER]
    model = UnfoldedHQS(Identity(), HyperNet(8), freeze_prior=True)
    with torch.no_grad():
        real = restore_batch(model, Batch(x, yp, k, noise, 1, None, observed, offset))
        top, left = offset
        y = yp[..., top:top + P, left:left + P]
        circ = restore_batch(model, Batch(x, y, k, noise, 1, None))
    band = torch.zeros(P, P, dtype=torch.bool)
    band[:6], band[-6:], band[:, :6], band[:, -6:] = True, True, True, True
    err_real = (real - x)[..., band].abs().mean()
    err_circ = (circ - x)[..., band].abs().mean()
    assert real.shape == x.shape == circ.shape
    assert err_real < 0.5 * err_circ, (err_real, err_circ)


def test_real_border_training_runs_and_resumes_exactly(fake_data):
    straight = _run(fake_data, fake_data / "ra", "--borders", "real")
    _run(fake_data, fake_data / "rb", "--borders", "real", "--stop-after", "2")
    resumed = _run(fake_data, fake_data / "rb", "--borders", "real", "--resume")
    assert straight["extra"]["borders"] == "real"
    for k, v in straight["hypernet"].items():
        torch.testing.assert_close(v, resumed["hypernet"][k])
    log = [json.loads(line) for line in (fake_data / "ra" / "log.jsonl").read_text().splitlines()]
    assert len(log) == 4 and all(np.isfinite(r["loss"]) for r in log)


def test_real_borders_refuse_a_scale_that_does_not_divide_the_border(fake_data):
    with pytest.raises(SystemExit):
        _run(fake_data, fake_data / "bad", "--borders", "real", "--scales", "5", "--patch", "35")


def test_log_mse_is_minus_the_mean_psnr_up_to_scale_and_mse_weighs_large_errors():
    from priors.train_unfolded import unfolded_loss

    rng = np.random.default_rng(0)
    target = torch.from_numpy(rng.random((3, 3, 8, 8)))
    out = target + torch.from_numpy(rng.normal(0, 1, (3, 3, 8, 8))) * torch.tensor([0.01, 0.05, 0.2]).view(-1, 1, 1, 1)
    mse = ((out - target) ** 2).flatten(1).mean(1)
    mean_psnr = (10 * torch.log10(1 / mse)).mean()
    assert unfolded_loss(out, target, "mse").item() == pytest.approx(mse.mean().item())
    assert unfolded_loss(out, target, "log-mse").item() == pytest.approx(-mean_psnr.item() * np.log(10) / 10, rel=1e-6)
    # one error of 0.4 costs more than four of 0.1 in MSE; the same in L1
    one = torch.zeros(1, 1, 2, 2); one[0, 0, 0, 0] = 0.4
    four = torch.full((1, 1, 2, 2), 0.1)
    zero = torch.zeros(1, 1, 2, 2)
    assert unfolded_loss(one, zero, "mse") > unfolded_loss(four, zero, "mse")
    assert unfolded_loss(one, zero, "l1").item() == pytest.approx(unfolded_loss(four, zero, "l1").item())


def test_make_batch_refuses_an_unknown_border_mode():
    from priors.train_unfolded import make_batch

    with pytest.raises(ValueError, match="borders must be one of"):
        make_batch(None, np.random.default_rng(0), 2, [1], 10.0, borders="wrap")


def test_finetuned_prior_trains_resumes_exactly_and_exports(fake_data, capsys):
    from priors.train import load_exported

    ft = ("--finetune-prior", "--prior-lr", "1e-3", "--lr-floor", "0.5")
    straight = _run(fake_data, fake_data / "p", *ft)
    _run(fake_data, fake_data / "q", *ft, "--stop-after", "2")
    resumed = _run(fake_data, fake_data / "q", *ft, "--resume", "--export-prior", str(fake_data / "ftp.pt"))
    assert resumed["step"] == 4
    source = torch.load(fake_data / "prior.pt", weights_only=True)
    moved = [k for k, v in resumed["prior"].items() if not torch.equal(v, source[k])]
    assert moved  # the prior trained
    for k, v in straight["prior"].items():  # and resuming reproduced it exactly
        torch.testing.assert_close(v, resumed["prior"][k])
    for k, v in straight["hypernet"].items():
        torch.testing.assert_close(v, resumed["hypernet"][k])
    # the prior's rate is its own, decayed like the schedule's
    groups = resumed["optimizer"]["param_groups"]
    assert [g["base_lr"] for g in groups] == [1e-3, 1e-3]
    net = load_exported("drunet", fake_data / "ftp.pt")  # the export loads like any exported prior
    for k, v in net.state_dict().items():
        torch.testing.assert_close(v, resumed["prior"][k])
    assert json.loads((fake_data / "ftp.json").read_text()) == json.loads((fake_data / "prior.json").read_text())
    with pytest.raises(SystemExit):  # never overwrite an exported prior
        _run(fake_data, fake_data / "q", *ft, "--resume", "--stop-after", "0", "--export-prior", str(fake_data / "ftp.pt"))
    assert "exists already" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # a wrong name is refused before training, not after
        _run(fake_data, fake_data / "t", *ft, "--export-prior", str(fake_data / "ftp.pth"))
    assert "must end in .pt" in capsys.readouterr().err and not (fake_data / "t").exists()
    with pytest.raises(SystemExit):  # resuming a fine-tuning run with the prior frozen
        _run(fake_data, fake_data / "q", "--resume")
    with pytest.raises(SystemExit):  # a frozen prior cannot be exported
        _run(fake_data, fake_data / "r", "--export-prior", str(fake_data / "none.pt"))
    assert "needs --finetune-prior" in capsys.readouterr().err


def test_frozen_prior_is_neither_optimised_nor_saved(fake_data):
    blob = _run(fake_data, fake_data / "s", "--stop-after", "2")
    assert blob["prior"] is None and len(blob["optimizer"]["param_groups"]) == 1


def test_frozen_schedule_trains_only_the_prior_and_resume_keeps_the_setting(fake_data, capsys):
    ft = ("--finetune-prior", "--freeze-schedule", "--prior-lr", "1e-3")
    half = _run(fake_data, fake_data / "fs", *ft, "--stop-after", "2")
    blob = _run(fake_data, fake_data / "fs", *ft, "--resume")
    assert half["step"] == 2 and blob["step"] == 4
    for k, v in half["hypernet"].items():  # the schedule network did not move
        assert torch.equal(v, blob["hypernet"][k])
    last = [v for k, v in blob["hypernet"].items() if k.startswith("layers.4")]
    assert last and not any(v.any() for v in last)  # its last layer is still zero: DPIR's schedule
    source = torch.load(fake_data / "prior.pt", weights_only=True)
    assert any(not torch.equal(v, source[k]) for k, v in blob["prior"].items())  # the prior did
    assert [g["base_lr"] for g in blob["optimizer"]["param_groups"]] == [1e-3]
    with pytest.raises(SystemExit, match="--freeze-schedule: resume with the same setting"):
        _run(fake_data, fake_data / "fs", "--finetune-prior", "--prior-lr", "1e-3", "--resume")
    with pytest.raises(SystemExit):
        _run(fake_data, fake_data / "fx", "--freeze-schedule")
    assert "needs --finetune-prior" in capsys.readouterr().err


def test_device_option_gives_the_same_run_and_refuses_a_missing_gpu(fake_data, capsys):
    from priors.train_unfolded import batch_to, main

    default = _run(fake_data, fake_data / "d0", "--finetune-prior")
    on_cpu = _run(fake_data, fake_data / "d1", "--finetune-prior", "--device", "cpu")
    for part in ("hypernet", "prior"):
        for k, v in default[part].items():
            torch.testing.assert_close(v, on_cpu[part][k], rtol=0, atol=0)
    if not torch.cuda.is_available():  # refused with the other arguments, before anything runs
        capsys.readouterr()
        with pytest.raises(SystemExit):
            _run(fake_data, fake_data / "d2", "--device", "cuda")
        assert "--device cuda: torch sees no CUDA device" in capsys.readouterr().err
        assert not (fake_data / "d2").exists()
    from priors.train_unfolded import Batch

    b = Batch(torch.zeros(1, 1, 4, 4), torch.ones(1, 1, 4, 4), [object()], torch.zeros(1), 1, torch.zeros(1, 2))
    moved = batch_to(b, "cpu")
    assert moved.blur is b.blur and moved.scale == 1 and torch.equal(moved.y, b.y)


def _parsed(tmp, out, *extra):
    """The arguments of :func:`_main` as ``main`` parses them, for :func:`priors.train_unfolded.train`."""
    import priors.train_unfolded as tu

    seen = {}
    real = tu.train
    try:
        tu.train = lambda args: seen.setdefault("args", args)
        _main(tmp, tmp / "_parsed_only", *extra)
    finally:
        tu.train = real
    seen["args"].out = str(out)
    return seen["args"]


def _main(tmp, out, *extra):
    """``priors.train_unfolded.main`` with the arguments of :func:`_run`, without reading the checkpoint."""
    from priors.train_unfolded import main

    main(["--prior-weights", str(tmp / "prior.pt"), "--channels", "1", "--iters", "3", "--steps", "4",
          "--batch", "2", "--patch", "32", "--scales", "1", "2", "--rot-prob", "0.5", "--threads", "1",
          "--out", str(out), *extra])


def test_new_run_never_overwrites_a_checkpoint_and_zero_steps_write_none(fake_data, capsys):
    run = fake_data / "keep"
    _run(fake_data, run, "--stop-after", "2")
    ckpt, log = run / "ckpt.pt", run / "log.jsonl"
    before, log_before = ckpt.read_bytes(), log.read_text()
    for extra in ((), ("--stop-after", "0"), ("--steps", "2")):  # without --resume: refused, left as it was
        capsys.readouterr()
        with pytest.raises(SystemExit):  # an argparse error, not a traceback
            _main(fake_data, run, *extra)
        assert f"{run} holds a checkpoint" in capsys.readouterr().err
        assert ckpt.read_bytes() == before and log.read_text() == log_before
    with pytest.raises(FileExistsError, match="pass --resume to continue it"):  # train() itself refuses too
        from priors.train_unfolded import train

        train(_parsed(fake_data, run))
    # a new run in which no step runs writes no checkpoint (nothing trained, nothing to resume)
    _main(fake_data, fake_data / "none", "--stop-after", "0")
    assert not (fake_data / "none" / "ckpt.pt").exists()
    assert "no step ran" in capsys.readouterr().err
    # --resume needs a checkpoint: an argparse error naming the folder, before any work
    (fake_data / "empty").mkdir()
    for folder, what in (("empty", "holds no checkpoint (ckpt.pt)"), ("absent", "does not exist")):
        with pytest.raises(SystemExit):
            _main(fake_data, fake_data / folder, "--resume")
        assert f"--resume: --out {fake_data / folder} {what}" in capsys.readouterr().err
    assert list((fake_data / "empty").iterdir()) == [] and not (fake_data / "absent").exists()
    # the export-only idiom of the model cards still reads the checkpoint and leaves it alone
    _main(fake_data, run, "--resume", "--stop-after", "0", "--export", str(fake_data / "keep.pt"))
    assert ckpt.read_bytes() == before and LearnedSchedule.load(fake_data / "keep.pt").iters == 3
    _main(fake_data, run, "--resume", "--stop-after", "0")  # resumed, no step: the checkpoint is kept
    assert ckpt.read_bytes() == before


def test_resume_checks_iters_and_channels_and_notes_changed_settings(fake_data, capsys):
    from deepinv.models import DRUNet

    run = fake_data / "rc"
    _run(fake_data, run, "--stop-after", "2")
    with pytest.raises(SystemExit, match="--iters 3"):
        _main(fake_data, run, "--resume", "--iters", "5")
    arch = dict(json.loads((fake_data / "prior.json").read_text()), in_channels=3, out_channels=3)
    torch.save(DRUNet(pretrained=None, **arch).state_dict(), fake_data / "prior3.pt")
    (fake_data / "prior3.json").write_text(json.dumps(arch))
    with pytest.raises(SystemExit, match="--channels 1"):
        _main(fake_data, run, "--resume", "--channels", "3", "--prior-weights", str(fake_data / "prior3.pt"))
    (fake_data / "prior_copy.pt").write_bytes((fake_data / "prior.pt").read_bytes())
    (fake_data / "prior_copy.json").write_text((fake_data / "prior.json").read_text())
    capsys.readouterr()
    blob = _run(fake_data, run, "--resume", "--stop-after", "1", "--prior-weights", str(fake_data / "prior_copy.pt"),
                "--noise-max", "10", "--scales", "1", "--rot-prob", "0.25", "--ema", "0.9")
    err = capsys.readouterr().err
    assert blob["step"] == 3
    for note in ("--prior-weights changed", "--noise-max changed 25.0 -> 10.0", "--scales changed [1, 2] -> [1]",
                 "--rot-prob changed 0.5 -> 0.25", "--ema changed 0.0 -> 0.9"):
        assert note in err, (note, err)


def test_resume_cuts_the_log_back_to_the_checkpoint(fake_data):
    run = fake_data / "lg"
    _run(fake_data, run, "--stop-after", "2")
    log = run / "log.jsonl"
    with log.open("a") as f:  # an interrupted run logged two steps after its last checkpoint
        for step in (3, 4):
            f.write(json.dumps(dict(step=step, loss=1.0, scale=1, lr=1e-3, blur="kernel")) + "\n")
    _run(fake_data, run, "--resume")
    steps = [json.loads(line)["step"] for line in log.read_text().splitlines()]
    assert steps == [1, 2, 3, 4]
    assert all(json.loads(line)["loss"] != 1.0 for line in log.read_text().splitlines())


def test_train_restores_the_sigterm_handler_and_the_thread_count(fake_data):
    import signal

    def mine(signum, frame):  # pragma: no cover - never called
        pass

    old_handler, old_threads = signal.signal(signal.SIGTERM, mine), torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        _run(fake_data, fake_data / "sig", "--threads", "2", "--stop-after", "1")
        assert signal.getsignal(signal.SIGTERM) is mine
        assert torch.get_num_threads() == 1
    finally:
        signal.signal(signal.SIGTERM, old_handler)
        torch.set_num_threads(old_threads)


@pytest.mark.parametrize("extra, message", [
    (("--iters", "0"), "--iters must be >= 1"),
    (("--scales", "0"), "--scales must be integers >= 1"),
    (("--batch", "0"), "--batch must be >= 1"),
    (("--steps", "-2"), "--steps must be >= 1"),
    (("--stop-after", "-1"), "--stop-after must be >= 0"),
    (("--noise-max", "-5"), "--noise-max must be in [0, 255]"),
    (("--rot-prob", "5"), "--rot-prob must be in [0, 1]"),
    (("--cg-iters", "0"), "--cg-iters must be >= 1"),
    (("--lr", "0"), "--lr must be positive"),
    (("--channels", "3"), "which is for 1-channel images"),
    # non-finite learning rates used to train to the end and save NaN/inf weights
    (("--lr", "inf"), "--lr must be positive and finite, got inf"),
    (("--lr", "nan"), "--lr must be positive and finite, got nan"),
    (("--finetune-prior", "--prior-lr", "nan"), "--prior-lr must be positive and finite, got nan"),
    (("--finetune-prior", "--prior-lr", "inf"), "--prior-lr must be positive and finite, got inf"),
    (("--prior-lr", "-1"), "--prior-lr must be positive"),
    # the angle is drawn from 2 degrees up to it; RotationalBlur takes a full turn at most
    (("--rot-max-angle", "720"), "--rot-max-angle must be in [2, 360] degrees"),
    (("--rot-max-angle", "-30"), "--rot-max-angle must be in [2, 360] degrees"),
    (("--rot-max-angle", "1"), "--rot-max-angle must be in [2, 360] degrees"),
    (("--rot-max-angle", "nan"), "--rot-max-angle must be in [2, 360] degrees"),
    (("--ckpt-minutes", "-1"), "--ckpt-minutes must be > 0"),
    (("--ckpt-minutes", "0"), "--ckpt-minutes must be > 0"),
    (("--ckpt-minutes", "nan"), "--ckpt-minutes must be > 0"),
    (("--device", "gpu"), "--device gpu: not a torch device"),
    (("--device", "cuda:x"), "--device cuda:x: not a torch device"),
    (("--seed", "-1"), "--seed must be in [0, 2**64)"),
    (("--finetune-prior", "--freeze-schedule", "--ema", "0.9"), "--ema averages the schedule network"),
    (("--noise-max", "nan"), "--noise-max must be in [0, 255]"),
    (("--rot-prob", "nan"), "--rot-prob must be in [0, 1]"),
    (("--ema", "nan"), "--ema must be in [0, 1)"),
    (("--ema", "1"), "--ema must be in [0, 1)"),
    (("--lr-floor", "nan"), "--lr-floor must be in (0, 1]"),
    (("--patch", "-32"), "--patch must be at least the kernel size"),
])
def test_bad_arguments_are_refused_before_anything_runs(fake_data, capsys, extra, message):
    with pytest.raises(SystemExit):
        _main(fake_data, fake_data / "bad", *extra)
    assert message in capsys.readouterr().err
    assert not (fake_data / "bad").exists()


def test_a_replaced_prior_file_is_noticed_on_resume_and_export_uses_the_recorded_config(fake_data, capsys):
    """The shipped prior file can later hold other weights, even another architecture."""
    from deepinv.models import DRUNet

    from priors.train import load_exported

    ft = ("--finetune-prior", "--prior-lr", "1e-3")
    blob = _run(fake_data, fake_data / "g", *ft, "--stop-after", "2")
    assert blob["extra"]["prior_config"] == json.loads((fake_data / "prior.json").read_text())
    assert len(blob["extra"]["prior_sha256"]) == 64
    # the prior file is replaced by a wider network (as the attention U-Net was on 2026-11-27)
    wide = dict(json.loads((fake_data / "prior.json").read_text()), nc=[8, 16, 16, 32])
    torch.save(DRUNet(pretrained=None, **wide).state_dict(), fake_data / "prior.pt")
    (fake_data / "prior.json").write_text(json.dumps(wide))
    # export still writes the configuration the run was trained with, and it loads
    _run(fake_data, fake_data / "g", *ft, "--resume", "--stop-after", "0", "--export-prior", str(fake_data / "old.pt"))
    assert json.loads((fake_data / "old.json").read_text())["nc"] == [4, 8, 16, 32]
    for k, v in load_exported("drunet", fake_data / "old.pt").state_dict().items():
        torch.testing.assert_close(v, blob["prior"][k])
    # resuming the fine-tuning against the other architecture: a clear error, not a size-mismatch trace
    with pytest.raises(SystemExit, match="another architecture"):
        _run(fake_data, fake_data / "g", *ft, "--resume")
    # a fine-tuned run resumed against other weights of the same architecture: its own prior is
    # used, and the checkpoint keeps recording the prior it started from
    ft_run = _run(fake_data, fake_data / "f", *ft, "--stop-after", "2")
    capsys.readouterr()
    shifted = {k: v + 0.01 for k, v in torch.load(fake_data / "prior.pt", weights_only=True).items()}
    torch.save(shifted, fake_data / "prior.pt")
    resumed = _run(fake_data, fake_data / "f", *ft, "--resume", "--stop-after", "1")
    assert "fine-tuned prior is used" in capsys.readouterr().err
    assert resumed["extra"]["prior_sha256"] == ft_run["extra"]["prior_sha256"]
    # a frozen-prior run resumed against other weights of the same architecture: a note
    frozen = _run(fake_data, fake_data / "h", "--stop-after", "2")
    capsys.readouterr()
    other = {k: v + 0.01 for k, v in torch.load(fake_data / "prior.pt", weights_only=True).items()}
    torch.save(other, fake_data / "prior.pt")
    _run(fake_data, fake_data / "h", "--resume")
    assert "holds other weights" in capsys.readouterr().err
    assert frozen["extra"]["prior_sha256"] != torch.load(fake_data / "h" / "ckpt.pt", weights_only=False)["extra"]["prior_sha256"]


def test_export_of_an_old_checkpoint_whose_prior_file_changed_is_refused_clearly(fake_data):
    from priors.train_unfolded import export_prior

    blob = _run(fake_data, fake_data / "o", "--finetune-prior", "--prior-lr", "1e-3", "--stop-after", "1")
    for key in ("prior_config", "prior_sha256"):  # as written before 2026-11-27
        del blob["extra"][key]
    torch.save(blob, fake_data / "o" / "ckpt.pt")
    wide = dict(json.loads((fake_data / "prior.json").read_text()), nc=[8, 16, 16, 32])
    (fake_data / "prior.json").write_text(json.dumps(wide))
    with pytest.raises(ValueError, match="size mismatch.*starting architecture"):
        export_prior(fake_data / "o" / "ckpt.pt", fake_data / "x.pt")
    (fake_data / "bad.json").write_text(json.dumps({"channels": 1}))  # an attention U-Net config
    with pytest.raises(ValueError, match="starting architecture"):  # a TypeError inside, reported clearly
        export_prior(fake_data / "o" / "ckpt.pt", fake_data / "x.pt", fake_data / "bad.pt")
    assert not (fake_data / "x.pt").exists()
    # --prior-weights naming a file of the starting architecture makes the export work
    (fake_data / "small.json").write_text(json.dumps(dict(wide, nc=[4, 8, 16, 32])))
    export_prior(fake_data / "o" / "ckpt.pt", fake_data / "x.pt", fake_data / "small.pt")
    assert json.loads((fake_data / "x.json").read_text())["nc"] == [4, 8, 16, 32]


def test_ctrl_c_stops_after_the_step_with_a_checkpoint(fake_data, monkeypatch):
    """SIGINT (Ctrl-C) used to raise KeyboardInterrupt mid-step and lose every step since the last save."""
    import os
    import signal

    import priors.train_unfolded as tu

    calls = []
    real = tu.restore_batch

    def interrupting(*a, **kw):
        calls.append(1)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGINT)  # arrives during the second step
        return real(*a, **kw)

    monkeypatch.setattr(tu, "restore_batch", interrupting)
    before = signal.getsignal(signal.SIGINT)
    blob = _run(fake_data, fake_data / "int", "--steps", "6")
    assert blob["step"] == 2 and len(calls) == 2  # the step in progress finished, then a checkpoint
    assert signal.getsignal(signal.SIGINT) is before


def test_rot_max_angle_bounds_are_the_angles_drawn(fake_data):
    """The ends of the accepted --rot-max-angle range make valid rotational batches."""
    from priors.datasets import PatchSampler, load_training_images
    from priors.train_unfolded import ROT_MAX_ANGLE_LIMIT, ROT_MIN_ANGLE, make_batch

    rng = np.random.default_rng(0)
    sampler = PatchSampler(load_training_images(1), 32, rng)
    for angle in (ROT_MIN_ANGLE, ROT_MAX_ANGLE_LIMIT):
        b = make_batch(sampler, rng, 1, [1], 0.0, rot_prob=1.0, rot_max_angle=angle)
        assert isinstance(b.blur, list) and torch.isfinite(b.y).all()


def test_a_patch_larger_than_the_images_is_a_clear_error_and_creates_no_folder(fake_data, capsys):
    with pytest.raises(SystemExit, match="no training image is at least 64x64"):
        _main(fake_data, fake_data / "big", "--patch", "64")
    assert not (fake_data / "big").exists()


def test_non_finite_weights_stop_the_run_without_a_checkpoint(fake_data, monkeypatch):
    """NaN gradients (the loss itself finite) make the weights NaN at the step: stop, save nothing."""
    import priors.train_unfolded as tu
    from pnp.learned_schedule import HyperNet

    fast = ("--rot-prob", "0", "--stop-after", "1")
    good = _run(fake_data, fake_data / "nfr", *fast)  # a good checkpoint, before the gradients go bad
    before = (fake_data / "nfr" / "ckpt.pt").read_bytes()

    class NaNGradients(HyperNet):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            for p in self.parameters():
                p.register_hook(lambda g: g * float("nan"))

    monkeypatch.setattr(tu, "HyperNet", NaNGradients)
    with pytest.raises(SystemExit, match=r"step 1 left non-finite values .*\(hypernet\..*no checkpoint was written"):
        _main(fake_data, fake_data / "nf", *fast)
    assert not (fake_data / "nf" / "ckpt.pt").exists()
    # resumed: the good checkpoint is left as it was
    with pytest.raises(SystemExit, match="ckpt.pt is left as it was, at step 1"):
        _main(fake_data, fake_data / "nfr", "--rot-prob", "0", "--resume")
    assert (fake_data / "nfr" / "ckpt.pt").read_bytes() == before and good["step"] == 1


def test_a_diverging_prior_stops_the_run_without_a_checkpoint(fake_data):
    """A (finite) --prior-lr far too large: the prior's output, hence the loss, turns NaN."""
    with pytest.raises(SystemExit, match="training stopped: .*no checkpoint was written.*--lr or --prior-lr"):
        _main(fake_data, fake_data / "nfp", "--rot-prob", "0", "--stop-after", "2", "--finetune-prior",
              "--freeze-schedule", "--prior-lr", "1e30")
    assert not (fake_data / "nfp" / "ckpt.pt").exists()


def test_a_non_finite_loss_stops_the_run_and_keeps_the_last_checkpoint(fake_data, monkeypatch):
    import priors.train_unfolded as tu

    calls = []
    real = tu.unfolded_loss

    def nan_at_the_second_step(*a, **kw):
        calls.append(1)
        loss = real(*a, **kw)
        return loss * float("nan") if len(calls) == 2 else loss

    monkeypatch.setattr(tu, "unfolded_loss", nan_at_the_second_step)
    run = fake_data / "nl"
    with pytest.raises(SystemExit, match="the loss of step 2 is nan.*is left as it was, at step 1"):
        _main(fake_data, run, "--rot-prob", "0", "--ckpt-minutes", "1e-9")  # a checkpoint after every step
    blob = torch.load(run / "ckpt.pt", weights_only=False)
    assert blob["step"] == 1 and len(calls) == 2
    assert all(torch.isfinite(v).all() for v in blob["hypernet"].values())


def test_both_training_clis_share_the_finite_learning_rate_check(tmp_path, capsys):
    from priors.train import lr_problem, parse_args

    assert lr_problem("--lr", 1e-3) is None and lr_problem("--lr", 0.0, allow_zero=True) is None
    for bad in (float("inf"), float("nan"), -1.0):
        assert "finite" in lr_problem("--lr", bad, allow_zero=True)
    assert "positive" in lr_problem("--lr", 0.0)
    base = ["--arch", "drunet", "--channels", "1", "--steps", "1", "--out", str(tmp_path / "t")]
    assert parse_args(base + ["--lr", "0"]).lr == 0  # priors.train keeps allowing a rate of 0
    for bad in ("inf", "nan"):  # priors.train accepted --lr inf
        with pytest.raises(SystemExit):
            parse_args(base + ["--lr", bad])
        assert f"--lr must be >= 0 and finite, got {bad}" in capsys.readouterr().err
