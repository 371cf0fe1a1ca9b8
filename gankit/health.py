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


def spread_ratio(fake: Tensor, real: Tensor) -> float:
    """Mean per-feature standard deviation of generated samples over that of real ones (≈ 1 when
    G covers the data's spread, → 0 when it collapses onto a few points)."""
    fake_spread = fake.detach().double().flatten(1).std(0).mean()
    real_spread = real.detach().double().flatten(1).std(0).mean()
    return float(fake_spread / real_spread.clamp_min(1e-12))


class HealthMonitor:
    """Watches log records for a D that always wins and for collapsing samples."""

    def __init__(self, watch_accuracy: bool = True, settle_after: int = 0) -> None:
        """`watch_accuracy` is off for critics (WGAN, hinge), whose outputs are not probabilities;
        the spread is judged only after `settle_after` iterations (an untrained G spreads little)."""
        self.watch_accuracy = watch_accuracy
        self.settle_after = settle_after
        self.pinned = 0
        self.warnings: list[str] = []

    def check(self, record: dict[str, Any]) -> None:
        accuracy = record.get("d_accuracy")
        if accuracy is not None and self.watch_accuracy:
            self.pinned = self.pinned + 1 if accuracy >= PINNED_ACCURACY else 0
            if self.pinned == PINNED_RECORDS:
                self._warn(
                    f"D has told real from generated {100 * accuracy:.0f}% of the time for {PINNED_RECORDS} log "
                    f"intervals (iteration {record['step']}): G's gradients vanish under the minimax loss; try "
                    "the non-saturating loss, a lower D learning rate, fewer D steps or a gradient penalty"
                )
        spread = record.get("eval/spread_ratio")
        if spread is not None and spread < COLLAPSED_SPREAD and record["step"] >= self.settle_after:
            self._warn(
                f"generated samples spread {spread:.2f}× as much as the data (iteration {record['step']}): "
                "mode collapse? See the samples picture"
            )

    def _warn(self, message: str) -> None:
        kind = message.split(" ", 1)[0]
        if all(not w.startswith(kind) for w in self.warnings):
            self.warnings.append(message)
            log.warning(message)


def total_norm(tensors: list[Tensor]) -> Tensor:
    """‖(t₁, t₂, …)‖₂ over a non-empty list of tensors, on their device (no host sync)."""
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(tensors)))
