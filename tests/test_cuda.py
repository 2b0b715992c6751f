"""``pnp.solve(..., device="cuda")``: runs only where torch sees a CUDA device (skipped in CI).

Run on the GPU machine with ``python -m pytest tests/test_cuda.py``; it needs no pyFFTW,
deepinv or BM3D.
"""

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.parametrize("blur", ["kernel", "rotation", "polar rotation"])
def test_solve_on_cuda_matches_cpu(blur):
    from scipy.ndimage import convolve
    from skimage import data

    import pnp
    from pnp.kernels import camera_shake_kernel
    from priors.registry import get_prior

    x = data.astronaut()[100:196, 180:276] / 255.0
    if blur == "kernel":
        op = camera_shake_kernel(size=15, seed=3)
        y = np.stack([convolve(x[..., c], op, mode="reflect") for c in range(3)], -1)  # no pyFFTW there
    else:
        op = pnp.RotationalBlur((47.5, 47.5), np.deg2rad(8.0))
        y = op.forward(x.transpose(2, 0, 1)).transpose(1, 2, 0)
        if blur == "polar rotation":
            op = pnp.PolarRotationalBlur.from_blur(op)  # torch.fft along the rings on the GPU
    y = pnp.add_noise(y, 0.01, seed=0)
    prior = get_prior("attention-unet")  # one prior object: its network on the CPU and a copy on the GPU
    kw = dict(prior=prior, noise_level=0.01, iters=4, progress=False)
    denoised = prior(y, 0.02)  # numpy call: the network on the prior's own device (CPU)
    on_gpu = pnp.solve(y, op, device="cuda", **kw)
    on_cpu = pnp.solve(y, op, device="cpu", **kw)
    assert on_gpu.shape == x.shape and on_gpu.dtype == on_cpu.dtype
    assert np.abs(on_gpu - on_cpu).max() < 5e-3  # TF32 convolutions on the GPU
    assert abs(pnp.psnr(np.clip(on_gpu, 0, 1), x) - pnp.psnr(np.clip(on_cpu, 0, 1), x)) < 0.05
    assert pnp.psnr(np.clip(on_gpu, 0, 1), x) > pnp.psnr(np.clip(y, 0, 1), x) + 2.0
    np.testing.assert_array_equal(prior(y, 0.02), denoised)  # the CPU network was not moved


def test_unfolded_training_runs_on_cuda(tmp_path, monkeypatch):
    """python -m priors.train_unfolded --device cuda: a few steps, kernel and rotational batches."""
    import json

    import torch
    from skimage import io

    from priors.train import build_model
    from priors.train_unfolded import main

    rng = np.random.default_rng(0)
    for sub in ("CBSD432", "Train400"):
        d = tmp_path / "data" / "train" / sub
        d.mkdir(parents=True)
        for i in range(3):
            io.imsave(d / f"im{i}.png", (rng.random((60, 60, 3)) * 255).astype(np.uint8), check_contrast=False)
    monkeypatch.setenv("PNP_DATA", str(tmp_path / "data"))
    config = {"channels": 3, "widths": [4, 8, 8, 8], "attn_blocks": 1, "heads": 2, "window": 3}  # no deepinv there
    torch.save(build_model("attention-unet", config).state_dict(), tmp_path / "prior.pt")
    (tmp_path / "prior.json").write_text(json.dumps(config))
    main(["--prior-arch", "attention-unet", "--prior-weights", str(tmp_path / "prior.pt"), "--channels", "3", "--iters", "3", "--steps", "4",
          "--batch", "2", "--patch", "32", "--scales", "1", "2", "--rot-prob", "0.5", "--finetune-prior",
          "--device", "cuda", "--out", str(tmp_path / "run")])
    blob = torch.load(tmp_path / "run" / "ckpt.pt", map_location="cpu", weights_only=False)
    assert blob["step"] == 4 and all(torch.isfinite(v).all() for v in blob["prior"].values())
