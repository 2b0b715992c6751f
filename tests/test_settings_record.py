"""The record of output folders (pnp.settings_record), behind ``skip_existing``."""

import functools
import json
import os

import numpy as np
import pytest

import pnp
from pnp.operators import Blur
from pnp.settings_record import RECORD_NAME, OutputRecord, SettingsMismatchError, describe, input_identity


class _WithWeights:
    def __init__(self, path):
        self.path = path
        self._cache = {}

    def weight_files(self):
        return [self.path]


def _tv(x, s, weight=0.1):
    return x


def test_describe_ignores_caches_and_sees_arrays_weights_and_callables(tmp_path):
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
    # callables: a partial by its arguments, a function or lambda by its code, defaults and closure
    assert describe(functools.partial(_tv, weight=0.01)) != describe(functools.partial(_tv, weight=0.5))
    assert describe(functools.partial(_tv, weight=0.5)) == describe(functools.partial(_tv, weight=0.5))
    assert describe(lambda x, s: x) != describe(lambda x, s: 2 * x)

    def make(c):
        return lambda x, s: c * x

    assert describe(make(1.0)) != describe(make(2.0)) and describe(make(1.0)) == describe(make(1.0))


def test_input_identity_of_files_and_arrays(tmp_path):
    a = np.zeros((4, 4))
    assert input_identity(a) == input_identity(a.copy()) != input_identity(a + 1)
    assert input_identity(a) != input_identity(a.astype(np.float32))
    f = tmp_path / "x.png"
    f.write_bytes(b"1")
    first = input_identity(f)
    f.write_bytes(b"22")
    assert input_identity(str(f)) != first


def test_record_skips_only_same_input_and_untouched_output(tmp_path):
    out = tmp_path / "a.png"
    rec = OutputRecord(tmp_path, {"iters": 8}, skip_existing=True)
    assert (tmp_path / RECORD_NAME).is_file()
    assert rec.plan("a", "in-1", out) == "compute"  # no file yet
    out.write_bytes(b"x")
    assert rec.plan("a", "in-1", out) == "compute"  # a file with no entry: recomputed
    rec.written("a", "in-1", out)
    rec.close()
    again = OutputRecord(tmp_path, {"iters": 8}, skip_existing=True, existing=[out])
    assert again.plan("a", "in-1", out) == "skip"
    with pytest.raises(SettingsMismatchError, match="made from another input"):
        again.plan("a", "in-2", out)
    out.write_bytes(b"changed by someone else")
    with pytest.raises(SettingsMismatchError, match="changed since pnp wrote it"):
        again.plan("a", "in-1", out)
    assert OutputRecord(tmp_path, {"iters": 8}, skip_existing=False).plan("a", "in-2", out) == "compute"


def test_record_refuses_other_settings_and_unrecorded_folders(tmp_path):
    out = tmp_path / "a.png"
    out.write_bytes(b"x")
    with pytest.raises(SettingsMismatchError, match="no record of the settings"):
        OutputRecord(tmp_path, {"iters": 8}, skip_existing=True, existing=[out])
    rec = OutputRecord(tmp_path, {"iters": 8}, skip_existing=False, existing=[out])
    rec.written("a", "in-1", out)
    rec.close()
    with pytest.raises(SettingsMismatchError, match=r"different: iters\)") as info:
        OutputRecord(tmp_path, {"iters": 4}, skip_existing=True, existing=[out])
    assert "skip_existing=False" in str(info.value) and "skip_existing" not in info.value.reason
    new = OutputRecord(tmp_path, {"iters": 4}, skip_existing=False, existing=[out])  # a new record
    assert new.frames == {} and json.loads((tmp_path / RECORD_NAME).read_text())["frames"] == {}
    (tmp_path / RECORD_NAME).write_text("{not json")  # a damaged record counts as none
    with pytest.raises(SettingsMismatchError, match="no record of the settings"):
        OutputRecord(tmp_path, {"iters": 4}, skip_existing=True, existing=[out])
    os.remove(out)
    OutputRecord(tmp_path, {"iters": 4}, skip_existing=True, existing=[out])  # nothing to keep: fine
