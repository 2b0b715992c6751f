"""Super-resolution: the shipped prior (docs/results/superres_gpu2) against the step-16800 prior (superres68), same cases.

Means per scale over the images complete in the new run, both PSNR conventions of benchmarks/superres.py.
Run from the repository root:  python benchmarks/superres_compare.py
"""
import json, glob, numpy as np
def load(files):
    rows = []
    for f in files:
        rows += [json.loads(l) for l in open(f) if l.strip()]
    return rows
new = load(glob.glob("docs/results/superres_gpu2/*.jsonl"))
old = load(glob.glob("docs/results/superres68/*.jsonl"))
imgs = sorted({r["image"] for r in new})
complete = [i for i in imgs if sum(1 for r in new if r["image"] == i) == 36]
oldd = {(r["image"], r["scale"], r["kernel"]): r for r in old}
print("complete images", len(complete), complete)
for s in (2, 3, 4):
    nn = [r for r in new if r["scale"] == s and r["image"] in complete]
    oo = [oldd[(r["image"], s, r["kernel"])] for r in nn]
    print(f"x{s}: cases {len(nn)}  new {np.mean([r['psnr'] for r in nn]):.2f} / {np.mean([r['psnr_usrnet'] for r in nn]):.2f}   old {np.mean([r['psnr'] for r in oo]):.2f} / {np.mean([r['psnr_usrnet'] for r in oo]):.2f}  gain {np.mean([a['psnr']-b['psnr'] for a,b in zip(nn,oo)]):+.2f} (min {min(a['psnr']-b['psnr'] for a,b in zip(nn,oo)):+.2f}, max {max(a['psnr']-b['psnr'] for a,b in zip(nn,oo)):+.2f})  median s {np.median([r['seconds'] for r in nn]):.1f}")
