"""Pieces every model module shares: weight initialisation, class conditioning, output range."""

from __future__ import annotations

from typing import Any

from torch import nn

from ..data import TargetInfo
from ..errors import ConfigError


def init_dcgan(module: nn.Module, std: float = 0.02) -> None:
    """The DCGAN paper's initialisation: N(0, std) weights, batch-norm scales N(1, std), zero biases."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d, nn.Embedding)):
            nn.init.normal_(m.weight, 0.0, std)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) and m.affine:
            nn.init.normal_(m.weight, 1.0, std)
        else:
            continue
        if getattr(m, "bias", None) is not None:
            nn.init.zeros_(m.bias)


def init_xavier(module: nn.Module) -> None:
    """Glorot-uniform weights and zero biases (TensorFlow's dense-layer default, as seed 003 uses)."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


INITIALISERS = {"default": lambda module: None, "normal-0.02": init_dcgan, "xavier": init_xavier}


def class_count(settings: dict[str, Any], target: TargetInfo) -> int:
    """Number of classes a conditional model sees (0 when `model.conditional` is off)."""
    if not settings["conditional"]:
        return 0
    if target.num_classes < 2:
        raise ConfigError(
            f"model.conditional needs labelled data with at least 2 classes; data.target has {target.num_classes}"
        )
    return target.num_classes


def output_layer(target: TargetInfo) -> nn.Module:
    """G's last activation for the target's value range: tanh for [-1, 1], sigmoid for [0, 1]."""
    return {"minus-one-one": nn.Tanh, "zero-one": nn.Sigmoid}.get(target.value_range, nn.Identity)()
