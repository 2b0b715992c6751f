"""The ``pnp`` command: ``pnp deblur`` restores image files, ``pnp priors`` lists the priors.

Run ``pnp --help`` and ``pnp deblur --help`` for the options. Exit status: 0 on
success, 1 when an image could not be restored (unreadable file, kernel larger
than the image, solver error), 2 for a wrong command line (unknown option, bad
value, missing file, output that would overwrite an input).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import glob
import os
import sys
import warnings
from pathlib import Path

import numpy as np

from .io import _same_file

__all__ = ["main", "build_parser"]

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A problem with the command line (exit status 2)."""


class Failure(Exception):
    """A file could not be processed (exit status 1)."""


_DEBLUR_EPILOG = """\
noise level:
  --noise-level is the standard deviation of the noise in 8-bit grey levels
  (0-255 units), whatever the file's bit depth: --noise-level 2.55 means
  sigma = 2.55/255 = 0.01 of the full intensity range. Without it the level
  is estimated from each image.

inputs and outputs:
  INPUT is an image file (PNG, JPEG, TIFF; 8 or 16 bit), a folder (all images
  in it), a quoted glob pattern ('blurred/*.png') or a video (.mp4, .avi, ...;
  OUTPUT is then a folder of PNG frames or a video file; frames already in the
  folder are skipped, so an interrupted run continues, if the folder's record
  says they were made with the same settings: a rerun with other settings
  stops with an error unless --recompute is given; --recompute is refused
  with any other input or OUTPUT). With several inputs (a file given twice
  counts once), a folder or a glob, OUTPUT is a folder (created if missing,
  so it may not end in an image suffix) and each result keeps its input's
  file name. Outputs keep the input's bit depth (JPEG is always 8 bit), are
  written atomically, and may never be one of the inputs (images, --kernel
  file, --reference) or another output (--compare, --save-kernel). A single
  output's folder must exist; batch OUTPUT and --compare folders are created.

kernels:
  --kernel reads PNG/JPEG/TIFF (intensities), NPY/NPZ or MATLAB .mat files; the
  kernel is normalised to unit sum, its origin is pixel (kh//2, kw//2). A file
  with several variables or kernels needs --kernel-key and/or --kernel-index.
  --kernel estimate (the default) estimates a camera-shake kernel from the
  image; it needs --scale 1 and an image at least twice the estimated
  kernel's size (31x31 by default, so 62x62 pixels): otherwise give --kernel
  FILE.

rotational blur (a spinning object, e.g. a mixer, seen by a still camera):
  --rotation-center X Y is the centre of rotation in pixels of the input
  image: X the column, Y the row, counted from 0 at the top-left pixel (it
  may lie outside the image). The rotation during one exposure is either
  --rotation-angle DEG (degrees, positive is counter-clockwise on screen, at
  most 360) or --rpm RPM --exposure SECONDS (revolutions per minute and the
  exposure time of one frame in seconds, e.g. 0.002 or 1/500: the angle is
  360 * RPM / 60 * SECONDS degrees). --rotation-radius R makes only the disk
  of R pixels around the centre rotate (the background outside stays sharp);
  --rotation-inner-radius R0 makes it the ring R0 <= r < R. Without
  --rotation-radius the whole image turns.
  --kernel estimate-rotation estimates the centre and the angle (1 to 45
  degrees) from the image (a video: from its first 5 frames); a known
  --rotation-center, --rotation-angle DEG (or --rpm RPM --exposure SECONDS;
  at most 90 degrees) and/or --rotation-radius R [--rotation-inner-radius R0]
  are used as given, and only the rest is estimated: the disk radius too
  unless given (or the whole image turns, if no static background is found).
  Below about 10 degrees the angle search can fail on a patterned disk: give
  the angle (or rpm and exposure) when it is known. The rotation used
  (estimated or given) is printed. Rotational blur needs --scale 1; it has no
  kernel array, so --save-kernel does not apply.
  --rotation-model auto (the default) computes the blur on polar grids when
  the image and angle are large (a 512x512 image from 15 degrees, a
  1024x1024 one from 5.5 degrees: its arcs would need gigabytes as one sparse
  matrix), and as one sparse matrix of arcs otherwise; 'arcs' or 'polar'
  forces one of them, with or without --device.

exit status:
  0 success, 1 an image could not be restored, 2 bad command line
  (unknown option, bad value, missing file or folder, output equal to an
  input or to another output).

examples:
  pnp deblur photo.png -o sharp.png --kernel psf.png --noise-level 2.55
  pnp deblur small.png -o big.png --kernel gauss.npy --scale 2 --prior tv
  pnp deblur 'blurred/*.png' -o restored/ --kernel levin.mat --kernel-index 3
  pnp deblur photo.png -o sharp.png --kernel psf.npy --compare side_by_side.png
  pnp deblur mixer.png -o sharp.png --rotation-center 412 300 --rpm 1500 --exposure 1/500 --rotation-radius 180
  pnp deblur mixer.mp4 -o frames/ --rotation-center 412 300 --rotation-angle 18
  pnp deblur mixer.png -o sharp.png --kernel estimate-rotation --rotation-radius 180
"""


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line hint after usage errors."""

    def error(self, message):
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n(see '{self.prog} --help')\n")


def build_parser():
    """The argument parser of the ``pnp`` command (used by :func:`main` and the docs)."""
    from . import __version__

    parser = _Parser(
        prog="pnp",
        description="Plug-and-play image deblurring and super-resolution (pnp-deblur).",
        epilog="Run 'pnp COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"pnp-deblur {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    d = sub.add_parser(
        "deblur",
        help="restore blurred (and optionally low-resolution) images",
        description="Restore blurred images with plug-and-play HQS/ADMM (pnp.solve).",
        epilog=_DEBLUR_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    d.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="image file, folder of images, quoted glob pattern, or a video file")
    d.add_argument("-o", "--output", required=True, metavar="OUTPUT",
                   help="output file (one input) or folder (several inputs)")
    d.add_argument("-k", "--kernel", default=None, metavar="FILE|estimate|estimate-rotation",
                   help="blur kernel file (PNG/JPEG/TIFF/NPY/NPZ/MAT), 'estimate' (a camera-shake kernel, the "
                        "default without rotation options) or 'estimate-rotation' (the centre and angle of a "
                        "rotational blur)")
    d.add_argument("--kernel-key", metavar="NAME", help="variable name inside a .mat/.npz kernel file")
    d.add_argument("--kernel-index", type=int, metavar="I",
                   help="which kernel of a stack or cell array (0-based)")
    r = d.add_argument_group("rotational blur", "a spinning object, e.g. a mixer (see 'rotational blur' below)")
    r.add_argument("--rotation-center", nargs=2, type=float, metavar=("X", "Y"),
                   help="centre of rotation in pixels: X the column, Y the row, from 0 at the top-left pixel")
    r.add_argument("--rotation-angle", type=float, metavar="DEG",
                   help="rotation during one exposure in degrees (positive: counter-clockwise on screen)")
    r.add_argument("--rpm", type=float, metavar="RPM",
                   help="rotation speed in revolutions per minute (instead of --rotation-angle; needs --exposure)")
    r.add_argument("--exposure", type=_seconds, metavar="SECONDS",
                   help="exposure time of one frame in seconds, e.g. 0.002 or 1/500 (with --rpm)")
    r.add_argument("--rotation-radius", type=_radius, metavar="R",
                   help="only the disk of R pixels around the centre rotates (default: the whole image; "
                        "with --kernel estimate-rotation: estimated)")
    r.add_argument("--rotation-inner-radius", type=float, metavar="R0",
                   help="with --rotation-radius R: only the ring R0 <= r < R rotates (pixels)")
    r.add_argument("--rotation-model", choices=("auto", "arcs", "polar"), default=None,
                   help="how the blur is computed: 'arcs' (one sparse matrix of arcs: fastest for small images "
                        "and angles), 'polar' (polar grids: memory and time that do not grow with the angle, for "
                        "large images and angles) or 'auto' (default: the cheaper for the image size and angle)")
    d.add_argument("-p", "--prior", default="default", metavar="NAME",
                   help="image prior: a name listed by 'pnp priors', or 'default' (default)")
    d.add_argument("--prior-weights", metavar="WEIGHTS",
                   help="weights of a network prior: 'small' (attention-unet: the earlier, narrower network, "
                        "about half the time per call) or a .pt file with its .json beside it")
    d.add_argument("--solver", default="hqs", choices=("hqs", "admm"), help="splitting scheme (default: hqs)")
    d.add_argument("-n", "--iters", type=int, default=8, metavar="N", help="iterations (default: 8)")
    d.add_argument("--noise-level", type=float, metavar="X",
                   help="noise standard deviation in 0-255 units (2.55 means 2.55/255); default: estimated")
    d.add_argument("-s", "--scale", type=int, default=1, metavar="S",
                   help="super-resolution factor: the output is S times larger (default: 1)")
    d.add_argument("--boundary", default="taper", choices=("taper", "reflect", "circular"),
                   help="border handling (default: taper)")
    d.add_argument("--device", metavar="DEVICE",
                   help="run the whole loop with torch on DEVICE (cpu, cuda, ...); needs a network prior such as drunet")
    d.add_argument("--compare", metavar="FILE",
                   help="also write a side-by-side figure (PNG/PDF/SVG); a folder in batch mode")
    d.add_argument("--reference", metavar="FILE",
                   help="ground-truth image (one input only): print PSNR/SSIM and show them in --compare")
    d.add_argument("--save-kernel", metavar="FILE",
                   help="write the kernel that was used (.npy or image; one input only), e.g. an estimated one")
    d.add_argument("--recompute", action="store_true",
                   help="only for a video INPUT with a folder OUTPUT: recompute and replace frames already in "
                        "the folder (by default they are skipped if made with the same settings)")
    d.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="show a progress bar (default: only on a terminal)")
    d.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    d.add_argument("--debug", action="store_true", help="show Python tracebacks of errors")
    d.set_defaults(func=_run_deblur)

    p = sub.add_parser("priors", help="list the available image priors",
                       description="List the prior names accepted by 'pnp deblur --prior'.")
    p.set_defaults(func=_run_priors)
    return parser


# -- helpers ------------------------------------------------------------------
def _seconds(text):
    """``--exposure``: seconds, as a number (``0.002``) or a fraction (``1/500``)."""
    try:
        if "/" in text:
            num, den = text.split("/", 1)
            return float(num) / float(den)
        return float(text)
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"invalid exposure {text!r}: give seconds as a number (0.002) or a "
                                         "fraction (1/500)") from None


def _radius(text):
    """``--rotation-radius``: pixels, or ``auto`` (estimated, with ``--kernel estimate-rotation``)."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid radius {text!r}: give pixels (a number) or 'auto'") from None


#: The failure of ``--kernel estimate-rotation`` with a known centre outside the image.
_CENTER_OUTSIDE = ("{name}: --rotation-center {x:g} {y:g} lies outside {size}: --kernel estimate-rotation needs the "
                   "centre inside it; to use a centre outside, give the angle (--rotation-angle DEG, or --rpm RPM "
                   "--exposure SECONDS) without --kernel estimate-rotation")
#: ``--kernel`` values that are not files.
_KERNEL_WORDS = ("estimate", "estimate-rotation")
#: The options that describe a rotational blur (argparse destinations) and their names on the command line.
_ROTATION_OPTIONS = {"rotation_center": "--rotation-center", "rotation_angle": "--rotation-angle", "rpm": "--rpm",
                     "exposure": "--exposure", "rotation_radius": "--rotation-radius",
                     "rotation_inner_radius": "--rotation-inner-radius", "rotation_model": "--rotation-model"}


def _check_rotation(args):
    """Validate the rotational-blur options (exit 2) and decide what ``--kernel`` means.

    Sets ``args.rotation`` to ``None`` (no rotational blur), ``"known"`` (an
    operator from the centre and the angle or rpm/exposure) or ``"estimate"``
    (:class:`pnp.RotationalBlurEstimator`), and ``args.kernel`` to
    ``"estimate"`` when neither ``--kernel`` nor a known rotation is given.
    """
    given = [name for dest, name in _ROTATION_OPTIONS.items() if getattr(args, dest) is not None]
    known = [name for name in ("--rotation-angle", "--rpm", "--exposure") if name in given]
    args.rotation = None
    if args.kernel is not None and args.kernel not in _KERNEL_WORDS:
        if given:
            raise UsageError(f"{', '.join(given)} describe{'s' if len(given) == 1 else ''} a rotational blur, which "
                             f"replaces the kernel: drop --kernel {args.kernel} or the rotation options")
        return
    if args.kernel == "estimate" and given:
        raise UsageError(f"--kernel estimate estimates a camera-shake kernel and takes no {', '.join(given)}; for a "
                         "rotational blur give --rotation-center X Y with --rotation-angle DEG (or --rpm RPM "
                         "--exposure SECONDS), or --kernel estimate-rotation to estimate it")
    if args.rotation_angle is not None and (args.rpm is not None or args.exposure is not None):
        raise UsageError("give the rotation either as --rotation-angle DEG or as --rpm RPM --exposure SECONDS, "
                         "not both")
    if args.rpm is not None and args.exposure is None:
        raise UsageError("--rpm needs --exposure SECONDS, the exposure time of one frame (e.g. 1/500)")
    if args.exposure is not None and args.rpm is None:
        raise UsageError("--exposure needs --rpm RPM, the rotation speed in revolutions per minute")
    if args.kernel == "estimate-rotation":
        args.rotation = "estimate"  # a given angle (or rpm and exposure) is kept: only the centre is estimated
    elif known:
        if args.rotation_center is None:
            raise UsageError(f"{known[0]} needs the centre of the rotation: --rotation-center X Y (pixels: X the "
                             "column, Y the row)")
        args.rotation = "known"
    elif given:
        raise UsageError(f"{', '.join(given)} describe{'s' if len(given) == 1 else ''} a rotational blur: add "
                         "--rotation-angle DEG (or --rpm RPM --exposure SECONDS) if the rotation is known, or "
                         "--kernel estimate-rotation to estimate it")
    else:
        args.kernel = "estimate" if args.kernel is None else args.kernel
        return
    # values (the API's own checks would name its parameters, not the options)
    if args.rotation_center is not None and not all(np.isfinite(args.rotation_center)):
        raise UsageError(f"--rotation-center must be two finite numbers X Y (pixels), got "
                         f"{' '.join(f'{v:g}' for v in args.rotation_center)}")
    if args.rotation_angle is not None:
        a = args.rotation_angle
        if not np.isfinite(a) or a == 0 or abs(a) > 360:
            raise UsageError(f"--rotation-angle is in degrees, not 0 and at most 360 in size (one revolution per "
                             f"exposure), got {a:g}")
    if args.rpm is not None:
        if not np.isfinite(args.rpm) or args.rpm == 0:
            raise UsageError(f"--rpm must be a finite number of revolutions per minute other than 0, got {args.rpm:g}")
        if not np.isfinite(args.exposure) or args.exposure <= 0:
            raise UsageError(f"--exposure must be a time in seconds > 0 (e.g. 1/500), got {args.exposure:g}")
        turns = args.rpm * args.exposure / 60.0
        if abs(turns) > 1:
            raise UsageError(f"--rpm {args.rpm:g} --exposure {args.exposure:g} make the object turn {abs(turns):g} "
                             "revolutions during the exposure; at most one is supported: is --exposure in seconds "
                             "(1/1000 or 0.001 for 1 ms)?")
    if args.rotation == "estimate" and known:
        angle = abs(_rotation_angle(args))
        if angle > np.pi / 2 + 1e-12:
            raise UsageError(f"--kernel estimate-rotation with a known rotation of {np.rad2deg(angle):g} degrees: the "
                             "estimator handles at most 90 degrees per exposure; drop --kernel estimate-rotation and give "
                             "--rotation-center X Y (and --rotation-radius R) to use the rotation as given")
    radius, inner = args.rotation_radius, args.rotation_inner_radius
    if radius == "auto" and args.rotation != "estimate":
        raise UsageError("--rotation-radius auto (an estimated radius) needs --kernel estimate-rotation; give the "
                         "radius in pixels, or leave it out for a whole image that turns")
    if radius is not None and radius != "auto" and not (np.isfinite(radius) and radius > 0):
        raise UsageError(f"--rotation-radius must be a number of pixels > 0, got {radius:g}")
    if inner is not None:
        if radius is None or radius == "auto":
            raise UsageError("--rotation-inner-radius R0 needs --rotation-radius R (pixels): the ring R0 <= r < R "
                             "rotates")
        if not (np.isfinite(inner) and 0 <= inner < radius):
            raise UsageError(f"--rotation-inner-radius must be >= 0 and smaller than --rotation-radius {radius:g}, "
                             f"got {inner:g}")
    if args.scale > 1:
        raise UsageError(f"--scale {args.scale} does not work with a rotational blur (it restores at the input's "
                         "resolution only): drop --scale")
    if args.kernel_key is not None or args.kernel_index is not None:
        raise UsageError("--kernel-key/--kernel-index need --kernel FILE; a rotational blur has no kernel file")


def _rotation_region(args):
    """``radius`` of :class:`pnp.RotationalBlur` (or of the estimator) from the options."""
    radius, inner = args.rotation_radius, args.rotation_inner_radius
    if radius is None or radius == "auto":
        return radius
    return radius if inner is None else (inner, radius)


def _rotation_angle(args):
    """The rotation during one exposure in radians (signed) from the options, or None."""
    from .operators.rotational import RotationalBlur

    if args.rotation_angle is not None:
        return float(np.deg2rad(args.rotation_angle))
    if args.rpm is not None:
        return RotationalBlur.from_rpm(args.rpm, args.exposure, (0.0, 0.0)).angle
    return None


def _rotation_blur(args):
    """The rotational operator or estimator described by the options (``args.rotation`` set)."""
    from .estimate.rotation import RotationalBlurEstimator
    from .operators.rotational import RotationalBlur

    center = None if args.rotation_center is None else tuple(args.rotation_center)
    try:
        if args.rotation == "estimate":
            region = _rotation_region(args)
            angle = _rotation_angle(args)
            if center is not None and angle is not None and region not in (None, "auto"):
                return RotationalBlur(center, angle, radius=region)  # nothing left to estimate
            known = {} if angle is None else dict(angle=abs(angle), sign=1 if angle > 0 else -1)
            model = args.rotation_model or "auto"
            return RotationalBlurEstimator(center=center, radius="auto" if region is None else region,
                                           model=model, **known)
        return RotationalBlur(center, _rotation_angle(args), radius=_rotation_region(args))
    except (TypeError, ValueError) as exc:  # checked above; a library rule the options do not know of
        raise UsageError(f"rotational blur: {exc}") from None


def _rotation_model(operator, args, shape):
    """``operator`` as ``--rotation-model`` asks for frames of ``shape`` (H, W); other operators unchanged."""
    from .operators.polar_rotational import PolarRotationalBlur, wants_polar
    from .operators.rotational import RotationalBlur

    if type(operator) is not RotationalBlur or not wants_polar(operator, shape, args.rotation_model or "auto"):
        return operator
    # one converted operator for all images of a batch: it keeps its grids per image shape
    converted = vars(args).setdefault("_polar_operators", {})
    if id(operator) not in converted:
        converted[id(operator)] = (operator, PolarRotationalBlur.from_blur(operator))
    return converted[id(operator)][1]


def _describe_rotation(operator, estimator=None):
    """The rotation that was used, in the command line's units (pixels, degrees)."""
    from .operators.rotational import RotationalBlur

    if not isinstance(operator, RotationalBlur):
        return None
    cx, cy = operator.center
    given_center = estimator is not None and getattr(estimator, "center", None) is not None
    given_angle = estimator is not None and getattr(estimator, "angle", None) is not None
    text = (f"centre ({cx:.1f}, {cy:.1f}) px{' (given)' if given_center else ''}, angle "
            f"{np.rad2deg(operator.angle):.2f} deg{' (given)' if given_angle else ''}")
    region = getattr(operator, "radius", None)
    if region is not None:
        r0, r1 = region
        text += f", disk radius {r1:.1f} px" if r0 == 0 else f", ring {r0:.1f}-{r1:.1f} px"
    elif getattr(operator, "mask", None) is None:
        text += ", whole image"
    from .operators.polar_rotational import PolarRotationalBlur

    text += ", on polar grids" if isinstance(operator, PolarRotationalBlur) else ", as arcs"
    if estimator is None:
        return f"rotational blur: {text}"
    if getattr(estimator, "reliable_", None) is False:
        text += " (flagged unreliable)"
    return f"rotational blur (estimated): {text}"


@contextlib.contextmanager
def _warnings_printed(name, kernel=None):
    """Print the library's warnings as the command line's own lines, when raised (also with --quiet).

    Shown at once, not after the solve: a warning that comes before a long or
    failing step (a large rotation matrix) is seen before it. The library's
    warning about an estimate that a :class:`pnp.RotationalBlurEstimator`
    flags unreliable speaks of Python attributes; it is said in the command
    line's words.
    """
    from .estimate.rotation import RotationalBlurEstimator

    rotation = isinstance(kernel, RotationalBlurEstimator)

    def show(message, category, filename, lineno, file=None, line=None):
        text = str(message)
        if rotation and "reliable_" in text:
            text = ("the estimated rotation is flagged unreliable (weak or inconsistent evidence of the angle): "
                    "the result may be worse than the input; if the rotation is known, give it with "
                    "--rotation-center X Y and --rotation-angle DEG (or --rpm RPM --exposure SECONDS); if only "
                    "the angle (or speed and exposure) is known, keep --kernel estimate-rotation and add it")
        text = text.replace("pnp.PolarRotationalBlur.from_blur(op) is the same blur on polar grids",
                            "--rotation-model polar computes the same blur on polar grids")
        print(f"pnp deblur: warning: {name}: {text}", file=sys.stderr, flush=True)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


def _is_glob(text):
    return any(ch in text for ch in "*?[")


def _expand_inputs(inputs):
    """Return ``(files, batch)``: the image files named by ``inputs``, and whether this is batch mode.

    Batch mode means a folder, a glob pattern or several different files: a
    file named twice (``a.png ./a.png``) is restored once, as a single input.
    """
    from .io import IMAGE_SUFFIXES

    files, batch = [], False
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise UsageError(f"folder {item} holds no images ({', '.join(IMAGE_SUFFIXES)})")
            files.extend(found)
            batch = True
        elif path.is_file():
            files.append(path)
        elif _is_glob(item):
            found = sorted(Path(p) for p in glob.glob(item) if Path(p).is_file())
            if not found:
                raise UsageError(f"no files match {item!r}")
            files.extend(found)
            batch = True
        else:
            raise UsageError(f"input file not found: {item}")
    unique, seen = [], set()
    for f in files:
        key = f.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique, batch or len(unique) > 1


def _plan_outputs(files, batch, output, compare, kernel=None, reference=None, save_kernel=None):
    """Map every input to ``(output_path, compare_path or None)``; refuse to overwrite any input.

    Parameters
    ----------
    files : list of pathlib.Path
        The input images.
    batch : bool
        Batch mode (``OUTPUT`` and ``--compare`` are folders).
    output, compare : str or None
        ``-o`` and ``--compare`` as given.
    kernel, reference, save_kernel : str, optional
        ``--kernel`` (a file, ``"estimate"``, ``"estimate-rotation"`` or None), ``--reference`` and
        ``--save-kernel`` as given.

    Returns
    -------
    list of (pathlib.Path, pathlib.Path or None)

    Raises
    ------
    UsageError
        If a file the command writes is one of its inputs (images, kernel
        file, reference), if two written files are the same file, or if the
        folder of a single output, figure or saved kernel does not exist.
    """
    from .io import IMAGE_SUFFIXES

    out = Path(output)
    as_folder = batch or out.is_dir() or output.endswith(("/", os.sep))
    if as_folder:
        if out.exists() and not out.is_dir():
            raise UsageError(f"with several inputs OUTPUT must be a folder, but {output} is a file")
        if batch and not out.is_dir() and out.suffix.lower() in IMAGE_SUFFIXES:
            raise UsageError(f"with several inputs (a folder, a glob or several files) OUTPUT must be a folder, "
                             f"but {output} is an image file name; give a folder such as {out.with_suffix('')}/")
        if not batch and not out.is_dir():
            raise UsageError(f"output folder does not exist: {out} (create it, or give an output file name)")
        targets = [out / f.name for f in files]
    else:
        targets = [out]
        if not out.parent.is_dir():
            raise UsageError(f"output folder does not exist: {out.parent}")
    for t in targets:
        if t.suffix.lower() not in IMAGE_SUFFIXES:
            raise UsageError(f"output {t} must end with one of {', '.join(IMAGE_SUFFIXES)}")
    names = [t.resolve() for t in targets]
    if len(set(names)) != len(names):
        raise UsageError("several inputs have the same file name; they would overwrite each other in the output folder")
    figs = [None] * len(files)
    if compare is not None:
        cmp_path = Path(compare)
        if batch:
            if cmp_path.exists() and not cmp_path.is_dir():
                raise UsageError(f"in batch mode --compare must be a folder, but {compare} is a file")
            figs = [cmp_path / f"{f.stem}_compare.png" for f in files]
        else:
            if cmp_path.suffix.lower() not in (".png", ".pdf", ".svg", ".jpg", ".jpeg"):
                raise UsageError(f"--compare {compare} must end with .png, .pdf, .svg or .jpg")
            if not cmp_path.parent.is_dir():
                raise UsageError(f"folder of --compare does not exist: {cmp_path.parent}")
            figs = [cmp_path]
    if save_kernel is not None and not Path(save_kernel).parent.is_dir():
        raise UsageError(f"folder of --save-kernel does not exist: {Path(save_kernel).parent}")
    # everything read, and everything written (with what it is, for the messages)
    inputs = [(f, "the input") for f in files]
    if kernel is not None and kernel not in _KERNEL_WORDS:
        inputs.append((Path(kernel), "the --kernel file"))
    if reference is not None:
        inputs.append((Path(reference), "the --reference file"))
    writes = [(t, "OUTPUT") for t in targets] + [(g, "--compare") for g in figs if g is not None]
    if save_kernel is not None:
        writes.append((Path(save_kernel), "--save-kernel"))
    for f, what in inputs:
        for t, option in writes:
            if _same_file(f, t):
                raise UsageError(f"refusing to overwrite {what} {f}: {option} writes {t}; choose another {option}")
    for i, (t, option) in enumerate(writes):
        for u, other in writes[:i]:
            if _same_file(t, u):
                if option == other == "--compare":
                    raise UsageError(f"two inputs would get the same --compare figure {t} (inputs with the same "
                                     "name stem); rename one of them")
                raise UsageError(f"{option} {t} is the same file as {other} {u}; refusing to overwrite it")
    return list(zip(targets, figs))


def _check_options(args):
    from priors.registry import resolve_prior_name

    if args.iters < 1:
        raise UsageError(f"--iters must be >= 1, got {args.iters}")
    if args.scale < 1:
        raise UsageError(f"--scale must be an integer >= 1, got {args.scale}")
    if args.noise_level is not None and not (0 <= args.noise_level <= 255):
        raise UsageError(f"--noise-level is in 0-255 units (2.55 means 2.55/255), got {args.noise_level}")
    _check_rotation(args)
    if args.scale > 1 and args.kernel == "estimate":
        raise UsageError(f"--scale {args.scale} needs the blur kernel of the high-resolution image: give it with "
                         "--kernel FILE (blind estimation, --kernel estimate, the default, works only with "
                         "--scale 1: it finds the kernel of the low-resolution input, not the one "
                         "super-resolution needs)")
    try:
        prior_name, _ = resolve_prior_name(args.prior)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    args.prior_object = args.prior  # what pnp.solve gets: the name, or a prior built with --prior-weights
    if args.prior_weights is not None:
        from priors.registry import get_prior

        try:
            args.prior_object = get_prior(args.prior, weights=args.prior_weights)
        except TypeError:
            raise UsageError(f"--prior-weights: the prior {args.prior!r} takes no weights; "
                             "use it with a network prior such as attention-unet or drunet") from None
        except (FileNotFoundError, ValueError) as exc:
            raise UsageError(f"--prior-weights: {exc}") from None
        if prior_name == "attention-unet":
            _check_sidecar(args.prior_weights)
    if args.kernel_index is not None and args.kernel_index < 0:
        raise UsageError(f"--kernel-index must be >= 0, got {args.kernel_index}")


def _check_sidecar(weights):
    """An attention U-Net weights file needs its ``.json`` of constructor arguments beside it (exit 2)."""
    from priors.attention_prior import NAMED_WEIGHTS

    path = Path(weights)
    if weights in NAMED_WEIGHTS or not path.is_file():
        return
    sidecar = path.with_suffix(".json")
    if not sidecar.is_file():
        raise UsageError(f"--prior-weights {weights}: the architecture file {sidecar} is missing; an attention "
                         f"U-Net .pt needs the .json of the same name beside it (both are written by "
                         "`python -m priors.train --arch attention-unet ... --export`)")


def _check_kernel_choice(path, key, index):
    """Refuse (exit 2) a --kernel file that holds several kernels unless --kernel-key/--kernel-index pick one.

    Files that cannot be read are left to :func:`pnp.io.read_kernel`, which says what is wrong.
    """
    from .io import IMAGE_SUFFIXES, KERNEL_SUFFIXES, _mat_arrays, _npy_arrays

    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        if key is not None or index not in (None, 0):
            raise UsageError(f"--kernel {path} is an image, which holds one kernel; drop --kernel-key/--kernel-index")
        return
    if suffix not in KERNEL_SUFFIXES:
        return
    try:
        found = _mat_arrays(path) if suffix == ".mat" else _npy_arrays(path)
    except Exception:  # noqa: BLE001 - an unreadable file: read_kernel reports it
        return
    counts = {name: len(arrays) for name, arrays in found.items() if arrays}
    if not counts:
        return
    if suffix == ".npy":
        if key is not None:
            raise UsageError(f"--kernel-key {key}: {path} is a .npy file, which has no variable names; "
                             "drop --kernel-key")
        key = ""
    elif key is None:
        if len(counts) > 1:
            raise UsageError(f"--kernel {path} holds several variables ({', '.join(sorted(counts))}); "
                             "choose one with --kernel-key NAME")
        key = next(iter(counts))
    elif key not in counts:
        raise UsageError(f"--kernel-key {key}: {path} has no variable {key!r} holding kernels; choose one of "
                         f"{', '.join(sorted(counts))}")
    n, where = counts[key], f"{path}{':' + key if key else ''}"
    if index is None and n > 1:
        raise UsageError(f"--kernel {where} holds {n} kernels (a stack); choose one with --kernel-index I, "
                         f"I in 0..{n - 1}{' (and --kernel-key NAME)' if suffix != '.npy' else ''}")
    if index is not None and index >= n:
        raise UsageError(f"--kernel-index {index}: {where} holds {n} kernel{'s' if n > 1 else ''}; "
                         f"choose I in 0..{n - 1}")


def _load_kernel(args):
    """What ``pnp.solve`` gets as ``kernel``: an array, ``"estimate"``, a rotational operator or estimator."""
    from .io import read_kernel

    if args.rotation is not None:
        return _rotation_blur(args)
    if args.kernel == "estimate":
        if args.kernel_key or args.kernel_index is not None:
            raise UsageError("--kernel-key/--kernel-index need --kernel FILE")
        return "estimate"
    if not Path(args.kernel).is_file():
        raise UsageError(f"kernel file not found: {args.kernel}")
    _check_kernel_choice(Path(args.kernel), args.kernel_key, args.kernel_index)
    try:
        return read_kernel(args.kernel, key=args.kernel_key, index=args.kernel_index)
    except ValueError as exc:
        raise Failure(f"cannot use kernel {args.kernel}: {exc}") from exc


def _read_input(path):
    from .io import read_image

    try:
        return read_image(path)
    except (ValueError, OSError) as exc:
        raise Failure(str(exc)) from exc


def _restore(y, kernel, args, progress, name):
    """Run :func:`pnp.solve` on one image; turn known errors into :class:`Failure`."""
    from .api import solve

    if isinstance(kernel, np.ndarray):
        kh, kw = kernel.shape
        H, W = y.shape[0] * args.scale, y.shape[1] * args.scale
        if kh > H or kw > W:
            raise Failure(f"{name}: the kernel ({kh}x{kw}) is larger than the image "
                          f"({H}x{W}{' after upscaling' if args.scale > 1 else ''}); crop the kernel")
    noise = None if args.noise_level is None else args.noise_level / 255.0
    options = {} if args.device is None else {"device": args.device}
    kernel = _rotation_model(kernel, args, y.shape[:2])
    if hasattr(kernel, "estimate"):  # an estimator keeps its results: a fresh one for every image
        kernel = copy.deepcopy(kernel)
        center = getattr(kernel, "center", None) if args.rotation == "estimate" else None
        if center is not None and not (0 <= center[0] <= y.shape[1] - 1 and 0 <= center[1] <= y.shape[0] - 1):
            raise Failure(_CENTER_OUTSIDE.format(name=name, x=center[0], y=center[1],
                                                 size=f"the image ({y.shape[1]}x{y.shape[0]} pixels)"))
    try:
        with _warnings_printed(name, kernel):
            return solve(y, kernel, prior=args.prior_object, solver=args.solver, noise_level=noise,
                         iters=args.iters, scale=args.scale, boundary=args.boundary, progress=progress,
                         return_info=True, **options)
    except NotImplementedError as exc:
        raise Failure(f"{name}: kernel estimation is not available ({exc}); give the blur kernel with --kernel FILE") \
            from exc
    except (ValueError, TypeError, FileNotFoundError, ImportError, RuntimeError, MemoryError) as exc:
        if isinstance(kernel, str) and isinstance(exc, ValueError):
            _check_estimable(y, name, exc)
        raise Failure(f"{name}: {exc}") from exc


def _check_estimable(y, name, exc):
    """After a failed blind solve: say in the command line's words if ``y`` is too small for the estimator."""
    try:
        from .estimate import default_estimator

        size = int(default_estimator().kernel_size)
    except Exception:  # noqa: BLE001 - no estimator to ask: keep the original message
        return
    H, W = y.shape[:2]
    if min(H, W) < 2 * size:
        raise Failure(f"{name}: the image ({H}x{W}) is too small for blind kernel estimation (--kernel estimate, "
                      f"the default), which needs at least {2 * size}x{2 * size} pixels for its {size}x{size} "
                      "kernel; give the blur kernel with --kernel FILE") from exc


def _atomic_savefig(fig, path):
    from .io import _atomic_target

    path = Path(path)
    with _atomic_target(path) as tmp:
        fig.savefig(tmp, dpi=110, format=path.suffix.lower().lstrip(".").replace("jpg", "jpeg"))


def _write_compare(path, y, x_hat, reference, args, name):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .plot import compare

    images, titles = [y, x_hat], [f"input {name}", f"restored ({args.prior}, {args.iters} it.)"]
    if reference is not None:
        images.append(reference)
        titles.append("reference")
    fig = compare(images, titles, reference=reference)
    try:
        _atomic_savefig(fig, path)
    finally:
        plt.close(fig)


def _save_kernel(path, info):
    from .io import write_image

    kernel = getattr(info["operator"], "kernel", None)
    if kernel is None:
        raise Failure(f"--save-kernel: the operator {info['operator']!r} has no kernel array")
    path = Path(path)
    if path.suffix.lower() == ".npy":
        from .io import _atomic_target

        with _atomic_target(path) as tmp:
            np.save(tmp, kernel)
    else:
        write_image(path, kernel / kernel.max())


def _say(args, message):
    if not args.quiet:
        print(message, file=sys.stderr)


# -- commands -----------------------------------------------------------------
def _run_priors(args):
    from priors.registry import DEFAULT_PRIOR, available_priors

    for name in available_priors():
        print(f"{name}{'  (default)' if name == DEFAULT_PRIOR else ''}")
    print("(append +x2, +x4 or +x8 to a name, e.g. drunet+x8, to average the prior over that many "
          "flips / quarter turns: better, and that many times slower)")
    return EXIT_OK


def _first_frame_shape(src):
    """``(H, W)`` of the first frame of a video (what ``--rotation-model auto`` decides on)."""
    from .frames import read_frames

    try:
        _, frame = next(iter(read_frames(src, stop=1)))
    except (StopIteration, ValueError, OSError, RuntimeError) as exc:
        raise Failure(f"{src.name}: cannot read its first frame: {exc}") from exc
    return np.shape(frame)[:2]


def _run_video(args):
    """``pnp deblur video.mp4 -o out/``: every frame, one operator/prior/plan set, one progress bar."""
    from .frames import VIDEO_OUTPUT_SUFFIXES, deblur_frames
    from .settings_record import SettingsMismatchError

    src, out = Path(args.inputs[0]), Path(args.output)
    if not src.is_file():
        raise UsageError(f"input file not found: {src}")
    if out.suffix and out.suffix.lower() not in VIDEO_OUTPUT_SUFFIXES:
        raise UsageError(f"a video's OUTPUT is a folder (one PNG per frame) or a video file "
                         f"({', '.join(VIDEO_OUTPUT_SUFFIXES)}), got {out}")
    if _same_file(src, out):
        raise UsageError(f"output {out} would overwrite the input")
    if out.suffix and not out.parent.is_dir():
        raise UsageError(f"output folder does not exist: {out.parent} (create it, or give a folder OUTPUT for "
                         "the frames)")
    if args.recompute and out.suffix:
        raise UsageError(f"--recompute works with a folder OUTPUT of frames (it replaces frames already there); "
                         f"a video file {out} is always written anew: drop --recompute")
    if args.compare or args.reference or args.save_kernel:
        raise UsageError("--compare, --reference and --save-kernel work with single images, not videos")
    kernel = _load_kernel(args)
    if args.rotation is not None and not hasattr(kernel, "estimate") and args.rotation_model != "arcs":
        kernel = _rotation_model(kernel, args, _first_frame_shape(src))  # a known rotation
    noise = None if args.noise_level is None else args.noise_level / 255.0
    options = {} if args.device is None else {"device": args.device}
    try:
        with _warnings_printed(src.name, kernel):
            result = deblur_frames(src, out, kernel, prior=args.prior_object, iters=args.iters, noise_level=noise,
                                   solver=args.solver, scale=args.scale, boundary=args.boundary,
                                   skip_existing=not args.recompute, progress=args.progress, **options)
    except SettingsMismatchError as exc:
        raise Failure(f"{src.name}: {exc.reason}; rerun with --recompute to replace them, or choose another "
                      "output folder") from exc
    except NotImplementedError as exc:
        raise Failure(f"{src.name}: kernel estimation is not available ({exc}); give --kernel FILE") from exc
    except (ValueError, TypeError, OSError, ImportError, RuntimeError, MemoryError) as exc:
        center = getattr(kernel, "center", None) if args.rotation == "estimate" else None
        if center is not None and "lies outside the frame" in str(exc):  # the estimator's API message
            raise Failure(_CENTER_OUTSIDE.format(name=src.name, x=center[0], y=center[1], size="the frames")) \
                from exc
        raise Failure(f"{src.name}: {exc}") from exc
    described = _describe_rotation(result["operator"], result["estimator"])
    if described is not None:
        _say(args, f"{src.name}: {described}")
    _say(args, f"wrote {out}: {result['frames']} frames restored, {result['skipped']} already done")
    return EXIT_OK


def _run_deblur(args):
    _check_options(args)
    from .frames import VIDEO_SUFFIXES

    distinct = {os.path.realpath(p) for p in args.inputs}  # a video named twice is one video
    if len(distinct) == 1 and Path(args.inputs[0]).suffix.lower() in VIDEO_SUFFIXES:
        args.inputs = args.inputs[:1]
        return _run_video(args)
    videos = [p for p in args.inputs if Path(p).suffix.lower() in VIDEO_SUFFIXES]
    if videos:
        raise UsageError(f"a video ({videos[0]}) must be the only INPUT: restore one video per command")
    if args.recompute:
        raise UsageError("--recompute works only with a video INPUT and a folder OUTPUT of frames (it replaces "
                         "frames already in the folder); image outputs are always written anew: drop --recompute")
    files, batch = _expand_inputs(args.inputs)
    if batch and (args.reference or args.save_kernel):
        raise UsageError("--reference and --save-kernel work with a single input image")
    if args.reference is not None and not Path(args.reference).is_file():
        raise UsageError(f"reference file not found: {args.reference}")
    if args.save_kernel is not None and Path(args.save_kernel).suffix.lower() not in (".npy", ".png", ".tif", ".tiff"):
        raise UsageError("--save-kernel must end with .npy, .png or .tif")
    if args.save_kernel is not None and args.rotation is not None:
        raise UsageError("--save-kernel writes a kernel array; a rotational blur has none (the rotation used is "
                         "printed instead): drop --save-kernel")
    plan = _plan_outputs(files, batch, args.output, args.compare, kernel=args.kernel, reference=args.reference,
                         save_kernel=args.save_kernel)
    kernel = _load_kernel(args)
    if batch:
        for folder in {t.parent for t, _ in plan} | {g.parent for _, g in plan if g is not None}:
            folder.mkdir(parents=True, exist_ok=True)

    from tqdm.auto import tqdm

    from .io import write_image

    failures = []
    # progress output: --progress / --no-progress, by default only on a terminal
    show_progress = sys.stderr.isatty() if args.progress is None else args.progress
    bar = tqdm(total=len(files), desc="pnp deblur", unit="image",
               disable=(None if args.progress is None else not args.progress) if batch else True)
    for src, (dst, fig_path) in zip(files, plan):
        try:
            y = _read_input(src)
            if (isinstance(kernel, str) or args.rotation == "estimate") and not args.quiet and show_progress:
                what = "rotation" if args.rotation == "estimate" else "blur kernel"
                bar.write(f"{src.name}: estimating the {what} ...", file=sys.stderr)
            x_hat, info = _restore(y, kernel, args, progress=False if batch else args.progress, name=src.name)
            if dst.suffix.lower() in (".jpg", ".jpeg") and x_hat.dtype != np.uint8:
                _say(args, f"note: {dst.name}: JPEG stores 8 bits; the {x_hat.dtype} result is reduced to 8 bits")
            try:
                write_image(dst, x_hat)
            except (OSError, ValueError, TypeError) as exc:
                raise Failure(f"cannot write {dst}: {exc}") from exc
            described = _describe_rotation(info["operator"], info.get("estimator"))
            if described is not None and not args.quiet:
                bar.write(f"{src.name}: {described}", file=sys.stderr)
            message = f"wrote {dst}"
            reference = None
            if args.reference is not None:
                from .metrics import psnr, ssim

                reference = _read_input(Path(args.reference))
                if reference.shape != x_hat.shape:
                    raise Failure(f"--reference {args.reference} has shape {reference.shape}, "
                                  f"the result has shape {x_hat.shape}")
                message += f"  PSNR {psnr(x_hat, reference):.2f} dB  SSIM {ssim(x_hat, reference):.4f}"
            if fig_path is not None:
                _write_compare(fig_path, y, x_hat, reference, args, src.name)
                message += f"  (figure {fig_path})"
            if args.save_kernel is not None:
                _save_kernel(args.save_kernel, info)
            if not args.quiet:
                bar.write(message, file=sys.stderr)
        except Failure as exc:
            if args.debug:
                raise
            failures.append(str(exc))
            print(f"pnp deblur: error: {exc}", file=sys.stderr)
        bar.update(1)
    bar.close()
    if failures:
        if batch:
            print(f"pnp deblur: {len(failures)} of {len(files)} images failed", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK


def main(argv=None):
    """Entry point of the ``pnp`` command; returns the exit status.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success, 1 if an image could not be restored, 2 for a wrong
        command line.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    prog = f"pnp {args.command}"
    try:
        return args.func(args)
    except UsageError as exc:
        if getattr(args, "debug", False):
            raise
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Failure as exc:
        if getattr(args, "debug", False):
            raise
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the command line shows no tracebacks
        if getattr(args, "debug", False):
            raise
        print(f"{prog}: error: {type(exc).__name__}: {exc} (run with --debug for details)", file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
