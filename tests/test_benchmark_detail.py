"""The painted-look and seam measures of benchmarks/detail.py (no data needed)."""

import numpy as np
import pytest
from _benchmarks import load_benchmark
from scipy import ndimage

detail = load_benchmark("detail")


def test_gradient_ratio_is_one_for_the_truth_below_one_when_smoothed_above_when_noisy():
    rng = np.random.default_rng(0)
    x = ndimage.gaussian_filter(rng.random((64, 64, 3)), (1, 1, 0))
    assert detail.gradient_ratio(x, x) == pytest.approx(1.0)
    assert detail.gradient_ratio(ndimage.gaussian_filter(x, (2, 2, 0)), x) < 0.6
    assert detail.gradient_ratio(x + 0.05 * rng.standard_normal(x.shape), x) > 1.15


def test_seam_ratio_finds_errors_on_the_block_grid_only():
    rng = np.random.default_rng(1)
    ref = rng.random((96, 96))
    err = 0.01 * rng.random((96, 96))
    grid = np.zeros((96, 96), dtype=bool)
    grid[np.isin(np.arange(96) % 16, (0, 15))] = True
    grid[:, np.isin(np.arange(96) % 16, (0, 15))] = True
    seamy = ref + err + 0.02 * grid
    assert detail.seam_ratio(seamy, ref, 16) > 2.0
    assert detail.seam_ratio(seamy, ref, 13) < 1.3  # a grid the blocks do not follow
    assert detail.seam_ratio(ref + err, ref, 16) == pytest.approx(1.0, abs=0.1)


def test_end_ratio_and_schedule_are_exclusive():
    with pytest.raises(SystemExit):
        detail.main(["--schedule", "s.pt", "--end-ratio", "0.5"])
    with pytest.raises(SystemExit):
        detail.main(["--end-ratio", "0"])
