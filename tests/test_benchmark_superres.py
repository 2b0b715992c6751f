"""The super-resolution benchmark's PSNR convention and table merging (no data needed)."""

import numpy as np
import pytest
from _benchmarks import load_benchmark

superres = load_benchmark("superres")


def test_psnr_usrnet_rounds_to_8_bits_and_leaves_out_the_border():
    rng = np.random.default_rng(0)
    ref = rng.integers(0, 256, (40, 44, 3)) / 255.0
    out = ref.copy()
    out[:4] = 1 - out[:4]  # errors only inside the s^2 = 4 border rows: left out at scale 2
    assert superres.psnr_usrnet(out, ref, 2) == np.inf
    out = ref + 0.4 / 255  # below half a level: rounds back to the reference
    assert superres.psnr_usrnet(out, ref, 2) == np.inf
    out = ref.copy()
    out[10, 10, 0] = ref[10, 10, 0] + 3 / 255 if ref[10, 10, 0] < 0.5 else ref[10, 10, 0] - 3 / 255
    n = (40 - 8) * (44 - 8) * 3  # one pixel off by 3 levels inside the cropped frame
    assert superres.psnr_usrnet(out, ref, 2) == pytest.approx(10 * np.log10(255.0**2 / (9 / n)))


def test_tables_average_per_scale_and_kernel_and_refuse_unfinished_runs(tmp_path):
    rows = [dict(scale=s, kernel=k, image=f"im{i}", psnr=20 + s + k + i, psnr_usrnet=21 + s + k + i)
            for s in (2, 3) for k in (1, 2) for i in (0, 1)]
    superres.write_tables(rows, tmp_path, "t", {})
    md = (tmp_path / "t.md").read_text()
    assert "Mean over 2 images" in md
    assert "| x2 | 23.50 | 24.50 | 24.00 |" in md  # 20 + 2 + k + mean(0, 1)
    assert "| x3 | 25.50 | 26.50 | 26.00 |" in md.split("USRNet")[1]
    with pytest.raises(SystemExit, match="unequal image counts"):
        superres.write_tables(rows[:-1], tmp_path, "t2", {})


def test_complete_images_keeps_only_images_with_every_case():
    rows = [dict(scale=s, kernel=k, image=im, psnr=1.0, psnr_usrnet=1.0)
            for im in ("a", "b") for s in (2, 3) for k in (1, 2)]
    rows = rows[:-1] + [dict(scale=2, kernel=1, image="c", psnr=1.0, psnr_usrnet=1.0)]
    kept = superres.complete_images(rows)
    assert {r["image"] for r in kept} == {"a"}
    assert len(kept) == 4
