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

import json
import logging
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from .children import HoldsChild, fork_child
from .drawing_process import Build, Task, draw_all, serve

log = logging.getLogger("gankit")

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


class ProcessRenderer(Drawing, HoldsChild):
    """The newest refresh drawn by a child process forked when the renderer starts: it inherits
    `build` and what it refers to (the target, the paths), imports the drawing libraries while
    training starts, then draws each refresh's data (plain lists, dicts and arrays, sent
    through a pipe) and answers with its failures as JSON. One refresh is drawn at a time;
    only the loop's thread sends, receives and forks."""

    def __init__(self, kind: str, build: Build) -> None:
        super().__init__(kind)
        self.build = build
        self._child: tuple[Any, Any] | None = None  # (process, the loop's end of the pipe)
        # refreshes sent and not yet answered, oldest first, as (data, last): two while the
        # run's last refresh overtakes one being drawn
        self._in_flight: list[tuple[Any, bool]] = []
        self._waiting: tuple[Any, bool] | None = None  # the newest refresh not yet sent
        self._retried = False  # the last refresh is sent again, once, if its child died
        self._sent_at = self._ready_at = 0.0  # when the running refresh was sent; when the next may start
        # at exit, the child must see the pipe close before multiprocessing waits for it
        self._hold_child()
        self._start()

    def submit(self, payload: Any, last: bool = False) -> None:
        self.poll()
        if self._waiting is not None:  # never started: the newer refresh replaces it
            self.skipped += 1
        self._waiting = (payload, last)
        if last:  # sent at once, drawn on every core: the run waits for it
            self._send()
        self.poll()

    def poll(self, rested: bool = False) -> None:
        if self._in_flight and self._child is not None and self._child[1].poll():
            self._answer()
        if not self._in_flight and self._waiting is not None and (rested or time.monotonic() >= self._ready_at):
            self._send()

    def drain(self) -> None:
        self.poll()  # an answer (or the child's end) that came meanwhile
        if self._waiting is not None:  # at once, as the last: a refresh being drawn is left for it
            self._waiting = (self._waiting[0], True)
            self._send()
        while self._in_flight or self._waiting is not None:
            if self._in_flight:
                self._answer()  # waits for the child's answer
            self.poll(rested=True)

    def close(self) -> None:
        self.drain()
        self._release_child()

    def _start(self) -> None:
        self._child = fork_child(serve, (self.build,), f"gankit-{self.kind}")

    def _send(self) -> None:
        """Send the waiting refresh to the child (a fresh one if the previous child died); the
        last one overtakes a refresh being drawn and is drawn on every core the run may use."""
        if self._child is not None and not self._child[0].is_alive():
            self._lost("the drawing process ended")
        if self._child is None:
            self._start()  # the previous child died: a fresh one draws from now on
        assert self._child is not None and self._waiting is not None
        message, self._waiting = self._waiting, None
        try:
            self._child[1].send(message)
            self._in_flight.append(message)
            self._sent_at = time.monotonic()
        except (OSError, ValueError) as exc:
            reason = f"could not reach the drawing process ({type(exc).__name__}: {exc})"
            self._lost(reason, retry=False)  # what it had in hand is older than this refresh
            self.failure(self.kind, reason)
            self.drawn += 1  # this refresh failed

    def _answer(self) -> None:
        """Wait for the child's answer to the oldest refresh sent: its failures, and how many of
        its pictures it drew before a newer refresh overtook it (none: counted as skipped)."""
        assert self._child is not None
        try:
            answer = json.loads(self._child[1].recv_bytes().decode())
        except (EOFError, OSError, ValueError) as exc:
            self._lost(f"the drawing process ended ({type(exc).__name__})")
            return
        self._in_flight.pop(0)
        now = time.monotonic()
        self._ready_at = now + REST_PER_DRAWING_SECOND * (now - self._sent_at)
        for name, message in answer["failures"].items():
            self.failure(name, message)
        if answer["drawn"]:
            self.drawn += 1
        else:
            self.skipped += 1

    def _lost(self, reason: str, retry: bool = True) -> None:
        """The child is gone with the refreshes in flight. The run's last refresh is drawn again,
        once, by a fresh child (if nothing newer waits); otherwise the one it was drawing failed
        and a newer one is skipped."""
        if self._child is not None:
            process, pipe = self._child
            pipe.close()
            process.join(timeout=1)
            self._child = None
        lost, self._in_flight = self._in_flight, []
        if lost:
            self.failure(self.kind, reason)
        for i, message in enumerate(lost):
            if retry and message[1] and self._waiting is None and not self._retried:
                self._waiting, self._retried = message, True
            elif i == 0:
                self.drawn += 1
            else:
                self.skipped += 1


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
