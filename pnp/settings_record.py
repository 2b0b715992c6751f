"""What made the files of an output folder: the guard behind ``skip_existing``.

A batch rerun with ``skip_existing=True`` keeps the frames whose output file
exists. Without a record, a rerun with another kernel, prior, iteration count
or *input* (frame names such as ``frame_000000`` repeat from video to video)
would keep the old results beside the new ones and report success.
:class:`OutputRecord` keeps ``.pnp-settings.json`` in the output folder:

- a description of the settings (:func:`describe`) and its sha256, one per
  folder. A rerun with other settings and ``skip_existing=True`` is an error
  that names what differs; ``skip_existing=False`` starts a new record;
- one entry per written frame: the identity of its input (file path, size
  and modification time, or the sha256 of an in-memory frame) and of the
  output file as written (size and modification time).

A frame is skipped only when its entry matches both: its input is the same
and nobody changed the output since. An output made from another input, or
changed since it was written, is an error (never silently kept, never
silently overwritten); an output with no entry (an interrupted run, or the
folder of an earlier run with other settings) is recomputed.
"""

from __future__ import annotations

import functools
import hashlib
import json
import marshal
import math
import os
import time
import types
from pathlib import Path

import numpy as np

__all__ = ["RECORD_NAME", "SettingsMismatchError", "OutputRecord", "describe", "input_identity"]

#: File name of the record inside an output folder.
RECORD_NAME = ".pnp-settings.json"

_MAX_DEPTH = 6


class SettingsMismatchError(ValueError):
    """Outputs exist that were not made with the settings or inputs of this call (see :class:`OutputRecord`).

    ``reason`` says what was found; the message adds what to do in the Python API
    (``skip_existing=False``), which a command line replaces with its own option.
    """

    def __init__(self, reason):
        self.reason = reason
        super().__init__(f"{reason}; pass skip_existing=False to recompute and replace them, "
                         "or write to another folder")


def _sha256_bytes(data):
    return hashlib.sha256(data).hexdigest()


def describe(obj, depth=0):
    """A JSON-able description of ``obj`` that changes whenever its settings do.

    Arrays and tensors are described by shape, dtype and the sha256 of their
    bytes; objects by their class and public attributes (names that do not
    start with ``_``, so caches are left out), recursively; functions and
    lambdas by their code, defaults and closure (the compiled code holds line
    numbers: moving a function in its file counts as a change, which errs on
    the safe side); ``functools.partial`` by its function and arguments. An object with a
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
    if isinstance(obj, functools.partial):
        return {"partial": describe(obj.func, depth + 1), "args": describe(list(obj.args), depth + 1),
                "keywords": describe(dict(obj.keywords), depth + 1)}
    if isinstance(obj, types.MethodType):
        return {"method": describe(obj.__func__, depth + 1), "self": describe(obj.__self__, depth + 1)}
    if isinstance(obj, types.FunctionType):  # a lambda or def: its code, defaults and closure count
        try:
            code = _sha256_bytes(marshal.dumps(obj.__code__))
        except ValueError:  # pragma: no cover - code objects always marshal
            code = None
        cells = []
        for cell in obj.__closure__ or ():
            try:
                cells.append(describe(cell.cell_contents, depth + 1))
            except ValueError:  # an empty cell
                cells.append(None)
        return {"function": _qualname(obj), "code": code, "defaults": describe(obj.__defaults__, depth + 1),
                "kwdefaults": describe(obj.__kwdefaults__, depth + 1), "closure": cells}
    if isinstance(obj, type) or _is_function(obj) or (callable(obj) and not hasattr(obj, "__dict__")):
        return {"callable": _qualname(obj)}
    out = {"class": _qualname(obj)}
    state = getattr(obj, "__dict__", None)
    if state is not None:
        for k, v in sorted(state.items()):
            if not k.startswith("_"):
                out[k] = describe(v, depth + 1)
    weight_files = getattr(obj, "weight_files", None)
    if callable(weight_files):
        from .io import file_sha256

        out["weight_files"] = {os.fspath(p): (file_sha256(p) if Path(p).is_file() else None)
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


def input_identity(source):
    """What identifies one input frame: a file by resolved path, size and modification time
    (cheap: the file is not read), an array by shape, dtype and the sha256 of its bytes.

    Returns
    -------
    str
    """
    if isinstance(source, (str, os.PathLike)):
        st = os.stat(source)
        return f"file:{os.path.realpath(source)}:{st.st_size}:{st.st_mtime_ns}"
    a = np.ascontiguousarray(np.asarray(source))
    return f"array:{a.shape}:{a.dtype.str}:{_sha256_bytes(a.tobytes())}"


def _output_identity(path):
    st = os.stat(path)
    return f"{st.st_size}:{st.st_mtime_ns}"


class OutputRecord:
    """The record of one output folder (``.pnp-settings.json``): settings, and an entry per frame.

    Parameters
    ----------
    output_dir : str or os.PathLike
        The output folder (must exist).
    settings : dict
        What makes the outputs (operator, prior, solve options, suffix); it is
        passed through :func:`describe`.
    skip_existing : bool
        Whether frames whose output exists may be skipped (see :meth:`plan`).
    existing : sequence of pathlib.Path, optional
        Outputs this call may write that exist already: with ``skip_existing``
        and a folder without record (or with other settings), they are an error.

    Raises
    ------
    SettingsMismatchError
        A ``ValueError``. With ``skip_existing=True``, if the folder holds
        outputs (``existing``) made with other settings (the message names what
        differs) or with no record (written by an older version or by hand).

    Notes
    -----
    The record is written at once and then every few seconds while frames are
    reported with :meth:`written`, and by :meth:`close`: a frame written just
    before a crash may have no entry, and is then recomputed by the next run.
    """

    FLUSH_SECONDS = 5.0

    def __init__(self, output_dir, settings, skip_existing, existing=()):
        self.path = Path(output_dir) / RECORD_NAME
        self.skip_existing = bool(skip_existing)
        desc = describe(settings)
        digest = _sha256_bytes(json.dumps(desc, sort_keys=True).encode())
        old = self._load()
        if old is not None and old["sha256"] == digest:
            self.frames = dict(old["frames"])
        else:
            existing = [p for p in existing if Path(p).is_file()]
            if self.skip_existing and existing:
                if old is None:
                    raise SettingsMismatchError(
                        f"{len(existing)} of the outputs exist in {self.path.parent} (e.g. {Path(existing[0]).name}) "
                        f"but the folder has no record of the settings that made them ({RECORD_NAME}), so they "
                        "cannot be kept safely")
                diff = _differences(old.get("settings"), desc)
                raise SettingsMismatchError(
                    f"{len(existing)} of the outputs in {self.path.parent} (e.g. {Path(existing[0]).name}) were made "
                    f"with other settings (different: {', '.join(diff[:6])}{', ...' if len(diff) > 6 else ''})")
            self.frames = {}  # new settings: no output of the folder counts as made with them
        self._record = {"sha256": digest, "settings": desc}
        self._dirty = True
        self._last = 0.0
        self.flush()

    def _load(self):
        if not self.path.is_file():
            return None
        try:
            old = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None
        if not (isinstance(old, dict) and isinstance(old.get("sha256"), str) and isinstance(old.get("frames"), dict)):
            return None  # damaged, or written by an older version: as if there were none
        return old

    def plan(self, name, input_id, output):
        """``"skip"`` or ``"compute"`` for frame ``name`` with input ``input_id`` and output file ``output``.

        ``"skip"`` only with ``skip_existing``, when ``output`` exists and the frame's
        entry records the same input and the output exactly as it was written.

        Raises
        ------
        SettingsMismatchError
            With ``skip_existing=True``, if ``output`` was made from another input,
            or changed since it was written (by another program or run).
        """
        if not self.skip_existing or not Path(output).is_file():
            return "compute"
        entry = self.frames.get(name)
        if entry is None:
            return "compute"  # no entry: an interrupted run, or outputs of earlier settings
        if entry[0] != input_id:
            raise SettingsMismatchError(
                f"{Path(output).name} in {self.path.parent} was made from another input than this call's frame "
                f"{name!r}, with the same name")
        if entry[1] != _output_identity(output):
            raise SettingsMismatchError(
                f"{Path(output).name} in {self.path.parent} was changed since pnp wrote it (by another program or "
                "run)")
        return "skip"

    def written(self, name, input_id, output):
        """Record that ``output`` was just written for frame ``name`` from input ``input_id``."""
        self.frames[name] = [input_id, _output_identity(output)]
        self._dirty = True
        if time.monotonic() - self._last >= self.FLUSH_SECONDS:
            self.flush()

    def flush(self):
        """Write the record now (atomically), if anything changed."""
        if not self._dirty:
            return
        from .io import _atomic_target

        record = dict(self._record, frames=self.frames)
        with _atomic_target(self.path) as tmp:
            Path(tmp).write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
        self._dirty = False
        self._last = time.monotonic()

    def close(self):
        """Write the last entries."""
        self.flush()
