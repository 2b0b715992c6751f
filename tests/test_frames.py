"""Frame sequences (pnp.frames): folders and videos in and out, one operator and prior per sequence."""

import numpy as np
import pytest

import pnp
from pnp.frames import FrameWriter, build_operator, deblur_frames, is_sequence, read_frames
from pnp.io import read_image, write_image

SOLVE = dict(prior="tv", iters=3, noise_level=0.01)


@pytest.fixture(scope="module")
def scene():
    """Four sharp 64x80 colour frames of a moving scene, their blurred versions, and the kernel."""
    from skimage import data, transform

    from pnp.kernels import gaussian_kernel

    k = gaussian_kernel(1.6, size=9)
    x = transform.resize(data.astronaut()[100:300, 150:400], (64, 120), anti_aliasing=True)
    sharp = [np.ascontiguousarray(x[:, 4 * i:4 * i + 80]) for i in range(4)]
    blurred = [pnp.io.to_uint(pnp.add_noise(pnp.blur(f, k, boundary="reflect"), 0.01, seed=i), np.uint8)
               for i, f in enumerate(sharp)]
    return sharp, blurred, k


def test_folder_to_folder_matches_single_solves(tmp_path, scene):
    sharp, blurred, k = scene
    src = tmp_path / "in"
    src.mkdir()
    for i, b in enumerate(blurred):
        write_image(src / f"shot{i + 1}.png", b)  # natural order: shot1..shot4 (not shot1, shot10...)
    out = deblur_frames(src, tmp_path / "out", k, progress=False, **SOLVE)
    assert out["frames"] == 4 and out["skipped"] == 0
    assert [p.name for p in out["written"]] == [f"shot{i + 1}.png" for i in range(4)]
    for i, path in enumerate(out["written"]):
        restored = read_image(path)
        assert restored.dtype == np.uint8 and restored.shape == blurred[i].shape
        np.testing.assert_array_equal(restored, pnp.solve(blurred[i], k, progress=False, **SOLVE))
        assert pnp.psnr(restored, sharp[i]) > pnp.psnr(blurred[i], sharp[i]) + 1.0


def test_rerun_skips_frames_already_written(tmp_path, scene):
    _, blurred, k = scene
    first = deblur_frames(blurred, tmp_path, k, progress=False, **SOLVE)
    stamps = [p.stat().st_mtime_ns for p in first["written"]]
    (first["written"][2]).unlink()
    again = deblur_frames(blurred, tmp_path, k, skip_existing=True, progress=False, **SOLVE)
    assert again["frames"] == 1 and again["skipped"] == 3
    assert [p.stat().st_mtime_ns for i, p in enumerate(first["written"]) if i != 2] == \
        [s for i, s in enumerate(stamps) if i != 2]
    assert [p.name for p in tmp_path.glob(".*")] == [".pnp-settings.json"]  # no temporary files left
    # other settings: the old frames are not kept silently
    with pytest.raises(ValueError, match=r"made with other settings \(different: solve\.iters\)"):
        deblur_frames(blurred, tmp_path, k, skip_existing=True, progress=False, **dict(SOLVE, iters=4))
    redo = deblur_frames(blurred, tmp_path, k, skip_existing=False, progress=False, **dict(SOLVE, iters=4))
    assert redo["frames"] == 4 and redo["skipped"] == 0


def test_video_in_video_and_frames_out_with_one_progress_bar(tmp_path, scene, capsys):
    sharp, blurred, k = scene
    video = tmp_path / "blurred.mp4"
    with FrameWriter(video, fps=12, quality=10) as w:
        for i, b in enumerate(blurred):
            w.write(f"f{i}", b)
    assert is_sequence(video) and is_sequence(tmp_path) and not is_sequence(tmp_path / "x.png")
    src = read_frames(video)
    assert src.kind == "video" and src.fps == pytest.approx(12) and len(src) == 4
    out = deblur_frames(video, tmp_path / "restored.mp4", k, progress=True, **SOLVE)
    err = capsys.readouterr().err
    assert "pnp frames" in err and "pnp hqs" not in err  # the sequence's bar only
    frames = [f for _, f in read_frames(tmp_path / "restored.mp4")]
    assert out["frames"] == 4 and len(frames) == 4 and frames[0].shape == (64, 80, 3)
    assert not list(tmp_path.glob(".restored.*partial.mp4"))
    # video codecs are lossy: the restored video is still closer to the sharp frames
    gains = [pnp.psnr(f, s) - pnp.psnr(b, s) for f, b, s in zip(frames, blurred, sharp)]
    assert min(gains) > 0.5
    names = [n for n, _ in read_frames(video, start=1, step=2)]
    assert names == ["frame_000001", "frame_000003"]


class _CountingEstimator:
    """An estimator that pools several frames, like RotationalBlurEstimator."""

    def __init__(self, kernel):
        self.kernel, self.calls = kernel, []

    def estimate(self, y, *frames):
        self.calls.append(1 + len(frames))
        return self.kernel


class _SingleFrameEstimator:
    def __init__(self, kernel):
        self.kernel, self.calls = kernel, 0

    def estimate(self, y):
        self.calls += 1
        return self.kernel


def test_estimator_runs_once_on_several_frames(tmp_path, scene):
    _, blurred, k = scene
    est = _CountingEstimator(k)
    out = deblur_frames(blurred, tmp_path / "a", est, estimate_frames=3, progress=False, **SOLVE)
    assert est.calls == [3] and out["estimator"] is est and out["frames"] == 4
    one = _SingleFrameEstimator(k)
    deblur_frames(blurred, tmp_path / "b", one, progress=False, **SOLVE)
    assert one.calls == 1
    # the same restorations as with the kernel given directly
    direct = deblur_frames(blurred, tmp_path / "c", k, progress=False, **SOLVE)
    for a, c in zip(out["written"], direct["written"]):
        np.testing.assert_array_equal(read_image(a), read_image(c))


def test_operator_objects_are_shared(tmp_path, scene):
    from pnp.operators.rotational import RotationalBlur

    _, blurred, _ = scene
    op = RotationalBlur(center=(40.0, 32.0), angle=np.deg2rad(6))
    out = deblur_frames(blurred[:2], tmp_path, op, prior="tv", iters=2, noise_level=0.01, progress=False)
    assert out["operator"] is op and out["frames"] == 2


def test_single_precision_sequence(tmp_path, scene):
    from pnp.datasteps.fft import ClosedFormBlur

    _, blurred, k = scene
    single = deblur_frames(blurred[:2], tmp_path / "s", k, precision="single", progress=False, **SOLVE)
    double = deblur_frames(blurred[:2], tmp_path / "d", k, progress=False, **SOLVE)
    assert isinstance(single["operator"], ClosedFormBlur)
    for a, b in zip(single["written"], double["written"]):  # one-pass float32 step vs exact masked step
        assert abs(pnp.psnr(read_image(a), read_image(b))) > 30


def test_frame_errors(tmp_path, scene):
    _, blurred, k = scene
    with pytest.raises(ValueError, match="neither a folder nor a video"):
        read_frames(tmp_path / "notes.txt")
    with pytest.raises(FileNotFoundError, match="video file not found"):
        read_frames(tmp_path / "missing.mp4")
    with pytest.raises(FileNotFoundError, match="no image files"):
        read_frames(tmp_path)
    with pytest.raises(ValueError, match="estimate_frames must be an integer >= 1"):
        deblur_frames(blurred, tmp_path, k, estimate_frames=0, progress=False, **SOLVE)
    with pytest.raises(ValueError, match="step must be an integer >= 1"):
        read_frames(blurred, step=0)
    with pytest.raises(ValueError, match="precision must be one of"):
        build_operator(k, blurred[:1], precision="half")


def test_fft_plans_are_built_once_per_sequence(tmp_path, scene, monkeypatch):
    from pnp import fft as pfft

    _, blurred, k = scene
    built = []
    original = pfft.FFT2.__init__

    def counting_init(self, shape, *args, **kwargs):
        built.append(tuple(shape))
        original(self, shape, *args, **kwargs)

    pfft.clear_cache()
    monkeypatch.setattr(pfft.FFT2, "__init__", counting_init)
    deblur_frames(blurred[:1], tmp_path / "one", k, precision="single", progress=False, **SOLVE)
    after_one = len(built)
    deblur_frames(blurred, tmp_path / "all", k, precision="single", progress=False, **SOLVE)
    assert after_one > 0 and len(built) == after_one  # the next frames reuse every plan


def test_output_may_not_be_the_source(tmp_path, scene):
    _, blurred, k = scene
    src = tmp_path / "in"
    src.mkdir()
    for i, b in enumerate(blurred[:2]):
        write_image(src / f"f{i}.png", b)
    before = {p.name: p.read_bytes() for p in src.iterdir()}
    with pytest.raises(ValueError, match="is the input folder"):
        deblur_frames(src, src, k, progress=False, **SOLVE)
    (tmp_path / "link").symlink_to(src)
    with pytest.raises(ValueError, match="is the input folder"):
        deblur_frames(src, tmp_path / "link", k, progress=False, **SOLVE)
    assert {p.name: p.read_bytes() for p in src.iterdir()} == before
    video = tmp_path / "clip.avi"
    video.write_bytes(b"a video")
    with pytest.raises(ValueError, match="is the input video"):
        deblur_frames(video, video, k, progress=False, **SOLVE)
    assert video.read_bytes() == b"a video"


def test_folder_frames_with_the_same_stem_are_refused(tmp_path, scene):
    _, blurred, k = scene
    write_image(tmp_path / "a.png", blurred[0])
    write_image(tmp_path / "a.tif", blurred[1])
    with pytest.raises(ValueError, match=r"a\.png and .*a\.tif both give the output name 'a'"):
        read_frames(tmp_path)
    with pytest.raises(ValueError, match="repeated file names"):
        deblur_frames(tmp_path, tmp_path / "out", k, progress=False, **SOLVE)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_one_hxwxc_image_is_not_taken_for_a_stack(tmp_path, channels):
    img = np.random.default_rng(0).random((24, 20, channels))
    with pytest.raises(ValueError, match=r"looks like one HxWxC image; pass \[image\] for one frame"):
        read_frames(img)
    with pytest.raises(ValueError, match="looks like one HxWxC image"):
        deblur_frames(img, tmp_path / "out", np.ones((3, 3)), progress=False, **SOLVE)
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match=r"looks like one HxW image; pass \[image\]"):
        read_frames(img[..., 0])
    # the same image as a one-frame list, and genuine stacks, are accepted
    assert [f.shape for _, f in read_frames([img])] == [img.shape]
    assert len(read_frames(np.zeros((5, 24, 20)))) == 5
    assert len(read_frames(np.zeros((5, 24, 20, 3)))) == 5


@pytest.mark.parametrize("fps", [-5, 0, float("nan"), float("inf"), True, "25"])
def test_frame_writer_refuses_bad_fps(tmp_path, fps):
    with pytest.raises(ValueError, match="fps must be a finite number > 0"):
        FrameWriter(tmp_path / "a.mp4", fps=fps)


def test_frame_writer_checks_suffix_up_front(tmp_path):
    with pytest.raises(ValueError, match=r"suffix must be one of \('.png'"):
        FrameWriter(tmp_path / "fold", suffix="png")
    assert not (tmp_path / "fold").exists()  # refused before the folder is made
    assert FrameWriter(tmp_path / "b.mp4", fps=None).fps == 25.0
    assert FrameWriter(tmp_path / "fold2", suffix=".tif").suffix == ".tif"


def test_two_writers_of_one_video_do_not_share_a_temporary_file(tmp_path, scene):
    _, blurred, _ = scene
    video = tmp_path / "out.mp4"
    a, b = FrameWriter(video, fps=10), FrameWriter(video, fps=10)
    for i in range(3):
        a.write(f"a{i}", blurred[i])
    b.write("b0", blurred[3])  # a shared temporary name would interleave both streams in one file
    a.close()
    assert len(read_frames(video)) == 3
    b.close()
    assert len(read_frames(video)) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]


def test_another_video_into_the_same_folder_is_refused(tmp_path, scene):
    sharp, blurred, k = scene
    out = tmp_path / "out"
    deblur_frames(blurred[:2], out, k, progress=False, **SOLVE)
    again = deblur_frames(blurred[:2], out, k, skip_existing=True, progress=False, **SOLVE)
    assert again["skipped"] == 2
    with pytest.raises(ValueError, match="frame_000000.png .* made from another input"):
        deblur_frames(blurred[2:], out, k, skip_existing=True, progress=False, **SOLVE)


def test_mixed_frame_sizes_are_checked_against_the_kernel_and_empty_outputs_removed(tmp_path):
    frames = [np.full((32, 32), 0.5), np.full((6, 6), 0.5)]
    with pytest.raises(ValueError, match=r"frame 'frame_000001': the kernel of shape \(9, 9\) is larger"):
        deblur_frames(frames, tmp_path / "m", np.ones((9, 9)) / 81, progress=False, **SOLVE)
    with pytest.raises(ValueError, match="no frames"):
        deblur_frames(frames, tmp_path / "none", np.ones((3, 3)) / 9, start=5, progress=False, **SOLVE)
    assert not (tmp_path / "none").exists()  # the folder made for it is not left behind


def test_video_outputs_that_cannot_be_written_are_refused_up_front(tmp_path, scene):
    _, blurred, _ = scene
    for suffix in (".gif", ".m4v"):
        with pytest.raises(ValueError, match=f"cannot write \\{suffix} videos"):
            FrameWriter(tmp_path / f"x{suffix}")
    with FrameWriter(tmp_path / "x.webm", fps=5) as w:  # VP9 by default: H.264 does not go into WebM
        w.write("a", blurred[0])
    assert len(read_frames(tmp_path / "x.webm")) == 1
    with pytest.raises(RuntimeError, match="ffmpeg could not encode .*no_such_codec"):
        with FrameWriter(tmp_path / "y.mp4", codec="no_such_codec") as w:
            w.write("a", blurred[0])
            w.write("b", blurred[1])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.webm"]


class _RecordingEstimator:
    """Returns a fixed kernel and remembers the noise level it was given."""

    def __init__(self):
        self.got = "not called"

    def estimate(self, y, *, noise_level=None):
        self.got = noise_level
        return np.ones((3, 3)) / 9


def test_a_known_noise_level_reaches_the_estimator_of_a_sequence(tmp_path, scene):
    """As in pnp.solve: the estimators use a given noise level instead of estimating it."""
    from pnp.batch import deblur_batch

    _, blurred, _ = scene
    est = _RecordingEstimator()
    deblur_frames(blurred[:2], tmp_path / "a", est, progress=False, **SOLVE)
    assert est.got == SOLVE["noise_level"]
    est = _RecordingEstimator()
    deblur_batch(blurred[:2], tmp_path / "b", est, prior="tv", iters=2, noise_level=0.02, progress=False)
    assert est.got == 0.02
    est = _RecordingEstimator()
    deblur_frames(blurred[:1], tmp_path / "c", est, prior="tv", iters=2, progress=False)
    assert est.got is None  # unknown: the estimator estimates it
