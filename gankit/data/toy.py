"""Toy targets: the seeds' 1-D and 2-D Gaussians and the literature's 2-D mixtures and shapes."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..errors import ConfigError
from ..metrics.toy import energy_distance, mode_coverage, sliced_wasserstein, wasserstein_1d
from ..plots import draw_points_2d, draw_values_1d

# --------------------------------------------------------------------------- 1-D


class ToyTarget:
    """Base of the toy targets: distributions sampled afresh, no labels, no images."""

    num_classes = 0
    picture = "distribution"
    dataset = None
    value_range = None
    pure_evaluation = True  # measures are functions of the samples alone: all may run beside training

    def decode(self, stored: Tensor) -> Tensor:
        return stored

    def to_images(self, samples: Tensor) -> Tensor | None:
        return None

    def on_device(self, name: str, device: torch.device) -> Tensor:
        """Attribute `name` (a tensor) as float32 on `device`, copied there once: sampling then
        does device work only (no host-to-device copy per batch, none inside a CUDA graph)."""
        cache = self.__dict__.setdefault("_on_device", {})
        if (name, device) not in cache:
            cache[name, device] = getattr(self, name).float().to(device)
        return cache[name, device]


class Gaussian1D(ToyTarget):
    """Seed 000: a sample is the sorted vector of `length` draws from N(mean, std)."""

    def __init__(self, mean: float, std: float, length: int) -> None:
        self.mean, self.std, self.shape = mean, std, (length,)

    def sample(self, n: int, rng: torch.Generator) -> Tensor:
        draws = torch.randn(n, *self.shape, generator=rng, device=rng.device) * self.std + self.mean
        if draws.device.type == "cpu":
            # torch's CPU sort takes ~4 ms for 100×1000 values, NumPy's ~0.2 ms (measured on 2 cores)
            return torch.from_numpy(np.sort(draws.numpy(), axis=1))
        return draws.sort(dim=1).values

    def evaluate(self, fake: Tensor, rng: torch.Generator, labels: Tensor | None = None) -> dict[str, float]:
        import scipy.stats  # here: importing it takes about a second, and validating a config imports this module

        values = fake.detach().double().cpu().flatten()
        mean, std = float(values.mean()), float(values.std())
        quantiles = scipy.stats.norm.ppf((np.arange(10_000) + 0.5) / 10_000, self.mean, self.std)
        return {
            "mean": mean,
            "std": std,
            "mean_error": abs(mean - self.mean),
            "std_error": abs(std - self.std),
            "w1": wasserstein_1d(values, quantiles),
        }

    def draw(self, ax: Any, real: Tensor, fake: Tensor, noise: Tensor) -> None:
        draw_values_1d(ax, real, fake, noise)


def gaussian_1d(s: dict) -> Gaussian1D:
    return Gaussian1D(s["mean"], s["std"], s["length"])


# --------------------------------------------------------------------------- 2-D


class Points2D(ToyTarget):
    """Base of 2-D targets: distances to a fresh reference sample, and a scatter picture."""

    shape = (2,)
    centres: Tensor | None = None

    def sample(self, n: int, rng: torch.Generator) -> Tensor:
        raise NotImplementedError

    def evaluate(self, fake: Tensor, rng: torch.Generator, labels: Tensor | None = None) -> dict[str, float]:
        reference = self.sample(len(fake), rng)
        return {
            "sliced_w1": sliced_wasserstein(fake, reference),
            "energy": energy_distance(fake, reference),
        }

    def draw(self, ax: Any, real: Tensor, fake: Tensor, noise: Tensor) -> None:
        draw_points_2d(ax, real, fake, self.centres)


class Gaussian2D(Points2D):
    """Seed 004: x = z·A + b with z ~ N(0, I₂); the target mean is b and covariance AᵀA."""

    def __init__(self, A: list[list[float]], b: list[float]) -> None:
        self.A = torch.tensor(A, dtype=torch.float64)
        self.b = torch.tensor(b, dtype=torch.float64)
        self.covariance = self.A.T @ self.A

    def sample(self, n: int, rng: torch.Generator) -> Tensor:
        z = torch.randn(n, 2, generator=rng, device=rng.device)
        return z @ self.on_device("A", z.device) + self.on_device("b", z.device)

    def evaluate(self, fake: Tensor, rng: torch.Generator, labels: Tensor | None = None) -> dict[str, float]:
        points = fake.detach().double().cpu()
        mean, cov = points.mean(0), torch.cov(points.T)
        return {
            **super().evaluate(fake, rng, labels),
            "mean_error": float((mean - self.b).norm()),
            "cov_error": float((cov - self.covariance).norm() / self.covariance.norm()),
        }


def gaussian_2d(s: dict) -> Gaussian2D:
    if len(s["A"]) != 2 or any(len(row) != 2 for row in s["A"]):
        raise ConfigError(f"data.A must be a 2×2 list of lists, got {s['A']}")
    if len(s["b"]) != 2:
        raise ConfigError(f"data.b must be a list of 2 numbers, got {s['b']}")
    return Gaussian2D(s["A"], s["b"])


class Mixture2D(Points2D):
    """Equal-weight isotropic Gaussians at `centres`; scored by the mode-coverage protocol."""

    def __init__(self, centres: Tensor, std: float) -> None:
        self.centres, self.std = centres.float(), std

    def sample(self, n: int, rng: torch.Generator) -> Tensor:
        centres = self.on_device("centres", rng.device)
        which = torch.randint(len(centres), (n,), generator=rng, device=rng.device)
        return centres[which] + self.std * torch.randn(n, 2, generator=rng, device=rng.device)

    def evaluate(self, fake: Tensor, rng: torch.Generator, labels: Tensor | None = None) -> dict[str, float]:
        return {**super().evaluate(fake, rng, labels), **mode_coverage(fake, self.centres, self.std)}


def ring(s: dict) -> Mixture2D:
    angles = torch.arange(s["modes"], dtype=torch.float64) * (2 * math.pi / s["modes"])
    return Mixture2D(s["radius"] * torch.stack([angles.cos(), angles.sin()], 1), s["std"])


def grid(s: dict) -> Mixture2D:
    ticks = (torch.arange(s["side"], dtype=torch.float64) - (s["side"] - 1) / 2) * s["spacing"]
    xs, ys = torch.meshgrid(ticks, ticks, indexing="ij")
    return Mixture2D(torch.stack([xs.flatten(), ys.flatten()], 1), s["std"])


class Moons(Points2D):
    """Two interleaving half circles (as scikit-learn's make_moons), centred on the origin."""

    def __init__(self, noise: float) -> None:
        self.noise = noise

    def sample(self, n: int, rng: torch.Generator) -> Tensor:
        t = torch.rand(n, generator=rng, device=rng.device) * math.pi
        upper = torch.rand(n, generator=rng, device=rng.device) < 0.5
        x = torch.where(upper, t.cos(), 1 - t.cos()) - 0.5
        y = torch.where(upper, t.sin(), 0.5 - t.sin()) - 0.25
        points = torch.stack([x, y], 1)
        return points + self.noise * torch.randn(n, 2, generator=rng, device=rng.device)


def moons(s: dict) -> Moons:
    return Moons(s["noise"])


class Spiral(Points2D):
    """An Archimedean spiral, points spread evenly along its length, plus Gaussian noise."""

    def __init__(self, turns: float, radius: float, noise: float) -> None:
        self.turns, self.radius, self.noise = turns, radius, noise

    def sample(self, n: int, rng: torch.Generator) -> Tensor:
        # arc length of r = c·t grows like t², so t = sqrt(u) spreads points evenly along it
        t = torch.rand(n, generator=rng, device=rng.device).sqrt() * (2 * math.pi * self.turns)
        r = self.radius * t / (2 * math.pi * self.turns)
        points = torch.stack([r * t.cos(), r * t.sin()], 1)
        return points + self.noise * torch.randn(n, 2, generator=rng, device=rng.device)


def spiral(s: dict) -> Spiral:
    return Spiral(s["turns"], s["radius"], s["noise"])
