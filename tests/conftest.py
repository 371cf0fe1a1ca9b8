"""Shared test helpers: small configs, running the CLI in a subprocess, comparing weights."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]

# A ring GAN small enough that a few dozen iterations take well under a second.
TINY = [
    "model.g_hidden=[32, 32]",
    "model.d_hidden=[32, 32]",
    "data.batch_size=32",
    "eval.n_samples=200",
    "train.log_every=10",
    "train.eval_every=20",
]


def gankit(*args: str, cwd: Path, timeout: float = 300, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `python -m gankit ARGS` and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "gankit", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def python(code: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def assert_same_tensors(a: dict, b: dict) -> None:
    """Every tensor in two (nested) state dicts is bit-identical."""
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], dict):
            assert_same_tensors(a[key], b[key])
        elif isinstance(a[key], torch.Tensor):
            assert torch.equal(a[key], b[key]), f"{key} differs"
        else:
            assert a[key] == b[key], f"{key}: {a[key]} != {b[key]}"


@pytest.fixture(autouse=True)
def _quiet_threads():
    """Tests in this process share 2 cores with subprocesses they start."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)
