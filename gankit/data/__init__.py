"""Data: named targets (what a GAN learns) and the batch sources that feed the engine."""

from __future__ import annotations

from ..registries import TARGETS
from . import attributes, domains, images, memory, paired, published, toy  # noqa: F401  (register the targets)
from .base import DataSource, FixedSource, GroupedSource, StreamSource, Target, TargetInfo, build_source


def build_target(settings: dict) -> Target:
    """The target named by a validated `data` config section."""
    return TARGETS.get(settings["target"], "data.target").item(settings)


__all__ = [
    "TARGETS",
    "DataSource",
    "FixedSource",
    "GroupedSource",
    "StreamSource",
    "Target",
    "TargetInfo",
    "build_source",
    "build_target",
]
