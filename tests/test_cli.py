"""The installed ``pnp`` executable, run as a subprocess (tiny images, TV prior)."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from skimage import data

import pnp
from pnp import io

PNP = Path(sys.executable).parent / "pnp"
pytestmark = pytest.mark.skipif(not PNP.is_file(), reason=f"the pnp executable is not installed at {PNP}")

KERNEL = np.ones((7, 7)) / 49.0


def run(*args, cwd):
    proc = subprocess.run([str(PNP), *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


@pytest.fixture
def scene(tmp_path):
    """A blurred noisy 48x48 8-bit crop of ``camera``, its ground truth and the kernel as .npy."""
    x = data.camera()[160:208, 240:288] / 255.0
    y = pnp.add_noise(pnp.blur(x, KERNEL, boundary="reflect"), 2 / 255, seed=0)
    io.write_image(tmp_path / "blurred.png", io.to_uint(y, np.uint8))
    io.write_image(tmp_path / "truth.png", io.to_uint(x, np.uint8))
    np.save(tmp_path / "k.npy", KERNEL)
    return tmp_path


def test_help_documents_commands_units_and_exit_codes(tmp_path):
    top = run("--help", cwd=tmp_path)
    assert top.returncode == 0
    assert "deblur" in top.stdout and "priors" in top.stdout
    sub = run("deblur", "--help", cwd=tmp_path)
    assert sub.returncode == 0
    for text in ("--kernel", "--prior", "--iters", "--noise-level", "--scale", "--solver", "--compare",
                 "0-255", "2.55/255", "exit status", "glob", "--rotation-center", "--rotation-angle", "--rpm",
                 "--exposure", "--rotation-radius", "estimate-rotation", "revolutions per minute"):
        assert text in sub.stdout, text
    assert run(cwd=tmp_path).returncode == 2  # no command
    listing = run("priors", cwd=tmp_path)
    assert listing.returncode == 0 and "tv" in listing.stdout.split()


def test_deblur_single_file_with_compare_and_reference(scene):
    proc = run("deblur", "blurred.png", "-o", "restored.png", "--kernel", "k.npy", "--prior", "tv",
               "--iters", "6", "--noise-level", "2", "--reference", "truth.png", "--compare", "cmp.png",
               "--save-kernel", "used.npy", "--no-progress", cwd=scene)
    assert proc.returncode == 0, proc.stderr
    out = io.read_image(scene / "restored.png")
    truth = io.read_image(scene / "truth.png")
    y = io.read_image(scene / "blurred.png")
    assert out.dtype == np.uint8 and out.shape == truth.shape
    assert pnp.psnr(out, truth) > pnp.psnr(y, truth) + 3.0
    assert f"PSNR {pnp.psnr(out, truth):.2f} dB" in proc.stderr
    assert io.read_image(scene / "cmp.png").shape[2] == 3
    np.testing.assert_allclose(np.load(scene / "used.npy"), KERNEL)


def test_deblur_16_bit_colour_super_resolution_keeps_depth(tmp_path):
    x = data.astronaut()[100:164, 180:244] / 255.0
    y = pnp.blur(x, KERNEL, scale=2)
    io.write_image(tmp_path / "lr.tif", io.to_uint(y, np.uint16))
    scipy.io.savemat(tmp_path / "k.mat", {"psf": KERNEL})
    proc = run("deblur", "lr.tif", "-o", "hr.png", "-k", "k.mat", "-p", "tv", "-n", "4", "--scale", "2",
               "--noise-level", "0.5", "--solver", "admm", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = io.read_image(tmp_path / "hr.png")
    assert out.dtype == np.uint16 and out.shape == (64, 64, 3)
    # the same call in-process: checks that options reach pnp.solve (noise level /255, scale, solver, iters)
    expected = pnp.solve(io.read_image(tmp_path / "lr.tif"), KERNEL, prior="tv", iters=4, scale=2,
                         noise_level=0.5 / 255, solver="admm")
    assert np.abs(out.astype(int) - expected).max() <= 2


def test_batch_glob_continues_after_a_bad_file(scene):
    (scene / "in").mkdir()
    for name in ("a.png", "b.png"):
        (scene / "in" / name).write_bytes((scene / "blurred.png").read_bytes())
    (scene / "in" / "c.png").write_bytes(b"not a png")
    proc = run("deblur", "in/*.png", "-o", "out/", "-k", "k.npy", "-p", "tv", "-n", "2", "--noise-level", "2",
               cwd=scene)
    assert proc.returncode == 1
    assert "c.png: not a readable image" in proc.stderr
    assert "1 of 3 images failed" in proc.stderr
    assert sorted(p.name for p in (scene / "out").iterdir()) == ["a.png", "b.png"]


def test_refuses_to_overwrite_inputs(scene):
    before = (scene / "blurred.png").read_bytes()
    proc = run("deblur", "blurred.png", "-o", "./blurred.png", "-k", "k.npy", "-p", "tv", cwd=scene)
    assert proc.returncode == 2 and "refusing to overwrite the input" in proc.stderr
    proc = run("deblur", ".", "-o", ".", "-k", "k.npy", "-p", "tv", cwd=scene)  # a folder onto itself
    assert proc.returncode == 2 and "refusing to overwrite" in proc.stderr
    proc = run("deblur", "blurred.png", "-o", "x.png", "--compare", "blurred.png", "-k", "k.npy", cwd=scene)
    assert proc.returncode == 2
    assert (scene / "blurred.png").read_bytes() == before
    assert not (scene / "x.png").exists()


def test_deblur_with_self_ensemble_prior(scene):
    proc = run("deblur", "blurred.png", "-o", "ens.png", "-k", "k.npy", "-p", "tv+x2", "--iters", "3",
               "--noise-level", "2", "--no-progress", cwd=scene)
    assert proc.returncode == 0, proc.stderr
    assert io.read_image(scene / "ens.png").shape == io.read_image(scene / "blurred.png").shape


def test_deblur_with_prior_weights(scene):
    """--prior-weights small: the earlier attention U-Net; it restores, differently from the default."""
    common = ["blurred.png", "-k", "k.npy", "--iters", "2", "--noise-level", "2", "--no-progress"]
    small = run("deblur", *common, "-o", "small.png", "--prior-weights", "small", cwd=scene)
    assert small.returncode == 0, small.stderr
    default = run("deblur", *common, "-o", "default.png", cwd=scene)
    assert default.returncode == 0, default.stderr
    a, b = io.read_image(scene / "small.png"), io.read_image(scene / "default.png")
    truth, y = io.read_image(scene / "truth.png") / 255.0, io.read_image(scene / "blurred.png") / 255.0
    assert a.shape == b.shape == truth.shape and not np.array_equal(a, b)
    assert pnp.psnr(a / 255.0, truth) > pnp.psnr(y, truth) + 1.0


@pytest.mark.parametrize("args, code, message", [
    (["missing.png", "-o", "x.png", "-k", "k.npy"], 2, "input file not found: missing.png"),
    (["blurred.png", "-o", "x.png", "-k", "nope.npy"], 2, "kernel file not found: nope.npy"),
    (["blurred.png", "-o", "x.png", "-k", "k.npy", "-p", "magic"], 2, "unknown prior 'magic'"),
    (["blurred.png", "-o", "x.png", "-k", "k.npy", "-p", "tv+x3"], 2, "self-ensemble suffix"),
    (["blurred.png", "-o", "x.png", "-k", "k.npy", "--noise-level", "300"], 2, "0-255 units"),
    (["blurred.png", "-o", "x.png", "-k", "k.npy", "--iters", "0"], 2, "--iters must be >= 1"),
    (["blurred.png", "-o", "x.bmp", "-k", "k.npy"], 2, "must end with one of"),
    (["blurred.png", "-o", "x.png", "-k", "k.npy", "--scale", "two"], 2, "invalid int value"),
    (["blurred.png", "-o", "x.png", "-k", "big.npy", "-p", "tv"], 1, "kernel (61x61) is larger than the image (48x48)"),
    (["junk.png", "-o", "x.png", "-k", "k.npy", "-p", "tv"], 1, "junk.png: not a readable image"),
    (["blurred.png", "-o", "x.png", "-k", "two.npz"], 2, "holds several variables (a, b); choose one with --kernel-key"),
    (["blurred.png", "-o", "x.png", "-k", "two.npz", "--kernel-key", "c"], 2, "no variable 'c'"),
    # a stack of kernels is a command-line problem too (it was exit 1)
    (["blurred.png", "-o", "x.png", "-k", "k3d.npy"], 2, "holds 3 kernels (a stack); choose one with --kernel-index"),
    (["blurred.png", "-o", "x.png", "-k", "k3d.npy", "--kernel-index", "3"], 2, "choose I in 0..2"),
    # super-resolution needs a kernel: refused before any image is read (it was exit 1, per image)
    (["blurred.png", "-o", "x.png", "-p", "tv", "--scale", "2"], 2, "--scale 2 needs the blur kernel"),
    (["junk.png", "-o", "x.png", "-p", "tv", "--scale", "2"], 2, "give it with --kernel FILE"),
    # a .pt without its .json: the message named the .pt as missing (exit 1 at the solve before that)
    (["blurred.png", "-o", "x.png", "-k", "k.npy", "--prior-weights", "bad.pt"], 2,
     "--prior-weights bad.pt: the architecture file bad.json is missing"),
    # --recompute only means something for a video written to a folder of frames (it was ignored)
    (["blurred.png", "-o", "x.png", "-k", "k.npy", "--recompute"], 2, "--recompute works only with a video"),
    # a folder or a glob is batch mode: an image file name as OUTPUT was created as a folder x.png/
    (["sub", "-o", "x.png", "-k", "k.npy", "-p", "tv"], 2, "with several inputs (a folder, a glob or several files) "
     "OUTPUT must be a folder, but x.png is an image file name"),
    (["sub/*.png", "-o", "x.png", "-k", "k.npy", "-p", "tv"], 2, "OUTPUT must be a folder"),
    (["blurred.png", "truth.png", "-o", "x.png", "-k", "k.npy", "-p", "tv"], 2, "OUTPUT must be a folder"),
    (["blurred.png", "-o", "x.png", "-k", "k.npy", "-p", "tv", "--device", "cpu"], 1, "device"),
    (["blurred.png", "-o", "x.png", "-k", "k.npy", "-p", "tv", "--prior-weights", "small"], 2, "takes no weights"),
    (["blurred.png", "-o", "x.png", "-k", "k.npy", "--prior-weights", "nope.pt"], 2,
     "--prior-weights: attention U-Net weights file not found: nope.pt"),
])
def test_errors_have_messages_and_exit_codes(scene, args, code, message):
    np.save(scene / "big.npy", np.ones((61, 61)))
    np.savez(scene / "two.npz", a=KERNEL, b=KERNEL)
    np.save(scene / "k3d.npy", np.stack([KERNEL] * 3))
    (scene / "bad.pt").write_bytes(b"not checked: the .json beside it is missing")
    (scene / "junk.png").write_bytes(b"\x89PNG garbage")
    (scene / "sub").mkdir()
    (scene / "sub" / "a.png").write_bytes((scene / "blurred.png").read_bytes())
    proc = run("deblur", *args, cwd=scene)
    assert proc.returncode == code, proc.stderr
    assert message in proc.stderr
    assert not (scene / "x.png").exists()


def test_kernel_estimate_fails_cleanly_or_works(scene):
    proc = run("deblur", "blurred.png", "-o", "est.png", "--kernel", "estimate", "-p", "tv", "-n", "2",
               "--noise-level", "2", cwd=scene)
    assert proc.returncode in (0, 1)
    if proc.returncode == 1:
        assert "pnp deblur: error:" in proc.stderr
        assert not (scene / "est.png").exists()
    else:
        assert io.read_image(scene / "est.png").shape == (48, 48)


def test_deblur_video_to_frames(tmp_path):
    """`pnp deblur video.mp4 -o folder/` restores every frame; a rerun skips the frames already done."""
    import subprocess

    import imageio.v3 as iio
    from skimage import data

    import pnp

    x = data.camera()[100:164, 100:164] / 255.0
    k = np.ones((3, 3)) / 9
    frames = [(np.clip(pnp.add_noise(pnp.blur(np.roll(x, i, axis=1), k, boundary="reflect"), 0.01, seed=i), 0, 1)
               * 255).astype(np.uint8) for i in range(3)]
    video = tmp_path / "clip.avi"
    iio.imwrite(video, np.stack([np.stack([f] * 3, -1) for f in frames]), plugin="FFMPEG", fps=5, codec="ffv1")
    np.save(tmp_path / "k.npy", k)
    exe = Path(sys.executable).with_name("pnp")
    cmd = [str(exe), "deblur", str(video), "-o", str(tmp_path / "out"), "--kernel", str(tmp_path / "k.npy"),
           "--prior", "tv", "--iters", "2", "--noise-level", "2.55"]
    run = subprocess.run(cmd, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    written = sorted((tmp_path / "out").glob("*.png"))
    assert len(written) == 3 and "3 frames restored" in run.stderr
    again = subprocess.run(cmd, capture_output=True, text=True)
    assert again.returncode == 0 and "3 already done" in again.stderr
    other = [c if c != "2" else "3" for c in cmd]  # --iters 3: the frames in the folder are not kept
    refused = subprocess.run(other, capture_output=True, text=True)
    assert refused.returncode != 0 and "other settings (different: solve.iters)" in refused.stderr
    assert "--recompute" in refused.stderr
    redone = subprocess.run(other + ["--recompute"], capture_output=True, text=True)
    assert redone.returncode == 0 and "3 frames restored" in redone.stderr
    bad = subprocess.run(cmd[:4] + [str(tmp_path / "out.txt")] + cmd[5:], capture_output=True, text=True)
    assert bad.returncode == 2 and "folder" in bad.stderr


def _snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("args, message", [
    (["-o", "psf.png", "-k", "psf.png"], "refusing to overwrite the --kernel file"),
    (["-o", "truth.png", "--reference", "truth.png"], "refusing to overwrite the --reference file"),
    (["-o", "link.png", "--reference", "truth.png"], "refusing to overwrite the --reference file"),  # a symlink
    (["-o", "x.png", "--save-kernel", "blurred.png"], "refusing to overwrite the input"),
    (["-o", "x.png", "--save-kernel", "x.png"], "--save-kernel x.png is the same file as OUTPUT"),
    (["-o", "x.png", "--save-kernel", "cmp.png", "--compare", "cmp.png"], "is the same file as --compare"),
    (["-o", "x.png", "--save-kernel", "k.npy"], "refusing to overwrite the --kernel file"),
    (["-o", "x.png", "--compare", "truth.png", "--reference", "truth.png"], "refusing to overwrite the --reference"),
    (["-o", "x.png", "--compare", "psf.png", "-k", "psf.png"], "refusing to overwrite the --kernel file"),
])
def test_refuses_to_overwrite_kernel_reference_and_its_own_outputs(scene, args, message):
    io.write_image(scene / "psf.png", io.to_uint(KERNEL / KERNEL.max(), np.uint8))
    (scene / "link.png").symlink_to(scene / "truth.png")
    if "-k" not in args:
        args = args + ["-k", "k.npy"]
    before = _snapshot(scene)
    proc = run("deblur", "blurred.png", *args, "-p", "tv", "-n", "1", "--noise-level", "2", cwd=scene)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert _snapshot(scene) == before


@pytest.mark.parametrize("names, message", [
    (["x.png", "x_compare.png"], "same file as OUTPUT"),  # x's figure would replace the result of x_compare
    (["y.tif", "y.png"], "the same --compare figure"),
])
def test_batch_compare_figures_may_not_collide(scene, names, message):
    (scene / "in").mkdir()
    for name in names:
        io.write_image(scene / "in" / name, io.read_image(scene / "blurred.png"))
    proc = run("deblur", "in", "-o", "out/", "--compare", "out/", "-k", "k.npy", "-p", "tv", "-n", "1",
               "--noise-level", "2", cwd=scene)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert not (scene / "out").exists()


@pytest.mark.parametrize("args, message", [
    (["-o", "newdir/"], "output folder does not exist: newdir"),
    (["-o", "x.png", "--save-kernel", "nodir/k.npy"], "folder of --save-kernel does not exist: nodir"),
])
def test_missing_output_folders_are_refused_before_the_solve(scene, args, message):
    proc = run("deblur", "blurred.png", *args, "-k", "k.npy", "-p", "tv", "-n", "1", "--noise-level", "2",
               cwd=scene)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert not (scene / "x.png").exists() and not (scene / "newdir").exists()


def test_written_files_get_the_usual_permissions(scene):
    import os

    umask = os.umask(0o022)
    os.umask(umask)
    proc = run("deblur", "blurred.png", "-o", "r.png", "-k", "k.npy", "-p", "tv", "-n", "1", "--noise-level", "2",
               "--compare", "cmp.png", "--save-kernel", "used.npy", "--no-progress", cwd=scene)
    assert proc.returncode == 0, proc.stderr
    for name in ("r.png", "cmp.png", "used.npy"):
        assert (scene / name).stat().st_mode & 0o777 == 0o666 & ~umask, name


def test_kernel_estimation_is_announced(scene, monkeypatch, capsys):
    import pnp.api
    from pnp import cli

    seen = []

    def fake_solve(y, kernel, **kwargs):
        seen.append(kernel)
        return y, {"operator": None}

    monkeypatch.setattr(pnp.api, "solve", fake_solve)
    args = ["deblur", str(scene / "blurred.png"), "-o", str(scene / "e.png"), "-p", "tv"]
    assert cli.main(args + ["--progress"]) == 0
    assert seen == ["estimate"]
    assert "blurred.png: estimating the blur kernel ..." in capsys.readouterr().err
    assert cli.main(args + ["--no-progress"]) == 0
    assert "estimating" not in capsys.readouterr().err


def test_same_input_twice_is_one_input(scene):
    """`pnp deblur a.png a.png -o r.png` restores a.png once into the file r.png (it made a folder r.png/)."""
    proc = run("deblur", "blurred.png", "./blurred.png", "-o", "r.png", "-k", "k.npy", "-p", "tv", "-n", "1",
               "--noise-level", "2", "--no-progress", cwd=scene)
    assert proc.returncode == 0, proc.stderr
    assert (scene / "r.png").is_file()
    assert io.read_image(scene / "r.png").shape == io.read_image(scene / "blurred.png").shape


@pytest.mark.parametrize("output, message", [
    ("nodir/x.mp4", "output folder does not exist: nodir"),  # was exit 1, after reading the video
    ("x.mp4", "--recompute works with a folder OUTPUT of frames"),  # --recompute was ignored
])
def test_video_command_line_errors_are_refused_before_reading(scene, output, message):
    (scene / "clip.mp4").write_bytes(b"not a video: never read")
    extra = ["--recompute"] if "recompute" in message else []
    proc = run("deblur", "clip.mp4", "-o", output, "-k", "k.npy", "-p", "tv", *extra, cwd=scene)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert not (scene / "nodir").exists() and not (scene / "x.mp4").exists()


def test_too_small_for_estimation_speaks_of_command_line_options(scene):
    """A 24x24 image with the default --kernel estimate: exit 1 (per image), in the CLI's words."""
    io.write_image(scene / "tiny.png", io.read_image(scene / "blurred.png")[:24, :24])
    proc = run("deblur", "tiny.png", "-o", "x.png", "-p", "tv", "-n", "1", "--noise-level", "2", cwd=scene)
    assert proc.returncode == 1, proc.stderr
    assert "tiny.png: the image (24x24) is too small for blind kernel estimation" in proc.stderr
    assert "--kernel FILE" in proc.stderr and "kernel_size" not in proc.stderr
    assert not (scene / "x.png").exists()


def test_a_video_named_twice_is_one_video_and_videos_do_not_mix_with_images(tmp_path):
    import subprocess

    import imageio.v3 as iio

    frames = (np.random.default_rng(0).random((2, 32, 32, 3)) * 255).astype(np.uint8)
    video = tmp_path / "clip.avi"
    iio.imwrite(video, frames, plugin="FFMPEG", fps=5, codec="ffv1")
    np.save(tmp_path / "k.npy", np.ones((3, 3)) / 9)
    exe = Path(sys.executable).with_name("pnp")
    common = ["--kernel", str(tmp_path / "k.npy"), "--prior", "tv", "--iters", "1", "--noise-level", "2.55"]
    run = subprocess.run([str(exe), "deblur", str(video), str(tmp_path / "." / "clip.avi"), "-o",
                          str(tmp_path / "out"), *common], capture_output=True, text=True)
    assert run.returncode == 0 and "2 frames restored" in run.stderr, run.stderr  # was image mode: failed
    iio.imwrite(tmp_path / "a.png", frames[0])
    mixed = subprocess.run([str(exe), "deblur", str(video), str(tmp_path / "a.png"), "-o", str(tmp_path / "o2"),
                            *common], capture_output=True, text=True)
    assert mixed.returncode == 2 and "must be the only INPUT" in mixed.stderr
    assert not (tmp_path / "o2").exists()


# -- rotational blur (a spinning disk seen by a still camera) ------------------------------------------------------
ROT_DEG = 20.0


@pytest.fixture(scope="module")
def rotation_images():
    """A 64x64 colour disk over a static background, turned by 20 degrees during the exposure, 8-bit."""
    from pnp.synthetic import rotating_disk_scene, synthesize_rotational_blur

    sharp, center, radius = rotating_disk_scene(64)
    syn = synthesize_rotational_blur(sharp, center, np.deg2rad(ROT_DEG), radius=radius, noise_level=1 / 255,
                                     seed=0, progress=False)
    return io.to_uint(np.clip(syn.blurred, 0, 1), np.uint8), io.to_uint(sharp, np.uint8), center, radius


@pytest.fixture
def rotation_scene(tmp_path, rotation_images):
    blurred, truth, center, radius = rotation_images
    io.write_image(tmp_path / "spin.png", blurred)
    io.write_image(tmp_path / "truth.png", truth)
    return tmp_path, [f"{center[0]:.4f}", f"{center[1]:.4f}"], f"{radius:.4f}"


def test_deblur_known_rotation_by_angle_or_rpm(rotation_scene):
    """--rotation-center/--rotation-angle (or --rpm/--exposure) and --rotation-radius restore a spinning disk."""
    folder, center, radius = rotation_scene
    common = ["-p", "tv", "-n", "2", "--noise-level", "1", "--no-progress", "--rotation-center", *center,
              "--rotation-radius", radius]
    proc = run("deblur", "spin.png", "-o", "angle.png", "--rotation-angle", ROT_DEG, "--reference", "truth.png",
               *common, cwd=folder)
    assert proc.returncode == 0, proc.stderr
    truth, y = io.read_image(folder / "truth.png"), io.read_image(folder / "spin.png")
    out = io.read_image(folder / "angle.png")
    assert out.shape == y.shape and out.dtype == np.uint8
    assert pnp.psnr(out, truth) > pnp.psnr(y, truth) + 5.0  # 29.3 against 20.3 dB when written
    assert f"angle {ROT_DEG:.2f} deg, disk radius {float(radius):.1f} px" in proc.stderr
    # 1000 rpm during 1/300 s is 1000 / 60 / 300 of a turn: 20 degrees
    proc = run("deblur", "spin.png", "-o", "rpm.png", "--rpm", "1000", "--exposure", "1/300", *common, cwd=folder)
    assert proc.returncode == 0, proc.stderr
    assert f"angle {ROT_DEG:.2f} deg" in proc.stderr
    assert np.abs(io.read_image(folder / "rpm.png").astype(int) - out).max() <= 1
    # a folder: every image with the same rotation
    (folder / "in").mkdir()
    for name in ("a.png", "b.png"):
        (folder / "in" / name).write_bytes((folder / "spin.png").read_bytes())
    proc = run("deblur", "in", "-o", "out/", "--rotation-angle", ROT_DEG, *common, cwd=folder)
    assert proc.returncode == 0, proc.stderr
    for name in ("a.png", "b.png"):
        np.testing.assert_array_equal(io.read_image(folder / "out" / name), out)


def test_rotation_options_reach_the_operator_and_the_estimator(scene, monkeypatch, capsys):
    """What pnp.solve gets: RotationalBlur(center, radians, radius=(r0, r)) or a RotationalBlurEstimator."""
    import pnp.api
    from pnp import cli

    seen = []

    def fake_solve(y, kernel, **kwargs):
        seen.append(kernel)
        return y, {"operator": None}

    monkeypatch.setattr(pnp.api, "solve", fake_solve)
    args = ["deblur", str(scene / "blurred.png"), "-o", str(scene / "r.png"), "-p", "tv", "--no-progress"]
    assert cli.main(args + ["--rotation-center", "20.5", "-3", "--rotation-angle", "-12.5",
                            "--rotation-radius", "30", "--rotation-inner-radius", "4"]) == 0
    op = seen.pop()
    assert isinstance(op, pnp.RotationalBlur)
    assert op.center == (20.5, -3.0) and op.angle == pytest.approx(np.deg2rad(-12.5)) and op.radius == (4.0, 30.0)
    assert cli.main(args + ["--rotation-center", "10", "11", "--rpm", "1500", "--exposure", "0.002"]) == 0
    op = seen.pop()
    assert op.angle == pytest.approx(np.deg2rad(18.0)) and op.radius is None  # 1500 rpm for 2 ms: 18 degrees
    assert cli.main(args + ["-k", "estimate-rotation"]) == 0
    est = seen.pop()
    assert isinstance(est, pnp.RotationalBlurEstimator) and est.center is None and est.radius == "auto"
    assert cli.main(args + ["-k", "estimate-rotation", "--rotation-center", "24", "25", "--rotation-radius",
                            "15"]) == 0
    est = seen.pop()
    assert est.center == (24.0, 25.0) and est.radius == 15.0
    # a known angle (or rpm and exposure) is kept: only the centre (and the radius) is estimated
    assert cli.main(args + ["-k", "estimate-rotation", "--rotation-angle", "-7.2"]) == 0
    est = seen.pop()
    assert est.center is None and est.angle == pytest.approx(np.deg2rad(7.2)) and est.sign == -1
    assert cli.main(args + ["-k", "estimate-rotation", "--rpm", "1200", "--exposure", "1/1000",
                            "--rotation-center", "24", "25"]) == 0
    est = seen.pop()
    assert est.center == (24.0, 25.0) and est.angle == pytest.approx(np.deg2rad(7.2)) and est.radius == "auto"
    assert cli.main(args + ["-k", "estimate-rotation", "--rotation-angle", "7.2", "--rotation-center", "24", "25",
                            "--rotation-radius", "15"]) == 0
    op = seen.pop()  # nothing left to estimate
    assert isinstance(op, pnp.RotationalBlur) and op.angle == pytest.approx(np.deg2rad(7.2)) and op.radius == (0, 15)


def test_rotation_model_option(scene, monkeypatch, capsys):
    """--rotation-model: arcs / polar forced; auto: polar grids only where the arcs are long."""
    import pnp.api
    from pnp import cli
    from pnp.operators.polar_rotational import PolarRotationalBlur

    seen = []

    def fake_solve(y, kernel, **kwargs):
        seen.append(kernel)
        return y, {"operator": None}

    monkeypatch.setattr(pnp.api, "solve", fake_solve)
    args = ["deblur", str(scene / "blurred.png"), "-o", str(scene / "r.png"), "-p", "tv", "--no-progress",
            "--rotation-center", "20.5", "30", "--rotation-angle", "12", "--rotation-radius", "30"]
    for model, cls in ((None, pnp.RotationalBlur), ("auto", pnp.RotationalBlur), ("arcs", pnp.RotationalBlur),
                       ("polar", PolarRotationalBlur)):
        assert cli.main(args + ([] if model is None else ["--rotation-model", model])) == 0
        op = seen.pop()
        assert type(op) is cls, model
        assert op.center == (20.5, 30.0) and op.radius == (0, 30.0) and op.angle == pytest.approx(np.deg2rad(12))
    # a batch converts once: every image gets the same polar operator (it keeps its grids per shape)
    (scene / "b2.png").write_bytes((scene / "blurred.png").read_bytes())
    assert cli.main(["deblur", str(scene / "blurred.png"), str(scene / "b2.png"), "-o", str(scene / "outs"),
                     "-p", "tv", "--no-progress"] + args[7:] + ["--rotation-model", "polar"]) == 0
    first, second = seen.pop(), seen.pop()
    assert isinstance(first, PolarRotationalBlur) and first is second
    # auto on a frame large enough: the arcs of 20 degrees 500 px from the centre would need gigabytes
    monkeypatch.setattr(cli, "_read_input", lambda path: np.zeros((1024, 1024)))
    assert cli.main(args[:-8] + ["--rotation-center", "511.5", "511.5", "--rotation-angle", "20"]) == 0
    assert isinstance(seen.pop(), PolarRotationalBlur)
    # forced arcs on that frame: the library's warning about the matrix names the option, not the API
    import warnings

    def warning_solve(y, kernel, **kwargs):
        kernel._warn_size((2000, 2000), np.full(4, 1e12), np.full(4, 1e9))
        seen.append(kernel)
        return y, {"operator": None}

    monkeypatch.setattr(pnp.api, "solve", warning_solve)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        assert cli.main(args[:-8] + ["--rotation-center", "511.5", "511.5", "--rotation-angle", "20",
                                     "--rotation-model", "arcs"]) == 0
    err = capsys.readouterr().err
    assert type(seen.pop()) is pnp.RotationalBlur
    assert "--rotation-model polar computes the same blur on polar grids" in err and "from_blur" not in err
    monkeypatch.setattr(pnp.api, "solve", fake_solve)
    # --device: both models have a torch path, so auto chooses as without it
    assert cli.main(args[:-8] + ["--rotation-center", "511.5", "511.5", "--rotation-angle", "20",
                                 "--device", "cpu"]) == 0
    assert type(seen.pop()) is pnp.PolarRotationalBlur
    assert cli.main(args[:6] + ["-k", "estimate-rotation", "--device", "cpu"]) == 0
    assert seen.pop().model == "auto"
    # the estimator gets the choice (it decides with the frame and the estimated angle)
    assert cli.main(args[:6] + ["-k", "estimate-rotation", "--rotation-model", "polar"]) == 0
    assert seen.pop().model == "polar"
    assert cli.main(args[:6] + ["-k", "estimate-rotation"]) == 0
    assert seen.pop().model == "auto"


def test_library_warnings_are_printed_when_raised_even_if_the_solve_fails(scene, monkeypatch, capsys):
    """Warnings were held until the solve returned: one that explains a failure was never shown."""
    import warnings

    import pnp.api
    from pnp import cli

    def failing_solve(y, kernel, **kwargs):
        warnings.warn("the matrix will need 9 GiB", UserWarning)
        print("building", file=sys.stderr)
        raise MemoryError("Unable to allocate 7.9 GiB")

    monkeypatch.setattr(pnp.api, "solve", failing_solve)
    rc = cli.main(["deblur", str(scene / "blurred.png"), "-o", str(scene / "r.png"), "-p", "tv", "--no-progress",
                   "--quiet", "--rotation-center", "5", "5", "--rotation-angle", "8"])
    err = capsys.readouterr().err
    assert rc == 1
    assert "pnp deblur: warning: blurred.png: the matrix will need 9 GiB" in err
    assert err.index("the matrix will need") < err.index("building") < err.index("Unable to allocate")


def test_estimated_rotation_with_a_known_centre_outside_the_image_says_what_to_do(scene, capsys):
    from pnp import cli

    rc = cli.main(["deblur", str(scene / "blurred.png"), "-o", str(scene / "r.png"), "-p", "tv", "--no-progress",
                   "-k", "estimate-rotation", "--rotation-center", "-20", "5", "--rotation-angle", "10"])
    err = capsys.readouterr().err
    assert rc == 1 and not (scene / "r.png").exists()
    assert "--rotation-center -20 5 lies outside the image" in err and "without --kernel estimate-rotation" in err
    assert "search_margin" not in err  # an API parameter the command line does not have


def test_deblur_estimated_rotation_reports_what_it_found(rotation_scene):
    """--kernel estimate-rotation with a known centre and radius: the angle is estimated, printed and used."""
    folder, center, radius = rotation_scene
    proc = run("deblur", "spin.png", "-o", "est.png", "-k", "estimate-rotation", "--rotation-center", *center,
               "--rotation-radius", radius, "-p", "tv", "-n", "2", "--noise-level", "1", "--no-progress",
               cwd=folder)
    assert proc.returncode == 0, proc.stderr
    found = [line for line in proc.stderr.splitlines() if "rotational blur (estimated): centre" in line]
    assert len(found) == 1, proc.stderr
    angle = float(found[0].split("angle ")[1].split(" deg")[0])
    assert abs(angle - ROT_DEG) < 5  # 22.9 degrees when written
    truth, y = io.read_image(folder / "truth.png"), io.read_image(folder / "spin.png")
    assert pnp.psnr(io.read_image(folder / "est.png"), truth) > pnp.psnr(y, truth) + 3.0  # 28.1 against 20.3 dB


@pytest.mark.parametrize("args, message", [
    (["--rotation-center", "5"], "argument --rotation-center: expected 2 arguments"),
    (["--rotation-center", "5", "5", "--rotation-angle", "10", "-k", "k.npy"],
     "describe a rotational blur, which replaces the kernel: drop --kernel k.npy"),
    (["--rotation-center", "5", "5", "--rpm", "1000"], "--rpm needs --exposure SECONDS"),
    (["--rotation-center", "5", "5", "--exposure", "1/500"], "--exposure needs --rpm RPM"),
    (["--rotation-center", "5", "5", "--rotation-angle", "10", "--rpm", "100", "--exposure", "0.01"],
     "either as --rotation-angle DEG or as --rpm RPM --exposure SECONDS, not both"),
    (["--rotation-angle", "10"], "--rotation-angle needs the centre of the rotation: --rotation-center X Y"),
    (["--rotation-center", "5", "5"], "add --rotation-angle DEG (or --rpm RPM --exposure SECONDS)"),
    (["-k", "estimate", "--rotation-center", "5", "5", "--rotation-angle", "4"],
     "--kernel estimate estimates a camera-shake kernel"),
    (["-k", "estimate-rotation", "--rotation-angle", "100"], "the estimator handles at most 90 degrees"),
    (["--rotation-center", "5", "5", "--rotation-angle", "10", "--scale", "2"],
     "--scale 2 does not work with a rotational blur"),
    (["-k", "estimate-rotation", "--scale", "2"], "--scale 2 does not work with a rotational blur"),
    (["--rotation-center", "5", "5", "--rpm", "1500", "--exposure", "500"], "is --exposure in seconds"),
    (["--rotation-center", "5", "5", "--rpm", "1500", "--exposure", "1/0"], "invalid exposure '1/0'"),
    (["--rotation-center", "5", "5", "--rotation-angle", "0"], "--rotation-angle is in degrees, not 0"),
    (["--rotation-center", "5", "5", "--rotation-angle", "400"], "at most 360"),
    (["--rotation-center", "nan", "5", "--rotation-angle", "10"], "--rotation-center must be two finite numbers"),
    (["--rotation-center", "5", "5", "--rotation-angle", "10", "--rotation-radius", "auto"],
     "--rotation-radius auto (an estimated radius) needs --kernel estimate-rotation"),
    (["--rotation-center", "5", "5", "--rotation-angle", "10", "--rotation-radius", "0"],
     "--rotation-radius must be a number of pixels > 0"),
    (["--rotation-center", "5", "5", "--rotation-angle", "10", "--rotation-radius", "20",
      "--rotation-inner-radius", "20"], "--rotation-inner-radius must be >= 0 and smaller than --rotation-radius 20"),
    (["--rotation-center", "5", "5", "--rotation-angle", "10", "--rotation-inner-radius", "4"],
     "--rotation-inner-radius R0 needs --rotation-radius R"),
    (["--rotation-center", "5", "5", "--rotation-angle", "10", "--save-kernel", "k2.npy"],
     "a rotational blur has none"),
    (["-k", "estimate-rotation", "--kernel-index", "1"], "--kernel-key/--kernel-index need --kernel FILE"),
    (["--rotation-model", "polar"], "--rotation-model describes a rotational blur: add --rotation-angle DEG"),
    (["--rotation-center", "5", "5", "--rotation-angle", "10", "--rotation-model", "fast"],
     "argument --rotation-model: invalid choice: 'fast'"),
])
def test_rotation_option_errors_exit_2_before_any_work(scene, args, message):
    before = _snapshot(scene)
    proc = run("deblur", "blurred.png", "-o", "x.png", "-p", "tv", *args, cwd=scene)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert _snapshot(scene) == before


def test_video_rerun_with_another_rotation_angle_is_refused(tmp_path, rotation_images, capsys):
    """The folder's settings record holds the rotation: a rerun with another angle does not keep old frames.

    In-process (``pnp.cli.main``), to pay for the imports once.
    """
    import imageio.v3 as iio

    from pnp import cli

    blurred, _, center, radius = rotation_images
    video, frames = tmp_path / "spin.avi", tmp_path / "frames"
    iio.imwrite(video, np.stack([blurred, blurred[:, ::-1]]), plugin="FFMPEG", fps=5, codec="ffv1")
    base = ["deblur", str(video), "-o", str(frames), "-p", "tv", "-n", "1", "--noise-level", "1", "--no-progress",
            "--rotation-center", f"{center[0]:.4f}", f"{center[1]:.4f}", "--rotation-radius", f"{radius:.4f}"]

    def pnp_deblur(*extra):
        code = cli.main(base + list(extra))
        return code, capsys.readouterr().err

    code, err = pnp_deblur("--rotation-angle", "20")
    assert code == 0 and "2 frames restored" in err and "angle 20.00 deg" in err, err
    code, err = pnp_deblur("--rotation-angle", "20")
    assert code == 0 and "2 already done" in err, err
    before = _snapshot(frames)
    code, err = pnp_deblur("--rotation-angle", "25")
    assert code == 1 and "other settings (different: operator.angle)" in err and "--recompute" in err, err
    assert _snapshot(frames) == before
    code, err = pnp_deblur("--rotation-angle", "25", "--recompute")
    assert code == 0 and "2 frames restored" in err, err
    assert _snapshot(frames) != before
    # a known centre outside the frames with estimation: the command line's advice, not the API's search_margin
    code = cli.main(["deblur", str(video), "-o", str(tmp_path / "f2"), "-p", "tv", "-n", "1", "--no-progress",
                     "-k", "estimate-rotation", "--rotation-center", "-30", "5", "--rotation-angle", "20"])
    err = capsys.readouterr().err
    assert code == 1 and "--rotation-center -30 5 lies outside the frames" in err and "search_margin" not in err, err
