"""Objectives, penalties, clipping, spectral norm and the new layers against hand and float64 references."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gankit.config import resolve
from gankit.engine import Trainer
from gankit.layers import ConditionalBatchNorm2d, SelfAttention, apply_spectral_norm
from gankit.losses import get_objective
from gankit.models.resnet import ResMLPDiscriminator, ResNetDiscriminator, ResNetGenerator
from gankit.regularisers import Penalties, gradient_norm_penalty, gradient_penalty

from .conftest import TINY

REAL = torch.tensor([2.0, -1.0, 0.5, 4.0], dtype=torch.float64)
FAKE = torch.tensor([-3.0, 0.2, 1.5], dtype=torch.float64)


def value_and_grad(objective, which: str):
    real, fake = REAL.clone().requires_grad_(), FAKE.clone().requires_grad_()
    loss = objective.d_loss(real, fake) if which == "d" else objective.g_loss(fake)
    loss.backward()
    return float(loss.detach()), real.grad, fake.grad


def test_least_squares():
    objective = get_objective("least-squares")
    d, real_grad, fake_grad = value_and_grad(objective, "d")
    hand = 0.5 * sum((x - 1) ** 2 for x in REAL.tolist()) / 4 + 0.5 * sum(x**2 for x in FAKE.tolist()) / 3
    assert math.isclose(d, hand, rel_tol=1e-12)
    assert torch.allclose(real_grad, (REAL - 1) / 4) and torch.allclose(fake_grad, FAKE / 3)
    g, _, fake_grad = value_and_grad(objective, "g")
    assert math.isclose(g, 0.5 * sum((x - 1) ** 2 for x in FAKE.tolist()) / 3, rel_tol=1e-12)
    assert torch.allclose(fake_grad, (FAKE - 1) / 3)
    # at the equilibrium D outputs ½ for everything
    half = torch.full((5,), 0.5)
    assert objective.d_loss(half, half) == objective.d_equilibrium and objective.g_loss(half) == objective.g_equilibrium


def test_wasserstein():
    objective = get_objective("wasserstein")
    d, real_grad, fake_grad = value_and_grad(objective, "d")
    assert math.isclose(d, sum(FAKE.tolist()) / 3 - sum(REAL.tolist()) / 4, rel_tol=1e-12)
    assert torch.allclose(real_grad, torch.full((4,), -0.25, dtype=torch.float64))
    assert torch.allclose(fake_grad, torch.full((3,), 1 / 3, dtype=torch.float64))
    g, _, fake_grad = value_and_grad(objective, "g")
    assert math.isclose(g, -sum(FAKE.tolist()) / 3) and torch.allclose(fake_grad, torch.full((3,), -1 / 3).double())
    assert objective.critic


def test_hinge():
    objective = get_objective("hinge")
    d, real_grad, fake_grad = value_and_grad(objective, "d")
    hand = sum(max(0, 1 - x) for x in REAL.tolist()) / 4 + sum(max(0, 1 + x) for x in FAKE.tolist()) / 3
    assert math.isclose(d, hand, rel_tol=1e-12)
    # only samples inside the margin get gradient: real −1 and 0.5; fake 0.2 and 1.5 (−3 is past −1)
    assert real_grad.tolist() == [0.0, -0.25, -0.25, 0.0]
    assert torch.allclose(fake_grad, torch.tensor([0.0, 1 / 3, 1 / 3], dtype=torch.float64))
    g, _, fake_grad = value_and_grad(objective, "g")
    assert math.isclose(g, -sum(FAKE.tolist()) / 3)


class Quadratic(nn.Module):
    """D(x) = ½ xᵀAx: ∇D(x) = Ax, so every penalty has a closed form."""

    def __init__(self, A: torch.Tensor) -> None:
        super().__init__()
        self.A = nn.Parameter(A)

    def forward(self, x, labels=None):
        return 0.5 * ((x @ self.A) * x).sum(1)


def test_gradient_penalty_value_and_gradient_against_float64_hand_computation():
    A = torch.tensor([[2.0, 0.5], [0.5, 1.0]], dtype=torch.float64)
    real = torch.tensor([[1.0, 0.0], [0.5, -1.0], [0.0, 2.0]], dtype=torch.float64)
    fake = torch.tensor([[0.2, 0.3], [-1.0, 1.0], [0.0, 0.0]], dtype=torch.float64)
    D = Quadratic(A.clone())
    penalty = gradient_penalty(lambda x, y: D(x), real, fake, None, torch.Generator().manual_seed(5))
    penalty.backward()
    eps = torch.rand((3, 1), generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    mixed = eps * real + (1 - eps) * fake
    norms = (mixed @ A).norm(dim=1)  # A symmetric: ∇D = A x̂
    assert torch.isclose(penalty.detach(), ((norms - 1) ** 2).mean(), rtol=1e-12)
    # ∇ₓD = ½(A + Aᵀ)x = g, so d/dA (‖g‖ − 1)² = (‖g‖ − 1)/‖g‖ · (g x̂ᵀ + x̂ gᵀ), averaged over samples
    grad = sum((n - 1) / n * (torch.outer(A @ m, m) + torch.outer(m, A @ m)) for n, m in zip(norms, mixed)) / 3
    assert torch.allclose(D.A.grad, grad, rtol=1e-10)
    one_sided = gradient_penalty(lambda x, y: D(x), real, fake, None, torch.Generator().manual_seed(5), True)
    assert torch.isclose(one_sided.detach(), ((norms - 1).clamp_min(0) ** 2).mean(), rtol=1e-12)


def test_r1_and_lazy_interval():
    A = torch.tensor([[3.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    D = Quadratic(A)
    real = torch.tensor([[1.0, 1.0], [2.0, 0.0]], dtype=torch.float64)
    r1 = gradient_norm_penalty(lambda x, y: D(x), real, None)
    assert torch.isclose(r1.detach(), torch.tensor((9 + 1 + 36) / 2, dtype=torch.float64))
    penalties = Penalties(r1=2.0, every=4)
    seen = []
    for _ in range(8):
        zero = torch.zeros((), dtype=torch.float64)
        loss, stats = penalties.add(zero, {}, D, real, real, None, None, torch.Generator())
        seen.append(float(loss.detach()))
    # applied on updates 0 and 4, scaled by the interval: γ/2 · 4 · 23
    assert seen == [0.5 * 2.0 * 4 * 23.0, 0, 0, 0, 0.5 * 2.0 * 4 * 23.0, 0, 0, 0]


def test_weight_clipping_holds_after_every_d_update():
    trainer = Trainer(resolve("wgan", overrides=TINY))
    d_player = trainer.players[0]
    bounds = []
    original = d_player.after_update

    def check():
        original()
        bounds.append(max(float(p.detach().abs().max()) for p in trainer.gan.nets["D"].parameters()))

    d_player.after_update = check
    for _ in range(3):
        trainer.train_step()
    assert len(bounds) == 15 and max(bounds) <= 0.01  # 5 critic updates per iteration


@pytest.mark.parametrize("layer", [nn.Linear(20, 30), nn.Conv2d(3, 8, 3)], ids=["linear", "conv"])
def test_spectral_norm_makes_the_largest_singular_value_one(layer):
    with torch.no_grad():
        layer.weight.mul_(7.0)
    apply_spectral_norm(layer)
    x = torch.randn(4, 20) if isinstance(layer, nn.Linear) else torch.randn(4, 3, 8, 8)
    layer.train()
    for _ in range(30):  # one power iteration per training forward pass
        layer(x)
    sigma = torch.linalg.matrix_norm(layer.weight.detach().flatten(1), ord=2)
    assert abs(float(sigma) - 1) < 0.05


def test_spectral_norm_is_applied_to_the_networks_the_config_names():
    gan = Trainer(resolve("ring", overrides=[*TINY, "model.spectral_norm=D"])).gan
    assert all(hasattr(m, "parametrizations") for m in gan.nets["D"].modules() if isinstance(m, nn.Linear))
    assert not any(hasattr(m, "parametrizations") for m in gan.nets["G"].modules())


def test_self_attention_shapes_weights_and_reference():
    torch.manual_seed(0)
    block = SelfAttention(16).double()
    x = torch.randn(2, 16, 4, 5, dtype=torch.float64)
    assert torch.equal(block(x), x)  # γ = 0: starts as the identity
    with torch.no_grad():
        block.gamma.fill_(0.7)
    weights = block.attention(x)
    assert weights.shape == (2, 20, 20) and torch.allclose(weights.sum(-1), torch.ones(2, 20, dtype=torch.float64))
    # explicit float64 reference, position by position
    q = block.query.weight[:, :, 0, 0] @ x.flatten(2)  # (C', C) @ (B, C, N) → (B, C', N)
    k = block.key.weight[:, :, 0, 0] @ x.flatten(2)
    v = block.value.weight[:, :, 0, 0] @ x.flatten(2)
    out = torch.empty_like(x.flatten(2))
    for b in range(2):
        for i in range(20):
            w = torch.softmax(torch.stack([q[b, :, i] @ k[b, :, j] for j in range(20)]), 0)
            out[b, :, i] = x.flatten(2)[b, :, i] + 0.7 * (v[b] * w).sum(1)
    assert torch.allclose(block(x), out.view_as(x), rtol=1e-10)
    # no position is special: permuting positions permutes the output
    perm = torch.randperm(20)
    permuted = block(x.flatten(2)[:, :, perm].view(2, 16, 4, 5)).flatten(2)
    assert torch.allclose(permuted, block(x).flatten(2)[:, :, perm], rtol=1e-10)


def test_conditional_batch_norm_scales_and_shifts_per_class():
    cbn = ConditionalBatchNorm2d(3, 4)
    with torch.no_grad():
        cbn.gain.weight[2] = torch.tensor([2.0, 3.0, 4.0])
        cbn.bias.weight[2] = torch.tensor([1.0, 0.0, -1.0])
    x = torch.randn(6, 3, 5, 5)
    labels = torch.tensor([2, 0, 2, 1, 2, 3])
    normed = F.batch_norm(x, None, None, training=True)
    out = cbn(x, labels)
    assert torch.allclose(
        out[0],
        normed[0] * torch.tensor([2.0, 3.0, 4.0])[:, None, None] + torch.tensor([1.0, 0.0, -1.0])[:, None, None],
        atol=1e-5,
    )
    assert torch.allclose(out[1], normed[1], atol=1e-5)  # untouched classes start as plain batch norm


def test_projection_discriminator_adds_the_label_inner_product():
    D = ResMLPDiscriminator(dim=2, width=8, blocks=1, num_classes=3)
    x, labels = torch.randn(5, 2), torch.tensor([0, 1, 2, 1, 0])
    h = D.body(x)
    assert torch.allclose(D(x, labels), D.linear(h).flatten() + (D.embed(labels) * h).sum(1))


@pytest.mark.parametrize("resolution,attention", [(32, 16), (28, 14), (64, 0)])
def test_resnet_builds_for_image_sizes(resolution, attention):
    G = ResNetGenerator(16, 3, resolution, width=8, num_classes=4, attention=attention)
    D = ResNetDiscriminator(3, resolution, width=8, num_classes=4, attention=attention)
    labels = torch.tensor([0, 3])
    images = G(torch.randn(2, 16), labels)
    assert images.shape == (2, 3, resolution, resolution) and D(images, labels).shape == (2,)
    assert any(isinstance(m, SelfAttention) for m in D.modules()) == bool(attention)
