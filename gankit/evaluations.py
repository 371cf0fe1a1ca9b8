"""Evaluations off the training loop: samples and measures computed on a worker thread from a
copy of the model taken at their iteration, while training goes on.

The loop hands over each log interval's record in iteration order; a record whose evaluation is
still running holds back the ones after it, so metrics.jsonl and the in-memory records stay in
order and each evaluation's measures join its own iteration's record. At most one evaluation
runs at a time: the copy of the model is reused, and a slow measure makes the loop wait at the
next evaluation rather than queue work without bound. Where evaluating beside training is not
safe (data parallelism's collectives, models whose sampling reseeds the global generator) the
evaluation runs in the loop, as before, through the same path.
"""

from __future__ import annotations

import copy
import logging
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from .drawing_process import usable_cores
from .recipe import Snapshot

log = logging.getLogger("gankit")


@dataclass
class Interval:
    """What one log interval leaves behind: its record's head (step, epoch, time), the training
    statistics, whether it evaluates and draws, its snapshot (done or running), the training
    state at that iteration when a background evaluation may have to save it as the best, and
    a checkpoint of it to write after its record."""

    head: dict[str, Any]
    record: dict[str, Any]
    evaluate: bool
    draw: bool
    snapshot: Snapshot | Future | None = None
    state: dict[str, Any] | None = None
    checkpoint: dict[str, Any] | None = None  # a checkpoint of this iteration, written once it is recorded

    @property
    def step(self) -> int:
        return int(self.head["step"])

    def done(self) -> bool:
        return not isinstance(self.snapshot, Future) or self.snapshot.done()

    def resolved(self) -> Snapshot | None:
        """The snapshot, waiting for it if it still runs (its error, if it failed, raised here)."""
        if isinstance(self.snapshot, Future):
            self.snapshot = self.snapshot.result()
        return self.snapshot


class Evaluations:
    """The intervals not yet recorded, and the worker that evaluates beside training."""

    def __init__(self, background: bool, first_in_loop: bool = True) -> None:
        """`first_in_loop`: the first evaluation may build state (see `snapshot`); False where
        the measures are pure functions of the samples."""
        self.background, self.first_in_loop = background, first_in_loop
        self._waiting: deque[Interval] = deque()
        self._pool: ThreadPoolExecutor | None = None
        self._copy: nn.Module | None = None  # the model as it was at the running evaluation
        self._evaluated = 0

    def snapshot(self, gan: nn.Module, take: Callable[[nn.Module], Snapshot]) -> Snapshot | Future:
        """`take(model)`: in the loop the first time (it builds the measures' lazy state, such
        as classifiers trained under a fork of the global generator) and whenever evaluating in
        the background is off; otherwise on the worker, from a copy of `gan` made now."""
        self._evaluated += 1
        if not self.background or (self._evaluated == 1 and self.first_in_loop):
            return take(gan)
        self._wait_running()  # the copy is free again
        try:
            if self._copy is None:
                self._copy = copy.deepcopy(gan)
            else:
                self._copy.load_state_dict(gan.state_dict())
        except Exception as exc:  # a model that cannot be copied is evaluated in the loop
            log.info("evaluating in the loop: the model could not be copied (%s: %s)", type(exc).__name__, exc)
            self.background, self._copy = False, None
            return take(gan)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="gankit-eval")
        return self._pool.submit(take, self._copy)

    def add(self, interval: Interval) -> None:
        self._waiting.append(interval)

    def last(self) -> Interval | None:
        """The newest interval not yet recorded (None: all are)."""
        return self._waiting[-1] if self._waiting else None

    def finished(self, wait: bool = False) -> list[Interval]:
        """The intervals ready to record, in order (all of them when `wait`)."""
        ready = []
        while self._waiting and (wait or self._waiting[0].done()):
            interval = self._waiting.popleft()
            interval.resolved()
            ready.append(interval)
        return ready

    def _wait_running(self) -> None:
        for interval in self._waiting:
            if isinstance(interval.snapshot, Future):
                interval.snapshot.exception()  # waits; the error itself is raised when recorded

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self._copy = None


def spare_core(device: torch.device) -> bool:
    """Whether evaluating beside training can run without taking the loop's CPU: on an
    accelerator (the loop only queues its work), or on a CPU that training leaves a core of."""
    if device.type != "cpu":
        return True
    return torch.get_num_threads() < usable_cores()


def frozen(state: Any) -> Any:
    """A copy of a (nested) state whose tensors no longer change as training goes on."""
    if isinstance(state, Tensor):
        return state.detach().clone()
    if isinstance(state, dict):
        return {k: frozen(v) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(frozen(v) for v in state)
    return copy.copy(state)
