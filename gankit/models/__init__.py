"""Models by name: each module builds its networks and the GAN recipe that trains them."""

from __future__ import annotations

from typing import Any

from ..data import TargetInfo
from ..recipe import GAN
from ..registries import MODELS
from . import cyclegan, dcgan, mlp, own, pix2pix, resnet, stargan  # noqa: F401  (register the models)


def build_model(config: dict[str, Any], target: TargetInfo) -> GAN:
    """The GAN named by `config['model']['name']`, shaped for `target`, with spectral norm on the
    players `model.spectral_norm` names and moving averages of its generators if asked."""
    gan = MODELS.get(config["model"]["name"], "model.name").item(config, target)
    gan.apply_spectral_norm(config["model"]["spectral_norm"])
    gan.configure(config["train"])
    return gan


__all__ = ["MODELS", "build_model"]
