"""The name tables a config chooses from: data targets, models and adversarial objectives.

Defined here, empty, so that the modules that fill them and the config validation that reads
them import this module and not each other. They are filled by torch-free declarations
(`target_settings`, `model_settings`, `objective_names`) that say where each builder lives,
so naming and checking a choice imports no network code; building it imports its module.
"""

from __future__ import annotations

from .registry import Registry

TARGETS: Registry = Registry("target")
MODELS: Registry = Registry("model")
OBJECTIVES: Registry = Registry("objective")
