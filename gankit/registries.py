"""The name tables a config chooses from: data targets and models (objectives live in `losses`).

Defined here, empty, so that the modules that fill them (`data/*`, `models/*`) and the config
validation that reads them import this module and not each other.
"""

from __future__ import annotations

from .registry import Registry

TARGETS: Registry = Registry("target")
MODELS: Registry = Registry("model")
