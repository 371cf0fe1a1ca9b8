"""Models by name: each module builds its networks and the GAN recipe that trains them."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..arguments import check_truncation
from ..data import TargetInfo
from ..diffaugment import augmentation
from ..diversity import packed_shape
from ..errors import ConfigError
from ..model_settings import MODELS  # declares the models; each builder's module is imported when it builds
from ..recipe import GAN


def build_model(config: dict[str, Any], target: TargetInfo) -> GAN:
    """The GAN named by `config['model']['name']`, shaped for `target`, with D judging packs of
    `model.pack` samples, spectral norm on the players `model.spectral_norm` names and moving
    averages of its generators if asked."""
    build = MODELS.get(config["model"]["name"], "model.name").item
    gan = build(config, target)
    m = config["model"]["pack"]
    if m > 1:  # the same model built for packs of m samples lends its D, wrapped to pack them
        gan.pack_discriminator(build(config, replace(target, shape=packed_shape(target.shape, m))).nets["D"], m)
    return finish_model(gan, config, target)


def finish_model(gan: GAN, config: dict[str, Any], target: TargetInfo) -> GAN:
    """Apply the run-level options every model takes (a built one, or one a user hands the
    engine): spectral norm, moving averages, DiffAugment and the sampling truncation."""
    gan.apply_spectral_norm(config["model"]["spectral_norm"])
    gan.configure(config["train"])
    gan.set_augment(augmentation(config["train"]["augment"], target.shape))
    gan.set_truncation(check_truncation(config["eval"]["truncation"] or None, "eval.truncation", ConfigError))
    return gan


__all__ = ["MODELS", "build_model", "finish_model"]
