"""Mixed precision for every player's updates: autocast, and a gradient scaler per player for fp16.

bf16 keeps fp32's exponent range, so autocast alone suffices. fp16 needs its losses scaled so
small gradients do not flush to zero; G and D see very different gradient magnitudes, so each
player has its own scaler, and the scalers are saved in checkpoints. (A scaler decides on the
host whether to skip a step, one host sync per update; fused optimisers avoid that on CUDA.)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


class Precision:
    """The arithmetic of training: `autocast()` around losses, `backward`/`step` per player."""

    def __init__(self, name: str, device: torch.device, players: Iterable[str]) -> None:
        self.name, self.device = name, device
        self.dtype = DTYPES[name]
        self.scalers = {p: torch.amp.GradScaler(device.type) for p in players} if name == "fp16" else {}
        self.cache_casts = True  # autocast's weight-cast cache must be off while capturing a CUDA graph

    @property
    def graph_safe(self) -> bool:
        """Whether updates need no host decisions (a gradient scaler makes one per step)."""
        return not self.scalers

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.name == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype, cache_enabled=self.cache_casts)

    def backward(self, loss: Tensor, player: str) -> None:
        scaler = self.scalers.get(player)
        (scaler.scale(loss) if scaler is not None else loss).backward()

    def unscale(self, optimizer: torch.optim.Optimizer, player: str) -> None:
        """Bring the gradients back to their true size (before measuring or clipping them)."""
        if player in self.scalers:
            self.scalers[player].unscale_(optimizer)

    def step(self, optimizer: torch.optim.Optimizer, player: str) -> None:
        scaler = self.scalers.get(player)
        if scaler is None:
            optimizer.step()
        else:
            scaler.step(optimizer)
            scaler.update()

    def state_dict(self) -> dict[str, Any]:
        return {"name": self.name, "scalers": {p: s.state_dict() for p, s in self.scalers.items()}}

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        """Restore the scalers saved with the same precision; a run resumed in another precision
        (or from a checkpoint without one) starts its scalers afresh."""
        if not state or state.get("name") != self.name:
            return
        for player, scaler in self.scalers.items():
            if player in state["scalers"]:
                scaler.load_state_dict(state["scalers"][player])
