"""How a config field is declared: a dataclass field with a help line and its limits.

Kept apart from `config.py` so that the modules that declare settings (targets, models) need
not import the config machinery that validates them (which imports their registries).
"""

from __future__ import annotations

from dataclasses import field
from typing import Any

# measures a run can keep its best checkpoint by, and which way each improves
LOWER_IS_BETTER = frozenset({"fid", "kid", "class_kl", "sliced_w1", "energy", "w1", "mean_error", "std_error",
                             "cov_error", "mode_kl", "l1", "rec_l1"})  # fmt: skip
HIGHER_IS_BETTER = frozenset({"is", "precision", "recall", "density", "coverage", "confidence", "classes_covered",
                              "label_agreement", "modes", "high_quality", "psnr", "ssim", "share",
                              "digits_kept"})  # fmt: skip
BEST_MEASURES = LOWER_IS_BETTER | HIGHER_IS_BETTER


def setting(default: Any, help: str, **limits: Any) -> Any:
    """A dataclass field with a help line and optional limits: min, max, choices, choices_from."""
    return field(default=default, metadata={"help": help, **limits})


def list_setting(default: list, help: str, **limits: Any) -> Any:
    """A list-valued `setting` (each config gets its own copy of the default); `comma=True` lets a
    list of strings also be written as one comma-separated string ("cat,dog")."""
    return field(default_factory=lambda: list(default), metadata={"help": help, **limits})
