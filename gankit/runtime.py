"""What the training loop leans on besides the model: the device, running statistics, stop
signals, and the end-of-run paragraph."""

from __future__ import annotations

import math
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from .distributed import SINGLE, Group
from .errors import ConfigError


class TrainingInterrupted(Exception):
    """Training stopped on SIGINT/SIGTERM after saving a checkpoint."""

    def __init__(self, step: int, run: Path | None, resume: str = "") -> None:
        super().__init__(f"interrupted at iteration {step}")
        self.step, self.run = step, run
        self.resume = resume or f"gankit train --resume {run}"  # the command that continues it


def memory_bytes() -> int | None:
    """This machine's physical memory in bytes (None where the system does not say)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(values: int, what: str, key: str, error: type[Exception] = ConfigError) -> None:
    """An `error` naming `key` when `values` float32 numbers would not fit in half this machine's memory."""
    total = memory_bytes()
    if total is not None and values * 4 > total // 2:
        raise error(f"{key}: {what} would need {values * 4 / 2**30:,.1f} GiB; this machine has "
                    f"{total / 2**30:.1f} GiB in all")  # fmt: skip


def resolve_device(name: str, group: Group = SINGLE) -> torch.device:
    """`auto` → CUDA if present, else Apple MPS, else CPU; an explicit device must exist. Under
    data parallelism on GPUs each process takes the GPU of its local rank."""
    if group.distributed and name in ("auto", "cuda") and torch.cuda.is_available():
        return torch.device("cuda", group.local_rank % torch.cuda.device_count())
    if group.distributed and name not in ("auto", "cpu"):
        raise ConfigError(f"device {name!r} under torchrun: use auto or cuda (each process takes the GPU of its "
                          "LOCAL_RANK), or cpu (gloo)")  # fmt: skip
    if group.distributed:
        return torch.device("cpu")  # gloo: CPU tensors (it has no MPS support)
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"device must be auto, cpu, cuda, cuda:N or mps; got {name!r}") from None
    if device.type == "cuda" and (not torch.cuda.is_available() or (device.index or 0) >= torch.cuda.device_count()):
        raise ConfigError(
            f"device {name!r} is not available here (CUDA devices: {torch.cuda.device_count()}); use cpu or auto"
        )
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("device 'mps' is not available here; use cpu or auto")
    return device


class RunningMeans:
    """Sums of per-update statistics kept on the device; read (one sync) at log time."""

    def __init__(self) -> None:
        self.sums: dict[str, Tensor] = {}
        self.counts: dict[str, int] = {}

    def add(self, stats: dict[str, Tensor]) -> None:
        """Add one update's statistics. The sums are updated in place, so that a captured CUDA
        graph can keep adding into the same buffers (gankit/graphs.py). The sums of known float
        statistics grow in one `_foreach_add_` (the same additions): a dozen separate small
        operations per iteration are a measurable share of a small GAN's step on the CPU."""
        sums, values = [], []
        for key, value in stats.items():
            total = self.sums.get(key)
            if total is None:
                self.sums[key] = value.detach().float().clone()
            elif value.dtype == total.dtype and not value.requires_grad:
                sums.append(total)
                values.append(value)
            else:
                total.add_(value.detach().float())
            self.counts[key] = self.counts.get(key, 0) + 1
        if sums:
            torch._foreach_add_(sums, values)

    def pop(self, reduce: Callable[[Tensor], Tensor] | None = None) -> dict[str, float]:
        """The means since the last pop, as Python floats (after `reduce`, e.g. across
        processes); then start again from zero in the same buffers."""
        keys = [k for k in self.sums if self.counts.get(k)]
        if not keys:
            return {}
        stacked = torch.stack([self.sums[k] / self.counts[k] for k in keys])
        values = (reduce(stacked) if reduce is not None else stacked).tolist()
        for total in self.sums.values():
            total.zero_()
        self.counts = dict.fromkeys(self.sums, 0)
        return dict(zip(keys, values))

    def state_dict(self) -> dict[str, Any]:
        return {"sums": dict(self.sums), "counts": dict(self.counts)}

    def load_state_dict(self, state: dict[str, Any], device: torch.device) -> None:
        self.sums = {k: v.to(device).clone() for k, v in state["sums"].items()}
        self.counts = {k: int(v) for k, v in state["counts"].items()}


class StopSignals:
    """Turn the first SIGINT/SIGTERM into a polite stop request; a second Ctrl-C is immediate."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        self.requested = True
        signal.signal(signal.SIGINT, signal.default_int_handler)

    def __enter__(self) -> StopSignals:
        try:
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        except ValueError:  # not the main thread: leave signals alone
            self._previous.clear()
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def headline(record: dict[str, Any]) -> list[str]:
    """The statistics a progress line shows: every loss the players log, then D's accuracy."""
    losses = [k for k in record if k.endswith("loss") and not k.startswith("eval/")]
    return losses + [k for k in ("d_accuracy",) if k in record]


def report_line(step: int, epochs: float | None, record: dict[str, Any]) -> str:
    """The line printed at an evaluation: iteration, epoch, losses, D accuracy and the measures."""
    parts = [f"iteration {step}"] + ([f"epoch {epochs:g}"] if epochs is not None else [])
    parts += [f"{k} {fmt(record[k])}" for k in headline(record)]
    parts += [f"{k.removeprefix('eval/')} {fmt(v)}" for k, v in record.items() if k.startswith("eval/")]
    return ", ".join(parts)


def summarise(records: list[dict[str, Any]], run: Path | None, steps: int, seconds: float, device: torch.device,
              warnings: list[str], first_step: int = 0, earlier_seconds: float = 0.0) -> dict[str, Any]:  # fmt: skip
    """summary.json: the last record's training statistics and measures, with their protocol.
    `steps` and `seconds` count the whole run; `this_process` the iterations trained (from
    `first_step`, where a resumed run began) and the seconds taken by the process ending now,
    which is what its speed is judged on: earlier processes ran with their own start-up costs."""
    last = records[-1] if records else {}
    return {
        "run": str(run) if run else None,
        "steps": steps,
        "seconds": round(seconds, 2),
        "this_process": {
            "from_step": first_step,
            "steps": steps - first_step,
            "seconds": round(seconds - earlier_seconds, 2),
        },
        "device": str(device),
        "train": {k: v for k, v in last.items() if not k.startswith("eval/")},
        "measures": {k.removeprefix("eval/"): v for k, v in last.items() if k.startswith("eval/")},
        "protocol": next((r["protocol"] for r in reversed(records) if "protocol" in r), {}),
        "warnings": warnings,
    }


def describe(summary: dict[str, Any]) -> str:
    """The one-paragraph summary printed when training ends."""
    train, measures = summary["train"], summary["measures"]
    parts = [trained_line(summary)]
    if "d_loss" in train:
        parts.append(
            f"Last interval: D loss {train['d_loss']:.3f}, G loss {train.get('g_loss', math.nan):.3f}, "
            f"D accuracy {100 * train.get('d_accuracy', math.nan):.0f}% "
            f"(real {100 * train.get('acc_real', math.nan):.0f}%, generated {100 * train.get('acc_fake', math.nan):.0f}%)."
        )
    elif headline(train):
        parts.append("Last interval: " + ", ".join(f"{k} {fmt(train[k])}" for k in headline(train)) + ".")
    if measures:
        parts.append("Measures: " + ", ".join(f"{k} {fmt(v)}" for k, v in measures.items()) + ".")
    if summary["run"]:
        parts.append(f"Run folder: {summary['run']} (pictures in plots/, metrics in metrics.jsonl).")
    return " ".join(parts)


def trained_line(summary: dict[str, Any]) -> str:
    """What this process trained, and its speed: its own iterations over its own seconds (a
    resumed run also says where it began and what the whole run took)."""
    session = summary.get("this_process") or {"from_step": 0, "steps": summary["steps"], "seconds": summary["seconds"]}
    steps, seconds, first = session["steps"], session["seconds"], session["from_step"]
    rate = f"{steps / seconds:.1f} it/s" if seconds > 0 else "– it/s"
    if not first:
        return f"Trained {steps} iterations in {seconds:.1f} s ({rate}) on {summary['device']}."
    if not steps:
        return f"Nothing left to train: the run already has its {first} iterations ({summary['seconds']:.1f} s in all)."
    return (f"Trained iterations {first + 1}–{summary['steps']} in {seconds:.1f} s ({rate}) on {summary['device']}, "
            f"resumed from iteration {first} ({summary['steps']} iterations in {summary['seconds']:.1f} s in all).")  # fmt: skip


def fmt(value: Any) -> str:
    if isinstance(value, int):
        return str(value)
    return f"{value:.4g}" if isinstance(value, float) else str(value)
