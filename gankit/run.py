"""The run folder: resolved config, metrics log, checkpoints and pictures of one training run.

runs/<name>/
  config.json       the resolved, validated config
  metrics.jsonl     one JSON record per log or evaluation step
  checkpoints/      ckpt-<step>.safetensors, the newest few
  plots/            losses.png, accuracy.png, distribution.png, eval.png
  summary.json      final measures, written when training ends

Every JSON file here is standard JSON: a non-finite measure (an infinite KL, say) is written as
the string "inf", "-inf" or "nan", and read back by gankit as the float.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from .atomic import Locked, atomic_write_bytes, atomic_write_json, file_lock, revive_nonfinite, standard_json
from .config import validate
from .errors import RunError

CONFIG, METRICS, SUMMARY, EVAL = "config.json", "metrics.jsonl", "summary.json", "eval.json"


class RunDir:
    """A run folder, locked while a training process writes to it."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock: contextlib.ExitStack | None = None

    checkpoints = property(lambda self: self.path / "checkpoints")
    plots = property(lambda self: self.path / "plots")

    @classmethod
    def create(cls, runs_dir: str | Path, name: str, unique: bool) -> RunDir:
        """A new, empty run folder `runs_dir/name`; with `unique`, `name-2`, `name-3`… if taken."""
        runs_dir = Path(runs_dir)
        if runs_dir.exists() and not runs_dir.is_dir():
            raise RunError(f"runs directory {runs_dir} is a file, not a folder")
        if not name or name in (".", "..") or "/" in name or "\\" in name or Path(name).is_absolute():
            raise RunError(f"run name {name!r} must be one folder name (no /, \\, . or ..): runs go in "
                           f"{runs_dir}/<name>; choose another runs directory with --runs-dir")  # fmt: skip
        try:
            runs_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunError(f"cannot create runs directory {runs_dir}: {exc.strerror}") from None
        candidate, n = runs_dir / name, 1
        while True:  # mkdir is the test: of processes racing for one name, exactly one gets it
            try:
                candidate.mkdir()
                return cls(candidate)
            except FileExistsError:
                if not unique:
                    raise RunError(
                        f"run folder {candidate} already exists; continue it with --resume {candidate} "
                        "or choose another --name"
                    ) from None
            except OSError as exc:
                raise RunError(f"cannot create run folder {candidate}: {exc.strerror}") from None
            n += 1
            candidate = runs_dir / f"{name}-{n}"

    @classmethod
    def existing(cls, path: str | Path) -> RunDir:
        run = cls(path)
        if not (run.path / CONFIG).is_file():
            raise RunError(f"{run.path} is not a gankit run folder (no {CONFIG})")
        return run

    def lock(self) -> None:
        """Take an exclusive lock so that two processes never train into one folder."""
        held = contextlib.ExitStack()
        try:
            held.enter_context(file_lock(self.path / ".lock", wait=False))
        except Locked:
            raise RunError(f"run folder {self.path} is in use by another gankit process") from None
        self._lock = held

    def unlock(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def write_config(self, config: dict[str, Any]) -> None:
        atomic_write_json(self.path / CONFIG, config)

    def read_config(self) -> dict[str, Any]:
        path = self.path / CONFIG
        try:
            return validate(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError) as exc:
            raise RunError(f"cannot read {path}: {exc}") from None

    def append_record(self, record: dict[str, Any]) -> None:
        with open(self.path / METRICS, "a") as f:
            f.write(standard_json(record) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def read_records(self) -> list[dict[str, Any]]:
        """Every complete record in metrics.jsonl (a half-written last line is ignored)."""
        path = self.path / METRICS
        if not path.exists():
            return []
        records = []
        for line in path.read_text().splitlines():
            try:
                records.append(revive_nonfinite(json.loads(line)))
            except json.JSONDecodeError:
                continue
        return records

    def keep_records_until(self, step: int) -> list[dict[str, Any]]:
        """Drop records after `step` (they will be recomputed on resume); return those kept."""
        records = [r for r in self.read_records() if r.get("step", 0) <= step]
        atomic_write_bytes(self.path / METRICS, "".join(standard_json(r) + "\n" for r in records).encode())
        return records

    def write_json(self, name: str, obj: Any) -> None:
        atomic_write_json(self.path / name, obj)

    def read_json(self, name: str) -> Any:
        """A JSON file of the run (summary.json, eval.json) with its non-finite values as floats."""
        path = self.path / name
        try:
            return revive_nonfinite(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError) as exc:
            raise RunError(f"cannot read {path}: {exc}") from None
