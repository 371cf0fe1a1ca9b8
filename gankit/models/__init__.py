"""Models by name: each module builds its networks and the GAN recipe that trains them."""

from __future__ import annotations

from typing import Any

from ..data import TargetInfo
from ..layers import apply_spectral_norm
from ..recipe import GAN
from ..registry import Registry

MODELS: Registry = Registry("model")

from . import dcgan, mlp, resnet  # noqa: E402,F401  (registers)


def build_model(config: dict[str, Any], target: TargetInfo) -> GAN:
    """The GAN named by `config['model']['name']`, shaped for `target`, with G's EMA if asked."""
    gan = MODELS.get(config["model"]["name"], "model.name").item(config, target)
    normalised = {"D": ("D",), "G": ("G",), "both": ("D", "G"), "none": ()}[config["model"]["spectral_norm"]]
    for player in gan.players():
        if player.name in normalised:
            for name in player.networks:
                apply_spectral_norm(gan.nets[name])
    gan.configure(config["train"])
    return gan


__all__ = ["MODELS", "build_model"]
