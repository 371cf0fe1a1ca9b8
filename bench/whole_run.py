"""Whole-run speed against training-only speed (gankit issue 14: "a run's time is training time").

For each preset, in one process: a whole `gankit.train` run into a temporary runs folder (its
evaluations, pictures, grids and checkpoints at intervals scaled so that several refreshes
happen), then the same config's bare loop (a Trainer without a run folder stepping
`train_step()` as many times, no evaluation or pictures). Prints both speeds, their ratio and
the time the whole run spent in evaluation (`Trainer.snapshot`), which stays in the loop.

    GANKIT_DATA=/work/shared/data python bench/whole_run.py [ring gaussian-2d dcgan]
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

import gankit
from gankit.config import resolve
from gankit.engine import Trainer

# the preset's own intervals, shortened only where the preset is long (dcgan: 5,000 iterations)
RUNS: dict[str, list[str]] = {
    "ring": [],  # 3,000 iterations: 12 evaluations and pictures, 6 checkpoints
    "gaussian-2d": [],  # 2,500 iterations: 10 evaluations and pictures, 5 checkpoints
    "dcgan": [
        "train.steps=250",
        "train.log_every=25",
        "train.eval_every=50",
        "train.grid_every=50",
        "train.checkpoint_every=125",
    ],  # 5 evaluations, pictures and grids, 2 checkpoints
}


class SnapshotClock:
    """Adds up the seconds the run spends in `Trainer.snapshot` (evaluation samples and measures)."""

    def __init__(self) -> None:
        self.seconds, self.calls = 0.0, 0
        self._original = Trainer.snapshot

    def __enter__(self) -> SnapshotClock:
        original = self._original

        def timed(trainer: Trainer, *args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(trainer, *args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start
                self.calls += 1

        Trainer.snapshot = timed  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: Any) -> None:
        Trainer.snapshot = self._original  # type: ignore[method-assign]


def whole_run(preset: str, overrides: list[str]) -> tuple[float, SnapshotClock, int]:
    """Seconds of a whole `gankit.train` run (setup included), the evaluation clock, its steps."""
    with tempfile.TemporaryDirectory() as runs, SnapshotClock() as clock:
        start = time.perf_counter()
        result = gankit.train(preset, overrides=overrides, runs_dir=runs, name="bench")
        seconds = time.perf_counter() - start
    return seconds, clock, int(result.summary["steps"])


def training_only(preset: str, overrides: list[str], steps: int) -> tuple[float, float]:
    """Seconds to build the Trainer, and to step `train_step()` `steps` times without a run folder."""
    start = time.perf_counter()
    trainer = Trainer(resolve(preset, overrides=overrides))
    built = time.perf_counter()
    for _ in range(steps):
        trainer.train_step()
    trainer.means.pop(lambda t: t)  # the loss statistics reach the host, as a log interval would
    done = time.perf_counter()
    trainer.close()
    return built - start, done - built


def load_average() -> str:
    """The 1, 5 and 15-minute load averages (other users of the machine show here)."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main(presets: list[str]) -> None:
    logging.getLogger("gankit").setLevel(logging.WARNING)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs")
    print(f"load average before: {load_average()}")
    header = f"{'preset':<12} {'steps':>5} {'whole it/s':>10} {'train it/s':>10} {'ratio':>6} {'setup s':>7} "
    print(header + f"{'eval s':>7} {'evals':>5} {'eval %':>6}")
    for preset in presets:
        overrides = RUNS.get(preset, [])
        seconds, clock, steps = whole_run(preset, overrides)
        setup, train = training_only(preset, overrides, steps)
        whole_rate, train_rate = steps / seconds, steps / train
        print(f"{preset:<12} {steps:>5} {whole_rate:>10.1f} {train_rate:>10.1f} {whole_rate / train_rate:>6.1%} "
              f"{setup:>7.2f} {clock.seconds:>7.2f} {clock.calls:>5} {clock.seconds / seconds:>6.1%}")  # fmt: skip
    print(f"load average after: {load_average()}")


if __name__ == "__main__":
    main(sys.argv[1:] or list(RUNS))
