import numpy as np
import pytest

from pnp.schedules import ConstantSchedule, DPIRSchedule, GeometricSchedule, resolve_schedule


def test_dpir_schedule_values():
    noise = 2.55 / 255
    alphas, sigmas = resolve_schedule(DPIRSchedule(), noise, 8)
    assert sigmas[0] == pytest.approx(49 / 255)
    assert sigmas[-1] == pytest.approx(noise)
    assert np.all(np.diff(np.log(sigmas)) < 0)
    np.testing.assert_allclose(np.diff(np.log(sigmas)), np.diff(np.log(sigmas))[0])  # log-spaced
    np.testing.assert_allclose(alphas, 0.23 * noise**2 / sigmas**2)


def test_dpir_superresolution_floor():
    _, sigmas = resolve_schedule(DPIRSchedule(), 0.0, 5, scale=3)
    assert sigmas[-1] == pytest.approx(3 / 255)


def test_constant_and_geometric():
    a, s = resolve_schedule(ConstantSchedule(0.1, 0.02), 0.01, 4)
    np.testing.assert_allclose(a, 0.1)
    np.testing.assert_allclose(s, 0.02)
    a, s = resolve_schedule(GeometricSchedule(0.2, 0.01, 0.01, 1.0), 0.01, 5)
    assert s[0] == pytest.approx(0.2) and s[-1] == pytest.approx(0.01)
    assert a[0] == pytest.approx(0.01) and a[-1] == pytest.approx(1.0)


def test_callable_and_list():
    def mine(noise_level, iters):
        return [(1.0 + k, noise_level) for k in range(iters)]

    a, s = resolve_schedule(mine, 0.03, 3)
    np.testing.assert_allclose(a, [1, 2, 3])
    a, s = resolve_schedule([(0.5, 0.1), (0.6, 0.05)], 0.01, 2)
    np.testing.assert_allclose(s, [0.1, 0.05])


@pytest.mark.parametrize("bad", [[(1.0, 0.1)], [(0.0, 0.1), (1.0, 0.1)], [(1.0,), (2.0,)], "abc"])
def test_bad_schedules(bad):
    with pytest.raises(ValueError, match="schedule"):
        resolve_schedule(bad, 0.01, 2)


def test_sigma_on_the_255_scale_is_refused():
    with pytest.raises(ValueError, match="wrong scale.*0-1 intensity scale"):
        resolve_schedule([(0.1, 0.05), (0.2, 25.0)], 0.01, 2)
    a, s = resolve_schedule([(0.1, 1.0), (0.2, 0.0)], 0.01, 2)  # the ends of [0, 1] are fine
    np.testing.assert_allclose(s, [1.0, 0.0])


@pytest.mark.parametrize("make, name", [
    (lambda: GeometricSchedule(49, 2.55 / 255), "sigma_start=49"),
    (lambda: GeometricSchedule(49 / 255, 2.55), "sigma_end=2.55"),
    (lambda: ConstantSchedule(0.1, 25), "sigma=25"),
    (lambda: DPIRSchedule(sigma_max=49), "sigma_max=49"),
    (lambda: DPIRSchedule(floor=1.5), "floor=1.5"),
])
def test_constructor_sigma_on_the_255_scale_is_refused(make, name):
    """A prior noise level above 1 is refused when the schedule is made, naming the argument."""
    with pytest.raises(ValueError, match=f"{name} is on the wrong scale.*0-1 intensity scale"):
        make()
    assert ConstantSchedule(0.1, 1.0).sigma == 1.0 and DPIRSchedule(sigma_max=1.0).sigma_max == 1.0


HAND_SCHEDULES = [DPIRSchedule(), GeometricSchedule(), ConstantSchedule(0.1, 0.05)]


@pytest.mark.parametrize("schedule", HAND_SCHEDULES, ids=["dpir", "geometric", "constant"])
@pytest.mark.parametrize("noise, exc, match", [
    (2.55, ValueError, "noise_level=2.55 is on the wrong scale"),
    (float("nan"), ValueError, "finite"),
    (-0.01, ValueError, ">= 0"),
    ("0.01", TypeError, "noise_level must be a number"),
    (True, TypeError, "noise_level must be a number"),
])
def test_hand_schedules_check_the_noise_level(schedule, noise, exc, match):
    with pytest.raises(exc, match=match):
        schedule(noise, 8)
    with pytest.raises(exc, match=match):
        schedule.params(noise, 8)
    pairs = schedule(0.01, 8)
    assert len(pairs) == 8 and all(np.isfinite(pairs).all(axis=1))


@pytest.mark.parametrize("schedule", HAND_SCHEDULES, ids=["dpir", "geometric", "constant"])
@pytest.mark.parametrize("iters, exc", [(2.7, TypeError), (True, TypeError), ("8", TypeError), (8.0, TypeError),
                                        (0, ValueError), (-1, ValueError)])
def test_hand_schedules_check_iters(schedule, iters, exc):
    """``iters`` is an integer >= 1: 2.7 is not truncated to 2 pairs, True is not 1, "8" not 8."""
    with pytest.raises(exc, match="iters must be an integer >= 1"):
        schedule(0.01, iters)
    assert len(schedule(0.01, np.int64(3))) == 3 and len(schedule(0.01, 1)) == 1


@pytest.mark.parametrize("scale", [0, -2, 2.5])
def test_hand_schedules_check_the_scale(scale):
    with pytest.raises(ValueError, match="scale must be an integer >= 1"):
        DPIRSchedule()(0.01, 4, scale=scale)
    assert DPIRSchedule()(0.0, 4, scale=2)[-1][1] == pytest.approx(2 / 255)


@pytest.mark.parametrize("sigma", [float("nan"), float("inf"), -0.1])
def test_non_finite_or_negative_sigma_is_refused(sigma):
    with pytest.raises(ValueError, match="finite"):
        resolve_schedule(ConstantSchedule(0.1, sigma), 0.01, 2)


def test_geometric_alphas_need_both_ends():
    for kw in (dict(alpha_start=5.0), dict(alpha_end=50.0)):
        with pytest.raises(ValueError, match="both alpha_start and alpha_end or neither"):
            GeometricSchedule(**kw)
    a, _ = resolve_schedule(GeometricSchedule(alpha_start=5.0, alpha_end=50.0), 0.01, 3)
    np.testing.assert_allclose(a, [5.0, np.sqrt(250.0), 50.0])
