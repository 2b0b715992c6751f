import json

import imageio.v3 as iio
import numpy as np

from _benchmarks import load_benchmark


def test_denoise_benchmark_measures_any_registered_prior(tmp_path, monkeypatch, capsys):
    bench = load_benchmark("denoise_bm3d")
    folder = tmp_path / "val" / "CBSD68"
    folder.mkdir(parents=True)
    yy, xx = np.mgrid[:40, :48]
    for i in range(2):  # smooth colour images: a good denoiser gains a lot over the noisy input
        img = np.stack([xx * 4 + i * 10, yy * 5, (xx + yy) * 2], -1).clip(0, 255).astype(np.uint8)
        iio.imwrite(folder / f"{i:03d}.png", img)
    monkeypatch.setenv("PNP_DATA", str(tmp_path))
    bench.main(["--channels", "3", "--prior", "tv", "--sigmas", "25"])
    row = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert row["prior"] == "tv" and row["set"] == "CBSD68" and row["images"] == 2
    noisy_psnr = 20 * np.log10(255 / 25)  # about 20.2 dB before clipping
    assert row["psnr"]["25"] > noisy_psnr + 6


def test_denoise_benchmark_per_image_on_another_set(tmp_path, monkeypatch):
    bench = load_benchmark("denoise_bm3d")
    folder = tmp_path / "val" / "Set3C"
    folder.mkdir(parents=True)
    yy, xx = np.mgrid[:32, :40]
    for name in ("a", "b"):
        img = np.stack([xx * 5, yy * 6, (xx + yy) * 3], -1).clip(0, 255).astype(np.uint8)
        iio.imwrite(folder / f"{name}.png", img)
    monkeypatch.setenv("PNP_DATA", str(tmp_path))
    row = bench.main(["--channels", "3", "--set", "Set3C", "--per-image", "--prior", "tv", "--sigmas", "15,25"])
    assert row["set"] == "Set3C" and sorted(row["per_image"]) == ["a", "b"]
    for s in ("15", "25"):
        assert row["psnr"][s] == np.mean([row["per_image"][k][s] for k in ("a", "b")])
    # the same image with the same seed gets the same noise, so the same PSNR
    assert row["per_image"]["a"] == row["per_image"]["b"]
    assert row["psnr"]["15"] > row["psnr"]["25"]


def test_denoise_benchmark_missing_set_is_an_error(tmp_path, monkeypatch):
    import pytest

    bench = load_benchmark("denoise_bm3d")
    monkeypatch.setenv("PNP_DATA", str(tmp_path))
    with pytest.raises(SystemExit):
        bench.main(["--channels", "3", "--set", "Nope"])
