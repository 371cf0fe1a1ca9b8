"""Data: named targets (what a GAN learns) and the batch sources that feed the engine."""

from __future__ import annotations

from ..target_settings import TARGETS  # declares the targets; each builder's module is imported when it builds
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
