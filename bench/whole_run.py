"""Whole-run speed against training-only speed (gankit issue 14: "a run's time is training time").

For each preset, in one process: a whole `gankit.train` run into a temporary runs folder (its
evaluations, pictures, grids and checkpoints at intervals scaled so that several refreshes
happen), then the same config's bare loop (a Trainer without a run folder stepping
`train_step()` as many times, no evaluation or pictures). Prints both speeds, their ratio and
the seconds it takes to build the Trainer. Before either is timed, two bare iterations load the
libraries a run uses (PyTorch's optimiser machinery imports torch._dynamo on first use: ~1.7 s
that is the process's, not the run's). Evaluations and pictures run beside training
(gankit/evaluations.py, gankit/render.py), so the whole run pays for them only where they
contend with it for the CPU, plus the last refresh, which the run waits for.

    GANKIT_DATA=/work/shared/data python bench/whole_run.py [ring gaussian-2d dcgan]
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

import gankit
from gankit.config import resolve
from gankit.engine import Trainer

# the presets' own intervals; dcgan (5,000 iterations) is cut to its first 1,000: one evaluation
# and picture refresh (at the end), 4 grids, the final checkpoint
RUNS: dict[str, list[str]] = {
    "ring": [],  # 3,000 iterations: 12 evaluations and pictures, 6 checkpoints
    "gaussian-2d": [],  # 2,500 iterations: 10 evaluations and pictures, 5 checkpoints
    "dcgan": ["train.steps=1000"],
}


def whole_run(preset: str, overrides: list[str]) -> tuple[float, int]:
    """Seconds of a whole `gankit.train` run (setup and the last pictures included), its steps."""
    with tempfile.TemporaryDirectory() as runs:
        start = time.perf_counter()
        result = gankit.train(preset, overrides=overrides, runs_dir=runs, name="bench")
        seconds = time.perf_counter() - start
    return seconds, int(result.summary["steps"])


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
    print(f"{'preset':<12} {'steps':>5} {'whole it/s':>10} {'train it/s':>10} {'ratio':>6} {'setup s':>7}")
    for preset in presets:
        overrides = RUNS.get(preset, [])
        training_only(preset, overrides, 2)  # the libraries a run loads, loaded before either is timed
        seconds, steps = whole_run(preset, overrides)
        setup, train = training_only(preset, overrides, steps)
        whole_rate, train_rate = steps / seconds, steps / train
        print(f"{preset:<12} {steps:>5} {whole_rate:>10.1f} {train_rate:>10.1f} {whole_rate / train_rate:>6.1%} "
              f"{setup:>7.2f}")  # fmt: skip
    print(f"load average after: {load_average()}")


if __name__ == "__main__":
    main(sys.argv[1:] or list(RUNS))
