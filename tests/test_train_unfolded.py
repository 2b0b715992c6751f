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
