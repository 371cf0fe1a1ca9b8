"""What gankit shows on the console: its log lines on stderr and the progress bar.

The command line installs the stderr handler for the whole process; the Python API attaches it
for the duration of one call where nothing else would show gankit's lines (a script, a
notebook), so that `gankit.train(...)` is not silent for minutes, and removes it afterwards.
Torch-free, so that the command line can set up its console before it knows what it will import.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import sys
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from .group import group_from_environment

log = logging.getLogger("gankit")
Call = TypeVar("Call", bound=Callable[..., Any])


def stderr_handler() -> logging.Handler:
    """A handler writing `gankit: message` (`gankit[rank N]: …` under torchrun) to the current stderr."""
    group = group_from_environment()
    handler = logging.StreamHandler(sys.stderr)
    prefix = f"gankit[rank {group.rank}]" if group.distributed else "gankit"
    handler.setFormatter(logging.Formatter(f"{prefix}: %(message)s"))
    return handler


def console_level() -> int:
    """INFO on the process that reports (rank 0 under torchrun), WARNING on the others."""
    return logging.INFO if group_from_environment().main else logging.WARNING


def install_for_process() -> None:
    """The command line's console: gankit's lines on stderr for the rest of the process."""
    if not log.handlers:
        log.addHandler(stderr_handler())
        log.setLevel(console_level())
        log.propagate = False


@contextlib.contextmanager
def speaking(quiet: bool) -> Iterator[None]:
    """For one API call: unless `quiet`, gankit's INFO lines reach the console. A stderr handler
    is attached only where no handler would receive them (the caller's own logging setup wins);
    when quiet, a null handler there keeps Python's last-resort handler from printing warnings.
    Handler and level are put back afterwards, so repeated calls leave nothing behind. The root
    logger is never touched."""
    added = None
    if not log.hasHandlers():
        added = logging.NullHandler() if quiet else stderr_handler()
    level = log.level
    if added is not None:
        log.addHandler(added)
    if level == logging.NOTSET and not quiet:  # a level the caller set is theirs to keep
        log.setLevel(console_level())
    try:
        yield
    finally:
        if added is not None:
            log.removeHandler(added)
        log.setLevel(level)


def show_progress(progress: bool | None, quiet: bool) -> bool:
    """Whether to draw the progress bar: as asked, else unless quiet where someone is watching
    (a terminal, or a notebook, where tqdm.auto draws a widget)."""
    if progress is not None:
        return progress
    watched = getattr(sys.stderr, "isatty", lambda: False)() or "ipykernel" in sys.modules
    return not quiet and watched


def reports_to_console(call: Call) -> Call:
    """Decorate an API call that trains: its log lines reach the console unless `quiet=True`
    is passed, and the closing summary is logged when it returns."""

    @functools.wraps(call)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        quiet = bool(kwargs.get("quiet", False))
        with speaking(quiet):
            result = call(*args, **kwargs)
            if not quiet:
                from .runtime import describe  # imports torch, which the call has already done

                log.info(describe(result.summary))
            return result

    return wrapper  # type: ignore[return-value]
