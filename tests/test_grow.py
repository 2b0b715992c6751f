"""priors.grow: a grown attention U-Net or DRUNet computes the same function and can learn."""

import json
import re

import pytest
import torch

from priors.attention_unet import AttentionUNet, load_attention_unet
from priors.grow import grow_attention_unet, grow_drunet, load_drunet_weights, main


def _trained_like(channels, seed=0):
    """A small network with non-zero weights everywhere (the zero-initialised tail too)."""
    torch.manual_seed(seed)
    net = AttentionUNet(channels, widths=(8, 16, 24, 32), heads=2, window=3)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return net.eval()


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("widths, blocks", [((16, 24, 40, 32), None), (None, 3), ((12, 16, 32, 32), 2)])
def test_grown_network_has_the_same_outputs(channels, widths, blocks):
    old = _trained_like(channels)
    grown = grow_attention_unet(old, widths, blocks)
    assert grown.config["widths"] == list(widths or old.config["widths"])
    assert grown.config["blocks"] == (blocks or old.config["blocks"])
    assert sum(p.numel() for p in grown.parameters()) > sum(p.numel() for p in old.parameters())
    x = torch.rand(2, channels, 37, 53, generator=torch.Generator().manual_seed(1))  # odd size: padded inside
    sigma = torch.tensor([0.05, 0.2])
    with torch.no_grad():
        ref, out = old(x, sigma), grown(x, sigma)
    assert (ref - x).abs().max() > 1e-2  # the old network does something
    assert (out - ref).abs().max() < 1e-5


def test_new_capacity_receives_gradient_and_changes_the_output():
    old = _trained_like(1)
    grown = grow_attention_unet(old, (16, 16, 24, 32), blocks=2).train()
    x = torch.rand(1, 1, 32, 32, generator=torch.Generator().manual_seed(2))
    loss = (grown(x, 0.1) - x).abs().mean()
    loss.backward()
    # weights from the new channels of stage 0 into the old channels of stage 1: zero, yet learning
    assert grown.down0.weight[:16, 8:].abs().max() == 0
    assert grown.down0.weight.grad[:16, 8:].abs().max() > 0
    assert grown.enc0[1].conv2.weight.abs().max() == 0  # the new residual block starts as identity
    assert grown.enc0[1].conv2.weight.grad.abs().max() > 0
    with torch.no_grad():
        for p in grown.parameters():
            p.sub_(1e-2 * p.grad.sign())
        assert (grown(x, 0.1) - old(x, 0.1)).abs().max() > 1e-4


def test_shrinking_or_changing_the_body_is_refused():
    old = _trained_like(1)
    with pytest.raises(ValueError, match="can only grow"):
        grow_attention_unet(old, (4, 16, 24, 32))
    with pytest.raises(ValueError, match="body width"):
        grow_attention_unet(old, (8, 16, 24, 48))
    with pytest.raises(ValueError, match="4 channel counts"):
        grow_attention_unet(old, (8, 16, 24))
    with pytest.raises(ValueError, match="blocks can only grow"):
        grow_attention_unet(grow_attention_unet(old, blocks=2), blocks=1)


def test_command_line_writes_weights_and_sidecar(tmp_path, capsys):
    old = _trained_like(3)
    src = tmp_path / "small.pt"
    torch.save(old.state_dict(), src)
    src.with_suffix(".json").write_text(json.dumps(old.config))
    out = tmp_path / "big.pt"
    main([str(src), "--widths", "16", "24", "40", "32", "--out", str(out)])
    assert "max output change" in capsys.readouterr().out
    grown = load_attention_unet(out)
    x = torch.rand(1, 3, 24, 24)
    with torch.no_grad():
        assert (grown(x, 0.1) - old(x, 0.1)).abs().max() < 1e-5
    for argv, message in (
        (["--blocks", "2", "--out", str(out)], "exists"),  # never overwrites by default
        (["--blocks", "2", "--out", str(tmp_path / "big.pth")], r"\.pt"),
        (["--out", str(tmp_path / "same.pt")], "nothing to grow"),
        (["--widths", "4", "16", "24", "32", "--out", str(tmp_path / "s.pt")], "can only grow"),
    ):
        with pytest.raises(SystemExit):
            main([str(src), *argv])
        assert re.search(message, capsys.readouterr().err)
    with pytest.raises(SystemExit):
        main([str(tmp_path / "missing.pt"), "--blocks", "2", "--out", str(tmp_path / "m.pt")])
    assert "NAME.json beside it" in capsys.readouterr().err
    main([str(src), "--blocks", "2", "--out", str(out), "--overwrite"])
    assert load_attention_unet(out).config["blocks"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.json", "big.pt", "small.json", "small.pt"]


def test_growing_leaves_the_global_random_generator_alone():
    net = _trained_like(1)  # seeds the generator itself
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    grow_attention_unet(net, blocks=2, seed=7)
    assert torch.equal(torch.rand(3), expected)


def _drunet_like(channels, residual=True, seed=0):
    """A small DRUNet (deepinv's layers) with non-zero weights everywhere, kwargs in .config."""
    from priors.residual_drunet import build_drunet

    cfg = dict(nc=[4, 8, 12, 16], nb=1, act_mode="R", downsample_mode="strideconv",
               upsample_mode="convtranspose", in_channels=channels, out_channels=channels, residual=residual)
    torch.manual_seed(seed)
    net = build_drunet(**cfg)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    net.config = cfg
    return net.eval()


@pytest.mark.parametrize("channels, residual", [(1, True), (3, True), (3, False)])
def test_grown_drunet_has_the_same_outputs_and_its_new_channels_learn(channels, residual):
    old = _drunet_like(channels, residual)
    grown = grow_drunet(old, (6, 8, 20, 32))
    assert grown.config["nc"] == [6, 8, 20, 32] and grown.config["residual"] is residual
    assert type(grown) is type(old)
    x = torch.rand(2, channels, 40, 56, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref, out = old(x, 0.1), grown(x, 0.1)
    assert (ref - x).abs().max() > 1e-2  # the old network does something
    assert (out - ref).abs().max() < 1e-5
    grown.train()
    (grown(x, 0.1) - x).abs().mean().backward()
    w = grown.m_down1[-1].weight  # stride-2 conv 6 -> 8 channels: new inputs into old outputs are zero
    assert w[:8, 4:].abs().max() == 0 and w.grad[:8, 4:].abs().max() > 0


def test_grow_drunet_refuses_shrinking_and_unknown_models():
    old = _drunet_like(1)
    with pytest.raises(ValueError, match="can only grow"):
        grow_drunet(old, (2, 8, 12, 16))
    with pytest.raises(ValueError, match="4 channel counts"):
        grow_drunet(old, (4, 8, 12))
    del old.config
    with pytest.raises(ValueError, match="config"):
        grow_drunet(old, (4, 8, 12, 16))


def test_command_line_grows_a_drunet(tmp_path, capsys):
    old = _drunet_like(3)
    src = tmp_path / "drunet.pt"
    torch.save(old.state_dict(), src)
    src.with_suffix(".json").write_text(json.dumps(old.config))
    out = tmp_path / "wide.pt"
    main([str(src), "--widths", "8", "8", "16", "24", "--out", str(out)])
    assert "max output change" in capsys.readouterr().out
    grown = load_drunet_weights(out)
    assert grown.config["nc"] == [8, 8, 16, 24]
    x = torch.rand(1, 3, 24, 32)
    with torch.no_grad():
        assert (grown(x, 0.1) - old(x, 0.1)).abs().max() < 1e-5
    from priors.train import load_exported  # the format that --init-weights and --measure read

    with torch.no_grad():
        assert (load_exported("drunet", out)(x, 0.1) - grown(x, 0.1)).abs().max() < 1e-6
    for argv, message in (
        (["--blocks", "2", "--widths", "8", "8", "16", "24", "--out", str(tmp_path / "b.pt")], "attention U-Net only"),
        (["--out", str(tmp_path / "n.pt")], "nothing to grow"),
        (["--widths", "2", "8", "16", "24", "--out", str(tmp_path / "s.pt")], "can only grow"),
    ):
        with pytest.raises(SystemExit):
            main([str(src), *argv])
        assert re.search(message, capsys.readouterr().err)
