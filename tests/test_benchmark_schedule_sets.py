"""The schedule-generalisation benchmark's observations (no data needed)."""

import numpy as np
import pytest
from _benchmarks import load_benchmark

schedule_sets = load_benchmark("schedule_sets")


def test_crop_case_is_the_central_crop_observed_with_a_valid_convolution():
    rng = np.random.default_rng(0)
    x = rng.random((100, 90, 3))
    delta = np.zeros((25, 25))
    delta[12, 12] = 1.0
    case = schedule_sets.crop_case(x, 48, delta, 0.0, 0)
    r0, c0 = (100 - 72) // 2, (90 - 72) // 2
    np.testing.assert_allclose(case.x[0].numpy().transpose(1, 2, 0), x[r0 + 12:r0 + 60, c0 + 12:c0 + 60], atol=1e-6)
    top, left = case.offset
    obs = case.y[0, :, top:top + 48, left:left + 48].numpy().transpose(1, 2, 0)
    np.testing.assert_allclose(obs, x[r0 + 12:r0 + 60, c0 + 12:c0 + 60], atol=1e-5)  # identity blur, no noise
    assert case.observed.sum() == 48 * 48
    with pytest.raises(ValueError, match="smaller than the crop"):
        schedule_sets.crop_case(x[:60], 48, delta, 0.0, 0)
