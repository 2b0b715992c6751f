"""Tests of the training pipeline on a tiny synthetic data folder (no shared data needed)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
iio = pytest.importorskip("imageio.v3")

from priors import datasets  # noqa: E402
from priors.train import draw_sigmas, lr_factor, main  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def _smooth_image(rng, h, w):
    """Random smooth colour texture, (h, w, 3) uint8."""
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    img = np.zeros((h, w, 3))
    for c in range(3):
        for _ in range(3):
            fx, fy, ph = rng.uniform(1, 8, size=2).tolist() + [rng.uniform(0, 6)]
            img[..., c] += np.sin(2 * np.pi * (fx * xx + fy * yy) + ph)
    img = (img - img.min()) / (img.max() - img.min())
    return (255 * img).astype(np.uint8)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    for sub, n, shape in [
        ("train/CBSD432", 3, (48, 40)),
        ("train/Train400", 2, (40, 40)),
        ("val/Set12", 2, (32, 32)),
        ("val/CBSD68", 2, (32, 40)),
        ("val/BSD68", 2, (40, 32)),
    ]:
        (root / sub).mkdir(parents=True)
        for i in range(n):
            img = _smooth_image(rng, *shape)
            if sub.endswith(("Train400", "Set12", "BSD68")):
                img = datasets.rgb_to_luma(img)
            iio.imwrite(root / sub / f"{i:03d}.png", img)
    return root


def _args(data_dir, out, arch="attention-unet", channels=1, steps=6, extra=()):
    return [
        "--arch", arch, "--channels", str(channels), "--steps", str(steps),
        "--batch", "2", "--patch", "16", "--out", str(out), "--data", str(data_dir),
        "--threads", "1", "--log-every", "1", "--val-every", "3", "--val-images", "1",
        "--warmup", "2", "--no-progress", "--config",
        json.dumps({"widths": [4, 8, 8, 8], "attn_blocks": 1, "heads": 2, "window": 3})
        if arch == "attention-unet" else json.dumps({"nc": [4, 8, 8, 8], "nb": 1}),
        *extra,
    ]


def _losses(out):
    lines = [json.loads(ln) for ln in (Path(out) / "log.jsonl").read_text().splitlines()]
    return [(r["step"], r["loss"], r["lr"]) for r in lines if "loss" in r]


def test_datasets_load_and_sample(data_dir):
    gray = datasets.load_training_images(1, data_dir)
    colour = datasets.load_training_images(3, data_dir)
    assert len(gray) == 5 and len(colour) == 3  # gray adds Train400
    assert gray[0].shape == (48, 40, 1) and colour[0].shape == (48, 40, 3)
    sampler = datasets.PatchSampler(colour, 16, np.random.default_rng(1))
    batch = sampler.sample(4)
    assert batch.shape == (4, 3, 16, 16) and batch.dtype == np.float32
    assert 0 <= batch.min() and batch.max() <= 1
    with pytest.raises(ValueError, match="patch"):
        datasets.PatchSampler(colour, 64, np.random.default_rng(1))


def test_data_root_resolves_relative_to_repo(monkeypatch, tmp_path):
    monkeypatch.delenv("PNP_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    assert datasets.data_root() == (REPO / ".." / "shared" / "data").resolve()
    monkeypatch.setenv("PNP_DATA", "some/where")
    assert datasets.data_root() == (REPO / "some" / "where").resolve()


def test_lr_schedule_warms_up_and_decays():
    f = [lr_factor(s, 100, 10, 0.02) for s in range(101)]
    assert f[0] == pytest.approx(0.1) and f[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(f[9:], f[10:]))
    assert f[100] == pytest.approx(0.02)


def test_sigma_distributions():
    draw = lambda dist: draw_sigmas(20000, 50.0, dist, torch.Generator().manual_seed(3)) * 255
    uni, mixed = draw("uniform"), draw("mixed")
    for s in (uni, mixed):
        assert s.shape == (20000,) and float(s.min()) >= 0 and float(s.max()) <= 50
    assert float((uni < 5).float().mean()) == pytest.approx(0.10, abs=0.01)
    # half uniform, half log-uniform on [0.5, 50]: 0.5 * 0.1 + 0.5 * log(10) / log(100) = 0.30
    assert float((mixed < 5).float().mean()) == pytest.approx(0.30, abs=0.015)
    assert float((mixed > 25).float().mean()) == pytest.approx(0.5 * 0.5 + 0.5 * 0.15, abs=0.015)
    assert torch.equal(draw("mixed"), mixed)  # deterministic under the generator's seed
    with pytest.raises(ValueError, match="one of"):
        draw("gamma")


def _check_option_resumes_exactly_and_matters(data_dir, tmp_path, channels, flag):
    """A run with ``flag`` resumes exactly, and its losses differ from a run without it."""
    full, part = tmp_path / "full", tmp_path / "part"
    main(_args(data_dir, full, "drunet", channels, extra=flag))
    main(_args(data_dir, part, "drunet", channels, extra=flag + ["--stop-after", "3"]))
    main(_args(data_dir, part, "drunet", channels, extra=flag + ["--resume"]))
    assert _losses(part) == _losses(full)
    main(_args(data_dir, tmp_path / "plain", "drunet", channels))
    assert _losses(full) != _losses(tmp_path / "plain")


def test_mixed_sigma_run_resumes_exactly(data_dir, tmp_path):
    _check_option_resumes_exactly_and_matters(data_dir, tmp_path, 1, ["--sigma-dist", "mixed"])


def test_resume_notes_a_changed_recipe(data_dir, tmp_path, capsys):
    run = tmp_path / "run"
    main(_args(data_dir, run, "drunet", 1, extra=["--stop-after", "2"]))
    capsys.readouterr()
    main(_args(data_dir, run, "drunet", 1, extra=["--resume", "--sigma-dist", "mixed"]))
    err = capsys.readouterr().err
    assert "--sigma-dist changed uniform -> mixed" in err and "--patch" not in err
    # exporting trains nothing, so a recipe flag left out is not worth a note
    main(_args(data_dir, run, "drunet", 1, extra=["--resume", "--stop-after", "0", "--export",
                                                   "--export-dir", str(tmp_path / "w")]))
    err = capsys.readouterr().err
    assert "changed" not in err.replace(str(tmp_path), "") and (tmp_path / "w").is_dir()  # paths aside


@pytest.mark.parametrize("arch,channels", [("attention-unet", 1), ("drunet", 3)])
def test_resume_is_exact(data_dir, tmp_path, arch, channels):
    full, part = tmp_path / "full", tmp_path / "part"
    main(_args(data_dir, full, arch, channels))
    main(_args(data_dir, part, arch, channels, extra=["--stop-after", "4"]))
    ck = torch.load(part / "ckpt.pt", weights_only=True)
    assert ck["step"] == 4
    assert [s for s, *_ in _losses(part)] == [1, 2, 3, 4]
    summary = main(_args(data_dir, part, arch, channels, extra=["--resume"]))
    assert summary["step"] == 6
    assert _losses(part) == _losses(full)  # bit-identical losses and learning rates
    a = torch.load(full / "ckpt.pt", weights_only=True)["model"]
    b = torch.load(part / "ckpt.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    log = [json.loads(ln) for ln in (part / "log.jsonl").read_text().splitlines()]
    val = [r for r in log if "val_psnr" in r]
    assert [r["step"] for r in val] == [3, 6]
    assert set(val[0]["val_psnr"]) == {"15", "25", "50"}


def test_optimizer_state_is_a_file_of_its_own_and_one_file_checkpoints_still_resume(data_dir, tmp_path):
    """ckpt.pt names optimizer-STEP.pt; older checkpoints held the optimizer inside and still resume."""
    from priors.train import load_checkpoint

    full, part, old = tmp_path / "full", tmp_path / "part", tmp_path / "old"
    main(_args(data_dir, full))
    main(_args(data_dir, part, extra=["--stop-after", "3"]))
    main(_args(data_dir, part, extra=["--stop-after", "1", "--resume"]))
    ck = torch.load(part / "ckpt.pt", weights_only=True)
    assert "optimizer" not in ck and ck["optimizer_file"] == "optimizer-00000004.pt"
    assert sorted(p.name for p in part.glob("optimizer-*.pt")) == ["optimizer-00000004.pt"]  # step 3's is gone
    blob = load_checkpoint(part / "ckpt.pt")
    assert blob["optimizer"]["state"] and "optimizer_file" not in blob
    old.mkdir()  # the same checkpoint in the one-file form of before 2026-11-27
    torch.save(blob, old / "ckpt.pt")
    for name in ("best.pt", "log.jsonl"):
        (old / name).write_bytes((part / name).read_bytes())
    main(_args(data_dir, old, extra=["--resume"]))
    assert _losses(old) == _losses(full)
    torch.save(dict(ck, step=5), part / "ckpt.pt")  # parts that do not belong together
    with pytest.raises(ValueError, match="at step 5 but optimizer-00000004.pt at step 4"):
        load_checkpoint(part / "ckpt.pt")


def test_existing_checkpoint_needs_resume(data_dir, tmp_path):
    main(_args(data_dir, tmp_path / "run", steps=1))
    with pytest.raises(FileExistsError, match="--resume"):
        main(_args(data_dir, tmp_path / "run", steps=2))


@pytest.mark.parametrize("arch,channels,stem", [
    ("drunet", 1, "drunet_small_gray"), ("attention-unet", 3, "attention_unet_color")])
def test_export_writes_loadable_weights(data_dir, tmp_path, arch, channels, stem):
    dest = tmp_path / "weights"
    summary = main(_args(data_dir, tmp_path / "run", arch, channels, steps=3,
                         extra=["--export", "--export-dir", str(dest)]))
    assert Path(summary["exported"]) == dest / f"{stem}.pt"
    cfg = json.loads((dest / f"{stem}.json").read_text())
    state = torch.load(dest / f"{stem}.pt", weights_only=True)
    if arch == "drunet":
        from priors.residual_drunet import ResidualDRUNet, build_drunet

        assert {"nc", "nb", "in_channels", "out_channels", "act_mode", "downsample_mode",
                "upsample_mode"} <= set(cfg)
        assert cfg["residual"] is True  # new runs train the residual (noise-predicting) form
        net = build_drunet(**cfg)
        assert isinstance(net, ResidualDRUNet)
    else:
        from priors.attention_unet import AttentionUNet

        net = AttentionUNet(**cfg)
    net.load_state_dict(state)
    x = torch.rand(1, channels, 24, 32)
    with torch.no_grad():
        assert net(x, 0.1).shape == x.shape


def test_measure_reports_psnr_and_speed(data_dir, tmp_path):
    dest = tmp_path / "weights"
    main(_args(data_dir, tmp_path / "run", "drunet", 1, steps=2,
               extra=["--export", "--export-dir", str(dest)]))
    res = main(["--measure", "--arch", "drunet", "--channels", "1", "--data", str(data_dir),
                "--weights", str(dest / "drunet_small_gray.pt"), "--sizes", "32", "--threads", "1"])
    assert res["set"] == "BSD68" and res["images"] == 2
    assert set(res["psnr"]) == {"15", "25", "50"} and res["seconds"]["32"] > 0
    ens = main(["--measure", "--arch", "drunet", "--channels", "1", "--data", str(data_dir),
                "--weights", str(dest / "drunet_small_gray.pt"), "--sizes", "", "--threads", "1",
                "--ensemble", "8"])
    assert ens["ensemble"] == 8 and set(ens["psnr"]) == {"15", "25", "50"}
    assert ens["psnr"] != res["psnr"]  # a 2-step network is far from equivariant: the average differs
    low = main(["--measure", "--arch", "drunet", "--channels", "1", "--data", str(data_dir),
                "--weights", str(dest / "drunet_small_gray.pt"), "--sizes", "", "--threads", "1",
                "--sigmas", "2.55,5"])
    assert set(low["psnr"]) == {"2.55", "5"} and low["psnr"]["2.55"] > low["psnr"]["5"]
    for bad in ("5,x", "0,5", "300"):
        with pytest.raises(SystemExit):
            main(["--measure", "--arch", "drunet", "--channels", "1", "--sigmas", bad])


def test_training_path_imports_no_fftw_or_bm3d():
    code = (
        "import sys, priors.train, priors.datasets, priors.attention_unet; "
        "bad = [m for m in ('pyfftw', 'bm3d') if m in sys.modules]; "
        "sys.exit(1 if bad else 0)"
    )
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_cli_help_runs():
    res = subprocess.run([sys.executable, "-m", "priors.train", "--help"], cwd=REPO,
                         capture_output=True, text=True)
    assert res.returncode == 0 and "--resume" in res.stdout


def test_export_never_overwrites_weights_unless_asked(data_dir, tmp_path):
    """--export into a folder that holds the weights (the default is priors/weights/) is refused
    before training starts; --export-overwrite replaces them."""
    from priors.train import export_weights

    dest = tmp_path / "weights"
    main(_args(data_dir, tmp_path / "a", channels=3, steps=2, extra=["--export", "--export-dir", str(dest)]))
    shipped = (dest / "attention_unet_color.pt").read_bytes()
    with pytest.raises(FileExistsError, match="--export-overwrite"):
        main(_args(data_dir, tmp_path / "b", channels=3, steps=2, extra=["--export", "--export-dir", str(dest)]))
    assert not (tmp_path / "b").exists()  # refused before any training
    assert (dest / "attention_unet_color.pt").read_bytes() == shipped
    with pytest.raises(FileExistsError, match="exist already"):
        export_weights(tmp_path / "a", "attention-unet", dest=dest)
    main(_args(data_dir, tmp_path / "b", channels=3, steps=2, extra=["--seed", "5", "--export", "--export-dir",
                                                                    str(dest), "--export-overwrite"]))
    assert (dest / "attention_unet_color.pt").read_bytes() != shipped
    assert sorted(p.name for p in dest.iterdir()) == ["attention_unet_color.json", "attention_unet_color.pt"]


def test_init_weights_starts_from_exported_weights(data_dir, tmp_path):
    dest = tmp_path / "weights"
    main(_args(data_dir, tmp_path / "a", channels=3, steps=3,
               extra=["--export", "--export-dir", str(dest), "--export-which", "last"]))
    exported = torch.load(dest / "attention_unet_color.pt", weights_only=True)
    # lr 0: Adam leaves the weights where they started, so the checkpoint holds the init exactly
    main(_args(data_dir, tmp_path / "b", channels=3, steps=2,
               extra=["--init-weights", str(dest / "attention_unet_color.pt"), "--lr", "0"]))
    got = torch.load(tmp_path / "b" / "ckpt.pt", weights_only=True)
    assert all(torch.equal(got["model"][k], exported[k]) for k in exported)
    assert got["config"] == json.loads((dest / "attention_unet_color.json").read_text())
    fresh = torch.load(tmp_path / "a" / "ckpt.pt", weights_only=True)["model"]
    main(_args(data_dir, tmp_path / "c", channels=3, steps=2, extra=["--lr", "0"]))
    rand = torch.load(tmp_path / "c" / "ckpt.pt", weights_only=True)["model"]
    assert not all(torch.equal(rand[k], fresh[k]) for k in rand)  # the init did change something


def test_init_weights_refusals(data_dir, tmp_path):
    dest = tmp_path / "weights"
    main(_args(data_dir, tmp_path / "a", channels=3, steps=1,
               extra=["--export", "--export-dir", str(dest), "--export-which", "last"]))
    w = str(dest / "attention_unet_color.pt")
    with pytest.raises(ValueError, match="3 channels, not --channels 1"):
        main(_args(data_dir, tmp_path / "b", channels=1, steps=1, extra=["--init-weights", w]))
    with pytest.raises(FileNotFoundError, match="NAME.json"):
        main(_args(data_dir, tmp_path / "b", channels=3, steps=1,
                   extra=["--init-weights", str(tmp_path / "missing.pt")]))
    with pytest.raises(ValueError, match="new run"):
        main(_args(data_dir, tmp_path / "a", channels=3, steps=2, extra=["--resume", "--init-weights", w]))


def test_fitted_total():
    from priors.train import FIT_MARGIN, fitted_total

    assert fitted_total(100, 10.0, 60.0, 10_000) == 100 + int(FIT_MARGIN * 600)
    assert fitted_total(100, 10.0, 60.0, 300) == 300  # --steps caps it
    assert fitted_total(100, 10.0, -5.0, 10_000) == 101  # over budget: stop after one more step


def test_fit_minutes_plans_the_steps_from_the_measured_rate(data_dir, tmp_path, capsys):
    out = tmp_path / "run"
    summary = main(_args(data_dir, out, steps=100_000,
                         extra=["--fit-minutes", "0.05", "--fit-calibrate", "3", "--val-every", "0"]))
    ck = torch.load(out / "ckpt.pt", weights_only=True)
    assert 8 <= ck["planned_steps"] < 100_000  # 3 s of tiny steps, far below the cap
    assert summary["step"] == ck["planned_steps"] == ck["step"]
    assert "planned steps now" in capsys.readouterr().out
    lrs = [lr for _, _, lr in _losses(out)]
    assert lrs[-1] == pytest.approx(4e-4 * 0.02, rel=1e-6)  # the cosine ended at its floor


def test_fit_minutes_on_resume_keeps_the_old_plan_while_it_measures(data_dir, tmp_path):
    """Resuming with --fit-minutes and a large --steps cap must not jump the rate back to --lr."""
    out = tmp_path / "run"
    main(_args(data_dir, out, steps=6, extra=["--val-every", "0"]))  # finished: the rate is at its floor
    main(_args(data_dir, out, steps=100_000,
               extra=["--resume", "--fit-minutes", "0.05", "--fit-calibrate", "3", "--val-every", "0"]))
    from priors.train import lr_factor

    lrs = {step: lr for step, _, lr in _losses(out)}
    calibrating = [lrs[s] for s in range(7, 7 + 5 + 3)]  # FIT_WARMUP + --fit-calibrate steps
    assert max(calibrating) == pytest.approx(4e-4 * 0.02, rel=1e-6)  # the old plan's end
    planned = torch.load(out / "ckpt.pt", weights_only=True)["planned_steps"]
    assert planned < 100_000 and lrs[planned] == pytest.approx(4e-4 * 0.02, rel=1e-6)
    after = 7 + 5 + 3  # the first step that follows the fitted plan
    assert planned > after + 1
    assert lrs[after] == pytest.approx(4e-4 * lr_factor(after, planned, 2, 0.02), rel=1e-6)
    assert lrs[after] > 4e-4 * 0.02 * 1.01  # the new plan's cosine, above the floor


def test_fit_minutes_resume_stopped_before_measuring_keeps_the_old_plan(data_dir, tmp_path):
    """A resumed chunk that stops before --fit-minutes has measured must not record the cap."""
    out = tmp_path / "run"
    main(_args(data_dir, out, steps=6, extra=["--val-every", "0"]))
    fit = ["--resume", "--fit-minutes", "0.05", "--fit-calibrate", "3", "--val-every", "0"]
    main(_args(data_dir, out, steps=100_000, extra=[*fit, "--stop-after", "2"]))
    assert torch.load(out / "ckpt.pt", weights_only=True)["planned_steps"] == 6
    main(_args(data_dir, out, steps=100_000, extra=[*fit, "--stop-after", "2"]))
    lrs = [lr for _, _, lr in _losses(out)]
    assert max(lrs[6:]) == pytest.approx(4e-4 * 0.02, rel=1e-6)  # never back up to --lr


def test_desaturate_augmentation():
    rng = np.random.default_rng(0)
    batch = rng.random((6, 3, 8, 8)).astype(np.float32)
    state = rng.bit_generator.state
    assert datasets.desaturate(batch, 0.0, rng) is batch
    assert rng.bit_generator.state == state  # off: no random numbers drawn
    gray = batch[:, :1]
    assert datasets.desaturate(gray, 1.0, rng) is gray
    out = datasets.desaturate(batch, 1.0, rng)
    assert out.dtype == np.float32 and out.shape == batch.shape
    np.testing.assert_allclose(out.mean(axis=1), batch.mean(axis=1), atol=1e-6)  # the gray level is kept
    spread = lambda b: (b - b.mean(axis=1, keepdims=True)).std(axis=(1, 2, 3))
    assert np.all(spread(out) <= spread(batch) + 1e-6) and spread(out).mean() < 0.8 * spread(batch).mean()
    half = datasets.desaturate(batch, 0.5, np.random.default_rng(1))
    changed = [not np.allclose(half[i], batch[i]) for i in range(6)]
    assert 0 < sum(changed) < 6
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        datasets.desaturate(batch, 1.5, rng)


def test_desaturate_run_resumes_exactly_and_changes_training(data_dir, tmp_path, capsys):
    flag = ["--desaturate", "0.5"]
    _check_option_resumes_exactly_and_matters(data_dir, tmp_path, 3, flag)
    # a checkpoint without the option (older, or trained without it) counts as --desaturate 0
    old = tmp_path / "old"
    main(_args(data_dir, old, "drunet", 3, extra=["--stop-after", "2"]))
    capsys.readouterr()
    main(_args(data_dir, old, "drunet", 3, extra=flag + ["--resume"]))
    assert "--desaturate changed 0.0 -> 0.5" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(_args(data_dir, tmp_path / "g", "drunet", 1, extra=flag))
    with pytest.raises(SystemExit):
        main(_args(data_dir, tmp_path / "h", "drunet", 3, extra=["--desaturate", "2"]))


def test_new_run_refuses_files_of_an_earlier_run_and_resume_needs_a_checkpoint(data_dir, tmp_path):
    # an attention U-Net run killed before its first checkpoint: best.pt and log.jsonl, no ckpt.pt
    main(_args(data_dir, tmp_path / "att", steps=3))
    left = tmp_path / "left"
    left.mkdir()
    for name in ("best.pt", "log.jsonl"):
        (left / name).write_bytes((tmp_path / "att" / name).read_bytes())
    with pytest.raises(FileExistsError, match="another --out"):
        main(_args(data_dir, left, "drunet", steps=3, extra=["--export", "--export-dir", str(tmp_path / "w")]))
    with pytest.raises(FileNotFoundError, match="no checkpoint .* stopped before its first checkpoint"):
        main(_args(data_dir, left, "attention-unet", steps=3, extra=["--resume"]))
    with pytest.raises(FileNotFoundError, match="start a new run without --resume"):
        main(_args(data_dir, tmp_path / "empty", steps=3, extra=["--resume"]))
    assert not (tmp_path / "w").exists() and not (tmp_path / "empty").exists()
    assert sorted(p.name for p in left.iterdir()) == ["best.pt", "log.jsonl"]  # nothing written


def test_export_refuses_a_best_pt_of_another_run(data_dir, tmp_path):
    from priors.train import export_weights

    main(_args(data_dir, tmp_path / "att", steps=3))
    run = tmp_path / "run"
    main(_args(data_dir, run, "drunet", steps=2, extra=["--val-every", "0"]))
    (run / "best.pt").write_bytes((tmp_path / "att" / "best.pt").read_bytes())
    with pytest.raises(ValueError, match="left from another run"):
        export_weights(run, "drunet", dest=tmp_path / "w")
    with pytest.raises(ValueError, match="holds arch 'drunet', not 'attention-unet'"):
        export_weights(run, "attention-unet", dest=tmp_path / "w", which="last")
    assert not (tmp_path / "w").exists()
    path = export_weights(run, "drunet", dest=tmp_path / "w", which="last")
    ckpt = torch.load(run / "ckpt.pt", weights_only=True)["model"]
    state = torch.load(path, weights_only=True)
    assert all(torch.equal(state[k], ckpt[k]) for k in ckpt)


def test_resume_follows_a_changed_learning_rate_and_refuses_other_channels(data_dir, tmp_path, capsys):
    from priors.train import lr_factor

    run = tmp_path / "run"
    main(_args(data_dir, run, "drunet", 1, extra=["--stop-after", "2", "--val-every", "0"]))
    capsys.readouterr()
    main(_args(data_dir, run, "drunet", 1, extra=["--resume", "--stop-after", "1", "--val-every", "0",
                                                  "--lr", "1e-3", "--warmup", "1", "--lr-floor", "0.5"]))
    err = capsys.readouterr().err
    for note in ("--lr changed 0.0004 -> 0.001", "--warmup changed 2 -> 1", "--lr-floor changed 0.02 -> 0.5"):
        assert note in err, (note, err)
    step3 = [lr for step, _, lr in _losses(run) if step == 3]
    assert step3 == [pytest.approx(1e-3 * lr_factor(3, 6, 1, 0.5))]  # the rate logged after step 3
    with pytest.raises(ValueError, match="trained with --channels 1, not 3"):
        main(_args(data_dir, run, "drunet", 3, extra=["--resume"]))


def test_unchanged_resume_keeps_the_learning_rates_exactly(data_dir, tmp_path):
    full, part = tmp_path / "full", tmp_path / "part"
    main(_args(data_dir, full, "drunet", 1, steps=5, extra=["--val-every", "0"]))
    main(_args(data_dir, part, "drunet", 1, steps=5, extra=["--val-every", "0", "--stop-after", "1"]))
    main(_args(data_dir, part, "drunet", 1, steps=5, extra=["--val-every", "0", "--resume"]))
    assert _losses(part) == _losses(full)


def test_measure_restores_the_thread_count(data_dir, tmp_path):
    dest = tmp_path / "weights"
    main(_args(data_dir, tmp_path / "run", "drunet", 1, steps=1, extra=["--export", "--export-dir", str(dest)]))
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        main(["--measure", "--arch", "drunet", "--channels", "1", "--data", str(data_dir),
              "--weights", str(dest / "drunet_small_gray.pt"), "--sizes", "", "--threads", "2"])
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("extra, message", [
    (["--patch", "0"], "--patch must be a positive multiple of 8"),
    (["--log-every", "0"], "--log-every must be >= 1"),
    (["--sigma-max", "-5"], "--sigma-max must be in (0, 255]"),
    (["--lr-floor", "3"], "--lr-floor must be in (0, 1]"),
    (["--warmup", "-3"], "--warmup must be >= 0"),
    (["--val-images", "0"], "--val-images must be >= 1"),
    (["--ckpt-every", "-1"], "--ckpt-every must be >= 0"),
    (["--lr", "-1"], "--lr must be >= 0"),
])
def test_bad_arguments_are_refused(data_dir, tmp_path, capsys, extra, message):
    with pytest.raises(SystemExit):
        main(_args(data_dir, tmp_path / "bad", "drunet", extra=extra))
    assert message in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()


def test_export_best_without_best_pt_is_an_error_and_auto_says_what_it_used(data_dir, tmp_path, capsys):
    """A run with no best.pt (no validation ran, or none beat the recorded best after a resume) must not
    export its last step under the name of the best one without saying so."""
    from priors.train import export_weights

    run = tmp_path / "run"
    main(_args(data_dir, run, "drunet", steps=2, extra=["--val-every", "0"]))
    assert not (run / "best.pt").exists()
    with pytest.raises(FileNotFoundError, match="no best.pt in .*--export-which last"):
        export_weights(run, "drunet", dest=tmp_path / "w")
    assert not (tmp_path / "w").exists()
    path = export_weights(run, "drunet", dest=tmp_path / "w", which="auto")
    ckpt = torch.load(run / "ckpt.pt", weights_only=True)["model"]
    assert all(torch.equal(torch.load(path, weights_only=True)[k], ckpt[k]) for k in ckpt)
    capsys.readouterr()
    summary = main(_args(data_dir, run, "drunet", steps=3, extra=["--val-every", "0", "--resume", "--export",
                                                                  "--export-dir", str(tmp_path / "w2")]))
    assert summary["exported_from"] == "ckpt.pt" and "no best.pt: the last step" in capsys.readouterr().err
