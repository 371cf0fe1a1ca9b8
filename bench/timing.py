"""What the step benchmarks share: gankit's side of a timing, and waiting for the device."""

from __future__ import annotations

import itertools
import time

import torch

from gankit.engine import Trainer


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA), so that a clock reading covers it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def gankit_step(trainer: Trainer, batches: list[dict], steps: int) -> float:
    """Iterations per second of `Trainer.train_step` (and the moving average, when kept) on `batches`
    in turn; the statistics are read once at the end, as a log record would."""
    drawn = itertools.cycle(batches)
    sync(trainer.device)
    start = time.perf_counter()
    for _ in range(steps):
        trainer.train_step(lambda: next(drawn))
        trainer.gan.update_ema(trainer.step)
    trainer.means.pop()
    sync(trainer.device)
    return steps / (time.perf_counter() - start)
