"""Deblur many images or frames in parallel: locally, or on a Dask cluster (``dask.distributed``).

:func:`deblur_batch` turns every input frame into one task ``read -> solve ->
write``. The same call runs

- locally without a cluster (``client=None``): in this process, one frame
  after the other (``scheduler="sync"``) or on a thread pool
  (``scheduler="threads"``);
- on a ``dask.distributed`` cluster (``client=Client(...)``): a
  ``LocalCluster`` on one machine or any deployed cluster.

Guarantees
----------
- Results are written to ``output_dir`` as they finish, one file per frame,
  atomically (a temporary name in the same folder, then ``os.replace``; see
  :func:`pnp.io.write_image`), so no partial output file ever appears under
  the final name. Temporary files left by a killed worker are removed at the
  end of the call.
- A rerun skips frames whose output exists (``skip_existing=True``), so an
  interrupted batch continues where it stopped. The output folder records the
  settings that made its files and, per file, its input and the file as
  written (``.pnp-settings.json``, see :mod:`pnp.settings_record`): a rerun
  with another kernel, prior or solve option, or an output made from another
  input or changed since, raises instead of keeping old results; outputs with
  no entry are recomputed, never skipped.
- A worker that dies loses no frame: the scheduler reassigns its tasks (up to
  ``distributed.scheduler.allowed-failures`` deaths per task, 3 by default),
  and a task that raises is retried ``retries`` times.

What travels where
------------------
Each task carries the frame's path (or, for a video or in-memory frames, the
frame itself), the output name, and a small job description: the operator
(a kernel array of a few KB, or an operator object), the prior *spec* (a
registered name plus keyword arguments, or a picklable prior object without
its loaded network) and the solve options. Each worker builds the prior from
the spec once and keeps it in a per-worker cache (a
:class:`PriorCache` worker plugin), so a network is loaded once per worker
whatever the number of frames; FFT plans are cached per shape in each worker
process by :mod:`pnp.fft`.

Worker settings
---------------
Use one thread per worker process (``threads_per_worker=1``) and as many
processes as cores. Dask sets ``MALLOC_TRIM_THRESHOLD_=65536`` in the
environment of the workers it spawns. Measured here, a small TV solve then
costs 3x the CPU time (``docs/benchmarks_scale.md``); the likely cause is that
setting it switches off glibc's dynamic mmap threshold, so every array above
128 KB (a solve allocates many) is a fresh ``mmap`` that must be faulted in. Drop it before starting the
cluster::

    env = dict(dask.config.get("distributed.nanny.pre-spawn-environ"))
    env.pop("MALLOC_TRIM_THRESHOLD_", None)
    dask.config.set({"distributed.nanny.pre-spawn-environ": env})
"""

from __future__ import annotations

import glob
import os
import re
import threading
import time
import uuid
from pathlib import Path

import numpy as np

try:  # the cache is a Dask worker plugin when distributed is installed
    from distributed.diagnostics.plugin import WorkerPlugin as _PluginBase
except ImportError:  # pragma: no cover - local runs only
    _PluginBase = object

__all__ = ["deblur_batch", "PriorCache", "BatchJob", "PLUGIN_NAME"]

#: Name under which :class:`PriorCache` is registered on Dask workers.
PLUGIN_NAME = "pnp-prior-cache"


class PriorCache(_PluginBase):
    """Priors built from their spec, once per process (a Dask worker plugin on clusters).

    ``get(key, factory)`` returns the prior stored under ``key``, calling
    ``factory()`` the first time. Thread safe.
    """

    name = PLUGIN_NAME
    #: Dask: registering again (a second batch on the same client) keeps the cached priors
    idempotent = True

    def __init__(self):
        self._priors = {}
        self._lock = threading.Lock()
        self.builds = 0

    def setup(self, worker=None):
        """Worker-plugin hook: start empty on every (re)started worker."""
        self._priors = {}
        self.builds = 0

    def teardown(self, worker=None):
        """Worker-plugin hook: drop the priors."""
        self._priors = {}

    def __reduce__(self):
        return (PriorCache, ())  # an empty cache travels; priors are never pickled

    def get(self, key, factory):
        with self._lock:
            if key not in self._priors:
                self._priors[key] = factory()
                self.builds += 1
            return self._priors[key]


class BatchJob:
    """What every task needs besides its frame (picklable; sent with each task).

    Parameters
    ----------
    output_dir : pathlib.Path
    operator : object
        The forward operator (see :func:`pnp.solve`).
    prior : str or callable
        A registered prior name, or a picklable prior object.
    prior_kwargs : dict
        Options of a named prior.
    prior_key : str
        Cache key of the prior (computed once by :func:`deblur_batch`).
    suffix : str
        Output format (``".png"``, ``".tif"``...).
    skip_existing : bool
    solve_kwargs : dict
        Passed to :func:`pnp.solve`.
    since : float, optional
        With ``skip_existing``, only outputs written at or after this time
        (seconds since the epoch, file-system clock) are skipped; ``None``:
        any existing output.
    """

    def __init__(self, output_dir, operator, prior, prior_kwargs, prior_key, suffix, skip_existing, solve_kwargs,
                 since=None):
        self.output_dir = Path(output_dir)
        self.operator = operator
        self.prior = prior
        self.prior_kwargs = dict(prior_kwargs)
        self.prior_key = prior_key
        self.suffix = suffix
        self.skip_existing = bool(skip_existing)
        self.solve_kwargs = dict(solve_kwargs)
        self.since = since

    def output_path(self, name):
        return self.output_dir / f"{name}{self.suffix}"

    def build_prior(self):
        from priors.registry import get_prior

        if isinstance(self.prior, str):
            return get_prior(self.prior, **self.prior_kwargs)
        return get_prior(self.prior)


def _worker_cache():
    from distributed import get_worker

    return get_worker().plugins[PLUGIN_NAME]


def run_frame(name, source, job, cache=None):
    """One task: read ``source``, restore it, write ``job.output_path(name)``.

    Parameters
    ----------
    name : str
        Output name (without suffix).
    source : path or ndarray
        An image file, or the frame itself.
    job : BatchJob
    cache : PriorCache, optional
        Default: the worker's plugin (inside a Dask worker).

    Returns
    -------
    dict
        ``name``, ``status`` (``"written"`` or ``"skipped"``), ``path``,
        ``seconds``, ``pid`` (the process that ran it).
    """
    from .api import solve
    from .frames import check_frame_fits
    from .io import read_image, write_image

    t0 = time.perf_counter()
    out = job.output_path(name)
    if job.skip_existing and out.is_file() and (job.since is None or os.stat(out).st_mtime >= job.since):
        return dict(name=name, status="skipped", path=str(out), seconds=0.0, pid=os.getpid())
    if cache is None:
        cache = _worker_cache()
    prior = cache.get(job.prior_key, job.build_prior)
    y = read_image(source) if isinstance(source, (str, os.PathLike)) else np.asarray(source)
    check_frame_fits(job.operator, y, name)
    x = solve(y, job.operator, prior=prior, progress=False, **job.solve_kwargs)
    write_image(out, x)
    return dict(name=name, status="written", path=str(out), seconds=time.perf_counter() - t0, pid=os.getpid())


def _items(inputs, start=0, stop=None, step=1):
    """``[(name, source), ...]`` from a folder, a video, a list of paths or a list of arrays."""
    from .frames import VIDEO_SUFFIXES, _check_slice, _check_stack, _check_unique_names, read_frames

    _check_slice(start, stop, step)
    if isinstance(inputs, (str, os.PathLike)):
        p = Path(inputs)
        if p.is_dir():
            src = read_frames(p, start=start, stop=stop, step=step)  # refuses a.png beside a.tif
            return [(f.stem, str(f)) for f in src._files]
        if p.suffix.lower() in VIDEO_SUFFIXES:
            return list(read_frames(p, start=start, stop=stop, step=step))
        raise ValueError(f"inputs {p} is neither a folder nor a video file; pass a list of image paths")
    if isinstance(inputs, np.ndarray):
        _check_stack(inputs, "inputs")
    try:
        seq = list(inputs)[start:stop:step]
    except TypeError:
        raise TypeError(f"inputs must be a folder, a video or a sequence of paths or arrays, "
                        f"got {type(inputs).__name__}") from None
    items = []
    for i, s in enumerate(seq):
        if isinstance(s, (str, os.PathLike)):
            if not Path(s).is_file():
                raise FileNotFoundError(f"input image not found: {s}")
            items.append((Path(s).stem, str(s)))
        else:
            items.append((f"frame_{start + i * step:06d}", np.asarray(s)))
    _check_unique_names(items)
    return items


def _prior_key(prior, prior_kwargs):
    from dask.base import tokenize

    if isinstance(prior, str):
        return "name:" + prior.lower() + ":" + tokenize(sorted(prior_kwargs.items()))
    return "object:" + tokenize(prior)


def _prior_settings(prior, prior_kwargs):
    """What identifies the prior in the folder's settings record: the object, built here from a name."""
    if not isinstance(prior, str):
        return prior
    from priors.registry import get_prior

    try:
        obj = get_prior(prior, **prior_kwargs)
    except ImportError:  # an optional prior missing here but installed on the workers: the name must do
        obj = None
    return dict(name=prior.lower(), kwargs=prior_kwargs, object=obj)


def _clean_temporaries(output_dir, names, suffix):
    """Remove temporary files of ``names`` left behind by writers that were killed.

    Only names of the exact form :func:`pnp.io._temporary_file` creates,
    ``.{name}.<12 hex digits>{suffix}``, are removed; ``name`` is matched
    literally (``[``, ``*`` and ``?`` in it are not wildcards), so no other
    file of ``output_dir`` is touched.
    """
    for name in names:
        exact = re.compile(re.escape(f".{name}.") + r"[0-9a-f]{12}" + re.escape(suffix))
        for tmp in output_dir.glob(f"{glob.escape(f'.{name}.')}*{glob.escape(suffix)}"):
            if exact.fullmatch(tmp.name):
                tmp.unlink(missing_ok=True)


def deblur_batch(inputs, output_dir, kernel, prior="default", *, prior_kwargs=None, client=None,
                 scheduler="sync", threads=None, suffix=".png", retries=2, skip_existing=True,
                 precision="double", start=0, stop=None, step=1, progress=None, on_result=None,
                 **solve_kwargs):
    """Restore many frames in parallel and write one output file per frame.

    Parameters
    ----------
    inputs : str, os.PathLike or sequence
        A folder of images, a video file (frames are decoded here and sent
        with the tasks), a list of image paths, a list of arrays, or one
        ndarray stack ``(N, H, W)`` / ``(N, H, W, C)`` (one image is passed
        as ``[image]``).
    output_dir : str or os.PathLike
        Output folder (created). Frame ``name`` goes to ``name + suffix``
        (names: input file stems, or ``frame_000000``... for videos and
        arrays). On a cluster it must be storage every worker can write.
    kernel : ndarray, operator or estimator
        The blur, shared by all frames. An estimator is run once, here, on
        the first frame that can be read (see :func:`pnp.frames.build_operator`).
    prior : str or callable
        A registered prior name (built on each worker from the name and
        ``prior_kwargs``), or a picklable prior object (sent to the workers;
        :class:`priors.TorchDenoiser` objects travel without their network).
    prior_kwargs : dict, optional
        Options of a named prior.
    client : distributed.Client, optional
        Run on this Dask cluster. ``None``: run locally.
    scheduler : {"sync", "threads"}
        Local execution without a client.
    threads : int, optional
        Thread pool size for ``scheduler="threads"`` (default: CPU count).
    suffix : str
        Output format: ``".png"`` (8/16 bit as the input), ``".tif"``...
    retries : int
        Extra attempts for a task that raises (Dask ``retries``). Tasks of a
        worker that dies are reassigned by the scheduler in any case.
    skip_existing : bool
        Frames whose output exists are not recomputed, if the folder's record
        says it was made with the same settings (kernel or operator, prior and
        its weights files, solve options, suffix) from the same input, and was
        not changed since; outputs of other settings or inputs, or changed
        since, are an error, outputs with no entry are recomputed
        (:mod:`pnp.settings_record`). ``False``: recompute and replace.
    precision : {"double", "single"}
        Data step of a kernel array (see :func:`pnp.frames.build_operator`).
    start, stop, step : int
        Which frames: ``inputs[start:stop:step]``; ``start >= 0``,
        ``step >= 1``, ``stop`` None or ``>= 0`` (as for
        :class:`pnp.frames.FrameSource`).
    progress : bool, optional
        A progress bar over the frames (default: only on a terminal).
    on_result : callable, optional
        ``on_result(record)`` in this process as each frame finishes (see
        :func:`run_frame` for the record).
    **solve_kwargs
        Passed to :func:`pnp.solve` (``iters``, ``noise_level``...).

    Returns
    -------
    dict
        ``written`` and ``skipped`` (lists of names), ``records`` (one per
        frame, in input order), ``seconds``, ``frames_per_second`` (frames
        written per second of wall time).

    Raises
    ------
    RuntimeError
        If some frames failed after their retries (unreadable files
        included); the others are written, and a rerun only computes the
        missing ones. The operator is built from the first frame that can be
        read.
    ValueError
        If ``output_dir`` is the input folder, an output file would be one of
        the inputs, two inputs give the same output name (``a.png`` and
        ``a.tif``), an ndarray ``inputs`` is one image rather than a stack,
        or ``start``, ``stop`` or ``step`` is out of range; with
        ``skip_existing=True``, if outputs in ``output_dir`` were made with
        other settings or from other inputs, were changed since they were
        written, or the folder has no settings record (all checked before any
        frame is restored).
    """
    from tqdm.auto import tqdm

    from .frames import build_operator
    from .io import _same_file, check_image_suffix

    check_image_suffix(suffix)
    if scheduler not in ("sync", "threads"):
        raise ValueError(f"scheduler must be 'sync' or 'threads', got {scheduler!r}")
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValueError(f"retries must be an integer >= 0, got {retries!r}")
    prior_kwargs = dict(prior_kwargs or {})
    if prior_kwargs and not isinstance(prior, str):
        raise TypeError("prior_kwargs can only be given with a prior name")
    items = _items(inputs, start, stop, step)
    if not items:
        raise ValueError(f"no frames in {inputs!r}")
    output_dir = Path(output_dir)
    if isinstance(inputs, (str, os.PathLike)) and Path(inputs).is_dir() and _same_file(inputs, output_dir):
        raise ValueError(f"output_dir {output_dir} is the input folder {inputs}; write the results to another folder")
    for name, src in items:
        if isinstance(src, str) and _same_file(src, output_dir / f"{name}{suffix}"):
            raise ValueError(f"the output {output_dir / (name + suffix)} would overwrite the input {src}; "
                             "choose another output_dir")
    output_dir.mkdir(parents=True, exist_ok=True)

    from .io import read_image

    first = first_error = None
    for _, src in items:  # an estimator runs on the first readable frame; shape checks
        if not isinstance(src, str):
            first = src
            break
        try:
            first = read_image(src)
            break
        except (ValueError, OSError) as exc:  # reported again by its own task, with the other failures
            first_error = first_error or exc
    if first is None:
        raise RuntimeError(f"none of the {len(items)} frames could be read; first error: {first_error!r}") \
            from first_error
    operator, _ = build_operator(kernel, [first], scale=solve_kwargs.get("scale", 1), precision=precision,
                                 noise_level=solve_kwargs.get("noise_level"))
    from .settings_record import OutputRecord, input_identity

    settings = dict(operator=operator, prior=_prior_settings(prior, prior_kwargs), solve=solve_kwargs,
                    suffix=suffix, precision=precision)
    outputs = {n: output_dir / f"{n}{suffix}" for n, _ in items}
    record = OutputRecord(output_dir, settings, skip_existing, existing=list(outputs.values()))
    # every decision before any work: a conflicting output (another input, changed since) raises here
    ids = {n: input_identity(src) for n, src in items}
    todo = [(n, src) for n, src in items if record.plan(n, ids[n], outputs[n]) == "compute"]
    # a task rerun after its worker died finds the file that worker wrote in this call: written from now on
    since = os.stat(record.path).st_mtime
    job = BatchJob(output_dir, operator, prior, prior_kwargs, _prior_key(prior, prior_kwargs), suffix,
                   skip_existing, solve_kwargs, since=since)

    records = {}
    failures = []
    t0 = time.perf_counter()
    bar = tqdm(total=len(items), desc="pnp batch", unit="frame",
               disable=(None if progress is None else not progress))

    def done(rec):
        records[rec["name"]] = rec
        if rec["name"] in ids_todo:  # written now, or by a worker of this call that died after writing
            record.written(rec["name"], ids_todo[rec["name"]], outputs[rec["name"]])
        bar.update(1)
        if on_result is not None:
            on_result(rec)

    ids_todo = {n: ids[n] for n, _ in todo}
    try:
        for n, _ in items:
            if n not in ids_todo:
                done(dict(name=n, status="skipped", path=str(outputs[n]), seconds=0.0, pid=os.getpid()))
        if todo and client is not None:
            _run_distributed(client, todo, job, retries, done, failures)
        elif todo:
            _run_local(todo, job, scheduler, threads, done, failures)
    finally:
        bar.close()
        record.close()
        _clean_temporaries(output_dir, [n for n, _ in items], suffix)
    seconds = time.perf_counter() - t0
    if failures:
        names = ", ".join(n for n, _ in failures[:5])
        raise RuntimeError(f"{len(failures)} of {len(items)} frames failed ({names}...); the others are in "
                           f"{output_dir}. First error: {failures[0][1]!r}") from failures[0][1]
    ordered = [records[n] for n, _ in items]
    written = [r["name"] for r in ordered if r["status"] == "written"]
    return dict(written=written, skipped=[r["name"] for r in ordered if r["status"] == "skipped"],
                records=ordered, seconds=seconds,
                frames_per_second=len(written) / seconds if seconds > 0 else float("inf"))


def _run_local(items, job, scheduler, threads, done, failures):
    cache = PriorCache()
    if scheduler == "sync":
        for name, src in items:
            try:
                done(run_frame(name, src, job, cache))
            except Exception as exc:  # collected and re-raised with context by deblur_batch
                failures.append((name, exc))
        return
    from concurrent.futures import ThreadPoolExecutor, as_completed

    with ThreadPoolExecutor(max_workers=threads or os.cpu_count()) as pool:
        futures = {pool.submit(run_frame, name, src, job, cache): name for name, src in items}
        for fut in as_completed(futures):
            try:
                done(fut.result())
            except Exception as exc:
                failures.append((futures[fut], exc))


def _run_distributed(client, items, job, retries, done, failures):
    from distributed import as_completed

    client.register_plugin(PriorCache(), name=PLUGIN_NAME)
    token = uuid.uuid4().hex[:8]
    futures = {}
    for name, src in items:
        fut = client.submit(run_frame, name, src, job, key=f"pnp-frame-{name}-{token}", retries=retries,
                            pure=False)
        futures[fut] = name
    for fut in as_completed(futures):
        try:
            done(fut.result())
        except Exception as exc:
            failures.append((futures[fut], exc))
        finally:
            fut.release()
