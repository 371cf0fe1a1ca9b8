"""Which process this is among the training processes, read from torchrun's environment.

Kept apart from `distributed.py` (which imports torch) so that the command line can set up its
console before knowing whether it will need torch at all.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import Generator, Tensor


@dataclass(frozen=True)
class Group:
    """This process's place among the training processes (rank 0 of 1 when not distributed)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def shard(self, n: int) -> slice:
        """This process's rows of a global batch of n·world rows."""
        return slice(self.rank * n, (self.rank + 1) * n)

    def draw(self, sampler: Callable[[int, Generator], Tensor], n: int, rng: Generator) -> Tensor:
        """This process's n rows of `sampler(n · world, rng)`: every process draws the same global
        batch from identically seeded generators and keeps its own slice. (A population of GANs
        trained as one program draws each member's rows from the member's own generator:
        gankit/population.py.)"""
        return sampler(n * self.world, rng)[self.shard(n)] if self.distributed else sampler(n, rng)


SINGLE = Group()


def group_from_environment() -> Group:
    """The group torchrun describes in RANK / WORLD_SIZE / LOCAL_RANK (single process otherwise)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return SINGLE
    return Group(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
