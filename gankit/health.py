"""Health signals: the two failures seed 003 warns of, noticed while training runs.

- D wins: its accuracy pinned near 100%, where G's gradients vanish under the minimax loss;
- mode collapse: generated samples spread far less than the data does.
Each warning is given once per run, logged and kept in the summary.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import Tensor

log = logging.getLogger("gankit")
PINNED_ACCURACY, PINNED_RECORDS = 0.99, 3
COLLAPSED_SPREAD = 0.25
# Collapse is not judged before this many iterations: until then the spread mostly shows G's
# initialisation (gaussian-2d's linear G, healthy, needs about 75 iterations to pass
# COLLAPSED_SPREAD from its start; measured), nor on one evaluation: a passing dip is not a
# collapse, so the spread must stay low on COLLAPSED_RECORDS evaluations in a row.
SETTLE_ITERATIONS, COLLAPSED_RECORDS = 200, 2


def spread_ratio(fake: Tensor, real: Tensor) -> float:
    """Mean per-feature standard deviation of generated samples over that of real ones (≈ 1 when
    G covers the data's spread, → 0 when it collapses onto a few points)."""
    fake_spread = fake.detach().double().flatten(1).std(0).mean()
    real_spread = real.detach().double().flatten(1).std(0).mean()
    return float(fake_spread / real_spread.clamp_min(1e-12))


class HealthMonitor:
    """Watches log records for a D that always wins and for collapsing samples."""

    def __init__(
        self,
        watch_accuracy: bool = True,
        settle_after: int = 0,
        saturating: bool = False,
        picture: str = "plots/samples.png",
    ) -> None:
        """`watch_accuracy` is off for critics (WGAN, hinge), whose outputs are not probabilities;
        the spread is judged only after `settle_after` iterations, and never before
        SETTLE_ITERATIONS (an untrained G spreads little). `saturating` says the objective's G
        loss saturates when D wins (minimax), the case the non-saturating loss is the cure for;
        `picture` is the run's picture of its samples, where a collapse shows."""
        self.watch_accuracy = watch_accuracy
        self.settle_after = max(settle_after, SETTLE_ITERATIONS)
        self.saturating = saturating
        self.picture = picture
        self.pinned = 0
        self.low_spread = 0
        self.warnings: list[str] = []

    @classmethod
    def for_run(cls, config: dict[str, Any], watch_accuracy: bool, picture: str) -> HealthMonitor:
        """The monitor of a run of `config` whose target draws plots/`picture`.png: collapse is judged
        after the first fifth of training."""
        from .losses import get_objective

        saturating = get_objective(config["loss"]["objective"]).saturates
        return cls(watch_accuracy, config["train"]["steps"] // 5, saturating, f"plots/{picture}.png")

    def check(self, record: dict[str, Any]) -> None:
        accuracy = record.get("d_accuracy")
        if accuracy is not None and self.watch_accuracy:
            self.pinned = self.pinned + 1 if accuracy >= PINNED_ACCURACY else 0
            if self.pinned == PINNED_RECORDS:
                cure = (
                    "G's gradients vanish under this saturating loss; try the non-saturating loss "
                    "(loss.objective = non-saturating), "
                    if self.saturating
                    else "G learns little from a D that always wins; try "
                )
                self._warn(
                    f"D has told real from generated {100 * accuracy:.0f}% of the time for {PINNED_RECORDS} log "
                    f"intervals (iteration {record['step']}): {cure}a lower D learning rate, fewer D steps or a "
                    "gradient penalty"
                )
        spread = record.get("eval/spread_ratio")
        if spread is None or record["step"] < self.settle_after:
            return
        self.low_spread = self.low_spread + 1 if spread < COLLAPSED_SPREAD else 0
        if self.low_spread == COLLAPSED_RECORDS:
            self._warn(
                f"generated samples spread {spread:.2f}× as much as the data (iteration {record['step']}, "
                f"{COLLAPSED_RECORDS} evaluations in a row): mode collapse? See {self.picture}"
            )

    def _warn(self, message: str) -> None:
        kind = message.split(" ", 1)[0]
        if all(not w.startswith(kind) for w in self.warnings):
            self.warnings.append(message)
            log.warning(message)


def total_norm(tensors: list[Tensor]) -> Tensor:
    """‖(t₁, t₂, …)‖₂ over a non-empty list of tensors, on their device (no host sync)."""
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(tensors)))
