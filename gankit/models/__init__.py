"""Models by name: each module builds its networks and the GAN recipe that trains them."""

from __future__ import annotations

from typing import Any

from ..recipe import GAN
from ..registry import Registry

MODELS: Registry = Registry("model")

from . import mlp  # noqa: E402,F401  (registers)


def build_model(config: dict[str, Any], sample_shape: tuple[int, ...]) -> GAN:
    """The GAN named by `config['model']['name']`, shaped for samples of `sample_shape`."""
    return MODELS.get(config["model"]["name"], "model.name").item(config, sample_shape)


__all__ = ["MODELS", "build_model"]
