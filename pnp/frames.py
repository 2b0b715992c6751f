"""Frame sequences: read a folder of images or a video, deblur every frame, write frames or a video.

What is shared across the frames of one call of :func:`deblur_frames`:

- the prior object (a network is loaded once, on the first frame);
- the forward operator, built once: from a kernel array, given directly
  (e.g. :class:`pnp.RotationalBlur`), or estimated once by an estimator
  object from the first few frames (``estimate_frames``; an estimator whose
  ``estimate(y, *frames)`` accepts several frames, such as
  :class:`pnp.estimate.RotationalBlurEstimator`, pools them, so a rotational
  blur gets one centre and angle for the whole sequence);
- everything the operator and :mod:`pnp.fft` cache per image shape: pyFFTW
  plans and kernel spectra (or the sparse matrix of a rotational blur).

Videos are read and written with imageio's ``FFMPEG`` plugin (the ffmpeg
binary ships with ``imageio-ffmpeg``); folders hold PNG, JPEG or TIFF files,
read in natural sort order with :func:`pnp.io.read_image` and written
atomically with :func:`pnp.io.write_image`.
"""

from __future__ import annotations

import inspect
import numbers
import os
import re
import time
import uuid
from pathlib import Path

import numpy as np

from .io import _same_file

__all__ = ["VIDEO_SUFFIXES", "VIDEO_OUTPUT_SUFFIXES", "FrameSource", "FrameWriter", "read_frames", "is_sequence", "deblur_frames",
           "build_operator"]

#: File suffixes treated as videos.
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".gif")
#: The video formats :class:`FrameWriter` writes (``.m4v`` and ``.gif`` are read only).
VIDEO_OUTPUT_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".mpg", ".mpeg")
#: Default ffmpeg codec per output suffix where ffmpeg's own default does not fit the container.
_DEFAULT_CODECS = {".webm": "libvpx-vp9"}


def _natural_key(path):
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", Path(path).name)]


def _check_unique_names(pairs):
    """Raise ValueError if two files of ``pairs`` (``(name, path)``) share an output name.

    Files such as ``a.png`` and ``a.tif`` both give the name ``a``; their
    outputs would overwrite each other.
    """
    seen = {}
    for name, path in pairs:
        if name in seen:
            raise ValueError(f"inputs have repeated file names: {seen[name]} and {path} both give the output name "
                             f"{name!r}, so their outputs would overwrite each other; rename or move one of them")
        seen[name] = path


def _check_slice(start, stop, step):
    """Raise ValueError unless ``start >= 0``, ``step >= 1`` are integers and ``stop`` is None or an integer >= 0.

    Shared by :class:`FrameSource` and :func:`pnp.batch.deblur_batch`, so that
    every frame selection follows the same rule (no negative or fractional
    indices, no reversed order).
    """
    for name, v in (("start", start), ("step", step)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < (0 if name == "start" else 1):
            raise ValueError(f"{name} must be an integer >= {0 if name == 'start' else 1}, got {v!r}")
    if stop is not None and (isinstance(stop, bool) or not isinstance(stop, (int, np.integer)) or stop < 0):
        raise ValueError(f"stop must be None or an integer >= 0, got {stop!r}")


def _check_stack(array, name):
    """Raise ValueError unless the ndarray ``array`` is a stack of frames, ``(N, H, W)`` or ``(N, H, W, C)``.

    A 2-D array is one gray image, and a 3-D array whose last axis has 1, 3
    or 4 entries is taken for one ``HxWxC`` image (a gray stack of frames
    only 1, 3 or 4 pixels wide is not a plausible input): iterating either
    would give rows of one image, not frames.
    """
    if array.ndim == 3 and array.shape[-1] in (1, 3, 4):
        raise ValueError(f"{name} of shape {array.shape} looks like one HxWxC image; pass [image] for one frame, "
                         "or a (N, H, W) / (N, H, W, C) stack")
    if array.ndim not in (3, 4):
        what = "looks like one HxW image" if array.ndim == 2 else "is not a stack of frames"
        raise ValueError(f"{name} of shape {array.shape} {what}; pass [image] for one frame, "
                         "or a (N, H, W) / (N, H, W, C) stack")


def is_sequence(path):
    """True if ``path`` names a frame sequence: an existing folder or a video file (by suffix)."""
    p = Path(path)
    return p.is_dir() or p.suffix.lower() in VIDEO_SUFFIXES


class FrameSource:
    """The frames of a folder, a video file or a list of arrays, in order.

    Iterating yields ``(name, frame)`` pairs: ``name`` a string without suffix
    (the file stem for a folder, ``frame_000000``... for videos and arrays),
    ``frame`` an ``HxW`` or ``HxWx3`` array (uint8 for videos; as stored for
    image files).

    Parameters
    ----------
    source : str, os.PathLike or sequence of ndarray
        A folder of images, a video file (suffix in :data:`VIDEO_SUFFIXES`),
        or the frames themselves: a list of arrays, or one ndarray stack of
        shape ``(N, H, W)`` or ``(N, H, W, C)``. One image is passed as
        ``[image]``; a single ``HxW`` array, or an ``HxWxC`` array with C in
        (1, 3, 4), is refused rather than split into rows.
    start, stop, step : int
        Which frames: ``frames[start:stop:step]``; ``start >= 0``,
        ``step >= 1``, ``stop`` None or ``>= 0``.

    Raises
    ------
    ValueError
        If two files of a folder give the same name (``a.png`` and
        ``a.tif``): their outputs would overwrite each other; if an ndarray
        ``source`` is not a stack of frames; if ``start``, ``stop`` or
        ``step`` is out of range or not an integer.

    Attributes
    ----------
    kind : {"folder", "video", "arrays"}
    fps : float or None
        Frame rate of a video source.
    """

    def __init__(self, source, start=0, stop=None, step=1):
        _check_slice(start, stop, step)
        self.start, self.stop, self.step = int(start), stop, int(step)
        self.fps = None
        self._files = None
        self._arrays = None
        if isinstance(source, (str, os.PathLike)):
            path = Path(source)
            if path.is_dir():
                from .io import IMAGE_SUFFIXES

                files = sorted((f for f in path.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES
                                and not f.name.startswith(".")), key=_natural_key)
                if not files:
                    raise FileNotFoundError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) in folder {path}")
                self.kind, self._files = "folder", files[self.start:self.stop:self.step]
                _check_unique_names((f.stem, f) for f in self._files)
            elif path.suffix.lower() in VIDEO_SUFFIXES:
                if not path.is_file():
                    raise FileNotFoundError(f"video file not found: {path}")
                self.kind, self.path = "video", path
                self.fps = self._video_meta().get("fps")
            else:
                raise ValueError(f"source {path} is neither a folder nor a video file "
                                 f"({', '.join(VIDEO_SUFFIXES)})")
        elif isinstance(source, (list, tuple)) or isinstance(source, np.ndarray):
            if isinstance(source, np.ndarray):
                _check_stack(source, "source")
            self.kind, self._arrays = "arrays", list(source)[self.start:self.stop:self.step]
        else:
            raise TypeError("source must be a folder, a video file or a sequence of arrays, "
                            f"got {type(source).__name__}")

    def _video_meta(self):
        import imageio.v3 as iio

        try:
            return dict(iio.immeta(self.path, plugin="FFMPEG"))
        except Exception as exc:  # imageio raises several types for unreadable files
            raise ValueError(f"cannot read video {self.path}: {exc}") from exc

    def __len__(self):
        if self._files is not None:
            return len(self._files)
        if self._arrays is not None:
            return len(self._arrays)
        import imageio.v2 as iio2

        with iio2.get_reader(self.path, format="FFMPEG") as r:
            n = r.count_frames()
        return len(range(n)[self.start:self.stop:self.step])

    def __iter__(self):
        if self._files is not None:
            from .io import read_image

            for f in self._files:
                yield f.stem, read_image(f)
        elif self._arrays is not None:
            for i, a in enumerate(self._arrays):
                yield f"frame_{self.start + i * self.step:06d}", np.asarray(a)
        else:
            import imageio.v3 as iio

            stop = np.inf if self.stop is None else self.stop
            for i, frame in enumerate(iio.imiter(self.path, plugin="FFMPEG")):
                if i >= stop:
                    break
                if i >= self.start and (i - self.start) % self.step == 0:
                    yield f"frame_{i:06d}", frame


def read_frames(source, start=0, stop=None, step=1):
    """Return a :class:`FrameSource` (iterate it for ``(name, frame)`` pairs)."""
    return FrameSource(source, start=start, stop=stop, step=step)


class FrameWriter:
    """Write frames to a folder (one image file each) or to a video file.

    Parameters
    ----------
    output : str or os.PathLike
        A video file (suffix in :data:`VIDEO_OUTPUT_SUFFIXES`) or a folder
        (created if missing).
    fps : float
        Frame rate of a video output (finite, > 0; None gives 25).
    suffix : str
        Image format of folder output: one of :data:`pnp.io.IMAGE_SUFFIXES`
        (``".png"``, ``".tif"``...).
    codec : str, optional
        ffmpeg codec of a video output (default: ffmpeg's choice for the
        suffix, H.264 for ``.mp4``; VP9 for ``.webm``).
    quality : float, optional
        imageio-ffmpeg's quality (0-10) for a video output.

    Raises
    ------
    ValueError
        If ``fps`` is not a finite number > 0, ``suffix`` is not a supported
        image suffix, or ``output`` is a video format that is read but not
        written (``.m4v``, ``.gif``).
    RuntimeError
        If ffmpeg cannot encode the video (e.g. an unknown ``codec``); no
        file is left under ``output``.

    Notes
    -----
    Folder frames are written atomically (see :func:`pnp.io.write_image`).
    Videos are 8 bit; frames with an odd width or height are padded by one
    edge pixel (H.264 needs even sizes). A video is written to a temporary
    name and renamed on :meth:`close`, so an interrupted run leaves no
    half-written video under ``output``.
    """

    def __init__(self, output, fps=25.0, suffix=".png", codec=None, quality=None):
        from .io import check_image_suffix

        if fps is None:
            fps = 25.0
        if isinstance(fps, bool) or not isinstance(fps, numbers.Real) or not np.isfinite(fps) or fps <= 0:
            raise ValueError(f"fps must be a finite number > 0 (frames per second), got {fps!r}")
        check_image_suffix(suffix)
        self.output = Path(output)
        self.fps = float(fps)
        self.suffix = suffix
        self.is_video = self.output.suffix.lower() in VIDEO_SUFFIXES
        self._writer = None
        self.written = []
        if self.is_video:
            if self.output.suffix.lower() not in VIDEO_OUTPUT_SUFFIXES:
                raise ValueError(f"cannot write {self.output.suffix} videos ({self.output}); write one of "
                                 f"{', '.join(VIDEO_OUTPUT_SUFFIXES)}, or a folder of frames")
            if not self.output.parent.is_dir():
                raise FileNotFoundError(f"output folder does not exist: {self.output.parent}")
            # a unique temporary name: two writers of one output (or a crashed run's leftover) never share it
            self._tmp = self.output.with_name(f".{self.output.stem}.{uuid.uuid4().hex[:12]}.partial"
                                              f"{self.output.suffix}")
            self._codec = codec if codec is not None else _DEFAULT_CODECS.get(self.output.suffix.lower())
            self._quality = quality
        else:
            self.output.mkdir(parents=True, exist_ok=True)

    def path_for(self, name):
        """The file a folder output writes frame ``name`` to."""
        return self.output / f"{name}{self.suffix}"

    def write(self, name, frame):
        """Append one frame (public layout, uint8/uint16/float 0-1)."""
        if not self.is_video:
            from .io import write_image

            write_image(self.path_for(name), frame)
            self.written.append(self.path_for(name))
            return
        from .io import to_uint

        frame = to_uint(frame, np.uint8)
        if frame.ndim == 2:
            frame = np.repeat(frame[..., None], 3, axis=2)
        H, W = frame.shape[:2]
        if H % 2 or W % 2:
            frame = np.pad(frame, ((0, H % 2), (0, W % 2), (0, 0)), mode="edge")
        if self._writer is None:
            import imageio.v2 as iio2

            kw = dict(fps=self.fps, macro_block_size=1)
            if self._codec:
                kw["codec"] = self._codec
            if self._quality is not None:
                kw["quality"] = self._quality
            try:
                self._writer = iio2.get_writer(self._tmp, format="FFMPEG", **kw)
            except Exception as exc:
                self._tmp.unlink(missing_ok=True)
                raise self._failure(exc) from exc
        try:
            self._writer.append_data(frame)
        except Exception as exc:
            raise self._failure(exc) from exc
        self.written.append(name)

    def _failure(self, exc):
        return RuntimeError(f"ffmpeg could not encode {self.output} (codec {self._codec or 'default'}): {exc}")

    def close(self, keep=True):
        """Finish a video (rename it into place, or delete it with ``keep=False``)."""
        if self._writer is not None:
            writer, self._writer = self._writer, None
            try:
                writer.close()
            except Exception as exc:
                self._tmp.unlink(missing_ok=True)
                if keep:
                    raise self._failure(exc) from exc
                return
            if keep and not self._tmp.is_file():  # ffmpeg failed without raising
                raise self._failure("no output was written")
            if keep:
                os.replace(self._tmp, self.output)
            else:
                self._tmp.unlink(missing_ok=True)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close(keep=exc_type is None)


def _accepts_several(estimate):
    """True if ``estimate`` takes more than one positional argument (``estimate(y, *frames)``)."""
    try:
        params = inspect.signature(estimate).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.kind is p.VAR_POSITIONAL for p in params) or \
        sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params) > 1


def build_operator(kernel, frames, scale=1, precision="double", noise_level=None):
    """The one forward operator used for a whole sequence.

    Parameters
    ----------
    kernel : ndarray, operator, estimator or ``"estimate"``
        As for :func:`pnp.solve`. An estimator (an object with ``estimate``)
        is called once: with all of ``frames`` if its ``estimate`` accepts
        several (``estimate(y, *frames)``), else with the first frame.
    frames : list of ndarray
        Frames used by an estimator (at least one).
    scale : int
        Super-resolution factor for a kernel array.
    precision : {"double", "single"}
        For a kernel array: ``"double"`` gives :class:`pnp.operators.Blur`
        (exact masked data step at padded borders); ``"single"`` wraps it in
        :class:`pnp.datasteps.fft.ClosedFormBlur`, the large-image mode
        (one-pass float32 FFT step: less time and memory).
    noise_level : float, optional
        Known noise level of the frames (0-1 scale), handed to an estimator
        that takes it (see :func:`pnp.api.run_estimator`).

    Returns
    -------
    operator : object
    estimator : object or None
    """
    from .api import make_operator, run_estimator

    if not frames:
        raise ValueError("build_operator needs at least one frame")
    estimator = None
    if isinstance(kernel, str):
        if kernel != "estimate":
            raise ValueError(f"kernel must be an array, an operator, an estimator or 'estimate'; got {kernel!r}")
        from .estimate import default_estimator

        kernel = default_estimator(scale=scale)
    if hasattr(kernel, "estimate") and not hasattr(kernel, "data_step"):
        estimator = kernel
        kernel = run_estimator(estimator, frames if _accepts_several(estimator.estimate) else frames[:1],
                               noise_level)
    operator, _ = make_operator(frames[0], kernel, scale)
    if precision != "double":
        from .datasteps.fft import ClosedFormBlur
        from .fft import real_dtype
        from .operators import Blur

        real_dtype(precision)
        if isinstance(operator, Blur):
            operator = ClosedFormBlur(operator, precision)
    return operator, estimator


def deblur_frames(source, output, kernel, prior="default", *, estimate_frames=5, precision="double",
                  start=0, stop=None, step=1, fps=None, skip_existing=False, progress=None,
                  on_frame=None, **solve_kwargs):
    """Deblur every frame of a folder or video and write frames or a video.

    Parameters
    ----------
    source : str, os.PathLike or sequence of ndarray
        A folder of images, a video file, or the frames themselves.
    output : str or os.PathLike
        A folder (one image per frame, PNG; names follow the input files, or
        ``frame_000000.png``...) or a video file (suffix in
        :data:`VIDEO_SUFFIXES`).
    kernel : ndarray, operator, estimator or ``"estimate"``
        The blur, shared by all frames (see :func:`build_operator`).
    prior : str or callable
        Built once and reused for every frame.
    estimate_frames : int
        Number of leading frames given to an estimator (ignored otherwise).
    precision : {"double", "single"}
        Data step of a kernel array (see :func:`build_operator`).
    start, stop, step : int
        Which frames to process.
    fps : float, optional
        Frame rate of a video output (default: the source's, else 25).
    skip_existing : bool
        With folder output, frames whose file exists are not recomputed (a
        rerun after an interruption continues where it stopped), if the
        folder's record says they were made with the same settings from the
        same frame and not changed since; outputs of other settings or frames,
        or changed since, are an error (:mod:`pnp.settings_record`).
    progress : bool, optional
        One progress bar over the frames (default: only on a terminal).
    on_frame : callable, optional
        ``on_frame(index, name, restored)`` after each frame.
    **solve_kwargs
        Passed to :func:`pnp.solve` for every frame (``iters``,
        ``noise_level``, ``solver``, ``boundary``...). ``progress`` of the
        single solves is turned off.

    Returns
    -------
    dict
        ``frames`` (number processed), ``skipped``, ``written`` (paths, or
        frame names for a video), ``operator``, ``estimator``, ``seconds``.

    Raises
    ------
    ValueError
        If ``output`` is the source folder or video itself (symlinks
        resolved), two files of a source folder give the same frame name, or
        (``skip_existing=True``) the output folder holds images made with
        other settings or from other frames, changed since, or with no
        settings record; or a frame is smaller than the kernel.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from pnp.frames import deblur_frames
    >>> frames = [np.tile(np.linspace(0.2, 0.8, 32), (32, 1))] * 2
    >>> out = deblur_frames(frames, tempfile.mkdtemp(), np.ones((3, 3)), prior="tv",
    ...                     iters=2, noise_level=0.01, progress=False)
    >>> out["frames"]
    2
    """
    from tqdm.auto import tqdm

    from priors.registry import get_prior

    from .api import solve
    from .settings_record import OutputRecord, input_identity

    if isinstance(estimate_frames, bool) or not isinstance(estimate_frames, int) or estimate_frames < 1:
        raise ValueError(f"estimate_frames must be an integer >= 1, got {estimate_frames!r}")
    if isinstance(source, (str, os.PathLike)) and _same_file(source, output):
        raise ValueError(f"output {output} is the input {'folder' if Path(source).is_dir() else 'video'} "
                         f"{source}; write the restored frames to another folder or file")
    frames = read_frames(source, start=start, stop=stop, step=step)
    prior_obj = get_prior(prior)
    created = not Path(output).exists()  # a folder made here and left empty is removed again
    writer = FrameWriter(output, fps=fps if fps is not None else (frames.fps or 25.0))
    try:
        total = len(frames)
    except Exception:  # a video whose length ffmpeg cannot count: no total on the bar
        total = None
    t0 = time.perf_counter()
    it = iter(frames)
    operator = estimator = None
    head = []
    needs_frames = isinstance(kernel, str) or (hasattr(kernel, "estimate") and not hasattr(kernel, "data_step"))
    if needs_frames:
        for pair in it:
            head.append(pair)
            if len(head) >= estimate_frames:
                break
        if not head:
            raise _no_frames(source, writer, created)
    done, skipped = 0, 0
    record = None
    try:
        with writer, tqdm(total=total, desc="pnp frames", unit="frame",
                          disable=(None if progress is None else not progress)) as bar:
            for name, frame in _chain(head, it):
                if operator is None:
                    operator, estimator = build_operator(
                        kernel, [f for _, f in head] or [frame], scale=solve_kwargs.get("scale", 1),
                        precision=precision, noise_level=solve_kwargs.get("noise_level"))
                    if not writer.is_video:
                        settings = dict(operator=operator, prior=prior_obj, solve=solve_kwargs,
                                        suffix=writer.suffix, precision=precision)
                        record = OutputRecord(writer.output, settings, skip_existing,
                                              existing=sorted(writer.output.glob(f"*{writer.suffix}")))
                check_frame_fits(operator, frame, name)
                if record is not None:
                    iid = input_identity(frame)
                    if record.plan(name, iid, writer.path_for(name)) == "skip":
                        skipped += 1
                        bar.update(1)
                        continue
                restored = solve(frame, operator, prior=prior_obj, progress=False, **solve_kwargs)
                writer.write(name, restored)
                if record is not None:
                    record.written(name, iid, writer.path_for(name))
                if on_frame is not None:
                    on_frame(done + skipped, name, restored)
                done += 1
                bar.update(1)
    finally:
        if record is not None:
            record.close()
    if done + skipped == 0:
        raise _no_frames(source, writer, created)
    return dict(frames=done, skipped=skipped, written=list(writer.written), operator=operator,
                estimator=estimator, seconds=time.perf_counter() - t0)


def _no_frames(source, writer, created):
    """The error for a source without frames; an output folder made for it and still empty is removed."""
    if created and not writer.is_video and writer.output.is_dir() and not any(writer.output.iterdir()):
        writer.output.rmdir()
    return ValueError(f"no frames in {source!r}")


def check_frame_fits(operator, frame, name):
    """Refuse a frame smaller than the operator's kernel, as :func:`pnp.solve` refuses an image.

    A sequence's operator is built from its first frame; later frames of
    another size are checked here (a kernel operator only).

    Raises
    ------
    ValueError
        Naming the frame, if the kernel is larger than the frame (times the scale).
    """
    op = getattr(operator, "operator", operator)  # ClosedFormBlur wraps a Blur
    kernel = getattr(op, "kernel", None)
    if kernel is None or not hasattr(kernel, "shape"):
        return
    s = getattr(op, "scale", 1)
    H, W = np.shape(frame)[0] * s, np.shape(frame)[1] * s
    if kernel.shape[0] > H or kernel.shape[1] > W:
        raise ValueError(f"frame {name!r}: the kernel of shape {kernel.shape} is larger than the image ({H}x{W}); "
                         "crop the kernel or leave out frames this small")


def _chain(head, it):
    yield from head
    yield from it
