"""Adversarial objectives: how D's logits on real and generated samples become each player's loss.

Each objective maps raw discriminator outputs ("logits") to a D loss and a G loss, plus the
values both losses take at the ideal equilibrium (D(x) = 1/2 everywhere), drawn on the plots.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from .registry import Registry


@dataclass(frozen=True)
class Objective:
    """A GAN objective; subclasses define the two losses on D's raw outputs."""

    d_equilibrium: float = float("nan")
    g_equilibrium: float = float("nan")

    def d_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        raise NotImplementedError

    def g_loss(self, fake_logits: Tensor) -> Tensor:
        raise NotImplementedError

    def probability(self, logits: Tensor) -> Tensor:
        """D's belief that a sample is real, as logged in d_real / d_fake."""
        return torch.sigmoid(logits)


OBJECTIVES: Registry[type[Objective]] = Registry("objective")


def _bce_d_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    # −log D(x) − log(1 − D(G(z))), written with softplus so it never takes log(0)
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


@OBJECTIVES.register("minimax", "the paper's value function: G minimises log(1 − D(G(z))) (saturates)")
@dataclass(frozen=True)
class Minimax(Objective):
    d_equilibrium: float = 2 * math.log(2)
    g_equilibrium: float = -math.log(2)

    def d_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        return _bce_d_loss(real_logits, fake_logits)

    def g_loss(self, fake_logits: Tensor) -> Tensor:
        return -F.softplus(fake_logits).mean()  # = mean log(1 − sigmoid(l))


@OBJECTIVES.register("non-saturating", "G maximises log D(G(z)) instead: strong gradients when D wins")
@dataclass(frozen=True)
class NonSaturating(Objective):
    d_equilibrium: float = 2 * math.log(2)
    g_equilibrium: float = math.log(2)

    def d_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        return _bce_d_loss(real_logits, fake_logits)

    def g_loss(self, fake_logits: Tensor) -> Tensor:
        return F.softplus(-fake_logits).mean()  # = −mean log sigmoid(l)


def get_objective(name: str) -> Objective:
    return OBJECTIVES.get(name, "loss.objective").item()
