"""Benchmark data access (pnp.data) on a fake $PNP_DATA."""

import numpy as np
import pytest

from pnp import data
from pnp.io import read_image, write_image


@pytest.fixture
def fake_root(tmp_path, monkeypatch):
    monkeypatch.setenv("PNP_DATA", str(tmp_path))
    (tmp_path / "val" / "S").mkdir(parents=True)
    (tmp_path / "kernels").mkdir()
    return tmp_path


def test_list_images_lists_exactly_what_read_image_reads(fake_root):
    img = np.zeros((4, 5), np.uint8)
    for name in ("c.png", "b.tiff", "a.TIF", "d.jpg"):
        write_image(fake_root / "val" / "S" / name, img)
    (fake_root / "val" / "S" / "e.bmp").write_bytes(b"BM")  # read_image refuses .bmp: not listed
    (fake_root / "val" / "S" / "notes.txt").write_text("x")
    names = [p.name for p in data.list_images("S")]
    assert names == ["a.TIF", "b.tiff", "c.png", "d.jpg"]
    assert all(read_image(p).shape == (4, 5) for p in data.list_images("S"))
    with pytest.raises(FileNotFoundError, match="no image folder 'T'"):
        data.list_images("T")


def test_load_kernels_in_file_order_and_names_the_sets_when_missing(fake_root):
    ks = {f"k{i}": np.full((i, i), 1.0 / i**2) for i in (1, 2, 10)}
    np.savez(fake_root / "kernels" / "mine.npz", **ks)
    got = data.load_kernels("mine")
    assert [k.shape for k in got] == [(1, 1), (2, 2), (10, 10)] and got[0].dtype == np.float64
    with pytest.raises(FileNotFoundError, match="no kernel set 'nope'.*the sets there are: mine"):
        data.load_kernels("nope")
