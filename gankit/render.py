"""Pictures drawn off the training loop's critical path.

The loop hands a refresh (named drawing tasks over CPU copies of its data) to a background
thread and goes on training. A refresh that arrives while the previous one still waits to start
replaces it (the older one is counted as skipped), so a slow renderer never queues work without
bound; `drain` waits for whatever is running or waiting, so the last refresh is always drawn. A
task that fails is logged once per picture and never stops training.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Sequence

log = logging.getLogger("gankit")

Task = tuple[str, Callable[[], None]]  # (the picture's name, what draws and writes it)


class Renderer:
    """One background thread drawing the newest refresh of one kind of picture ("pictures",
    "grid"): kinds get a thread each, so cheap grid frames never wait behind slow curves."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._changed = threading.Condition()
        self._waiting: list[Task] | None = None  # the newest refresh not yet started
        self._busy = False
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.skipped = 0  # refreshes replaced before they started
        self.drawn = 0  # refreshes finished
        self.failed: Counter[str] = Counter()  # failed drawings, by picture

    def submit(self, tasks: Sequence[Task]) -> None:
        """Hand over a refresh, replacing (and counting as skipped) one still waiting."""
        with self._changed:
            if self._stopping:
                raise RuntimeError(f"the {self.kind} renderer is closed")
            if self._waiting is not None:
                self.skipped += 1
            self._waiting = list(tasks)
            if self._thread is None:  # started on first use: runs without pictures cost no thread
                self._thread = threading.Thread(target=self._work, name=f"gankit-{self.kind}", daemon=True)
                self._thread.start()
            self._changed.notify_all()

    def drain(self) -> None:
        """Wait until every refresh handed over so far has been drawn (or has failed)."""
        with self._changed:
            while self._waiting is not None or self._busy:
                self._changed.wait(timeout=0.5)  # a timeout keeps the wait responsive to a second Ctrl-C

    def close(self) -> None:
        """Draw what is left, then stop the thread."""
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
                tasks, self._waiting = self._waiting, None
                self._busy = True
            try:
                for name, draw in tasks:
                    self._draw(name, draw)
                self.drawn += 1
            finally:
                with self._changed:
                    self._busy = False
                    self._changed.notify_all()

    def _draw(self, name: str, draw: Callable[[], None]) -> None:
        try:
            draw()
        except Exception as exc:  # a picture must never stop training
            if not self.failed[name]:
                log.warning("picture %s was not drawn: %s: %s (training goes on)", name, type(exc).__name__, exc)
            self.failed[name] += 1


def report(renderers: Sequence[Renderer]) -> None:
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
