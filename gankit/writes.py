"""Files a run writes while training goes on: checkpoints are written by one thread, in order,
so the loop pays only for copying the state off the device (`checkpoint.encode`), not for
serialising it, writing it and waiting for the disk (fsync of the file and its folder)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

log = logging.getLogger("gankit")


MAX_PENDING = 2  # writes queued or running before `submit` waits: each holds a copy of the state


class BackgroundWrites:
    """Writes run in the order given. The first that fails stops those queued after it (a full
    disk keeps the last complete checkpoint, and nothing newer is pruned in its favour); its
    error is raised in the loop at every later `submit` and `wait`. A loop that checkpoints
    faster than the disk writes waits, rather than holding ever more copies of the state."""

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._futures: list[Future] = []
        self._failure: BaseException | None = None
        self._raised = False

    def submit(self, write: Callable[[], object]) -> None:
        """Queue `write` (it must hold its own copy of what it writes); an earlier failure is raised here."""
        self._raise_failure()
        if self._pool is None:  # started on first use: runs without checkpoints cost no thread
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="gankit-writes")
        self._futures = [f for f in self._futures if not f.done()]
        while len(self._futures) >= MAX_PENDING:
            self._futures.pop(0).result()
        self._futures.append(self._pool.submit(self._run, write))

    def wait(self) -> None:
        """Return when everything queued is written; raise a failure among them."""
        for future in self._futures:
            future.result()
        self._futures = []
        self._raise_failure()

    def close(self) -> None:
        """Finish the writes queued (on every way out of a run: nothing is lost), then stop the
        thread. A failure not raised yet is logged: the run is already ending on its own error."""
        told = self._raised  # the run already ends on a failure it was told of: not said twice
        try:
            self.wait()
        except Exception as exc:
            if not told:
                log.warning("a checkpoint was not written: %s: %s", type(exc).__name__, exc)
        finally:
            if self._pool is not None:
                self._pool.shutdown()
                self._pool = None

    def _run(self, write: Callable[[], object]) -> None:
        if self._failure is not None:
            return
        try:
            write()
        except BaseException as exc:
            self._failure = exc

    def _raise_failure(self) -> None:
        if self._failure is not None:  # every time: nothing after it was written
            self._raised = True
            raise self._failure
