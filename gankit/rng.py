"""Random number streams: one seed in the config, independent derived streams, saved state."""

from __future__ import annotations

import random
import secrets
from typing import Any

import numpy as np
import torch


def derive_seed(seed: int, stream: str) -> int:
    """A 63-bit seed for a named stream (weights, data, noise, eval), independent of the others."""
    words = [seed] + [ord(c) for c in stream]
    return int(np.random.SeedSequence(words).generate_state(2, np.uint64)[0] >> np.uint64(1))


def draw_seed() -> int:
    """A fresh seed for a command not given one: 32 bits, short enough to type back in to repeat it."""
    return secrets.randbelow(2**32)


def make_generator(device: torch.device | str, seed: int, stream: str) -> torch.Generator:
    """A torch.Generator on `device` seeded for `stream`."""
    gen = torch.Generator(device=device)
    gen.manual_seed(derive_seed(seed, stream))
    return gen


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch's global generators (weight initialisation uses torch's)."""
    random.seed(derive_seed(seed, "python"))
    np.random.seed(derive_seed(seed, "numpy") % 2**32)
    torch.manual_seed(derive_seed(seed, "weights"))


def capture_global_rng() -> dict[str, Any]:
    """State of the Python, NumPy, torch CPU and CUDA global generators (tensors and JSON-able)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": _jsonable(random.getstate()),
        "numpy": [kind, keys.tolist(), int(pos), int(has_gauss), float(cached)],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_global_rng(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def _jsonable(value: Any) -> Any:
    return [_jsonable(v) for v in value] if isinstance(value, (tuple, list)) else value
