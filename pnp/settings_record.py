"""Which settings made the files of an output folder: the guard behind ``skip_existing``.

A batch rerun with ``skip_existing=True`` keeps the frames whose output file
exists. Without a record of the settings that made them, a rerun with another
kernel, prior or iteration count would keep the old results beside the new
ones and report success. :func:`prepare` writes ``.pnp-settings.json`` into the
output folder: a description of the settings (:func:`describe`), its sha256,
and ``since``, the time from which files of the folder were made with them.
A frame is skipped only when its file exists, was written at or after
``since`` and the settings are the same; a rerun with other settings and
``skip_existing=True`` is an error that says what differs.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path

import numpy as np

__all__ = ["RECORD_NAME", "SettingsMismatchError", "describe", "prepare", "is_current"]

#: File name of the record inside an output folder.
RECORD_NAME = ".pnp-settings.json"

_MAX_DEPTH = 6


class SettingsMismatchError(ValueError):
    """Outputs exist that were not made with the settings of this call (see :func:`prepare`).

    ``reason`` says what was found; the message adds what to do in the Python API
    (``skip_existing=False``), which a command line replaces with its own option.
    """

    def __init__(self, reason):
        self.reason = reason
        super().__init__(f"{reason}; pass skip_existing=False to recompute and replace them, "
                         "or write to another folder")


def _sha256_bytes(data):
    return hashlib.sha256(data).hexdigest()


def _sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def describe(obj, depth=0):
    """A JSON-able description of ``obj`` that changes whenever its settings do.

    Arrays and tensors are described by shape, dtype and the sha256 of their
    bytes; objects by their class and public attributes (names that do not
    start with ``_``, so caches are left out), recursively. An object with a
    ``weight_files()`` method (the network priors) adds the sha256 of each of
    those files, so replaced weights count as other settings.

    Parameters
    ----------
    obj : object
    depth : int
        Recursion depth (internal); deeper objects are described by class only.

    Returns
    -------
    JSON-able value (None, bool, int, float, str, list or dict).
    """
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        return v if math.isfinite(v) else repr(v)
    if isinstance(obj, complex):
        return [obj.real, obj.imag]
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, np.ndarray):
        a = np.ascontiguousarray(obj)
        return {"ndarray": list(a.shape), "dtype": str(a.dtype), "sha256": _sha256_bytes(a.tobytes())}
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        torch = None
    if torch is not None and isinstance(obj, torch.Tensor):
        return describe(obj.detach().cpu().numpy(), depth)
    if torch is not None and isinstance(obj, torch.nn.Module):
        h = hashlib.sha256()
        for name, t in sorted(obj.state_dict().items()):
            h.update(name.encode())
            h.update(np.ascontiguousarray(t.detach().cpu().numpy()).tobytes())
        return {"class": _qualname(obj), "state_sha256": h.hexdigest()}
    if depth >= _MAX_DEPTH:
        return {"class": _qualname(obj)}
    if isinstance(obj, dict):
        return {str(k): describe(v, depth + 1) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, (list, tuple)):
        return [describe(v, depth + 1) for v in obj]
    if isinstance(obj, (set, frozenset)):
        return sorted((describe(v, depth + 1) for v in obj), key=repr)
    if callable(obj) and not hasattr(obj, "__dict__") or isinstance(obj, type) or _is_function(obj):
        return {"callable": _qualname(obj)}
    out = {"class": _qualname(obj)}
    state = getattr(obj, "__dict__", None)
    if state is not None:
        for k, v in sorted(state.items()):
            if not k.startswith("_"):
                out[k] = describe(v, depth + 1)
    weight_files = getattr(obj, "weight_files", None)
    if callable(weight_files):
        out["weight_files"] = {os.fspath(p): (_sha256_file(p) if Path(p).is_file() else None)
                               for p in weight_files()}
    return out


def _is_function(obj):
    import types

    return isinstance(obj, (types.FunctionType, types.BuiltinFunctionType, types.MethodType))


def _qualname(obj):
    t = obj if isinstance(obj, type) or _is_function(obj) else type(obj)
    return f"{getattr(t, '__module__', '?')}.{getattr(t, '__qualname__', getattr(t, '__name__', '?'))}"


def _differences(old, new, prefix=""):
    """Dotted keys where two descriptions differ (at most a handful)."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for k in sorted(set(old) | set(new)):
            if old.get(k, "<missing>") != new.get(k, "<missing>"):
                out += _differences(old.get(k), new.get(k), f"{prefix}.{k}" if prefix else k)
        return out
    return [prefix or "(all)"]


def prepare(output_dir, settings, output_paths, skip_existing):
    """Check the folder's record against ``settings`` and write it; returns ``since``.

    Parameters
    ----------
    output_dir : pathlib.Path
        The output folder (must exist).
    settings : dict
        What makes the outputs (operator, prior, solve options, suffix); it is
        passed through :func:`describe`.
    output_paths : list of pathlib.Path
        The files this call writes.
    skip_existing : bool
        Whether the caller will skip frames whose file exists.

    Returns
    -------
    float
        ``since`` (seconds since the epoch): a file written before it was not
        made with these settings, so it must not be skipped.

    Raises
    ------
    SettingsMismatchError
        A ``ValueError``. With ``skip_existing=True``, if outputs in the folder were made with
        other settings (the message names what differs), or if outputs exist
        with no record (written by an older version or by hand).
    """
    output_dir = Path(output_dir)
    desc = describe(settings)
    digest = _sha256_bytes(json.dumps(desc, sort_keys=True).encode())
    path = output_dir / RECORD_NAME
    old = None
    if path.is_file():
        try:
            old = json.loads(path.read_text())
            if not isinstance(old, dict) or not isinstance(old.get("sha256"), str) \
                    or not isinstance(old.get("since"), (int, float)):
                old = None
        except (OSError, ValueError):
            old = None
    if old is not None and old["sha256"] == digest:
        return float(old["since"])
    existing = [p for p in output_paths if p.is_file()]
    if skip_existing and existing:
        if old is None:
            raise SettingsMismatchError(
                f"{len(existing)} of the outputs exist in {output_dir} (e.g. {existing[0].name}) but the folder "
                f"has no record of the settings that made them ({RECORD_NAME}), so they cannot be kept safely")
        diff = _differences(old.get("settings"), desc)
        raise SettingsMismatchError(
            f"{len(existing)} of the outputs in {output_dir} (e.g. {existing[0].name}) were made with other "
            f"settings (different: {', '.join(diff[:6])}{', ...' if len(diff) > 6 else ''})")
    from .io import _atomic_target

    # ``since`` is the record's own modification time: the same (file-system) clock as the
    # outputs' times, which can lag ``time.time()`` by a clock tick
    record = {"sha256": digest, "since": None, "settings": desc}
    with _atomic_target(path) as tmp:
        Path(tmp).write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    since = os.stat(path).st_mtime
    record["since"] = since
    with _atomic_target(path) as tmp:
        Path(tmp).write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
        os.utime(tmp, (since, since))
    return since


def is_current(path, since):
    """Whether ``path`` exists and was written at or after ``since``."""
    try:
        return os.stat(path).st_mtime >= since
    except OSError:
        return False
