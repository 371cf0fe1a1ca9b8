"""The options against mode collapse: packing (PacGAN), minibatch standard deviation and the
relativistic pairing loss, checked against hand computations."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from gankit.config import resolve
from gankit.data import TargetInfo
from gankit.diversity import MinibatchStdDev, Packed, pack
from gankit.errors import ConfigError
from gankit.losses import get_objective
from gankit.models import build_model


def test_a_pack_is_m_consecutive_samples_concatenated_along_their_first_axis() -> None:
    points = torch.arange(24.0).reshape(12, 2)
    packs = pack(points, 3)
    assert packs.shape == (4, 6)
    assert torch.equal(packs[1], torch.cat([points[3], points[4], points[5]]))
    images = torch.randn(8, 3, 5, 5)
    packed_images = pack(images, 4)
    assert packed_images.shape == (2, 12, 5, 5)
    assert torch.equal(packed_images[1, 3:6], images[5])
    with pytest.raises(ValueError, match="packs of 4"):
        pack(torch.zeros(6, 2), 4)


def test_a_packed_grid_discriminator_judges_batch_size_over_m_packs_of_distinct_samples() -> None:
    config = resolve("grid", overrides=["model.pack=4", "data.batch_size=64", "loss.r1=0", "loss.r2=0"])
    gan = build_model(config, TargetInfo((2,)))  # (no penalties: D runs once on each side)
    D = gan.nets["D"]
    assert isinstance(D, Packed)
    first = next(m for m in D.discriminator.modules() if isinstance(m, torch.nn.Linear))
    assert first.in_features == 8  # four 2-D points
    seen = []
    D.discriminator.register_forward_hook(lambda module, inputs, output: seen.append((inputs[0], output)))
    loss, stats = gan.d_loss({"x": torch.randn(64, 2)}, torch.Generator().manual_seed(0))
    (real_packs, real_out), (fake_packs, fake_out) = seen
    assert real_packs.shape == fake_packs.shape == (16, 8) and real_out.shape == (16,)
    # the generated packs hold 64 different samples: m independent draws per pack, none repeated
    fake_points = fake_packs.reshape(64, 2)
    assert len({tuple(p.tolist()) for p in fake_points}) == 64
    assert torch.isfinite(loss)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["model.pack=3", "data.batch_size=64"], "multiple of model.pack"),
        (["model.pack=2", "model.conditional=true", "data.target=ring"], "unconditional"),
    ],
)
def test_packing_that_cannot_work_is_one_config_error(overrides: list[str], message: str) -> None:
    config = resolve("grid", overrides=overrides)
    info = TargetInfo((2,), num_classes=8, class_frequencies=(1 / 8,) * 8) if "conditional" in str(overrides) else None
    with pytest.raises(ConfigError, match=message):
        build_model(config, info or TargetInfo((2,)))


def test_minibatch_stddev_is_the_mean_population_std_of_each_group_and_zero_for_identical_samples() -> None:
    x = torch.randn(8, 5, dtype=torch.float64)
    out = MinibatchStdDev(4)(x)
    assert out.shape == (8, 6) and torch.equal(out[:, :5], x)
    for group in (slice(0, 4), slice(4, 8)):
        by_hand = (x[group] - x[group].mean(0)).square().mean(0).add(1e-8).sqrt().mean()
        assert torch.allclose(out[group, 5], by_hand.expand(4))
    same = MinibatchStdDev(4)(torch.ones(4, 3, 2, 2).mul(0.7))
    assert same.shape == (4, 4, 2, 2)
    assert same[:, 3].max() < 2e-4  # √ε: zero spread


def test_minibatch_stddev_in_the_mlp_discriminator_sees_the_batch() -> None:
    config = resolve("grid", overrides=["model.d_mbstd=4"])
    D = build_model(config, TargetInfo((2,))).nets["D"]
    x = torch.randn(8, 2)
    alone = D(x)[:4]
    x_changed = x.clone()
    x_changed[3] += 5.0  # another member of the first group moves: the others' scores change
    assert not torch.allclose(D(x_changed)[:3], alone[:3])
    assert torch.allclose(D(x_changed)[4:], D(x)[4:])  # the second group is untouched


def test_relativistic_pairing_losses_and_gradients_match_the_formula() -> None:
    objective = get_objective("relativistic")
    real = torch.randn(6, dtype=torch.float64, requires_grad=True)
    fake = torch.randn(6, dtype=torch.float64, requires_grad=True)
    d_loss = objective.d_loss(real, fake)
    by_hand = torch.log1p(torch.exp(fake - real)).mean()
    assert torch.allclose(d_loss, by_hand)
    d_real, d_fake = torch.autograd.grad(d_loss, (real, fake))
    weight = torch.sigmoid(fake - real).detach() / 6  # d softplus(u)/du = σ(u)
    assert torch.allclose(d_fake, weight) and torch.allclose(d_real, -weight)
    g_loss = objective.g_loss(fake, real)
    assert torch.allclose(g_loss, F.softplus(real - fake).mean())
    assert objective.paired and objective.critic
    with pytest.raises(ConfigError, match="relativistic"):
        objective.g_loss(fake)


def test_a_relativistic_generator_step_draws_a_real_batch() -> None:
    config = resolve("grid", overrides=["loss.objective=relativistic", "data.batch_size=16"])
    gan = build_model(config, TargetInfo((2,)))
    g_player = next(p for p in gan.players() if p.name == "G")
    assert g_player.uses_data
    real = torch.randn(16, 2)
    loss, _ = gan.g_loss({"x": real}, torch.Generator().manual_seed(0))
    fake = gan.nets["G"](gan.noise(16, torch.Generator().manual_seed(0)))
    D = gan.nets["D"]
    assert torch.allclose(loss, F.softplus(D(real) - D(fake)).mean())
