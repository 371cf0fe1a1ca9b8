"""Divergence: non-finite losses, gradients or weights caught without a per-iteration host sync.

Every update adds its loss (and gradient norm, when measured) into a device-side total of its
player, which is finite only while all of them were; the totals are read only where the engine
reads the device anyway (log, evaluation, pictures, checkpoints), so a run stops within one log
interval of going wrong, before a picture or a checkpoint is made of non-finite weights. A
checkpoint is written only when every weight is finite, so the newest checkpoint is always a
good one to resume from.

With `train.nonfinite = skip` an update whose loss or gradient is not finite is skipped instead
(its gradients dropped before the optimiser step, as a gradient scaler does); that decision is a
host sync per update, and `train.max_skips` skipped updates in a row stop the run all the same.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path

import torch
from torch import Tensor, nn

from .checkpoint import list_checkpoints
from .distributed import SINGLE, Group, mean_across
from .errors import GankitError


class TrainingDiverged(GankitError):
    """Training produced non-finite values; the run stopped with its last finite checkpoint kept."""

    exit_status = 3


class FiniteWatch:
    """Per player, on the device, whether any update's loss or gradient norm was not finite.

    Without skipping, each update adds its loss (and its gradient norm, when measured) into the
    player's running total, which stays finite only while every addend is (inf − inf is NaN): one
    operation per update. With `skip`, each update's own flag decides on the host whether to step,
    and the totals count the bad updates that were not skipped."""

    def __init__(self, players: Iterable[str], device: torch.device, skip: bool = False, max_skips: int = 10) -> None:
        self.totals = {name: torch.zeros((), device=device) for name in players}
        self.skip, self.max_skips = skip, max_skips
        self.skipped_in_row = dict.fromkeys(self.totals, 0)  # per player: another player's good update is no cure

    def observe(self, player: str, loss: Tensor, grad_norm: Tensor | None) -> Tensor | None:
        """Watch one update (no host sync); in skip mode, returns its device flag (not finite)."""
        total = self.totals[player]
        if not self.skip:
            total.add_(loss.detach())
            if grad_norm is not None:
                total.add_(grad_norm)
            return None
        value = loss.detach().float() if grad_norm is None else loss.detach().float() + grad_norm
        bad = ~torch.isfinite(value)
        total.add_(bad)
        return bad

    def skips(self, bad: Tensor | None, player: str, step: int) -> bool:
        """In skip mode: whether to drop this update (one host sync); too many in a row stop the run."""
        if not self.skip or bad is None or not bool(bad):
            self.skipped_in_row[player] = 0
            return False
        self.totals[player].sub_(1)  # a skipped update did no harm
        self.skipped_in_row[player] += 1
        if self.skipped_in_row[player] > self.max_skips:
            raise TrainingDiverged(f"training diverged at iteration {step + 1}: {self.skipped_in_row[player]} updates in a "
                                   f"row had a non-finite loss or gradient (last: player {player}, train.max_skips "
                                   f"= {self.max_skips})")  # fmt: skip
        return True

    def check(self, step: int, since: int, means: Mapping[str, float] | None = None, group: Group = SINGLE) -> None:
        """Raise TrainingDiverged if any update since iteration `since` was not finite (one sync)."""
        names = list(self.totals)
        totals = mean_across(torch.stack([self.totals[n] for n in names]), group).tolist()
        bad = [(name, total) for name, total in zip(names, totals) if not math.isfinite(total) or (self.skip and total)]
        if not bad:
            if not self.skip:  # sums start again, so that they stay far from overflowing
                for total in self.totals.values():
                    total.zero_()
            return
        name, _ = bad[0]
        values = {k: v for k, v in (means or {}).items() if isinstance(v, float) and not math.isfinite(v)}
        seen = ", ".join(f"{k} = {v}" for k, v in values.items())
        raise TrainingDiverged(f"training diverged between iterations {since + 1} and {step}: player {name}'s "
                               f"loss or gradient norm became non-finite" + (f" ({seen})" if seen else ""))  # fmt: skip


def resume_hint(run: Path | None) -> str:
    """How to go on after a divergence: from the run's newest (finite) checkpoint, if it has one."""
    found = list_checkpoints(run / "checkpoints") if run is not None else []
    if not found or run is None:
        return "no checkpoint was written: start again with changed settings (a lower learning rate…)"
    return (f"its newest checkpoint (iteration {found[-1][0]}) is finite: resume it with changed settings, "
            f"e.g. gankit train --resume {run} --set optim.<player>.lr=…")  # fmt: skip


def nonfinite_network(networks: Mapping[str, nn.Module]) -> str | None:
    """The first network holding a non-finite weight or buffer (one host sync), or None."""
    names = list(networks)
    flags = torch.stack([
        torch.stack([~torch.isfinite(t).all() for t in [*networks[n].parameters(), *networks[n].buffers()]
                     if t.is_floating_point()] or [torch.zeros((), dtype=torch.bool)]).any()
        for n in names
    ]).tolist()  # fmt: skip
    return next((name for name, flag in zip(names, flags) if flag), None)
