import imageio.v3 as iio
import numpy as np
import pytest

from _benchmarks import load_benchmark


def test_colour_gap_rows_on_a_synthetic_image(tmp_path, monkeypatch, capsys):
    bench = load_benchmark("colour_gap")
    folder = tmp_path / "val" / "Set3C"
    folder.mkdir(parents=True)
    yy, xx = np.mgrid[:48, :56]
    img = np.stack([xx * 4, yy * 5, (xx + yy) * 2], -1).clip(0, 255).astype(np.uint8)
    img[:16] = [200, 190, 185]  # a flat band
    img[30:33] = [30, 160, 40]  # a thin green stroke: edge pixels
    iio.imwrite(folder / "synth.png", img)
    monkeypatch.setenv("PNP_DATA", str(tmp_path))
    rows = bench.main(["--image", "synth", "--sigma", "25"])
    r = rows["attention-unet"]
    noisy = 20 * np.log10(255 / 25)
    assert r["colour"] > noisy + 5 and r["gray per channel"] > noisy + 3
    assert r["ideal pooling"] > noisy + 5 and r["exact gray"] > noisy + 5
    assert 0 < r["edge fraction"] < 1 and 0 < r["flat fraction"] < 1
    assert r["edge rmse x255"] > 0 and r["flat rmse x255"] > 0
    with pytest.raises(SystemExit):
        bench.main(["--image", "nope"])
    iio.imwrite(folder / "gray.png", img[..., 0])
    with pytest.raises(SystemExit):
        bench.main(["--image", "gray"])
    assert "not a colour image" in capsys.readouterr().err


def test_region_masks_split_flat_and_edge_pixels():
    bench = load_benchmark("colour_gap")
    x = np.zeros((40, 40, 3))
    x[:, 20:] = 1.0
    flat, edge = bench.region_masks(x)
    assert edge[:, 19:21].all() and not edge[:, :10].any()
    assert flat[3:-3, 3:10].all() and not flat[:, 17:23].any()  # eroded by 3 px, also at the frame
