"""What a GAN is to the engine: named networks, the players that train them, and sampling.

The engine knows nothing about any particular model. A model module builds a `GAN`: its
networks in `nets`, and a list of `Player`s, each naming the networks it updates and the loss
it minimises. Two players (D and G) cover the classic GANs; a player may update several
networks (CycleGAN's two generators) and a loss may add any extra terms (Pix2Pix's L1).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from .losses import Objective, get_objective

Batch = dict[str, Tensor]
LossFn = Callable[[Batch, torch.Generator], tuple[Tensor, dict[str, Tensor]]]


@dataclass
class Player:
    """One side of the game: the networks it updates, its loss, and how often it moves.

    `loss(batch, rng)` returns the loss to minimise and a dict of detached statistics (kept on
    the device; the engine averages them between log records). `batch` is a fresh real batch
    when `uses_data`, else an empty dict.
    """

    name: str
    networks: tuple[str, ...]
    loss: LossFn
    steps: int = 1
    uses_data: bool = True
    after_update: Callable[[], None] | None = None


LatentKind = Literal["normal", "uniform", "uniform-symmetric"]


@dataclass(frozen=True)
class Latent:
    """The generator's input noise: N(0, 1), uniform [0, 1) or uniform [−1, 1)."""

    dim: int
    kind: LatentKind = "normal"

    def sample(self, n: int, rng: torch.Generator) -> Tensor:
        if self.kind == "normal":
            return torch.randn(n, self.dim, generator=rng, device=rng.device)
        z = torch.rand(n, self.dim, generator=rng, device=rng.device)
        return z * 2 - 1 if self.kind == "uniform-symmetric" else z


class GAN(nn.Module):
    """Base of every model: networks by name, players, and a generator to sample from."""

    generator_key = "G"

    def __init__(self, nets: Mapping[str, nn.Module], latent: Latent) -> None:
        super().__init__()
        self.nets = nn.ModuleDict(nets)
        self.latent = latent

    @property
    def generator(self) -> nn.Module:
        return self.nets[self.generator_key]

    def players(self) -> list[Player]:
        raise NotImplementedError

    @torch.no_grad()
    def generate(self, n: int, rng: torch.Generator, batch_size: int = 4096) -> tuple[Tensor, Tensor]:
        """`n` samples and the noise they came from, generated in eval mode in chunks."""
        was_training = self.generator.training
        self.generator.eval()
        try:
            noise = torch.cat([self.latent.sample(min(batch_size, n - i), rng) for i in range(0, n, batch_size)])
            samples = torch.cat([self.generator(chunk) for chunk in noise.split(batch_size)])
        finally:
            self.generator.train(was_training)
        return samples, noise


class StandardGAN(GAN):
    """The classic two-player game: D tells real from generated, G tries to fool it.

    Each D update scores a real batch and a batch generated from fresh noise (G's output is
    not differentiated); each G update generates a fresh batch and scores it through D, whose
    parameters the engine freezes for that update.
    """

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        latent: Latent,
        objective: Objective,
        batch_size: int,
        d_steps: int = 1,
        g_steps: int = 1,
    ) -> None:
        super().__init__({"G": generator, "D": discriminator}, latent)
        self.objective = objective
        self.batch_size = batch_size
        self.d_steps = d_steps
        self.g_steps = g_steps

    @classmethod
    def from_config(
        cls, generator: nn.Module, discriminator: nn.Module, latent: Latent, config: Mapping
    ) -> StandardGAN:
        """The standard game with the objective, batch size and update counts of `config`."""
        return cls(
            generator,
            discriminator,
            latent,
            get_objective(config["loss"]["objective"]),
            batch_size=config["data"]["batch_size"],
            d_steps=config["train"]["d_steps"],
            g_steps=config["train"]["g_steps"],
        )

    def players(self) -> list[Player]:
        return [
            Player("D", ("D",), self.d_loss, self.d_steps, uses_data=True),
            Player("G", ("G",), self.g_loss, self.g_steps, uses_data=False),
        ]

    def d_loss(self, batch: Batch, rng: torch.Generator) -> tuple[Tensor, dict[str, Tensor]]:
        real = batch["x"]
        with torch.no_grad():
            fake = self.nets["G"](self.latent.sample(real.shape[0], rng))
        real_logits = self.nets["D"](real)
        fake_logits = self.nets["D"](fake)
        loss = self.objective.d_loss(real_logits, fake_logits)
        return loss, discriminator_stats(self.objective, loss, real_logits, fake_logits)

    def g_loss(self, batch: Batch, rng: torch.Generator) -> tuple[Tensor, dict[str, Tensor]]:
        fake = self.nets["G"](self.latent.sample(self.batch_size, rng))
        loss = self.objective.g_loss(self.nets["D"](fake))
        return loss, {"g_loss": loss.detach()}


def discriminator_stats(
    objective: Objective, loss: Tensor, real_logits: Tensor, fake_logits: Tensor
) -> dict[str, Tensor]:
    """D's loss, mean belief on real and fake, and accuracy (real > 0, fake < 0), all on device."""
    real_logits, fake_logits = real_logits.detach().float(), fake_logits.detach().float()
    acc_real, acc_fake = (real_logits > 0).float().mean(), (fake_logits < 0).float().mean()
    return {
        "d_loss": loss.detach(),
        "d_real": objective.probability(real_logits).mean(),
        "d_fake": objective.probability(fake_logits).mean(),
        "acc_real": acc_real,
        "acc_fake": acc_fake,
        "d_accuracy": (acc_real + acc_fake) / 2,
    }
