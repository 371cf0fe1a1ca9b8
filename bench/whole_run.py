"""Whole-run speed against training-only speed (gankit issue 14: "a run's time is training time").

For each preset, in one process: a whole `gankit.train` run into a temporary runs folder (its
evaluations, pictures, grids and checkpoints at intervals scaled so that several refreshes
happen), then the same config's bare loop (a Trainer without a run folder stepping
`train_step()` as many times, no evaluation or pictures). Prints both speeds and their ratio.
Before either is timed, a whole run of two iterations loads the
libraries a run uses (PyTorch's optimiser machinery imports torch._dynamo on first use: ~1.7 s
that is the process's, not the run's) and fills the machine's caches a run reads (the image
presets' domain classifier, trained once per machine into ~/.cache/gankit: about a minute). Evaluations and pictures run beside training
(gankit/evaluations.py, gankit/render.py), so the whole run pays for them only where they
contend with it for the CPU, plus the last refresh, which the run waits for.

`outside` is the share of the whole run's time spent outside its training iterations (set-up,
intervals, the wait for the last pictures), timed within the run itself, so a slower or faster
machine between the two halves of a pair does not move it: it bounds the ratio the run can
reach (1 − outside) when training runs as fast in the run as alone.

Each preset runs `--repeats` pairs: a whole run between two training-only runs of half its
iterations each (their sum is the pair's training-only time), so that a drift in the machine's
speed during a pair falls on both halves of it. The ratio printed is the median of the pairs'
ratios. (The 2-core machine of docs/benchmarks.md changed speed by up to 2× between
250-iteration blocks of the bare loop within seconds: single pairs swing by 20 points.)

    GANKIT_DATA=/work/shared/data python bench/whole_run.py [ring gaussian-2d dcgan] [--repeats 3]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

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


def whole_run(preset: str, overrides: list[str]) -> tuple[float, float, int]:
    """Seconds of a whole `gankit.train` run (setup and the last pictures included), the seconds
    of it spent inside training iterations, and its steps."""
    inside, step = [0.0], Trainer.train_step

    def timed(self: Trainer, *args: Any) -> None:
        started = time.perf_counter()
        step(self, *args)
        inside[0] += time.perf_counter() - started

    Trainer.train_step = timed  # type: ignore[method-assign]
    try:
        with tempfile.TemporaryDirectory() as runs:
            start = time.perf_counter()
            result = gankit.train(preset, overrides=overrides, runs_dir=runs, name="bench")
            seconds = time.perf_counter() - start
    finally:
        Trainer.train_step = step  # type: ignore[method-assign]
    return seconds, inside[0], int(result.summary["steps"])


def training_only(preset: str, overrides: list[str], steps: int) -> tuple[float, float]:
    """Seconds to build the Trainer, and to step `train_step()` `steps` times without a run folder."""
    start = time.perf_counter()
    trainer = Trainer(resolve(preset, overrides=overrides))
    built = time.perf_counter()
    for _ in range(steps):
        trainer.train_step()
        trainer.step += 1  # as the loop counts (gradient norms are measured on its schedule)
    trainer.means.pop(lambda t: t)  # the loss statistics reach the host, as a log interval would
    done = time.perf_counter()
    trainer.close()
    return built - start, done - built


def load_average() -> str:
    """The 1, 5 and 15-minute load averages (other users of the machine show here)."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("presets", nargs="*", default=list(RUNS))
    parser.add_argument("--repeats", type=int, default=3, help="whole runs (each paired with a training-only run)")
    args = parser.parse_args()
    logging.getLogger("gankit").setLevel(logging.WARNING)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs")
    print(f"load average before: {load_average()}")
    print(f"{'preset':<12} {'steps':>5} {'whole it/s':>10} {'train it/s':>10} {'ratio':>6}  {'outside':>7}  "
          "each pair's ratio")  # fmt: skip
    for preset in args.presets:
        overrides = RUNS.get(preset, [])
        whole_run(preset, [*overrides, "train.steps=2"])  # libraries and caches, loaded before either is timed
        pairs, outside = [], []
        steps = resolve(preset, overrides=overrides)["train"]["steps"]
        for _ in range(args.repeats):  # training-only halves around the whole run: a drift falls on both
            _, before = training_only(preset, overrides, steps // 2)
            seconds, inside, steps = whole_run(preset, overrides)
            _, after = training_only(preset, overrides, steps - steps // 2)
            pairs.append((steps / seconds, steps / (before + after)))
            outside.append(1 - inside / seconds)
        whole_rate, train_rate = (statistics.median(p[k] for p in pairs) for k in (0, 1))
        ratio = statistics.median(w / t for w, t in pairs)
        each = " ".join(f"{w / t:.1%}" for w, t in pairs)
        print(f"{preset:<12} {steps:>5} {whole_rate:>10.1f} {train_rate:>10.1f} {ratio:>6.1%}  "
              f"{statistics.median(outside):>7.1%}  {each}")  # fmt: skip
    print(f"load average after: {load_average()}")


if __name__ == "__main__":
    main()
