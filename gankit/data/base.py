"""Targets and batch sources.

A target knows how to draw real samples, how to score generated ones and how to picture
both. A source turns a target into batches: fresh samples every batch (`StreamSource`), or a
fixed set drawn once and walked in shuffled epochs (`FixedSource`). Both keep their state
on the device and can save and restore it, so a resumed run sees the same batches.
"""

from __future__ import annotations

from typing import Any, Protocol

import torch
from torch import Tensor

from ..errors import ConfigError
from ..rng import derive_seed, make_generator


class Target(Protocol):
    """What a GAN learns: a distribution to sample, with its own measures and picture."""

    shape: tuple[int, ...]

    def sample(self, n: int, rng: torch.Generator) -> Tensor: ...

    def evaluate(self, fake: Tensor, rng: torch.Generator) -> dict[str, float]: ...

    def draw(self, ax: Any, real: Tensor, fake: Tensor, noise: Tensor) -> None: ...


class DataSource(Protocol):
    @property
    def epochs(self) -> float | None:
        """Passes over a fixed data set so far (None for an endless stream)."""

    def next(self) -> dict[str, Tensor]: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class StreamSource:
    """Fresh samples from the target for every batch: an endless data set."""

    def __init__(self, target: Target, batch_size: int, seed: int, device: torch.device) -> None:
        self.target = target
        self.batch_size = batch_size
        self.rng = make_generator(device, seed, "data")

    epochs = None

    def next(self) -> dict[str, Tensor]:
        return {"x": self.target.sample(self.batch_size, self.rng)}

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self.rng.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.set_state(state["rng"])


class FixedSource:
    """A fixed data set held on the device, walked in epochs reshuffled from (seed, epoch).

    The last incomplete batch of an epoch is dropped so every batch has the same shape.
    """

    def __init__(self, tensors: dict[str, Tensor], batch_size: int, seed: int) -> None:
        self.tensors = tensors
        self.size = len(next(iter(tensors.values())))
        if batch_size > self.size:
            raise ConfigError(f"data.batch_size ({batch_size}) must be <= the data set size ({self.size})")
        self.batch_size = batch_size
        self.seed = derive_seed(seed, "shuffle")
        self.device = next(iter(tensors.values())).device
        self.epoch, self.position = 0, 0
        self._order = self._permutation(0)

    @property
    def batches_per_epoch(self) -> int:
        return self.size // self.batch_size

    @property
    def epochs(self) -> float:
        return self.epoch + self.position / (self.batches_per_epoch * self.batch_size)

    def _permutation(self, epoch: int) -> Tensor:
        gen = torch.Generator().manual_seed(self.seed + epoch)
        return torch.randperm(self.size, generator=gen).to(self.device)

    def next(self) -> dict[str, Tensor]:
        if self.position + self.batch_size > self.size:
            self.epoch, self.position = self.epoch + 1, 0
            self._order = self._permutation(self.epoch)
        index = self._order[self.position : self.position + self.batch_size]
        self.position += self.batch_size
        return {key: value[index] for key, value in self.tensors.items()}

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
        self._order = self._permutation(self.epoch)


def build_source(target: Target, settings: dict[str, Any], seed: int, device: torch.device) -> DataSource:
    """Batches for the `data` config section: fresh samples (size 0) or a fixed set drawn once."""
    size = settings.get("size", 0)
    if size == 0:
        return StreamSource(target, settings["batch_size"], seed, device)
    points = target.sample(size, make_generator(device, seed, "dataset"))
    return FixedSource({"x": points}, settings["batch_size"], seed)
