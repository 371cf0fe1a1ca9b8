"""What the step benchmarks share: gankit's side of a timing, and waiting for the device."""

from __future__ import annotations

import argparse
import itertools
import platform
import statistics
import time
from collections.abc import Callable

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


Reference = Callable[[Trainer, list[dict], int], float]  # (trainer, batches, iterations) → it/s


def side_by_side(reference: Reference, trainer: Trainer, batches: list[dict], steps: int,
                 repeats: int) -> tuple[list[float], list[float]]:  # fmt: skip
    """Iterations per second of a hand-written reference step and of gankit's engine on the same
    batches: both warmed up, then timed alternately `repeats` times (a change in the machine's
    speed falls on both)."""
    warm = max(2, steps // 5)
    reference(trainer, batches, warm)
    gankit_step(trainer, batches, warm)
    ref, ours = [], []
    for _ in range(repeats):
        ref.append(reference(trainer, batches, steps))
        ours.append(gankit_step(trainer, batches, steps))
    return ref, ours


def report(device: torch.device, what: str, name: str, ref: list[float], ours: list[float]) -> None:
    """Print the machine, what was timed, both medians with their spreads, and their ratio."""
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name()
    r, g = statistics.median(ref), statistics.median(ours)
    print(f"machine: {where}, {torch.get_num_threads()} torch threads, torch {torch.__version__}")
    print(what)
    label = f"reference {name} step:"
    width = max(len(label), len("gankit engine:")) + 1
    print(f"{label:<{width}}{r:8.2f} it/s   (spread {min(ref):.2f}-{max(ref):.2f})")
    print(f"{'gankit engine:':<{width}}{g:8.2f} it/s   (spread {min(ours):.2f}-{max(ours):.2f})")
    print(f"ratio gankit / reference: {g / r:.2f}")


def cpu_name() -> str:
    """The CPU's model name (Linux), for the record."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def step_arguments(doc: str, width_help: str) -> argparse.ArgumentParser:
    """The options every image model's step benchmark takes (it may add its own)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--width", type=int, default=64, help=width_help)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=10, help="iterations per timing")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--device", default="auto")
    return parser


def random_pictures(resolution: int, n: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """`n` random RGB pictures (uint8) and labels of 10 classes, the same every run."""
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 3, resolution, resolution), dtype=torch.uint8, generator=generator)
    return images, torch.randint(0, 10, (n,), generator=generator)
