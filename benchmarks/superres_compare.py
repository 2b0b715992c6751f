"""Super-resolution: one run of ``benchmarks/superres.py`` against another, on the same cases.

The same cases (image, scale, kernel) of both runs, restricted to the images complete in the new
run (and to the cases the old run has): mean PSNR per scale in both conventions of ``benchmarks/superres.py``, and the per-case
difference (mean, min, max). By default the second GPU continuation (docs/results/superres_gpu2)
against the step-16800 prior (superres68); ``--new`` and ``--old`` name other result folders.

    python benchmarks/superres_compare.py
    python benchmarks/superres_compare.py --new docs/results/grown/superres14 --old docs/results/superres_gpu2
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from superres import complete_images, read_jsonl  # noqa: E402

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results"


def main(argv=None):
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--new", type=Path, default=RESULTS / "superres_gpu2", help="folder of the new run's .jsonl")
    ap.add_argument("--old", type=Path, default=RESULTS / "superres68", help="folder of the old run's .jsonl")
    args = ap.parse_args(argv)
    new = complete_images([r for p in sorted(args.new.glob("*.jsonl")) for r in read_jsonl(p)])
    old = {(r["image"], r["scale"], r["kernel"]): r
           for p in sorted(args.old.glob("*.jsonl")) for r in read_jsonl(p)}
    images = sorted({r["image"] for r in new})
    print("complete images", len(images), images)
    for s in sorted({r["scale"] for r in new}):
        nn = [r for r in new if r["scale"] == s and (r["image"], s, r["kernel"]) in old]  # cases of both runs
        oo = [old[(r["image"], s, r["kernel"])] for r in nn]
        diff = np.array([a["psnr"] - b["psnr"] for a, b in zip(nn, oo)])
        mean = {k: (np.mean([r[k] for r in nn]), np.mean([r[k] for r in oo])) for k in ("psnr", "psnr_usrnet")}
        print(f"x{s}: cases {len(nn)}  new {mean['psnr'][0]:.2f} / {mean['psnr_usrnet'][0]:.2f}   "
              f"old {mean['psnr'][1]:.2f} / {mean['psnr_usrnet'][1]:.2f}  gain {diff.mean():+.2f} "
              f"(min {diff.min():+.2f}, max {diff.max():+.2f})  median s {np.median([r['seconds'] for r in nn]):.1f}")


if __name__ == "__main__":
    main()
