"""A target's measures computed in a child process forked when training starts, for CPU runs of
targets whose measures are functions of the samples alone (the toy targets, data given in
Python): the evaluation then shares neither the training loop's interpreter lock nor its
core's caches. The samples themselves are still drawn beside training, from a copy of the
model (gankit/evaluations.py); only `target.evaluate` moves.

Measured on the 2-core machine of docs/benchmarks.md, 150-iteration blocks of gaussian-2d's
bare loop beside an evaluation running without pause (medians of 10): 28% slower beside an
evaluation thread, 15% beside an evaluation process.
"""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from typing import Any

import torch
from torch import Tensor

from .children import HoldsChild, fork_child, settle_in_child

log = logging.getLogger("gankit")


def measures_elsewhere(target: Any, device: torch.device) -> bool:
    """Whether `target`'s measures are best computed by a child process: on Linux (fork), for a
    CPU run, when they depend on the samples alone."""
    return sys.platform == "linux" and device.type == "cpu" and bool(getattr(target, "pure_evaluation", False))


class MeasuringProcess(HoldsChild):
    """The child that measures samples of `target` (inherited by the fork), one request at a
    time. If it dies, measuring goes on in the run's own process, said once."""

    def __init__(self, target: Any) -> None:
        self.target = target
        self._lock = threading.Lock()  # one request at a time, whichever thread asks
        self._child: tuple[Any, Any] | None = fork_child(_serve, (target,), "gankit-measures")
        self._hold_child()  # a trainer never closed: its child still goes at exit

    def evaluate(self, fake: Tensor, rng: torch.Generator, labels: Tensor | None = None) -> dict[str, float]:
        """`target.evaluate(fake, rng, labels)`, computed by the child."""
        with self._lock:
            if self._child is None:
                return self.target.evaluate(fake, rng, labels)
            process, pipe = self._child
            try:
                pipe.send((fake.detach().cpu(), rng.get_state(), None if labels is None else labels.detach().cpu()))
                while not pipe.poll(1.0):  # a child that died without closing its end (killed) is noticed
                    if not process.is_alive():
                        raise EOFError
                ok, answer = pipe.recv()
            except (EOFError, OSError) as exc:
                log.warning("the measuring process ended (%s): measures are computed in the run's own process "
                            "from now on", type(exc).__name__)  # fmt: skip
                self.close()
                return self.target.evaluate(fake, rng, labels)
            except Exception as exc:  # an answer that does not read back (an error type that cannot be rebuilt)
                raise RuntimeError(f"a measure failed in the measuring process, and its error could not be read "
                                   f"back ({type(exc).__name__}: {exc})") from None  # fmt: skip
        if not ok:
            error, where = answer
            error.add_note(f"raised in the measuring process:\n{where}")
            raise error
        return answer

    def close(self) -> None:
        self._release_child()


class MeasuredElsewhere:
    """`target` as an evaluation sees it: the same in every way but that `process` measures."""

    def __init__(self, target: Any, process: MeasuringProcess) -> None:
        self._target, self._process = target, process

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)

    def evaluate(self, fake: Tensor, rng: torch.Generator, labels: Tensor | None = None) -> dict[str, float]:
        return self._process.evaluate(fake, rng, labels)


def _serve(target: Any, pipe: Any) -> None:
    """The measuring child: answers each request with (True, measures) or (False, (the error,
    its traceback as text))."""
    settle_in_child(pipe)
    while True:
        try:
            request = pipe.recv()
        except (EOFError, OSError):
            return
        if request is None:
            return
        fake, state, labels = request
        rng = torch.Generator()
        rng.set_state(state)
        try:
            answer: tuple[bool, Any] = (True, target.evaluate(fake, rng, labels))
        except Exception as exc:  # raised in the run, as if it had measured there
            answer = (False, (exc, traceback.format_exc()))
        try:
            pipe.send(answer)
        except Exception:  # an error that cannot be sent as it is (the pipe pickles): its name and message
            error, where = answer[1]
            pipe.send((False, (RuntimeError(f"{type(error).__name__}: {error}"), where)))
