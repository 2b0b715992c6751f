"""Batch deblurring (pnp.batch): local runs, a 2-worker Dask LocalCluster with a worker killed mid-run."""

import os
import sys
from pathlib import Path
import numpy as np
import pytest

import pnp
from pnp.batch import PriorCache, deblur_batch
from pnp.io import read_image, to_uint, write_image
from pnp.settings_record import RECORD_NAME

SOLVE = dict(iters=3, noise_level=0.01)
N_FRAMES = 8


def _listing(folder):
    """Names in an output folder, without the settings record."""
    return sorted(p.name for p in Path(folder).iterdir() if p.name != RECORD_NAME)


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    """Eight blurred 64x64 gray frames written as PNG files, the kernel, and the sharp frames."""
    from skimage import data

    k = np.ones((5, 5)) / 25
    x = data.camera()[100:164, 100:228] / 255.0
    sharp = [np.ascontiguousarray(x[:, 8 * i:8 * i + 64]) for i in range(N_FRAMES)]
    folder = tmp_path_factory.mktemp("frames")
    paths = []
    for i, s in enumerate(sharp):
        y = to_uint(pnp.add_noise(pnp.blur(s, k, boundary="reflect"), 0.01, seed=i), np.uint8)
        paths.append(folder / f"f{i:02d}.png")
        write_image(paths[-1], y)
    return folder, paths, k, sharp


@pytest.fixture(scope="module")
def reference(frames, tmp_path_factory):
    """The single-process result, frame by frame."""
    folder, paths, k, _ = frames
    out = tmp_path_factory.mktemp("ref")
    res = deblur_batch(folder, out, k, prior="tv", scheduler="sync", progress=False, **SOLVE)
    assert res["written"] == [p.stem for p in paths]
    return {p.stem: read_image(out / p.name) for p in paths}


class DyingTV:
    """TV prior whose process exits (like a crashed worker) during its 2nd frame, once per marker file."""

    def __init__(self, marker):
        self.marker = str(marker)
        self.calls = 0

    def __call__(self, x, sigma):
        from priors.tv import TV

        self.calls += 1
        if self.calls == SOLVE["iters"] + 2:  # in the middle of the second frame of this process
            try:
                fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                pass
            else:
                os.write(fd, str(os.getpid()).encode())
                os.close(fd)
                os._exit(1)
        return TV()(x, sigma)


def test_local_sync_and_threads_agree(frames, reference, tmp_path):
    folder, paths, k, sharp = frames
    res = deblur_batch([str(p) for p in paths], tmp_path, k, prior="tv", scheduler="threads", threads=2,
                       progress=False, **SOLVE)
    assert sorted(res["written"]) == sorted(reference) and res["frames_per_second"] > 0
    for name, ref in reference.items():
        np.testing.assert_array_equal(read_image(tmp_path / f"{name}.png"), ref)
    for i, p in enumerate(paths):
        assert pnp.psnr(reference[p.stem], sharp[i]) > pnp.psnr(read_image(p), sharp[i]) + 1.0
    rerun = deblur_batch(folder, tmp_path, k, prior="tv", progress=False, **SOLVE)
    assert rerun["written"] == [] and len(rerun["skipped"]) == N_FRAMES


def test_prior_is_built_once_per_process(frames, tmp_path):
    _, paths, k, _ = frames
    built = []
    cache = PriorCache()
    original = cache.get

    def counting_get(key, factory):
        return original(key, lambda: built.append(key) or factory())

    cache.get = counting_get
    from pnp.batch import BatchJob, run_frame
    from pnp.operators import Blur

    job = BatchJob(tmp_path, Blur(k), "tv", {}, "name:tv", ".png", True, SOLVE)
    for p in paths[:3]:
        assert run_frame(p.stem, str(p), job, cache)["status"] == "written"
    assert built == ["name:tv"] and cache.builds == 1


def test_batch_input_errors(frames, tmp_path):
    folder, paths, k, _ = frames
    with pytest.raises(ValueError, match="suffix must be one of"):
        deblur_batch(folder, tmp_path, k, prior="tv", suffix=".bmp")
    with pytest.raises(ValueError, match="scheduler must be 'sync' or 'threads'"):
        deblur_batch(folder, tmp_path, k, prior="tv", scheduler="processes")
    with pytest.raises(FileNotFoundError, match="input image not found"):
        deblur_batch([tmp_path / "nope.png"], tmp_path, k, prior="tv")
    with pytest.raises(ValueError, match="repeated file names"):
        deblur_batch([paths[0], paths[0]], tmp_path, k, prior="tv")
    with pytest.raises(TypeError, match="prior_kwargs can only be given with a prior name"):
        deblur_batch(folder, tmp_path, k, prior=lambda x, s: x, prior_kwargs={"a": 1})


def test_failed_frames_are_reported_and_the_rest_written(frames, tmp_path):
    _, paths, k, _ = frames
    bad = [tmp_path / "corrupt1.png", tmp_path / "corrupt2.png"]
    for p in bad:
        p.write_bytes(b"not a png")
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="2 of 10 frames failed"):
        deblur_batch(list(paths) + bad, out, k, prior="tv", progress=False, **SOLVE)
    assert _listing(out) == sorted(p.name for p in paths)


def test_dask_cluster_survives_a_killed_worker(frames, reference, tmp_path):
    distributed = pytest.importorskip("distributed")
    folder, paths, k, _ = frames
    marker = tmp_path / "killed.pid"
    out = tmp_path / "out"
    records = []
    # workers (also the one restarted after the kill) cannot import this test module: send DyingTV by value
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  worker_dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        res = deblur_batch(folder, out, k, prior=DyingTV(marker), client=client, progress=False,
                           on_result=records.append, **SOLVE)
        assert marker.is_file()  # one worker really died mid-run
        killed = int(marker.read_text())
        # every frame reported exactly once, as written, and present exactly once on disk
        names = [r["name"] for r in records]
        assert sorted(names) == sorted(reference) and len(names) == len(set(names))
        # the killed process finished one frame, then died in its second (redone elsewhere). The
        # first one is reported by that process if its result reached us before the crash, else
        # the scheduler reruns it and the rerun finds the file and skips it: never written twice
        skipped = [r["name"] for r in records if r["status"] == "skipped"]
        assert [r["pid"] for r in records].count(killed) + len(skipped) == 1
        assert _listing(out) == sorted(f"{n}.png" for n in reference)
        for name, ref in reference.items():
            np.testing.assert_array_equal(read_image(out / f"{name}.png"), ref)
        # a rerun on the cluster with the same settings skips every frame
        again = deblur_batch(folder, out, k, prior=DyingTV(marker), client=client, progress=False, **SOLVE)
        assert again["written"] == [] and len(again["skipped"]) == N_FRAMES
        with pytest.raises(ValueError, match="made with other settings"):  # another prior: not kept
            deblur_batch(folder, out, k, prior="tv", client=client, progress=False, **SOLVE)
    assert res["frames_per_second"] > 0


def test_output_folder_may_not_be_the_input_folder(frames, tmp_path):
    folder, paths, k, _ = frames
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    with pytest.raises(ValueError, match="is the input folder"):
        deblur_batch(folder, folder, k, prior="tv", progress=False, **SOLVE)
    (tmp_path / "link").symlink_to(folder)
    with pytest.raises(ValueError, match="is the input folder"):
        deblur_batch(folder, tmp_path / "link", k, prior="tv", progress=False, **SOLVE)
    with pytest.raises(ValueError, match="would overwrite the input"):  # a list of files, written next to them
        deblur_batch([str(p) for p in paths[:2]], folder, k, prior="tv", progress=False, **SOLVE)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_folder_inputs_with_the_same_stem_are_refused(frames, tmp_path):
    _, paths, k, _ = frames
    src = tmp_path / "in"
    src.mkdir()
    write_image(src / "a.png", read_image(paths[0]))
    write_image(src / "a.tif", read_image(paths[1]))
    with pytest.raises(ValueError, match=r"a\.png and .*a\.tif both give the output name 'a'"):
        deblur_batch(src, tmp_path / "out", k, prior="tv", progress=False, **SOLVE)
    assert not (tmp_path / "out").exists()


def test_an_unreadable_first_file_fails_alone(frames, tmp_path):
    _, paths, k, _ = frames
    bad = tmp_path / "a_corrupt.png"  # sorts first
    bad.write_bytes(b"not a png")
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="1 of 3 frames failed") as info:
        deblur_batch([bad] + list(paths[:2]), out, k, prior="tv", progress=False, **SOLVE)
    assert "a_corrupt" in str(info.value)
    assert _listing(out) == sorted(p.name for p in paths[:2])
    with pytest.raises(RuntimeError, match="none of the 1 frames could be read"):
        deblur_batch([bad], tmp_path / "none", k, prior="tv", progress=False, **SOLVE)


def test_one_colour_image_is_not_taken_for_a_stack(tmp_path):
    img = np.random.default_rng(0).random((24, 20, 3))
    with pytest.raises(ValueError, match=r"looks like one HxWxC image; pass \[image\] for one frame"):
        deblur_batch(img, tmp_path / "out", np.ones((3, 3)), prior="tv", progress=False, **SOLVE)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kw,match", [(dict(start=-2), "start must be an integer >= 0"),
                                      (dict(start=1.5), "start must be an integer >= 0"),
                                      (dict(step=-1), "step must be an integer >= 1"),
                                      (dict(step=0), "step must be an integer >= 1"),
                                      (dict(stop=-1), "stop must be None or an integer >= 0")])
def test_list_inputs_slice_checked_like_frame_source(tmp_path, kw, match):
    from pnp.frames import FrameSource

    arrays = [np.full((16, 16), i / 10) for i in range(4)]
    with pytest.raises(ValueError, match=match):
        FrameSource(arrays, **kw)
    with pytest.raises(ValueError, match=match):
        deblur_batch(arrays, tmp_path / "out", np.ones((3, 3)), prior="tv", progress=False, **kw, **SOLVE)
    assert not (tmp_path / "out").exists()


def test_clean_temporaries_removes_only_exact_temporary_names(tmp_path):
    from pnp.batch import _clean_temporaries
    from pnp.io import _temporary_file

    real = [Path(_temporary_file(tmp_path / "img[1].png")), Path(_temporary_file(tmp_path / "scan.png"))]
    user = [".img[1].k2j3.png", ".img1.zz.png", ".img1.0123456789ab.png", ".scan.notes.png",
            ".scan.0123456789ab.tif", ".scan.x.0123456789ab.png", "scan.png"]
    for name in user:
        (tmp_path / name).touch()
    _clean_temporaries(tmp_path, ["img[1]", "scan"], ".png")
    assert not any(p.exists() for p in real)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(user)


def test_rerun_with_other_settings_is_refused_not_mixed(frames, reference, tmp_path):
    """skip_existing keeps only outputs of the same settings; a changed kernel, option or prior is an error."""
    folder, paths, k, _ = frames
    out = tmp_path / "out"
    deblur_batch(folder, out, k, prior="tv", progress=False, **SOLVE)
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("*.png")}
    with pytest.raises(ValueError, match=r"made with other settings \(different: solve\.iters\)"):
        deblur_batch(folder, out, k, prior="tv", progress=False, iters=4, noise_level=0.01)
    with pytest.raises(ValueError, match=r"different: operator\.kernel"):
        deblur_batch(folder, out, np.ones((3, 3)) / 9, prior="tv", progress=False, **SOLVE)
    with pytest.raises(ValueError, match=r"different: prior\.kwargs\.strength"):
        deblur_batch(folder, out, k, prior="tv", prior_kwargs={"strength": 2.0}, progress=False, **SOLVE)
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.png")} == stamps  # nothing touched
    # replacing the results: interrupted after two frames, then continued with skip_existing=True
    other = dict(iters=4, noise_level=0.01)
    part = deblur_batch(folder, out, k, prior="tv", progress=False, skip_existing=False, stop=2, **other)
    assert part["written"] == [p.stem for p in paths[:2]]
    rest = deblur_batch(folder, out, k, prior="tv", progress=False, **other)
    # the two new frames are kept; the six older ones (other settings) are recomputed, not skipped
    assert rest["skipped"] == [p.stem for p in paths[:2]] and rest["written"] == [p.stem for p in paths[2:]]
    fresh = deblur_batch(folder, tmp_path / "fresh", k, prior="tv", progress=False, **other)
    assert len(fresh["written"]) == N_FRAMES
    for p in paths:
        np.testing.assert_array_equal(read_image(out / p.name), read_image(tmp_path / "fresh" / p.name))


def test_outputs_without_a_settings_record_are_not_skipped_blindly(frames, tmp_path):
    folder, paths, k, _ = frames
    out = tmp_path / "out"
    out.mkdir()
    write_image(out / paths[0].name, np.zeros((64, 64)))  # e.g. written by hand or by an older version
    with pytest.raises(ValueError, match="no record of the settings"):
        deblur_batch(folder, out, k, prior="tv", progress=False, **SOLVE)
    res = deblur_batch(folder, out, k, prior="tv", skip_existing=False, progress=False, **SOLVE)
    assert len(res["written"]) == N_FRAMES and read_image(out / paths[0].name).max() > 0


def test_another_input_or_a_changed_output_is_never_kept_silently(frames, tmp_path):
    """Frame names repeat from source to source: the record knows which input made each output."""
    _, paths, k, _ = frames
    stack = np.stack([read_image(p) for p in paths[:3]])
    out = tmp_path / "out"
    first = deblur_batch(stack, out, k, prior="tv", progress=False, **SOLVE)
    assert len(first["written"]) == 3  # frame_000000 ... frame_000002
    again = deblur_batch(stack, out, k, prior="tv", progress=False, **SOLVE)
    assert again["skipped"] == first["written"] and again["written"] == []
    with pytest.raises(ValueError, match="made from another input"):
        deblur_batch(255 - stack, out, k, prior="tv", progress=False, **SOLVE)
    name = out / "frame_000001.png"
    write_image(name, np.zeros((64, 64), np.uint8))  # another program writes into the folder
    with pytest.raises(ValueError, match="frame_000001.png .* changed since pnp wrote it"):
        deblur_batch(stack, out, k, prior="tv", progress=False, **SOLVE)
    redo = deblur_batch(stack, out, k, prior="tv", progress=False, skip_existing=False, **SOLVE)
    assert len(redo["written"]) == 3 and read_image(name).max() > 0


def test_a_frame_smaller_than_the_kernel_fails_alone(frames, tmp_path):
    _, paths, _, _ = frames
    small = np.full((6, 6), 0.5)
    big = read_image(paths[0]) / 255.0
    with pytest.raises(RuntimeError, match="1 of 2 frames failed") as info:
        deblur_batch([big, small], tmp_path / "out", np.ones((9, 9)) / 81, prior="tv", progress=False, **SOLVE)
    assert "kernel of shape (9, 9) is larger than the image (6x6)" in str(info.value.__cause__)
