"""DiffAugment: each policy against a hand computation, gradients through all of them, and D
seeing real and generated images through the same transforms."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gankit.config import resolve
from gankit.data import TargetInfo
from gankit.diffaugment import DiffAugment
from gankit.errors import ConfigError
from gankit.models import build_model


def test_translation_shifts_each_image_and_fills_with_zeros():
    x = torch.arange(2 * 1 * 8 * 8, dtype=torch.float64).view(2, 1, 8, 8) + 1
    augment = DiffAugment(["translation"])  # at most ⅛ of 8 px: one pixel each way
    # uniforms → window offsets 0…2 (a shift of +1…−1): image 0 moves down and right, image 1 up
    out = augment.apply(x, torch.tensor([[0.0, 0.0], [0.99, 0.5]], dtype=torch.float64))
    expected0 = torch.zeros(8, 8, dtype=torch.float64)
    expected0[1:, 1:] = x[0, 0, :-1, :-1]
    expected1 = torch.zeros(8, 8, dtype=torch.float64)
    expected1[:-1, :] = x[1, 0, 1:, :]
    assert torch.equal(out[0, 0], expected0) and torch.equal(out[1, 0], expected1)


def test_cutout_zeroes_one_square_of_half_the_side():
    x = torch.ones(3, 2, 8, 8)
    out = DiffAugment(["cutout"]).apply(x, torch.tensor([[0.5, 0.5], [0.0, 0.0], [0.99, 0.2]]))
    assert torch.equal(out[0, :, 2:6, 2:6], torch.zeros(2, 4, 4))  # centred: rows and columns 2–5
    assert int((out[0] == 0).sum()) == 2 * 16
    assert int((out[1] == 0).sum()) == 2 * 4  # centre at the corner: a quarter of the square inside
    assert torch.equal(out[2, :, 5:, 0:3], torch.zeros(2, 3, 3))


def test_color_moves_brightness_saturation_and_contrast_by_hand():
    x = torch.tensor([[[[0.2]], [[0.4]], [[0.9]]], [[[-0.5]], [[0.1]], [[0.3]]]], dtype=torch.float64)
    u = torch.tensor([[0.75, 0.25, 0.5], [0.5, 0.5, 1.0]], dtype=torch.float64)
    out = DiffAugment(["color"]).apply(x, u)
    y = x[0] + 0.25  # brightness + (0.75 − ½)
    y = (y - y.mean()) * 0.5 + y.mean()  # saturation × 2·0.25 about the pixel's channel mean
    torch.testing.assert_close(out[0], y)  # contrast × (0.5 + 0.5) about the image's mean: unchanged
    m = x[1].mean()  # image 1: brightness + 0 and saturation × 1 change nothing; contrast × 1.5
    torch.testing.assert_close(out[1], (x[1] - m) * 1.5 + m)


def test_gradients_flow_through_every_policy():
    torch.manual_seed(0)
    augment = DiffAugment(["color", "translation", "cutout"])
    u = augment.uniforms(3, torch.Generator().manual_seed(1)).double()
    x = torch.randn(3, 3, 8, 8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda images: augment.apply(images, u), (x,))
    out = augment.apply(x, u)
    out.sum().backward()
    assert x.grad.abs().sum() > 0 and (out == 0).any()  # the cut-out square has no gradient, the rest has


def test_unknown_policies_are_refused():
    with pytest.raises(ConfigError, match="unknown policy 'flip'"):
        DiffAugment(["color", "flip"])


class Recorder(nn.Module):
    """A D that keeps what it was shown and scores it by a fixed linear map."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(shape))
        self.seen: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x.detach().clone())
        return (x * self.w).flatten(1).sum(1)


def test_the_game_shows_d_real_and_generated_images_through_the_same_transforms():
    config = resolve("dcgan", overrides=["data.target=cifar10", "model.g_width=8", "model.d_width=8",
                                         "data.batch_size=4", "train.augment=translation,cutout"])  # fmt: skip
    gan = build_model(config, TargetInfo(shape=(3, 32, 32), num_classes=10, value_range="minus-one-one"))
    assert gan.augment is not None and gan.augment.policies == ("translation", "cutout")
    gan.nets["D"] = Recorder((3, 32, 32))
    real = torch.ones(4, 3, 32, 32)
    rng = torch.Generator().manual_seed(0)
    gan.d_loss({"x": real}, rng)
    shown_real, shown_fake = gan.nets["D"].seen
    # replay the draws: the real batch's transforms are drawn first, then the generated batch's
    replay = torch.Generator().manual_seed(0)
    gan.noise(4, replay)
    u_real, u_fake = gan.augment.uniforms(4, replay), gan.augment.uniforms(4, replay)
    torch.testing.assert_close(shown_real, gan.augment.apply(real, u_real))
    with torch.no_grad():
        fake = gan.nets["G"](gan.noise(4, torch.Generator().manual_seed(0)))
    torch.testing.assert_close(shown_fake, gan.augment.apply(fake, u_fake))
    assert bool((shown_real == 0).any()) and bool((shown_fake == 0).any())  # both sides cut out
    # G's loss reaches G's weights through the transforms
    loss, _ = gan.g_loss({}, torch.Generator().manual_seed(1))
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in gan.nets["G"].parameters() if p.dim() > 1)
