"""Pictures drawn off the training loop's critical path.

Two kinds of work leave the loop:
- refreshes of the curves and the target's picture (matplotlib: slow, pure Python). Only the
  newest matters, so a refresh that arrives while the previous one is still being drawn waits,
  and a newer one replaces it (the older is counted as skipped): work never queues without
  bound. On Linux they are drawn by a child process forked when the run starts, because
  drawing on a thread of the training process would take the interpreter lock from the loop
  for most of its time; elsewhere (no safe fork) a thread draws them. After each refresh the
  child rests twice as long as it took, so pictures take at most a third of a core.
- sample grid frames (PNG encoding, which releases the interpreter lock): every frame is part
  of the run's record and the final animation, so none is skipped; a bounded queue makes the
  loop wait instead if frames ever come faster than they are written.

`drain` waits for everything handed over, so the last refresh is always drawn before a run
ends (also after Ctrl-C, which the drawing children ignore). A drawing process then leaves a
refresh it is still drawing after its current picture, since the last one redraws them all. A
drawing that fails is logged once per picture and never stops training.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import json
import logging
import os
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

log = logging.getLogger("gankit")

Task = tuple[str, Callable[[], None]]  # (the picture's name, what draws and writes it)
MAX_WAITING_FRAMES = 8  # grid frames handed over but not yet written before the loop waits
# a drawing process rests twice as long as its last refresh took before it starts the next one,
# so pictures take at most a third of a core from training (the last refresh never waits)
REST_PER_DRAWING_SECOND = 2.0


class Drawing:
    """What every renderer counts: refreshes drawn and skipped, and failed drawings by picture."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.skipped = 0  # refreshes replaced before they started
        self.drawn = 0  # refreshes finished
        self.failed: Counter[str] = Counter()  # failed drawings, by picture

    def failure(self, name: str, message: str) -> None:
        if not self.failed[name]:
            log.warning("picture %s was not drawn: %s (training goes on)", name, message)
        self.failed[name] += 1

    def submit(self, payload: Any, last: bool = False) -> None:
        """Hand over a refresh; `last`: the run's final one, which it waits for."""
        raise NotImplementedError

    def poll(self) -> None:
        """Start a waiting refresh if the renderer has become free (called by the loop)."""

    def drain(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.drain()


def draw_all(tasks: Sequence[Task]) -> dict[str, str]:
    """Run each drawing; return the failures as {picture: "Error: message"}."""
    failures = {}
    for name, draw in tasks:
        try:
            draw()
        except Exception as exc:  # a picture must never stop training
            failures[name] = f"{type(exc).__name__}: {exc}"
    return failures


Build = Callable[[Any], Sequence[Task]]  # a refresh's data → the drawings that show it


class ThreadRenderer(Drawing):
    """The newest refresh drawn on one background thread (where fork is not safe)."""

    def __init__(self, kind: str, build: Build) -> None:
        super().__init__(kind)
        self.build = build
        self._changed = threading.Condition()
        self._waiting: Any = None  # the newest refresh not yet started
        self._busy = False
        self._stopping = False
        self._thread: threading.Thread | None = None

    def submit(self, payload: Any, last: bool = False) -> None:
        with self._changed:
            if self._stopping:
                raise RuntimeError(f"the {self.kind} renderer is closed")
            if self._waiting is not None:
                self.skipped += 1
            self._waiting = payload
            if self._thread is None:  # started on first use: runs without pictures cost no thread
                self._thread = threading.Thread(target=self._work, name=f"gankit-{self.kind}", daemon=True)
                self._thread.start()
            self._changed.notify_all()

    def drain(self) -> None:
        with self._changed:
            while self._waiting is not None or self._busy:
                self._changed.wait(timeout=0.5)  # a timeout keeps the wait responsive to a second Ctrl-C

    def close(self) -> None:
        self.drain()
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _work(self) -> None:
        while True:
            with self._changed:
                while self._waiting is None and not self._stopping:
                    self._changed.wait()
                if self._waiting is None:  # stopping, nothing left
                    return
                payload, self._waiting = self._waiting, None
                self._busy = True
            try:
                for name, message in draw_all(self.build(payload)).items():
                    self.failure(name, message)
                self.drawn += 1
            finally:
                with self._changed:
                    self._busy = False
                    self._changed.notify_all()


class ProcessRenderer(Drawing):
    """The newest refresh drawn by a child process forked when the renderer starts: it inherits
    `build` and what it refers to (the target, the paths), imports the drawing libraries while
    training starts, then draws each refresh's data (plain lists, dicts and arrays, sent
    through a pipe) and answers with its failures as JSON. One refresh is drawn at a time;
    only the loop's thread sends, receives and forks."""

    def __init__(self, kind: str, build: Build) -> None:
        super().__init__(kind)
        self.build = build
        self._child: tuple[Any, Any] | None = None  # (process, the loop's end of the pipe)
        self._sent = 0  # refreshes sent and not yet answered (two while a drain overtakes one)
        self._waiting: Any = None
        self._sent_at = self._ready_at = 0.0  # when the running refresh was sent; when the next may start
        # at exit, the child must see the pipe close before multiprocessing waits for it
        atexit.register(self._let_go)
        self._start()

    def submit(self, payload: Any, last: bool = False) -> None:
        self.poll()
        if self._waiting is not None:  # never started: the newer refresh replaces it
            self.skipped += 1
        self._waiting = payload
        if last:  # sent at once, drawn on every core: the run waits for it
            self._send(last=True)
        self.poll()

    def poll(self, rested: bool = False) -> None:
        if self._sent and self._child is not None and self._child[1].poll():
            self._answer()
        if not self._sent and self._waiting is not None and (rested or time.monotonic() >= self._ready_at):
            self._send()

    def drain(self) -> None:
        if self._sent and self._waiting is not None:
            self._send(last=True)  # at once: the child leaves the refresh it is drawing for this newer one
        while self._sent or self._waiting is not None:
            if self._sent:
                self._answer()  # waits for the child's answer
            self.poll(rested=True)

    def close(self) -> None:
        self.drain()
        if self._child is not None:
            process, pipe = self._child
            with contextlib.suppress(OSError):
                pipe.send(None)  # the child's signal to exit
            process.join()
            pipe.close()
            self._child = None
        atexit.unregister(self._let_go)

    def _let_go(self) -> None:
        if self._child is not None:
            self._child[1].close()

    def _start(self) -> None:
        import multiprocessing

        context = multiprocessing.get_context("fork")
        ours, theirs = context.Pipe()
        process = context.Process(target=_serve, args=(self.build, theirs), name=f"gankit-{self.kind}", daemon=True)
        process.start()
        theirs.close()
        self._child, self._sent = (process, ours), 0

    def _send(self, last: bool = False) -> None:
        """Send the waiting refresh to the child (a fresh one if the previous child died); the
        last one overtakes a refresh being drawn and is drawn on every core the run may use."""
        payload, self._waiting = (self._waiting, last), None
        if self._child is None or not self._child[0].is_alive():
            self._start()  # the previous child died: a fresh one draws from now on
        assert self._child is not None
        try:
            self._child[1].send(payload)
            self._sent, self._sent_at = self._sent + 1, time.monotonic()
        except (OSError, ValueError) as exc:
            self.failure(self.kind, f"could not reach the drawing process ({type(exc).__name__}: {exc})")
            self._child, self._sent = None, 0

    def _answer(self) -> None:
        """Wait for the child's answer to the oldest refresh sent: its failures, and how many of
        its pictures it drew before a newer refresh overtook it (none: counted as skipped)."""
        assert self._child is not None
        try:
            answer = json.loads(self._child[1].recv_bytes().decode())
            self._sent -= 1
        except (EOFError, OSError, ValueError) as exc:
            answer = {"failures": {self.kind: f"the drawing process ended ({type(exc).__name__})"}, "drawn": 1}
            self._child, self._sent = None, 0
        now = time.monotonic()
        self._ready_at = now + REST_PER_DRAWING_SECOND * (now - self._sent_at)
        for name, message in answer["failures"].items():
            self.failure(name, message)
        if answer["drawn"]:
            self.drawn += 1
        else:
            self.skipped += 1


def _serve(build: Build, pipe: Any) -> None:
    """The drawing child: deaf to Ctrl-C and termination (the loop waits for it, and it must
    finish the picture a stop asked for), gentle with the CPU the loop trains on, and gone as
    soon as the loop closes its end of the pipe."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # let go of every file the loop had open (the run folder's lock above all: a run killed with
    # SIGKILL must be resumable at once, not when its drawing child has finished)
    keep = pipe.fileno()
    os.closerange(3, keep)
    os.closerange(keep + 1, os.sysconf("SC_OPEN_MAX") if hasattr(os, "sysconf") else 4096)
    with contextlib.suppress(OSError):
        os.nice(10)
    import torch

    torch.set_num_threads(1)  # the parent's thread pool does not survive a fork
    for module in ("matplotlib.backends.backend_agg", "matplotlib.figure", "scipy.stats"):  # while training starts
        with contextlib.suppress(ImportError):
            importlib.import_module(module)
    took: dict[str, float] = {}  # seconds each picture took last time
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
                took[task[0]], drawn = time.perf_counter() - started, drawn + 1
        pipe.send_bytes(json.dumps({"failures": failures, "drawn": drawn}).encode())


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _draw_on_every_core(tasks: list[Task], took: dict[str, float]) -> dict[str, str]:
    """Draw `tasks` split over forks of this drawing process, one per usable core (the run's
    last refresh: the loop has stopped and waits for it). The longest pictures (as last drawn)
    are shared out first, each to the least loaded fork. Returns the failures."""
    shares = min(usable_cores(), len(tasks))
    loads, groups = [0.0] * shares, [[] for _ in range(shares)]
    for task in sorted(tasks, key=lambda t: -took.get(t[0], 1.0)):
        least = loads.index(min(loads))
        loads[least] += took.get(task[0], 1.0)
        groups[least].append(task)
    helpers = []
    for group in groups[1:]:
        read, write = os.pipe()
        pid = os.fork()
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
    failures = draw_all(groups[0])
    for pid, read, group in helpers:
        with os.fdopen(read, "rb") as answer:
            data = answer.read()
        os.waitpid(pid, 0)
        try:
            failures.update(json.loads(data))
        except ValueError:
            failures.update({name: "its drawing process ended" for name, _ in group})
    return failures


class FrameWriter(Drawing):
    """Every sample grid frame written on a background thread, in order; the loop waits only
    if MAX_WAITING_FRAMES are already waiting."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self._pool: ThreadPoolExecutor | None = None
        self._room = threading.BoundedSemaphore(MAX_WAITING_FRAMES)
        self._futures: list[Future] = []

    def submit(self, tasks: Sequence[Task]) -> None:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix=f"gankit-{self.kind}")
        self._room.acquire()
        self._futures = [f for f in self._futures if not f.done()]
        self._futures.append(self._pool.submit(self._write, list(tasks)))

    def _write(self, tasks: list[Task]) -> None:
        try:
            for name, message in draw_all(tasks).items():
                self.failure(name, message)
            self.drawn += 1
        finally:
            self._room.release()

    def drain(self) -> None:
        for future in self._futures:
            future.result()
        self._futures = []

    def close(self) -> None:
        self.drain()
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None


def refresh_renderer(kind: str, build: Build) -> Drawing:
    """The renderer of newest-only refreshes this platform draws best with."""
    return ProcessRenderer(kind, build) if sys.platform == "linux" else ThreadRenderer(kind, build)


def report(renderers: Sequence[Drawing]) -> None:
    """Log, at the end of a run, the refreshes skipped because a renderer was busy and the
    drawings that failed."""
    skipped = {r.kind: r.skipped for r in renderers if r.skipped}
    if skipped:
        kinds = ", ".join(f"{n} of {kind}" for kind, n in skipped.items())
        log.info("pictures: %d refreshes skipped while the renderer was busy (%s)", sum(skipped.values()), kinds)
    failed = Counter[str]()
    for r in renderers:
        failed.update(r.failed)
    if failed:
        log.warning("pictures: drawings failed (%s)", ", ".join(f"{name} {n}×" for name, n in sorted(failed.items())))
