import numpy as np

from _benchmarks import load_benchmark as load


def test_solve_timing_rows_on_cpu(tmp_path):
    bench = load("solve_timing")
    x = bench._test_image(600)  # larger than the photo: reflected
    assert x.shape == (600, 600, 3) and 0 <= x.min() and x.max() <= 1
    np.testing.assert_array_equal(x[512:520], x[511:503:-1])  # symmetric continuation at the edge
    rows = bench.main(["--device", "cpu", "--threads", "1", "--sizes", "48", "--rotation-sizes", "48",
                       "--iters", "2", "--repeats", "1", "--json", str(tmp_path / "t.json")])
    assert [r["blur"] for r in rows] == ["camera shake 25x25", "rotation 10 deg"]
    for r in rows:
        assert r["size"] == 48 and r["median_s"] > 0 and len(r["all_s"]) == 1
        assert r["psnr_db"] > 20  # the solves restored something
    assert (tmp_path / "t.json").exists()


def test_solve_timing_rotation_sizes_need_not_be_in_sizes():
    bench = load("solve_timing")
    rows = bench.main(["--device", "cpu", "--threads", "1", "--sizes", "32", "--rotation-sizes", "40",
                       "--iters", "1", "--repeats", "1"])
    assert [(r["blur"], r["size"]) for r in rows] == [("camera shake 25x25", 32), ("rotation 10 deg", 40)]
