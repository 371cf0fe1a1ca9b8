"""What runs inside a drawing process (gankit/render.py forks it when a run starts): it draws
one refresh at a time, at low priority, and the run's last refresh on every core."""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import signal
import time
from collections.abc import Callable, Sequence
from typing import Any

from .children import settle_in_child

Task = tuple[str, Callable[[], None]]  # (the picture's name, what draws and writes it)
Build = Callable[[Any], Sequence[Task]]  # a refresh's data → the drawings that show it
HELPER_SECONDS = 300  # a fork drawing part of the last refresh for longer is stopped, its pictures reported


def draw_all(tasks: Sequence[Task]) -> dict[str, str]:
    """Run each drawing; return the failures as {picture: "Error: message"}."""
    failures = {}
    for name, draw in tasks:
        try:
            draw()
        except Exception as exc:  # a picture must never stop training
            failures[name] = f"{type(exc).__name__}: {exc}"
    return failures


def serve(build: Build, pipe: Any) -> None:
    """The drawing child: deaf to Ctrl-C and termination (the loop waits for it, and it must
    finish the picture a stop asked for), gentle with the CPU the loop trains on, and gone as
    soon as the loop closes its end of the pipe."""
    settle_in_child(pipe, nice=10)
    # what drawing needs, imported while training starts (scipy.ndimage smooths the 2-D densities;
    # scipy.stats, 1.5 s to import on the 2-core machine, is never needed here)
    for module in ("matplotlib.backends.backend_agg", "matplotlib.figure", "scipy.ndimage"):
        with contextlib.suppress(ImportError):
            importlib.import_module(module)
    # the fewest seconds each picture has taken (its cost without a busy neighbour), to share out the last refresh
    took: dict[str, float] = {}
    while True:
        try:
            message = pipe.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        payload, last = message
        tasks = list(build(payload))
        failures, drawn = {}, 0
        if last and len(tasks) > 1 and usable_cores() > 1:
            failures, drawn = _draw_on_every_core(tasks, took), len(tasks)
        else:
            for task in tasks:
                if pipe.poll():  # a newer refresh waits (the run's last): it redraws every picture
                    break
                started = time.perf_counter()
                failures.update(draw_all([task]))
                seconds, drawn = time.perf_counter() - started, drawn + 1
                took[task[0]] = min(seconds, took.get(task[0], seconds))
        pipe.send_bytes(json.dumps({"failures": failures, "drawn": drawn}).encode())


def usable_cores() -> int:
    """The CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _draw_on_every_core(tasks: list[Task], took: dict[str, float]) -> dict[str, str]:
    """Draw `tasks` split over forks of this drawing process, one per usable core (the run's
    last refresh: the loop has stopped and waits for it). The longest pictures (as last drawn)
    are shared out first, each to the least loaded fork; a share whose fork cannot be made is
    drawn here. Returns the failures."""
    shares = min(usable_cores(), len(tasks))
    loads, groups = [0.0] * shares, [[] for _ in range(shares)]
    for task in sorted(tasks, key=lambda t: -took.get(t[0], 1.0)):
        least = loads.index(min(loads))
        loads[least] += took.get(task[0], 1.0)
        groups[least].append(task)
    mine, helpers = list(groups[0]), []
    for group in groups[1:]:
        read, write = os.pipe()
        try:
            pid = os.fork()
        except OSError:
            os.close(read)
            os.close(write)
            mine += group
            continue
        if pid == 0:  # the helper: draws its share, says what failed, and leaves without clean-up
            status = 1
            try:
                os.close(read)
                with os.fdopen(write, "wb") as out:
                    out.write(json.dumps(draw_all(group)).encode())
                status = 0
            finally:
                os._exit(status)
        os.close(write)
        helpers.append((pid, read, group))
    failures = draw_all(mine)
    deadline = time.monotonic() + HELPER_SECONDS
    for pid, read, group in helpers:
        data = _read_until(read, deadline)
        if data is None:  # stuck: stopped, its pictures reported
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        try:
            failures.update(json.loads(data or b""))
        except ValueError:
            failures.update({name: "its drawing process ended or stalled" for name, _ in group})
    return failures


def _read_until(fd: int, deadline: float) -> bytes | None:
    """All a pipe holds until its writer closes it (then closed here too), or None at `deadline`."""
    import select

    chunks = []
    try:
        while True:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    finally:
        os.close(fd)
