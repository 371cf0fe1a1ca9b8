"""A generator and a discriminator written as a user would, for tests/test_own_networks.py and
docs/own-gan.md: plain nn.Modules that know nothing of gankit."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class PointGenerator(nn.Module):
    """Noise (latent_dim) → a point of `features` coordinates."""

    def __init__(self, latent_dim: int = 4, features: int = 2, hidden: int = 32) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(latent_dim, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, features)
        )

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z)


class PointDiscriminator(nn.Module):
    """A point → one real/fake logit."""

    def __init__(self, features: int = 2, hidden: int = 32) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(features, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
                                 nn.Linear(hidden, 1))  # fmt: skip

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).squeeze(1)


def make_generator(width: int = 32) -> nn.Module:
    """A factory: what gankit records when given a function instead of a class."""
    return PointGenerator(latent_dim=3, hidden=width)


class ConditionalPointGenerator(nn.Module):
    """Noise and a class id (of 2) → a point: the class is embedded and joined to the noise."""

    def __init__(self, latent_dim: int = 4, classes: int = 2, hidden: int = 32) -> None:
        super().__init__()
        self.latent_dim = latent_dim  # read by gankit: the first layer also takes the embedding
        self.embed = nn.Embedding(classes, 4)
        self.net = PointGenerator(latent_dim + 4, 2, hidden)

    def forward(self, z: Tensor, labels: Tensor) -> Tensor:
        return self.net(torch.cat([z, self.embed(labels)], 1))


class ConditionalPointDiscriminator(nn.Module):
    """A point and a class id → one logit."""

    def __init__(self, classes: int = 2, hidden: int = 32) -> None:
        super().__init__()
        self.embed = nn.Embedding(classes, 4)
        self.net = PointDiscriminator(2 + 4, hidden)

    def forward(self, x: Tensor, labels: Tensor) -> Tensor:
        return self.net(torch.cat([x, self.embed(labels)], 1))


class ImageGenerator(nn.Module):
    """Noise → an image of `shape` (C, H, W) in [-1, 1]."""

    def __init__(self, latent_dim: int = 8, shape: tuple[int, int, int] = (3, 8, 8)) -> None:
        super().__init__()
        self.shape = tuple(shape)
        self.net = nn.Sequential(
            nn.Linear(latent_dim, 64),
            nn.ReLU(),
            nn.Linear(64, self.shape[0] * self.shape[1] * self.shape[2]),
            nn.Tanh(),
        )

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z).view(len(z), *self.shape)


class ImageDiscriminator(nn.Module):
    """An image of `shape` → one logit."""

    def __init__(self, shape: tuple[int, int, int] = (3, 8, 8)) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(shape[0] * shape[1] * shape[2], 64), nn.LeakyReLU(0.2), nn.Linear(64, 1)
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).flatten()
