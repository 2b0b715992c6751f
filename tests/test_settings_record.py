"""The settings record of output folders (pnp.settings_record), behind ``skip_existing``."""

import json
import os

import numpy as np
import pytest

import pnp
from pnp.operators import Blur
from pnp.settings_record import RECORD_NAME, SettingsMismatchError, describe, is_current, prepare


class _WithWeights:
    def __init__(self, path):
        self.path = path
        self._cache = {}

    def weight_files(self):
        return [self.path]


def test_describe_ignores_caches_and_sees_arrays_and_weights(tmp_path):
    k = np.ones((3, 3)) / 9
    op = Blur(k)
    before = describe(op)
    pnp.solve(np.random.default_rng(0).random((32, 32)), op, prior="tv", iters=2, noise_level=0.01,
              boundary="circular", progress=False)  # fills the operator's private caches
    assert describe(op) == before
    k2 = k.copy()
    k2[0, 0] += 1e-9
    assert describe(Blur(k2)) != before
    w = tmp_path / "w.pt"
    w.write_bytes(b"one")
    prior = _WithWeights(w)
    first = describe(prior)
    prior._cache["x"] = 1
    assert describe(prior) == first
    w.write_bytes(b"two")  # same name, other weights
    assert describe(prior) != first
    assert json.loads(json.dumps(describe(dict(a=np.float32(1.5), b=(1, "x"), c=float("nan"))))) == \
        {"a": 1.5, "b": [1, "x"], "c": "nan"}


def test_prepare_keeps_since_for_the_same_settings_and_refuses_others(tmp_path):
    out = [tmp_path / "a.png"]
    since = prepare(tmp_path, {"iters": 8}, out, skip_existing=True)
    assert (tmp_path / RECORD_NAME).is_file()
    out[0].write_bytes(b"x")
    assert is_current(out[0], since) and not is_current(tmp_path / "missing.png", since)
    assert prepare(tmp_path, {"iters": 8}, out, skip_existing=True) == since
    with pytest.raises(SettingsMismatchError, match=r"different: iters\)") as info:
        prepare(tmp_path, {"iters": 4}, out, skip_existing=True)
    assert "skip_existing=False" in str(info.value) and "skip_existing" not in info.value.reason
    newer = prepare(tmp_path, {"iters": 4}, out, skip_existing=False)  # new settings: a new ``since``
    assert newer >= since and json.loads((tmp_path / RECORD_NAME).read_text())["since"] == newer
    os.utime(out[0], (newer - 10, newer - 10))  # a file older than the settings in force is not current
    assert not is_current(out[0], newer)
    (tmp_path / RECORD_NAME).write_text("{not json")  # a damaged record counts as none
    with pytest.raises(SettingsMismatchError, match="no record of the settings"):
        prepare(tmp_path, {"iters": 4}, out, skip_existing=True)
