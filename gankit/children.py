"""Helper processes forked from a run when it starts: one draws its pictures (gankit/render.py),
one measures its samples (gankit/measuring.py). Each inherits what it needs from the fork, talks
to the run over one pipe, and goes when the run sends None or lets go of the pipe."""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import threading
from collections.abc import Callable
from typing import Any


def fork_child(serve: Callable[..., None], args: tuple[Any, ...], name: str) -> tuple[Any, Any]:
    """Start `serve(*args, pipe)` in a forked child; return (the process, the run's end of the pipe)."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    ours, theirs = context.Pipe()
    process = context.Process(target=serve, args=(*args, theirs), name=name, daemon=True)
    process.start()
    theirs.close()
    return process, ours


def settle_in_child(pipe: Any, nice: int = 0) -> None:
    """What a child does first: become deaf to Ctrl-C and termination (the run waits for its
    answers, and says when to go), let go of every file the run had open but its pipe (above
    all the run folder's lock: a run killed with SIGKILL must be resumable at once, not when its
    child has finished), yield `nice` steps of priority, and keep to one torch thread (the run's
    thread pool does not survive a fork, and the run's core is the run's)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    keep = pipe.fileno()
    os.closerange(3, keep)
    os.closerange(keep + 1, os.sysconf("SC_OPEN_MAX") if hasattr(os, "sysconf") else 4096)
    if nice:
        with contextlib.suppress(OSError):
            os.nice(nice)
    import torch

    torch.set_num_threads(1)


def retire(process: Any, pipe: Any) -> None:
    """Tell a child to go and let go of it without waiting for it to exit: the kernel takes
    ~50 ms to tear down a process that holds torch and matplotlib, time a run's end need not
    spend. A daemon thread reaps it."""
    with contextlib.suppress(OSError, ValueError):
        pipe.send(None)
    pipe.close()
    threading.Thread(target=process.join, name=f"reap-{process.name}", daemon=True).start()


class HoldsChild:
    """Owner of one forked child in `_child` (the process, the run's end of its pipe): if the
    owner is never closed, the pipe is closed at exit, so the child goes before multiprocessing
    waits for it; `_release_child` retires it."""

    _child: tuple[Any, Any] | None = None

    def _hold_child(self) -> None:
        atexit.register(self._let_go)

    def _release_child(self) -> None:
        if self._child is not None:
            retire(*self._child)
            self._child = None
        atexit.unregister(self._let_go)

    def _let_go(self) -> None:
        if self._child is not None:
            self._child[1].close()
