"""Constraints on the discriminator: gradient penalties (WGAN-GP, R1, R2) and weight clipping (WGAN).

All of them are terms added to D's loss, or an action after D's update, so any of them combines
with any objective and model. The lazy R1/R2 interval counts D updates in Python: no host sync.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

Score = Callable[[Tensor, Tensor | None], Tensor]
Draw = Callable[[Callable[[int, torch.Generator], Tensor], int, torch.Generator], Tensor]


def gradient_penalty(
    score: Score,
    real: Tensor,
    fake: Tensor,
    labels: Tensor | None,
    rng: torch.Generator,
    one_sided: bool = False,
    draw: Draw | None = None,
) -> Tensor:
    """WGAN-GP (Gulrajani et al.): E[(‖∇D(x̂)‖₂ − 1)²] at x̂ = ε·real + (1 − ε)·fake, ε ~ U[0, 1] per
    sample; one-sided penalises only norms above 1. Differentiable (double backward). `draw`
    takes this process's slice of a global draw of ε (data parallelism)."""
    tail = (1,) * (real.dim() - 1)

    def uniform(k: int, generator: torch.Generator) -> Tensor:
        return torch.rand((k, *tail), generator=generator, device=real.device, dtype=real.dtype)

    eps = draw(uniform, real.shape[0], rng) if draw is not None else uniform(real.shape[0], rng)
    mixed = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(score(mixed, labels).sum(), mixed, create_graph=True)
    gap = grad.flatten(1).norm(dim=1) - 1
    return (gap.clamp_min(0) if one_sided else gap).square().mean()


def gradient_norm_penalty(score: Score, x: Tensor, labels: Tensor | None) -> Tensor:
    """E‖∇ₓD(x)‖² at the given samples: R1 on real data, R2 on generated (Mescheder et al.)."""
    x = x.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(score(x, labels).sum(), x, create_graph=True)
    return grad.flatten(1).square().sum(1).mean()


@torch.no_grad()
def clip_weights(module: nn.Module, bound: float) -> None:
    """WGAN's constraint: every parameter of D clamped into [−bound, bound]."""
    params = list(module.parameters())
    torch._foreach_clamp_min_(params, -bound)
    torch._foreach_clamp_max_(params, bound)


@dataclass
class Penalties:
    """The gradient penalties of the `loss` config section, added to D's loss.

    `gp` weighs WGAN-GP (λ, 10 in the paper); `r1`/`r2` are γ in γ/2·E‖∇D‖², computed every
    `every` D updates and scaled by `every` (lazy regularisation, as StyleGAN2); `drift` is ε
    of Progressive GAN's ε·E[D(real)²], which keeps a critic's outputs from drifting far from 0.
    """

    gp: float = 0.0
    gp_one_sided: bool = False
    r1: float = 0.0
    r2: float = 0.0
    every: int = 1
    drift: float = 0.0
    updates: int = 0

    @property
    def differentiate_twice(self) -> bool:
        """Whether D's loss contains D's own input gradient (its backward is a double backward)."""
        return bool(self.gp or self.r1 or self.r2)

    @property
    def host_schedule(self) -> bool:
        """Whether the host decides per update which penalties apply (lazy regularisation)."""
        return bool(self.every > 1 and (self.r1 or self.r2))

    @classmethod
    def from_config(cls, loss: Mapping[str, Any]) -> Penalties:
        return cls(loss["gp"], loss["gp_one_sided"], loss["r1"], loss["r2"], loss["r_every"], loss["drift"])

    def add(
        self,
        loss: Tensor,
        stats: dict[str, Tensor],
        discriminator: nn.Module,
        real: Tensor,
        fake: Tensor,
        real_labels: Tensor | None,
        fake_labels: Tensor | None,
        rng: torch.Generator,
        draw: Draw | None = None,
        real_logits: Tensor | None = None,
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """`loss` plus the penalties due at this D update; their values go into `stats`
        (`real_logits`, D's outputs on `real`, are what the drift term squares)."""

        def score(x: Tensor, labels: Tensor | None) -> Tensor:
            return discriminator(x) if labels is None else discriminator(x, labels)

        lazy_turn = self.updates % self.every == 0
        self.updates += 1
        if self.gp:
            penalty = gradient_penalty(score, real, fake, real_labels, rng, self.gp_one_sided, draw)
            loss = loss + self.gp * penalty
            stats["gp"] = penalty.detach()
        if self.drift and real_logits is not None:
            drift = real_logits.square().mean()
            loss = loss + self.drift * drift
            stats["drift"] = drift.detach()
        if self.r1 and lazy_turn:
            penalty = gradient_norm_penalty(score, real, real_labels)
            loss = loss + 0.5 * self.r1 * self.every * penalty
            stats["r1"] = penalty.detach()
        if self.r2 and lazy_turn:
            penalty = gradient_norm_penalty(score, fake, fake_labels)
            loss = loss + 0.5 * self.r2 * self.every * penalty
            stats["r2"] = penalty.detach()
        return loss, stats
