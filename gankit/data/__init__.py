"""Data: named targets (what a GAN learns) and the batch sources that feed the engine."""

from __future__ import annotations

from ..registry import Registry
from .base import DataSource, FixedSource, StreamSource, Target, TargetInfo, build_source

TARGETS: Registry = Registry("target")

from . import images  # noqa: E402,F401,I001  (registers the image targets)
from . import toy  # noqa: E402,F401  (registers the toy targets)


def build_target(settings: dict) -> Target:
    """The target named by a validated `data` config section."""
    return TARGETS.get(settings["target"], "data.target").item(settings)


__all__ = [
    "TARGETS",
    "DataSource",
    "FixedSource",
    "StreamSource",
    "Target",
    "TargetInfo",
    "build_source",
    "build_target",
]
