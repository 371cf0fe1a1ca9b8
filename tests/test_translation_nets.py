"""The image-to-image networks: reference parameter counts, shapes, skips, dropout, receptive field, init."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gankit.errors import ConfigError
from gankit.models.translation_nets import (
    PatchDiscriminator,
    ResidualBlock,
    ResNetTranslator,
    UNetGenerator,
    init_normal,
)


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def meta_count(build) -> int:
    """Parameters of a network built on the meta device: shapes only, no memory or init time."""
    with torch.device("meta"):
        return count(build())


# The exact totals that junyanz/pytorch-CycleGAN-and-pix2pix's models/networks.py gives
# (define_G / define_D; it prints them rounded as "Total number of parameters : X M"),
# found by building its UnetGenerator, ResnetGenerator and NLayerDiscriminator and summing numel().
@pytest.mark.parametrize(
    ("build", "expected"),
    [
        # netG unet_256, input_nc 3, output_nc 3, ngf 64, norm batch: 54.414 M
        (lambda: UNetGenerator(3, 3, 256, width=64, norm="batch"), 54_413_955),
        # netG unet_128, same settings: 41.829 M
        (lambda: UNetGenerator(3, 3, 128, width=64, norm="batch"), 41_828_995),
        # netG resnet_9blocks, 3 -> 3, ngf 64, norm instance (CycleGAN): 11.378 M
        (lambda: ResNetTranslator(3, 3, width=64, blocks=9, norm="instance"), 11_378_179),
        # netG resnet_6blocks, same settings: 7.838 M
        (lambda: ResNetTranslator(3, 3, width=64, blocks=6, norm="instance"), 7_837_699),
        # netD basic, input_nc 6 (pix2pix's conditional D sees A and B), ndf 64, norm batch: 2.769 M
        (lambda: PatchDiscriminator(6, width=64, layers=3, norm="batch"), 2_768_705),
        # netD basic, input_nc 3, ndf 64, norm instance (CycleGAN's D): 2.765 M
        (lambda: PatchDiscriminator(3, width=64, layers=3, norm="instance"), 2_764_737),
    ],
    ids=["unet_256", "unet_128", "resnet_9blocks", "resnet_6blocks", "patch_pix2pix", "patch_cyclegan"],
)
def test_parameter_counts_match_the_reference(build, expected):
    assert meta_count(build) == expected


@pytest.mark.parametrize(("resolution", "width", "depth"), [(64, 8, 6), (128, 4, 7), (256, 4, 8)])
def test_unet_keeps_the_image_size_and_adapts_its_depth(resolution, width, depth):
    torch.manual_seed(0)
    net = UNetGenerator(3, 2, resolution, width=width).eval()
    assert net.depth == depth == len(net.down) == len(net.up)
    with torch.no_grad():
        y = net(torch.randn(2, 3, resolution, resolution))
    assert y.shape == (2, 2, resolution, resolution)
    assert y.abs().max() <= 1  # tanh output


def test_unet_explicit_depth_and_capped_widths():
    net = UNetGenerator(1, 1, 96, width=4, depth=5, norm="instance")
    widths = [m.out_channels for m in net.down.modules() if isinstance(m, nn.Conv2d)]
    assert widths == [4, 8, 16, 32, 32]
    assert net(torch.randn(1, 1, 96, 96)).shape == (1, 1, 96, 96)
    shallow = UNetGenerator(1, 1, 32, width=4, depth=3)
    assert not any(isinstance(m, nn.Dropout) for m in shallow.modules())
    assert shallow(torch.randn(2, 1, 32, 32)).shape == (2, 1, 32, 32)


@pytest.mark.parametrize(
    ("resolution", "depth", "fragment"),
    [
        (96, 7, "model.depth 7 cannot divide 96×96 images"),
        (64, 7, "resolutions divisible by 2^7 = 128"),
        (96, 0, "needs a power-of-two resolution"),
        (64, 1, "allowed: depth >= 2"),
    ],
)
def test_unet_rejects_depths_that_do_not_fit(resolution, depth, fragment):
    with pytest.raises(ConfigError) as caught:
        UNetGenerator(3, 3, resolution, width=4, depth=depth)
    message = str(caught.value)
    assert fragment in message
    assert "\n" not in message and "allowed" in message


def test_unknown_norm_is_a_config_error():
    with pytest.raises(ConfigError, match="allowed: batch, instance, none"):
        PatchDiscriminator(3, norm="group")


def test_unet_skip_connections_carry_the_input_past_a_dead_bottleneck():
    # Zero the innermost features: without skips every input would then give the same output.
    torch.manual_seed(0)
    net = UNetGenerator(3, 3, 64, width=4, norm="none", dropout=0).eval()
    net.down[-1].register_forward_hook(lambda module, args, out: torch.zeros_like(out))
    a, b = torch.randn(2, 1, 3, 64, 64)
    with torch.no_grad():
        assert (net(a) - net(b)).abs().max() > 1e-3


def test_unet_dropout_is_random_in_training_only():
    torch.manual_seed(0)
    net = UNetGenerator(3, 3, 64, width=4, norm="instance", dropout=0.5)
    assert [m.p for m in net.modules() if isinstance(m, nn.Dropout)] == [0.5]  # level 4: 8w in and out
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert not torch.equal(net(x), net(x))
        net.eval()
        assert torch.equal(net(x), net(x))
        plain = UNetGenerator(3, 3, 64, width=4, norm="instance", dropout=0).train()
        assert not any(isinstance(m, nn.Dropout) for m in plain.modules())
        assert torch.equal(plain(x), plain(x))


def test_unet_256_places_dropout_like_the_reference():
    with torch.device("meta"):
        net = UNetGenerator(3, 3, 256)
    holders = [i for i, step in enumerate(net.up) if any(isinstance(m, nn.Dropout) for m in step)]
    assert holders == [4, 5, 6]  # the three 8w blocks just outside the innermost (level 7)


def test_patch_discriminator_receptive_field_and_output_size():
    torch.manual_seed(0)
    net = PatchDiscriminator(3, width=8).eval()  # eval: batch norm is per-pixel, so fields stay local
    assert net.receptive_field == 70
    x = torch.randn(1, 3, 128, 128, requires_grad=True)
    out = net(x)
    assert out.shape == (1, 1, 14, 14)
    out[0, 0, 7, 7].backward()
    touched = x.grad.abs().sum(dim=(0, 1, 2)).nonzero().flatten()
    assert touched.min() > 0 and touched.max() < 127  # the patch lies inside the image
    assert int(touched.max() - touched.min() + 1) == net.receptive_field
    with torch.no_grad():
        assert net(torch.randn(1, 3, 256, 256)).shape == (1, 1, 30, 30)
    assert PatchDiscriminator(3, width=8, layers=2).receptive_field == 34


def test_resnet_translator_keeps_size_and_builds_the_asked_blocks():
    torch.manual_seed(0)
    net = ResNetTranslator(3, 1, width=8, blocks=6).eval()
    assert len(net.blocks) == 6 and all(isinstance(b, ResidualBlock) for b in net.blocks)
    assert sum(isinstance(m, ResidualBlock) for m in net.modules()) == 6
    with torch.no_grad():
        y = net(torch.randn(2, 3, 64, 64))
    assert y.shape == (2, 1, 64, 64)
    assert len(ResNetTranslator(3, 3, width=8, blocks=2).blocks) == 2


def test_residual_block_is_identity_plus_its_body():
    block = ResidualBlock(8, norm="instance")
    nn.init.zeros_(block.body[-2].weight)  # last conv silenced: only the identity path is left
    nn.init.zeros_(block.body[-2].bias)
    x = torch.randn(1, 8, 16, 16)
    assert torch.equal(block(x), x)


def test_init_normal():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(256, 256, 3), nn.BatchNorm2d(4096), nn.ConvTranspose2d(8, 8, 4), nn.Linear(64, 64))
    init_normal(net)
    assert net[0].weight.std().item() == pytest.approx(0.02, rel=0.02)
    assert net[0].weight.mean().abs().item() < 1e-3
    assert net[1].weight.mean().item() == pytest.approx(1.0, abs=2e-3)
    assert net[1].weight.std().item() == pytest.approx(0.02, rel=0.1)
    for layer in (net[0], net[1], net[2], net[3]):
        assert torch.count_nonzero(layer.bias) == 0
    assert net[3].weight.std().item() == pytest.approx(0.02, rel=0.1)
