"""Adversarial objectives: how D's logits on real and generated samples become each player's loss.

Each objective maps raw discriminator outputs ("logits") to a D loss and a G loss, plus the
values both losses take at the ideal equilibrium (where D cannot tell real from generated),
drawn on the plots. `threshold` is the output above which D calls a sample real (for the
accuracy it logs); `critic` marks objectives whose D is a critic, not a classifier, for which
the engine also logs the Wasserstein estimate E[D(x)] − E[D(G(z))]; `saturates` marks those
whose G loss goes flat when D wins (the health warning then suggests the non-saturating one);
`paired` marks relativistic objectives, whose G loss compares its samples' logits with a real
batch's. Their names and help lines are declared in `objective_names` (torch-free, for config
validation), which says which class here each name builds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from .errors import ConfigError
from .objective_names import OBJECTIVES


@dataclass(frozen=True)
class Objective:
    """A GAN objective; subclasses define the two losses on D's raw outputs."""

    d_equilibrium: float = float("nan")
    g_equilibrium: float = float("nan")
    threshold: float = 0.0
    critic: bool = False
    saturates: bool = False
    paired: bool = False

    def d_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        raise NotImplementedError

    def g_loss(self, fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
        """G's loss on D's logits for its samples (and, for `paired` objectives, a real batch's)."""
        raise NotImplementedError

    def probability(self, logits: Tensor) -> Tensor:
        """What d_real / d_fake log: D's belief that a sample is real (its raw output for the
        objectives whose D is not a probability)."""
        return logits


def _bce_d_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    # −log D(x) − log(1 − D(G(z))), written with softplus so it never takes log(0)
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


@dataclass(frozen=True)
class Minimax(Objective):
    d_equilibrium: float = 2 * math.log(2)
    g_equilibrium: float = -math.log(2)
    saturates: bool = True

    def d_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        return _bce_d_loss(real_logits, fake_logits)

    def g_loss(self, fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
        return -F.softplus(fake_logits).mean()  # = mean log(1 − sigmoid(l))

    def probability(self, logits: Tensor) -> Tensor:
        return torch.sigmoid(logits)


@dataclass(frozen=True)
class NonSaturating(Objective):
    d_equilibrium: float = 2 * math.log(2)
    g_equilibrium: float = math.log(2)

    def d_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        return _bce_d_loss(real_logits, fake_logits)

    def g_loss(self, fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
        return F.softplus(-fake_logits).mean()  # = −mean log sigmoid(l)

    def probability(self, logits: Tensor) -> Tensor:
        return torch.sigmoid(logits)


@dataclass(frozen=True)
class LeastSquares(Objective):
    # at equilibrium D outputs 1/2 everywhere: ½(½)² + ½(½)² and ½(½)²
    d_equilibrium: float = 0.25
    g_equilibrium: float = 0.125
    threshold: float = 0.5

    def d_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        return 0.5 * ((real_logits - 1).square().mean() + fake_logits.square().mean())

    def g_loss(self, fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
        return 0.5 * (fake_logits - 1).square().mean()


@dataclass(frozen=True)
class Wasserstein(Objective):
    d_equilibrium: float = 0.0
    critic: bool = True

    def d_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        return fake_logits.mean() - real_logits.mean()

    def g_loss(self, fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
        return -fake_logits.mean()


@dataclass(frozen=True)
class Hinge(Objective):
    d_equilibrium: float = 2.0  # both margins unmet by a D that outputs 0
    critic: bool = True

    def d_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()

    def g_loss(self, fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
        return -fake_logits.mean()


@dataclass(frozen=True)
class RelativisticPairing(Objective):
    """L_D = E softplus(D(G(z)) − D(x)), L_G = E softplus(D(x) − D(G(z))), real and generated
    samples paired in batch order. Only differences of D's outputs matter, so D is logged as a
    critic. With zero-centred R1 and R2 (loss.r1, loss.r2) it is R3GAN's recipe."""

    d_equilibrium: float = math.log(2)  # D(x) = D(G(z)): softplus(0)
    g_equilibrium: float = math.log(2)
    critic: bool = True
    paired: bool = True

    def d_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        return F.softplus(fake_logits - real_logits).mean()

    def g_loss(self, fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
        if real_logits is None:
            raise ConfigError("loss.objective = relativistic compares generated with real samples in G's step; "
                              "this model's G step scores none (choose another loss.objective)")  # fmt: skip
        return F.softplus(real_logits - fake_logits).mean()


def get_objective(name: str) -> Objective:
    return OBJECTIVES.get(name, "loss.objective").item()
