"""Learning-rate schedules: each player's rate as a pure function of the iteration.

`optim.<player>.warmup` W and `.decay` N give, at iteration i of a run of T iterations,
lr(i) = lr · min(1, (i + 1) / W) · min(1, (T − i) / N): a linear rise over the first W
iterations and a linear fall to zero over the last N (pix2pix's and CycleGAN's "constant, then
linear decay"; the last update still moves, by lr / N). Because the rate depends only on the
iteration, a resumed run sets exactly the rate an uninterrupted one has, and a learning rate
changed on resume takes effect.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .settings import setting

if TYPE_CHECKING:
    import torch


@dataclass
class ScheduleSettings:
    """The learning-rate schedule of one player, beside its optimiser's settings in `optim.<player>`."""

    warmup: int = setting(0, "iterations over which the learning rate rises linearly from 0 (0: none)", min=0)
    decay: int = setting(0, "final iterations over which the learning rate falls linearly to 0, as pix2pix and "
                         "CycleGAN train (0: constant)", min=0)  # fmt: skip


SCHEDULE_KEYS = ("warmup", "decay")


def lr_factor(step: int, total: int, warmup: int = 0, decay: int = 0) -> float:
    """The multiplier of the base learning rate for the update at iteration `step` (0-based)."""
    factor = 1.0
    if warmup:
        factor *= min(1.0, (step + 1) / warmup)
    if decay:
        factor *= min(1.0, max(0.0, (total - step) / decay))
    return factor


class Schedules:
    """Sets every player's learning rate for the coming iteration (host work only, no sync)."""

    def __init__(self, optimizers: Mapping[str, torch.optim.Optimizer], settings: Mapping[str, Mapping[str, Any]]):
        self.optimizers = optimizers
        self.settings = {name: dict(settings[name]) for name in optimizers}
        self._last: dict[str, float] = {}

    @property
    def constant(self) -> bool:
        """Whether no player's rate changes during the run (then a CUDA graph may bake it in)."""
        return not any(s.get("warmup") or s.get("decay") for s in self.settings.values())

    def rate(self, player: str, step: int, total: int) -> float:
        s = self.settings[player]
        return s["lr"] * lr_factor(step, total, s.get("warmup", 0), s.get("decay", 0))

    def apply(self, step: int, total: int) -> None:
        """Give each optimiser its rate for iteration `step`; only changed rates are written."""
        for player, optimizer in self.optimizers.items():
            if "lr" not in self.settings[player]:
                continue
            rate = self.rate(player, step, total)
            if self._last.get(player) != rate:
                for group in optimizer.param_groups:
                    group["lr"] = rate
                self._last[player] = rate

    def reset(self) -> None:
        """Forget what was written (after optimiser states were loaded from a checkpoint)."""
        self._last.clear()
