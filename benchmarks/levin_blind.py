"""Blind deblurring on Levin et al.'s protocol: error ratios of estimated vs true kernels.

For each of the 8 kernels of ``$PNP_DATA/kernels/levin09.npz`` and each chosen
Set12 image: blur with realistic (reflected) borders, add Gaussian noise of
1/255, estimate the kernel with :class:`pnp.estimate.CameraShakeEstimator`,
restore with the same non-blind method using the estimated and the true
kernel, and report Levin's error ratio

    SSD(x_est, x) / SSD(x_true_kernel, x)

where each SSD is the minimum over integer shifts of up to ``--max-shift``
pixels (an estimated kernel is only defined up to a translation) computed
inside a border of ``--crop`` pixels.

The error ratio depends strongly on the non-blind method: a weakly
regularised deconvolution punishes small kernel errors much more than a
strongly regularised one. ``--settings`` lists the non-blind settings, each
``prior:sigma`` (``sigma`` in grey levels of 255, passed to ``pnp.solve`` as
``noise_level``), all computed from the same estimated kernels.

Usage::

    python benchmarks/levin_blind.py --images 01 02 03 04 --settings tv:1 tv:2.55 --out docs/results

The parametric estimators are measured by the same script::

    python benchmarks/levin_blind.py --task noise     # NoiseEstimator vs pnp.noise.estimate_noise
    python benchmarks/levin_blind.py --task noise-blurred   # the same images blurred (Gaussian 1.5 px)
    python benchmarks/levin_blind.py --task noise-textured  # grass and gravel: the bias
    python benchmarks/levin_blind.py --task gaussian  # GaussianBlurEstimator, Gaussian and disk
    python benchmarks/levin_blind.py --task gaussian-heldout  # the same on eight other images
    python benchmarks/levin_blind.py --task motion    # LinearMotionEstimator, 20 random cases
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import pnp
from pnp.data import data_root, load_kernels
from pnp.estimate import CameraShakeEstimator


def ssd_up_to_shift(x, ref, crop=20, max_shift=6, step=0.25):
    """Minimum SSD inside a ``crop`` border over shifts of ``x`` up to ``max_shift`` pixels.

    Integer shifts first, then sub-pixel shifts in steps of ``step`` within one
    pixel of the best integer shift (cubic-spline interpolation), as in the
    evaluation code of Levin et al. (an estimated kernel, hence the
    restored image, is only defined up to a translation).
    """
    from scipy import ndimage

    inner = ref[crop:-crop, crop:-crop]

    def ssd(img):
        d = img[crop:-crop, crop:-crop] - inner
        return float(np.sum(d * d))

    best, best_shift = np.inf, (0, 0)
    for dy in range(-max_shift, max_shift + 1):
        for dx in range(-max_shift, max_shift + 1):
            v = ssd(np.roll(x, (dy, dx), axis=(0, 1)))
            if v < best:
                best, best_shift = v, (dy, dx)
    fine = np.arange(-1.0, 1.0 + 1e-9, step)
    for fy in fine:
        for fx in fine:
            if fy == 0 and fx == 0:
                continue
            shifted = ndimage.shift(x, (best_shift[0] + fy, best_shift[1] + fx), order=3, mode="nearest")
            best = min(best, ssd(shifted))
    return best


def _test_images():
    """Six bundled scikit-image photographs (gray, 0-1), large ones halved."""
    from skimage import color, data

    return {
        "camera": data.camera() / 255.0,
        "astronaut": color.rgb2gray(data.astronaut())[::2, ::2],
        "coins": data.coins() / 255.0,
        "moon": data.moon()[::2, ::2] / 255.0,
        "brick": data.brick()[::2, ::2] / 255.0,
        "chelsea": color.rgb2gray(data.chelsea()),
    }


def _heldout_images():
    """Eight other scikit-image photographs (gray, 0-1), halved while the larger side exceeds 700 px.

    Not used to design the estimators: a check that the Gaussian width estimate generalises.
    """
    from skimage import color, data

    out = {}
    for name in ("rocket", "coffee", "hubble_deep_field", "retina", "page", "text", "horse", "gravel"):
        im = getattr(data, name)()
        x = color.rgb2gray(im) if im.ndim == 3 else (im.astype(np.float64) if im.dtype == bool else im / 255.0)
        while max(x.shape) > 700:
            x = x[::2, ::2]
        out[name] = x
    return out


def _textured_images():
    """Strongly textured scikit-image photographs (gray, 0-1): where noise estimators are biased."""
    from skimage import data

    return {"grass": data.grass() / 255.0, "gravel": data.gravel() / 255.0}


def task_noise(blurred=False, textured=False):
    """Noise level at 1, 2.55, 7.65, 15, 25 /255 on the six images (optionally Gaussian-blurred, sigma 1.5)."""
    from pnp.estimate import NoiseEstimator
    from pnp.kernels import gaussian_kernel
    from pnp.noise import estimate_noise

    levels = [1.0, 2.55, 7.65, 15.0, 25.0]
    est = NoiseEstimator()
    res = {"levels": levels, "ours": {}, "wavelet_mad": {}}
    for name, x in (_textured_images() if textured else _test_images()).items():
        if blurred:
            x = pnp.blur(x, gaussian_kernel(1.5), boundary="reflect")
        res["ours"][name], res["wavelet_mad"][name] = [], []
        for i, s in enumerate(levels):
            y = pnp.add_noise(x, s / 255, seed=i)
            res["ours"][name].append(255 * est.estimate(y))
            res["wavelet_mad"][name].append(255 * estimate_noise(y))
        print(f"{name:10s} ours " + " ".join(f"{v:6.2f}" for v in res["ours"][name])
              + "   MAD " + " ".join(f"{v:6.2f}" for v in res["wavelet_mad"][name]), flush=True)
    for key in ("ours", "wavelet_mad"):
        rel = np.array([[abs(v - s) / s for v, s in zip(vals, levels)] for vals in res[key].values()])
        res[key + "_median_rel_error"] = float(np.median(rel))
        res[key + "_median_rel_error_per_level"] = np.median(rel, axis=0).tolist()
        print(key, "median relative error", round(float(np.median(rel)), 4),
              "per level", np.round(np.median(rel, axis=0), 4).tolist())
    return res


def task_gaussian(heldout=False):
    """Gaussian sigma 1, 1.5, 2, 3, 4 and disk radius 2, 3, 4.5, 6, 8 on the six (or eight held-out) images, noise 1/255."""
    from pnp.estimate import GaussianBlurEstimator
    from pnp.kernels import disk_kernel, gaussian_kernel

    res = {}
    for kind, widths, make in (("gaussian", [1.0, 1.5, 2.0, 3.0, 4.0], gaussian_kernel),
                               ("disk", [2.0, 3.0, 4.5, 6.0, 8.0], disk_kernel)):
        est = GaussianBlurEstimator(kind=kind)
        rel, rows, times = [], {}, []
        for name, x in (_heldout_images() if heldout else _test_images()).items():
            rows[name] = []
            for i, w in enumerate(widths):
                y = pnp.add_noise(pnp.blur(x, make(w), boundary="reflect"), 1 / 255, seed=i)
                t0 = time.perf_counter()
                est.estimate(y)
                times.append(time.perf_counter() - t0)
                rows[name].append(est.width_)
                rel.append(abs(est.width_ - w) / w)
            print(f"{kind:8s} {name:10s} " + " ".join(f"{v:5.2f}" for v in rows[name]), flush=True)
        rel = np.array(rel)
        res[kind] = dict(widths=widths, estimates=rows, median_rel_error=float(np.median(rel)),
                         max_rel_error=float(rel.max()), within_10_percent=float(np.mean(rel <= 0.10)),
                         median_time_s=float(np.median(times)))
        print(kind, {k: v for k, v in res[kind].items() if k not in ("estimates", "widths")})
    return res


def task_motion(n=20, seed=0):
    """``n`` random linear motions (length 5-25 px, angle 0-180 deg) on the six images, noise 1/255."""
    from pnp.estimate import LinearMotionEstimator
    from pnp.kernels import motion_kernel

    imgs = list(_test_images().values())
    rng = np.random.default_rng(seed)
    est = LinearMotionEstimator()
    cases, times = [], []
    for c in range(n):
        x = imgs[c % len(imgs)]
        length, angle = float(rng.uniform(5, 25)), float(rng.uniform(0, 180))
        y = pnp.add_noise(pnp.blur(x, motion_kernel(length, angle), boundary="reflect"), 1 / 255, seed=c)
        t0 = time.perf_counter()
        est.estimate(y)
        times.append(time.perf_counter() - t0)
        d_angle = abs((est.angle_ - angle + 90) % 180 - 90)
        ok = abs(est.length_ - length) <= 1 and d_angle <= 3
        cases.append(dict(length=length, angle=angle, est_length=est.length_, est_angle=est.angle_, ok=bool(ok)))
        print(f"{c:2d} L {length:5.2f} -> {est.length_:5.2f}  angle {angle:6.1f} -> {est.angle_:6.1f}"
              f"  {'ok' if ok else 'FAIL'}", flush=True)
    res = dict(cases=cases, success=sum(c["ok"] for c in cases), n=n, median_time_s=float(np.median(times)))
    print(f"{res['success']}/{n} within 1 px and 3 deg; median time {res['median_time_s']:.2f} s")
    return res


def main(argv=None):
    from skimage import io

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", choices=["levin", "noise", "noise-blurred", "noise-textured", "gaussian", "gaussian-heldout",
                                       "motion"], default="levin")
    p.add_argument("--images", nargs="+", default=["01", "02", "03", "04"], help="Set12 image names")
    p.add_argument("--kernels", nargs="+", type=int, default=list(range(8)))
    p.add_argument("--settings", nargs="+", default=["tv:1", "tv:2.55"],
                   help="non-blind settings prior:sigma (sigma in grey levels), used for both restorations")
    p.add_argument("--iters", type=int, default=8)
    p.add_argument("--noise", type=float, default=1.0, help="noise sigma in grey levels (of 255)")
    p.add_argument("--kernel-size", type=int, default=31)
    p.add_argument("--crop", type=int, default=20)
    p.add_argument("--max-shift", type=int, default=6)
    p.add_argument("--seed", type=int, default=0, help="seed of the random motions (--task motion)")
    p.add_argument("--out", default=None, help="folder for levin_blind.json and kernel images")
    a = p.parse_args(argv)
    if a.task != "levin":
        fn = {"noise": task_noise, "noise-blurred": lambda: task_noise(blurred=True),
              "noise-textured": lambda: task_noise(textured=True),
              "gaussian": task_gaussian, "gaussian-heldout": lambda: task_gaussian(heldout=True), "motion": lambda: task_motion(seed=a.seed)}[a.task]
        res = fn()
        if a.out:
            Path(a.out).mkdir(parents=True, exist_ok=True)
            suffix = f"_seed{a.seed}" if a.task == "motion" else ""
            with open(Path(a.out) / f"blind_{a.task}{suffix}.json", "w") as f:
                json.dump(res, f, indent=1)
        return res

    kernels = load_kernels("levin09")
    root = data_root()
    rows = []
    for name in a.images:
        x = io.imread(root / "val" / "Set12" / f"{name}.png").astype(np.float64) / 255.0
        for ki in a.kernels:
            k = kernels[ki]
            seed = 1000 * int(name) + ki
            y = pnp.add_noise(pnp.blur(x, k, boundary="reflect"), a.noise / 255.0, seed=seed)
            est = CameraShakeEstimator(kernel_size=a.kernel_size)
            t0 = time.perf_counter()
            k_est = est.estimate(y)
            t_est = time.perf_counter() - t0
            row = dict(image=name, kernel=ki, time_estimate_s=t_est, psnr_blurred=pnp.psnr(y, x))
            msg = []
            for setting in a.settings:
                prior, _, sig = setting.partition(":")
                opts = dict(prior=prior, noise_level=float(sig) / 255.0, iters=a.iters, progress=False)
                x_true_k = pnp.solve(y, k, **opts)
                x_est_k = pnp.solve(y, k_est, **opts)
                ratio = (ssd_up_to_shift(x_est_k, x, a.crop, a.max_shift)
                         / ssd_up_to_shift(x_true_k, x, a.crop, a.max_shift))
                row[setting] = dict(ratio=ratio, psnr_true_kernel=pnp.psnr(x_true_k, x),
                                    psnr_estimated_kernel=pnp.psnr(x_est_k, x))
                msg.append(f"{setting} ratio {ratio:6.2f} (PSNR {row[setting]['psnr_true_kernel']:.2f} / "
                           f"{row[setting]['psnr_estimated_kernel']:.2f})")
            rows.append(row)
            print(f"{name} k{ki}: estimate {t_est:5.1f} s  " + "  ".join(msg), flush=True)
            if a.out:
                Path(a.out).mkdir(parents=True, exist_ok=True)
                np.save(Path(a.out) / f"levin_blind_{name}_k{ki}.npy", k_est)
    summary = {}
    for setting in a.settings:
        r = np.array([row[setting]["ratio"] for row in rows])
        summary[setting] = {f"ratio<={t}": float(np.mean(r <= t)) for t in (2, 3, 5)}
        summary[setting]["mean_ratio"] = float(r.mean())
        summary[setting]["median_ratio"] = float(np.median(r))
    summary["mean_time_estimate_s"] = float(np.mean([row["time_estimate_s"] for row in rows]))
    summary["median_time_estimate_s"] = float(np.median([row["time_estimate_s"] for row in rows]))
    summary["cases"] = len(rows)
    print(json.dumps(summary, indent=1))
    if a.out:
        with open(Path(a.out) / "levin_blind.json", "w") as f:
            json.dump(dict(args=vars(a), summary=summary, rows=rows), f, indent=1)
    return summary


if __name__ == "__main__":
    main()
