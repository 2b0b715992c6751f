"""Acceptance benchmark of rotational-blur restoration (issue 4).

Data: Set3C and the first ``--n-cbsd`` CBSD68 images from ``$PNP_DATA/val``,
blurred by a rotation of 5, 10 and 20 degrees around the image centre with
:func:`pnp.synthetic.synthesize_rotational_blur` (2x supersampled, >= 64
sub-steps, mirror-extended scene: not the restoring operator), Gaussian noise
2.55/255 (seed = image index).

Rows (PSNR in dB on the whole image and on the rim, the pixels farther than
``0.7 x min(H, W) / 2`` from the centre):

- ``blurred``: the observation;
- ``shift-invariant (oracle LS kernel, <prior>)``: the best single kernel for
  the whole image, fitted by least squares between the ground truth and the
  observation (an oracle no blind method can beat), 31x31, restored with
  :func:`pnp.solve` and the same prior;
- ``rotational (<prior>)``: :func:`pnp.solve` with the true
  :class:`~pnp.operators.rotational.RotationalBlur` (``--model polar``: the same blur as a
  :class:`~pnp.operators.polar_rotational.PolarRotationalBlur`);
- ``rotational blind (tv)``: with :class:`~pnp.estimate.rotation.RotationalBlurEstimator`,
  whose centre error (pixels) and angle error (%) are reported too.

``--estimate-only`` runs only the blind estimation (no restoration) and
reports, per image and angle, the centre error (pixels), the angle error (%),
the estimator's scores and its time.

``--timing`` measures instead, on a 512x512 colour image, the build and the
per-call time of the data steps (polar-preconditioned CG and plain CG) and of
the priors, and the data steps' accuracy against CG to 1e-10; then it times
every data-step and prior call of one default restoration (``pnp.solve(y, op)``
with the default prior: taper-padded grid, exact masked step, DPIR schedule) of
a synthetic rotation of the same image. ``--solve-only`` skips the unpadded
measurements, ``--solve-repeats`` repeats the restoration. ``--datastep``
compares the data-step variants end to end (PSNR and time of a TV restoration).

Usage::

    python benchmarks/rotation.py --priors tv drunet --angles 10 --out docs/results/rotation_10
    python benchmarks/rotation.py --priors bm3d --subset Set3C --angles 10 --no-blind --out docs/results/rotation_bm3d
    python benchmarks/rotation.py --priors attention-unet --angles 10 --model polar --no-blind --no-baseline
    python benchmarks/rotation.py --estimate-only --angles 5 10 20 --out docs/results/rotation_estimate
    python benchmarks/rotation.py --timing --out docs/results/rotation_timing
    python benchmarks/rotation.py --timing --solve-only --angles 10 --priors attention-unet --out /tmp/rb/timing
    python benchmarks/rotation.py --datastep --angles 10 --size 128 --out docs/results/rotation_datastep
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from priors.registry import DEFAULT_PRIOR  # noqa: E402  (after the path set-up)

NOISE = 2.55 / 255


def load_images(subset, n_cbsd):
    """``(name, image, seed)`` with the seed = position in Set3C + CBSD68[:n_cbsd] (same for any subset)."""
    import imageio.v3 as iio

    from pnp.data import list_images

    paths = list_images("Set3C") + list_images("CBSD68")[:n_cbsd]
    set3c = {p.stem for p in list_images("Set3C")}
    out = []
    for seed, p in enumerate(paths):
        if subset == "all" or (subset == "Set3C") == (p.stem in set3c):
            out.append((p.stem, iio.imread(p)[..., :3] / 255.0, seed))
    return out


def synthesize(name, x, angle_deg, seed, cache):
    from pnp.synthetic import synthesize_rotational_blur

    H, W = x.shape[:2]
    center = ((W - 1) / 2, (H - 1) / 2)
    f = Path(cache) / f"{name}_{angle_deg:g}deg_seed{seed}.npz"
    if f.is_file():
        d = np.load(f)
        return d["blurred"], d["sharp"], center
    syn = synthesize_rotational_blur(x, center, np.deg2rad(angle_deg), noise_level=NOISE, seed=seed)
    f.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(f, blurred=syn.blurred, sharp=syn.sharp)
    return syn.blurred, syn.sharp, center


def rim_mask(shape, center, frac=0.7):
    H, W = shape[:2]
    yy, xx = np.mgrid[0:H, 0:W]
    r = np.hypot(xx - center[0], yy - center[1])
    return r > frac * min(H, W) / 2


def psnr_pair(x_hat, x, rim):
    import pnp

    err = (np.asarray(x_hat, dtype=float) - x) ** 2
    if err.ndim == 3:
        err = err.mean(axis=-1)
    return pnp.psnr(x_hat, x), float(10 * np.log10(1.0 / err[rim].mean()))


def oracle_kernel(y, x, size=31, ridge=1e-3):
    """The non-negative ``size x size`` kernel that best maps the ground truth to the observation.

    Least squares ``min_k ||y - k * x||^2 + ridge * tr(X^T X) / n * ||k||^2`` with
    ``k >= 0`` on luminance (the small ridge keeps the kernel from fitting the
    noise with isolated spikes), normalised to unit sum. It uses the ground
    truth: no blind estimator of a single kernel can do better.
    """
    from numpy.fft import fft2, ifft2
    from scipy.linalg import cholesky, solve_triangular
    from scipy.optimize import nnls

    yl = y.mean(axis=-1) if y.ndim == 3 else y
    xl = x.mean(axis=-1) if x.ndim == 3 else x
    xl, yl = xl - xl.mean(), yl - yl.mean()
    X, Y = fft2(xl), fft2(yl)
    R = np.real(ifft2(np.abs(X) ** 2))  # R(s) = sum_p x(p) x(p + s)
    C = np.real(ifft2(Y * np.conj(X)))  # C(v) = sum_p y(p) x(p - v)
    h = size // 2
    offs = np.arange(-h, h + 1)
    uy, ux = np.meshgrid(offs, offs, indexing="ij")
    uy, ux = uy.ravel(), ux.ravel()
    M = R[(uy[:, None] - uy[None, :]) % R.shape[0], (ux[:, None] - ux[None, :]) % R.shape[1]]
    b = C[uy % C.shape[0], ux % C.shape[1]]
    n = M.shape[0]
    M = M + ridge * np.trace(M) / n * np.eye(n)
    L = cholesky(M, lower=True)  # ||y - A k||^2 = ||L^T k - L^-1 b||^2 + const
    k, _ = nnls(L.T, solve_triangular(L, b, lower=True), maxiter=50 * n)
    k = k.reshape(size, size)
    return k / k.sum()


def gaussian_kernel(sigma):
    r = np.arange(-int(np.ceil(3 * sigma)), int(np.ceil(3 * sigma)) + 1)
    g = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * sigma**2))
    return g / g.sum()


def baseline_candidates(y, x):
    """Shift-invariant candidates; the benchmark keeps the best PSNR (an oracle choice)."""
    k_ls = oracle_kernel(y, x)
    delta = np.zeros((3, 3))
    delta[1, 1] = 1.0
    return [("oracle LS kernel", k_ls, 7.65), ("oracle LS kernel", k_ls, 20.0),
            ("Gaussian sigma 1", gaussian_kernel(1.0), 7.65), ("Gaussian sigma 2", gaussian_kernel(2.0), 7.65),
            ("no deblurring (identity kernel)", delta, 2.55)]


def estimate_errors(est, center, angle_deg):
    """Centre error (px), angle error (%) and score of a fitted ``RotationalBlurEstimator``."""
    return dict(center_err=float(np.hypot(est.center_[0] - center[0], est.center_[1] - center[1])),
                angle_err_pct=float(100 * (est.angle_ / np.deg2rad(angle_deg) - 1)), score=est.score_)


def observations(args):
    """``(name, angle, y, sharp, center, synth_seconds)`` for every image and angle (cached synthesis)."""
    cache = args.cache or os.path.join(tempfile.gettempdir(), "pnp_rotation_bench")
    for name, x, seed in load_images(args.subset, args.n_cbsd)[: args.limit]:
        for angle in args.angles:
            t0 = time.time()
            y, xs, center = synthesize(name, x, angle, seed, cache)
            yield name, angle, y, xs, center, time.time() - t0


def run_quality(args):
    import pnp
    from pnp.estimate.rotation import RotationalBlurEstimator
    from pnp.operators.rotational import RotationalBlur

    schedule = None
    if args.schedule:
        from pnp.learned_schedule import LearnedSchedule

        schedule = LearnedSchedule.load(args.schedule)
    built = {}
    if args.prior_weights:  # the one named prior, with these weights, built once
        from priors.registry import get_prior

        built[args.priors[0]] = get_prior(args.priors[0], weights=args.prior_weights)
    rows = []
    for name, angle, y, xs, center, t_syn in observations(args):
        rim = rim_mask(y.shape, center)
        row = dict(image=name, angle=angle, shape=list(y.shape))
        row["blurred"] = psnr_pair(y, xs, rim)
        op = RotationalBlur(center, np.deg2rad(angle))
        if args.model == "polar":
            from pnp.operators.polar_rotational import PolarRotationalBlur

            op = PolarRotationalBlur.from_blur(op)
        times = {}
        for prior in args.priors:
            t = time.time()
            xh = pnp.solve(y, op, prior=built.get(prior, prior), noise_level=NOISE, iters=args.iters,
                           schedule=schedule)
            times[prior] = time.time() - t
            row[f"rot_{prior}"] = psnr_pair(xh, xs, rim)
        if args.baseline:
            t = time.time()
            best = None
            for label, k, nl in baseline_candidates(y, xs):
                xb = pnp.solve(y, k, prior=args.baseline_prior, noise_level=nl / 255, iters=args.iters)
                res = psnr_pair(xb, xs, rim)
                if best is None or res[0] > best[0][0]:
                    best = (res, f"{label}, noise {nl}/255")
            times["si"] = time.time() - t
            row[f"si_{args.baseline_prior}"] = best[0]
            row["si_choice"] = best[1]
        if args.blind:
            est = RotationalBlurEstimator()
            t = time.time()
            op_b = est.estimate(y)
            times["estimate"] = time.time() - t
            row.update(estimate_errors(est, center, angle))
            t = time.time()
            xh = pnp.solve(y, op_b, prior="tv", noise_level=NOISE, iters=args.iters)
            times["blind_tv"] = time.time() - t
            row["blind_tv"] = psnr_pair(xh, xs, rim)
        row["times_s"] = dict(synth=t_syn, **times)
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def run_estimate(args):
    """Blind estimation only: centre error (px), angle error (%), scores and time per image and angle."""
    from pnp.estimate.rotation import RotationalBlurEstimator

    rows = []
    for name, angle, y, _, center, _ in observations(args):
        est = RotationalBlurEstimator()
        t = time.time()
        est.estimate(y)
        dt = time.time() - t
        row = dict(image=name, angle=angle, shape=list(y.shape), center=list(center),
                   center_est=[float(c) for c in est.center_], angle_est_deg=float(np.rad2deg(est.angle_)),
                   **estimate_errors(est, center, angle), time_s=dt)
        if hasattr(est, "reliable_"):
            row["reliable"] = bool(est.reliable_)
        if hasattr(est, "second_start_used_"):
            row["second_start_used"] = bool(est.second_start_used_)
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def summarize_estimate(rows):
    angles = sorted({r["angle"] for r in rows})
    lines = ["| blind estimation | " + " | ".join(f"{a:g} deg" for a in angles) + " |",
             "| --- | " + " | ".join("---" for _ in angles) + " |"]
    for k, lab, f in [("center_err", "median centre error (px)", lambda v: f"{np.median(v):.2f}"),
                      ("center_err", "max centre error (px)", lambda v: f"{v.max():.2f}"),
                      ("angle_err_pct", "median abs angle error (%)", lambda v: f"{np.median(v):.1f}"),
                      ("angle_err_pct", "max abs angle error (%)", lambda v: f"{v.max():.1f}"),
                      ("time_s", "median time per image (s)", lambda v: f"{np.median(v):.1f}")]:
        cells = [f(np.abs(np.array([r[k] for r in rows if r["angle"] == a]))) for a in angles]
        lines.append(f"| {lab} | " + " | ".join(cells) + " |")
    has_rel = "reliable" in rows[0]
    if has_rel:
        rel = {a: [r for r in rows if r["angle"] == a and r["reliable"]] for a in angles}
        lines.append("| flagged reliable (n) | " + " | ".join(str(len(rel[a])) for a in angles) + " |")
        for lab, f in [("median", np.median), ("max", np.max)]:
            lines.append(f"| {lab} centre error, reliable only (px) | "
                         + " | ".join(f"{f([r['center_err'] for r in rel[a]]):.2f}" if rel[a] else "-" for a in angles)
                         + " |")
    lines += ["", "| image | angle | centre err. (px) | angle est. (deg) | angle err. (%) | score |"
              + (" reliable |" if has_rel else "") + " time (s) |",
              "| --- | --- | --- | --- | --- | --- |" + (" --- |" if has_rel else "") + " --- |"]
    for r in rows:
        extra = f" {'yes' if r['reliable'] else 'no'} |" if has_rel else ""
        lines.append(f"| {r['image']} | {r['angle']:g} | {r['center_err']:.2f} | {r['angle_est_deg']:.2f} | "
                     f"{r['angle_err_pct']:.1f} | {r['score']:.3f} |{extra} {r['time_s']:.1f} |")
    n = len({r["image"] for r in rows})
    lines += ["", f"{n} images; errors against the true centre (image centre) and angle."]
    return "\n".join(lines)


def summarize(rows, args):
    keys = ["blurred"]
    labels = {"blurred": "blurred input"}
    if args.baseline:
        p = args.baseline_prior
        keys.append(f"si_{p}")
        labels[f"si_{p}"] = f"shift-invariant, best of 5 kernels/levels ({p})"
    for p in args.priors:
        keys.append(f"rot_{p}")
        sched = f", schedule {Path(args.schedule).name}" if args.schedule else ""
        weights = f", weights {Path(args.prior_weights).name}" if args.prior_weights else ""
        labels[f"rot_{p}"] = f"rotational, true parameters ({p}{weights}{sched})"
    if args.blind:
        keys.append("blind_tv")
        labels["blind_tv"] = "rotational, blind estimate (tv)"
    angles = sorted({r["angle"] for r in rows})
    lines = ["| method | " + " | ".join(f"{a} deg: all / rim" for a in angles) + " |",
             "| --- | " + " | ".join("---" for _ in angles) + " |"]
    for k in keys:
        cells = []
        for a in angles:
            v = np.array([r[k] for r in rows if r["angle"] == a and k in r])
            cells.append(f"{v[:, 0].mean():.2f} / {v[:, 1].mean():.2f}" if v.size else "-")
        lines.append(f"| {labels[k]} | " + " | ".join(cells) + " |")
    if args.blind:
        lines += ["", "| blind estimation | " + " | ".join(f"{a} deg" for a in angles) + " |",
                  "| --- | " + " | ".join("---" for _ in angles) + " |"]
        for k, lab, fmt in [("center_err", "median centre error (px)", "{:.2f}"),
                            ("center_err", "max centre error (px)", "max"),
                            ("angle_err_pct", "median abs angle error (%)", "{:.1f}"),
                            ("angle_err_pct", "max abs angle error (%)", "amax")]:
            cells = []
            for a in angles:
                v = np.abs(np.array([r[k] for r in rows if r["angle"] == a]))
                if fmt == "max":
                    cells.append(f"{v.max():.2f}")
                elif fmt == "amax":
                    cells.append(f"{v.max():.1f}")
                else:
                    cells.append(fmt.format(np.median(v)))
            lines.append(f"| {lab} | " + " | ".join(cells) + " |")
    n = len({r["image"] for r in rows})
    lines.append("")
    lines.append(f"Mean PSNR (dB) over {n} images; rim: radius > 0.7 x min(H, W)/2 from the centre.")
    return "\n".join(lines)


def solve_timed(y, op, sharp, prior_name=DEFAULT_PRIOR):
    """One ``pnp.solve(y, op)`` on the default path, timing every data-step and prior call.

    Returns
    -------
    calls : list of dict
        Per DPIR iteration: ``alpha``, ``data`` (s), ``iterations`` (PCG), ``residual``, ``prior`` (s).
    total : float
        Wall time of the whole solve (s), operator and step builds included.
    psnr : float
    """
    import pnp
    from priors.registry import get_prior

    calls = []
    base = get_prior(prior_name)
    base(np.zeros((64, 64, 3)), 10 / 255)  # warm-up (loads weights)

    def prior(x, sigma):
        t = time.time()
        out = base(x, sigma)
        calls[-1]["prior"] = time.time() - t
        return out

    class Timed:
        def __init__(self, inner):
            self.inner = inner

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def padded(self, pad):
            return Timed(self.inner.padded(pad))

        def data_step(self, y, observed=None):
            step = self.inner.data_step(y, observed=observed)

            def call(v, alpha):
                t = time.time()
                z = step(v, alpha)
                calls.append(dict(alpha=float(alpha), data=time.time() - t, iterations=step.last_iterations,
                                  residual=float(step.last_residual)))
                return z

            return call

    fresh = type(op)(op.center, op.angle, weights=op.weights)  # no cached matrices: builds are timed too
    t = time.time()
    x_hat = pnp.solve(y, Timed(fresh), prior=prior, noise_level=NOISE)
    return calls, time.time() - t, float(pnp.psnr(x_hat, sharp))


def solve_section(args, x, op, angle, out, solve_lines, summary_lines):
    """Time ``args.solve_repeats`` default restorations of a synthetic rotation of ``x`` (see :func:`solve_timed`)."""
    from pnp.synthetic import synthesize_rotational_blur

    # the default padded path, as pnp.solve runs it (boundary='taper', exact masked step, DPIR schedule):
    # every data-step and prior call of one restoration, with the default prior
    y_syn = synthesize_rotational_blur(x, op.center, op.angle, noise_level=NOISE, seed=0)
    for rep in range(args.solve_repeats):
        calls, t_total, psnr = solve_timed(y_syn.blurred, op, y_syn.sharp)
        out[angle].setdefault("solve", []).append(dict(calls=calls, total=t_total, psnr=psnr))
        for k, c in enumerate(calls):
            solve_lines.append(f"| {angle:g} deg | {rep + 1} | {k + 1} | {c['alpha']:.1e} | {c['data']:.2f} "
                               f"({c['iterations']}) | {c['prior']:.2f} |")
            print(solve_lines[-1], flush=True)
        print(f"solve total {t_total:.1f} s, PSNR {psnr:.2f} dB", flush=True)
    runs = out[angle]["solve"]
    first = [r["calls"][0] for r in runs]
    later = [c for r in runs for c in r["calls"][1:]]
    summary_lines.append(
        f"| {angle:g} deg | {np.median([c['data'] for c in first]):.2f} | "
        f"{np.median([c['data'] for c in later]):.2f} | {max(c['data'] for c in later):.2f} | "
        f"{np.median([c['prior'] for r in runs for c in r['calls']]):.2f} | "
        f"{np.median([r['total'] for r in runs]):.1f} | {np.median([r['psnr'] for r in runs]):.2f} |")


def run_timing(args):
    import pnp
    from priors.registry import get_prior
    from skimage import data, transform

    from pnp.operators.rotational import RotationalBlur

    n = 512
    x = transform.resize(data.astronaut() / 255.0, (n, n, 3), anti_aliasing=True)
    xi = np.moveaxis(x, -1, 0)
    out = {}
    lines = ["| angle | operator build (s) | polar step build (s) | polar step, 3 it. (s/call) | "
             "plain CG, 3 it. (s/call) | plain CG to 1e-6 (s/call, it.) | rel. error polar | rel. error CG 3 it. |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    solve_lines = ["| angle | run | DPIR it. | alpha | data step, s (PCG it.) | prior, s |",
                   "| --- | --- | --- | --- | --- | --- |"]
    summary_lines = ["| angle | data step, first it. (s) | data step, later it. (median, s) | later it. (max, s) | "
                     "prior (median, s) | whole solve (s) | PSNR (dB) |", "| --- | --- | --- | --- | --- | --- | --- |"]
    rng = np.random.default_rng(0)
    for angle in args.angles:
        op = RotationalBlur(((n - 1) / 2, (n - 1) / 2), np.deg2rad(angle))
        out[angle] = {}
        if args.solve_only:
            solve_section(args, x, op, angle, out, solve_lines, summary_lines)
            continue
        t = time.time()
        op.matrix((n, n))
        t_op = time.time() - t
        y = op.forward(xi) + NOISE * rng.standard_normal(xi.shape)
        v = xi + 0.02 * rng.standard_normal(xi.shape)
        alpha = 0.05
        t = time.time()
        step = op.data_step(y)
        t_build = time.time() - t
        ts = []
        for _ in range(args.repeats):
            t = time.time()
            z = step(v, alpha)
            ts.append(time.time() - t)
        cg3 = op.data_step(y, method="cg", tol=1e-12, maxiter=3)
        tc = []
        for _ in range(args.repeats):
            t = time.time()
            zc = cg3(v, alpha)
            tc.append(time.time() - t)
        cg6 = op.data_step(y, method="cg", tol=1e-6, maxiter=1000)
        t = time.time()
        cg6(v, alpha)
        t_cg6 = time.time() - t
        ref = op.data_step(y, method="cg", tol=1e-10, maxiter=5000)(v, alpha)
        e_p = float(np.linalg.norm(z - ref) / np.linalg.norm(ref))
        e_c = float(np.linalg.norm(zc - ref) / np.linalg.norm(ref))
        out[angle].update(build_operator=t_op, build_step=t_build, polar=float(np.median(ts)),
                          cg3=float(np.median(tc)), cg6=t_cg6, cg6_iters=cg6.last_iterations, err_polar=e_p, err_cg3=e_c)
        lines.append(f"| {angle} deg | {t_op:.2f} | {t_build:.2f} | {np.median(ts):.2f} | {np.median(tc):.2f} | "
                     f"{t_cg6:.2f} ({cg6.last_iterations}) | {e_p:.1e} | {e_c:.1e} |")
        print(lines[-1], flush=True)
        solve_section(args, x, op, angle, out, solve_lines, summary_lines)
    if args.solve_only:
        lines = []
    lines += ["", f"Default padded path (`pnp.solve(y, op)`: taper pad, exact masked data step, default prior "
              f"{DEFAULT_PRIOR}, DPIR schedule, 8 iterations) on the synthetic observation, every call timed:", ""]
    lines += solve_lines + ["", "Summary (medians over runs; 'later' = DPIR iterations 2-8; the prior runs on "
                                "the padded frame):", ""] + summary_lines
    lines += ["", "| prior (512x512 colour) | s/call (median) |", "| --- | --- |"]
    for name in args.priors:
        prior = get_prior(name)
        prior(x, 10 / 255)  # warm-up (loads weights)
        ts = []
        for _ in range(args.repeats):
            t = time.time()
            prior(x, 10 / 255)
            ts.append(time.time() - t)
        out[f"prior_{name}"] = float(np.median(ts))
        lines.append(f"| {name} | {np.median(ts):.2f} |")
        print(lines[-1], flush=True)
    lines.append("")
    if not args.solve_only:
        lines.append(f"Unpadded steps: alpha = 0.05 (a mid-schedule value), medians of {args.repeats} calls; "
                     "relative error against CG to 1e-10 on the normal equations.")
    return out, "\n".join(lines)


def run_datastep(args):
    """End-to-end: pnp.solve (TV, 8 iterations) with each data-step variant on one synthetic image."""
    import pnp
    from skimage import data, transform

    from pnp.operators.rotational import RotationalBlur
    from pnp.synthetic import synthesize_rotational_blur

    n = args.size
    x = transform.resize(data.astronaut() / 255.0, (n, n, 3), anti_aliasing=True)
    cheap, fine, lin = dict(order=3, oversample=1.0), dict(order=3, oversample=1.5), dict(order=1, oversample=1.0)
    variants = [("polar", 1, cheap), ("polar", 2, cheap), ("polar", 3, cheap), ("polar", 5, cheap),
                ("polar", 2, fine), ("polar", 3, fine), ("polar", 3, lin),
                ("cg", 3, {}), ("cg", 10, {}), ("cg", 30, {}), ("cg", None, {})]
    if args.variants:
        variants = [v for i, v in enumerate(variants) if i in args.variants]
    lines = ["| angle | data step | PSNR (dB) | data-step time, 8 calls (s) | iterations per call |",
             "| --- | --- | --- | --- | --- |"]
    out = []

    class Timed:
        """Wraps the operator so that the data steps built by pnp.solve are timed."""

        def __init__(self, op, **kw):
            self.op, self.kw, self.t, self.its = op, kw, 0.0, []

        def __getattr__(self, name):
            return getattr(self.op, name)

        def padded(self, pad):
            w = Timed(self.op.padded(pad), **self.kw)
            w.parent = self
            return w

        def data_step(self, y, observed=None):
            step = self.op.data_step(y, observed=observed, **self.kw)
            owner = getattr(self, "parent", self)

            def call(v, alpha):
                t = time.time()
                z = step(v, alpha)
                owner.t += time.time() - t
                owner.its.append(step.last_iterations)
                return z

            return call

    for angle in args.angles:
        syn = synthesize_rotational_blur(x, ((n - 1) / 2, (n - 1) / 2), np.deg2rad(angle), noise_level=NOISE, seed=0)
        op = RotationalBlur(syn.center, syn.angle)
        for method, it, extra in variants:
            kw = dict(method=method, tol=1e-12, maxiter=it) if it else dict(method=method, tol=1e-6, maxiter=1000)
            kw.update(extra)
            w = Timed(op, **kw)
            xh = pnp.solve(syn.blurred, w, prior="tv", noise_level=NOISE, iters=8)
            name = f"{method}, {it} it." if it else f"{method} to 1e-6"
            if extra:
                name += " (" + ", ".join(f"{k}={v}" for k, v in extra.items()) + ")"
            psnr = pnp.psnr(xh, syn.sharp)
            out.append(dict(angle=angle, step=name, psnr=psnr, time=w.t, iters=w.its))
            lines.append(f"| {angle:g} deg | {name} | {psnr:.2f} | {w.t:.2f} | {int(np.median(w.its))} |")
            print(lines[-1], flush=True)
    lines.append("")
    lines.append(f"{n}x{n} colour astronaut, blurred (synthetic generator) and noise 2.55/255, TV prior, "
                 "DPIR schedule, boundary='taper' (padded grid).")
    return out, "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--angles", type=float, nargs="+", default=[5, 10, 20])
    ap.add_argument("--priors", nargs="*", default=["tv"])
    ap.add_argument("--baseline-prior", default="tv", help="prior of the shift-invariant baseline")
    ap.add_argument("--subset", choices=["all", "Set3C", "CBSD68"], default="all")
    ap.add_argument("--n-cbsd", type=int, default=10)
    ap.add_argument("--limit", type=int, default=None, help="only the first N images (smoke test)")
    ap.add_argument("--iters", type=int, default=8)
    ap.add_argument("--model", choices=["arcs", "polar"], default="arcs",
                    help="discretisation of the blur used to restore: RotationalBlur (arcs) or PolarRotationalBlur")
    ap.add_argument("--schedule", default=None,
                    help="a learned schedule .pt for the rotational rows (default: the DPIR schedule)")
    ap.add_argument("--prior-weights", default=None,
                    help="weights file for the (single) prior of --priors, e.g. a fine-tuned prior "
                         "exported by priors.train_unfolded --export-prior")
    ap.add_argument("--no-baseline", dest="baseline", action="store_false")
    ap.add_argument("--no-blind", dest="blind", action="store_false")
    ap.add_argument("--cache", default=None, help="folder for the synthetic observations (default: a temp folder)")
    ap.add_argument("--estimate-only", action="store_true",
                    help="only the blind estimation: centre and angle errors, scores, time")
    ap.add_argument("--timing", action="store_true")
    ap.add_argument("--datastep", action="store_true", help="compare the data steps end to end")
    ap.add_argument("--size", type=int, default=128, help="image size of --datastep")
    ap.add_argument("--variants", type=int, nargs="*", default=None, help="indices of the --datastep variants to run")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--solve-repeats", type=int, default=1, help="--timing: default restorations timed per angle")
    ap.add_argument("--solve-only", action="store_true",
                    help="--timing: only the default padded restoration and the priors (skip the unpadded steps)")
    ap.add_argument("--out", default="docs/results/rotation")
    args = ap.parse_args(argv)
    if args.prior_weights and len(args.priors) != 1:
        ap.error(f"--prior-weights needs exactly one prior in --priors, got {args.priors}")
    if args.prior_weights and (args.timing or args.estimate_only or args.datastep):
        ap.error("--prior-weights applies to the quality rows only, not to --timing, --estimate-only or --datastep")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cmd = "python benchmarks/rotation.py " + " ".join(sys.argv[1:] if argv is None else argv)
    if args.timing:
        res, table = run_timing(args)
        (out / "timing.json").write_text(json.dumps(res, indent=1))
    elif args.estimate_only:
        rows = run_estimate(args)
        (out / "rows.json").write_text(json.dumps(rows, indent=1))
        table = summarize_estimate(rows)
    elif args.datastep:
        res, table = run_datastep(args)
        (out / "datastep.json").write_text(json.dumps(res, indent=1))
    else:
        rows = run_quality(args)
        (out / "rows.json").write_text(json.dumps(rows, indent=1))
        table = summarize(rows, args)
    text = f"Command: `{cmd}`\n\n{table}\n"
    (out / "table.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
