"""Atomic file writes: a temporary file beside the target, fsync, rename, fsync the folder.

A process killed at any instant leaves either the old file or the new one, never a mix. Files
get the mode open() would give them, and JSON is written in its standard form (see standard_json).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

TMP_PREFIX = ".tmp-"
# JSON has no token for infinities or NaN: gankit's files write them as these strings (float() reads them back)
NONFINITE = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}


def create_temporary(path: Path) -> tuple[int, Path]:
    """A new, empty temporary file beside `path`, open for writing: (descriptor, its path). Its
    mode is what open() would give a new file (0666 less the umask), kept when it is renamed
    into place; tempfile.mkstemp would make every file gankit writes private (0600)."""
    while True:
        tmp = path.parent / f"{TMP_PREFIX}{path.name}.{secrets.token_hex(4)}"
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), tmp
        except FileExistsError:
            continue


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` so that a reader sees the old file or the new one, never a mix. A
    failure (a full disk, say) leaves the old file and is reported as an OSError naming `path`."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = create_temporary(path)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(path)) from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise OSError(exc.errno, exc.strerror, str(path)) from None
        raise
    fsync_dir(path.parent)


def atomic_write_json(path: str | Path, obj: Any) -> None:
    """`obj` as standard JSON (non-finite floats as strings, see `standard_json`), written atomically."""
    atomic_write_bytes(path, (standard_json(obj, indent=2) + "\n").encode())


def standard_json(obj: Any, **options: Any) -> str:
    """`obj` as JSON that every parser reads: the non-finite floats Python would write as the
    non-standard Infinity, -Infinity and NaN become the strings "inf", "-inf" and "nan"."""
    return json.dumps(_finite(obj), allow_nan=False, **options)


def _finite(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return "nan" if obj != obj else ("inf" if obj > 0 else "-inf")
    if isinstance(obj, dict):
        return {key: _finite(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(value) for value in obj]
    return obj


def revive_nonfinite(obj: Any) -> Any:
    """What `standard_json` wrote, read back: the strings "inf", "-inf" and "nan" become floats
    again (in nested tables and lists too), so measures stay non-finite where that matters."""
    if isinstance(obj, str):
        return NONFINITE.get(obj, obj)
    if isinstance(obj, dict):
        return {key: revive_nonfinite(value) for key, value in obj.items()}
    if isinstance(obj, list):
        return [revive_nonfinite(value) for value in obj]
    return obj


def fsync_dir(path: Path) -> None:
    """Make a rename inside `path` durable (a no-op where folders can't be opened, e.g. Windows)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_stale_temporaries(folder: Path) -> None:
    """Delete temporaries left by a write that was killed half way."""
    for tmp in folder.glob(f"{TMP_PREFIX}*"):
        tmp.unlink(missing_ok=True)


class Locked(Exception):
    """Another process holds the lock (non-blocking `file_lock`)."""


@contextlib.contextmanager
def file_lock(path: Path, wait: bool = True) -> Iterator[None]:
    """An exclusive advisory lock on `path` for the duration of the block; released if the
    process dies. With `wait` false, raise Locked at once instead of waiting."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise Locked(str(path)) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
