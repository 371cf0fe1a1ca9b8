"""What a user asks of a finished run, checked before any work: counts, seeds and output files.

Each failure is one RunError line naming the value and what is allowed.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

from .errors import GankitError, RunError

# the truncations `gankit eval --truncation-sweep` measures unless told: 1 down to 1/4 in eighths
TRUNCATION_SWEEP = (1.0, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25)


def check_count(name: str, value: int) -> int:
    """A count the user gave (samples, steps, paths): an integer >= 1, else a RunError."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise RunError(f"{name} must be an integer >= 1, got {value!r}")
    return value


def check_seed(seed: int) -> int:
    """A seed the user gave: an integer in [0, 2**64), what torch's generators take."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**64:
        raise RunError(f"seed must be an integer from 0 to 2**64 - 1, got {seed!r}")
    return seed


def check_truncation(
    value: float | None, name: str = "truncation", error: type[GankitError] = RunError
) -> float | None:
    """A truncation threshold: None (none) or a finite number > 0, else one `error` line."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
        raise error(f"{name} must be a number in (0, ∞), e.g. 0.5 (leave it out for no truncation), got {value!r}")
    return float(value)


def check_output_file(out: str | Path, option: str, suffixes: Sequence[str] = ()) -> Path:
    """`out` if a file can be written there: no folder itself, ending in one of `suffixes` (any
    when empty), in a folder that exists and is writable; else a RunError line that starts with
    `option` (e.g. "--out")."""
    out = Path(out)
    if out.is_dir():
        ending = f" ending in {' or '.join(suffixes)}" if suffixes else ""
        raise RunError(f"{option} {out} is a folder; give a file name{ending}")
    if suffixes and out.suffix.lower() not in suffixes:
        raise RunError(f"{option} {out}: unknown format {out.suffix!r} (allowed: {', '.join(suffixes)})")
    if not out.parent.is_dir():
        what = "is a file, not a folder" if out.parent.exists() else "does not exist"
        raise RunError(f"{option} {out}: folder {out.parent} {what}")
    if not os.access(out.parent, os.W_OK):
        raise RunError(f"{option} {out}: folder {out.parent} is not writable by this user")
    return out
