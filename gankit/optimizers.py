"""torch.optim's optimisers as config validation needs them, without importing torch: each one's
keyword arguments with their defaults, and the ranges of values torch accepts for the common ones.

The table is written from the torch release named by `TABLE_TORCH`; with another release
installed, `optimizer_table` reads the signatures from torch.optim instead (slower, same
answer). tests/test_startup.py checks the table against torch.optim, so it cannot drift.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

TABLE_TORCH = "2.13.0"  # the torch release whose signatures OPTIMIZERS holds
# fmt: off
OPTIMIZERS: dict[str, dict[str, Any]] = {
    "ASGD": {"lr": 0.01, "lambd": 0.0001, "alpha": 0.75, "t0": 1000000.0, "weight_decay": 0, "foreach": None, "maximize": False, "differentiable": False, "capturable": False},
    "Adadelta": {"lr": 1.0, "rho": 0.9, "eps": 1e-06, "weight_decay": 0, "foreach": None, "capturable": False, "maximize": False, "differentiable": False},
    "Adafactor": {"lr": 0.01, "beta2_decay": -0.8, "eps": (None, 0.001), "d": 1.0, "weight_decay": 0.0, "foreach": None, "maximize": False},
    "Adagrad": {"lr": 0.01, "lr_decay": 0, "weight_decay": 0, "initial_accumulator_value": 0, "eps": 1e-10, "foreach": None, "maximize": False, "differentiable": False, "fused": None},
    "Adam": {"lr": 0.001, "betas": (0.9, 0.999), "eps": 1e-08, "weight_decay": 0, "amsgrad": False, "foreach": None, "maximize": False, "capturable": False, "differentiable": False, "fused": None, "decoupled_weight_decay": False},
    "AdamW": {"lr": 0.001, "betas": (0.9, 0.999), "eps": 1e-08, "weight_decay": 0.01, "amsgrad": False, "maximize": False, "foreach": None, "capturable": False, "differentiable": False, "fused": None},
    "Adamax": {"lr": 0.002, "betas": (0.9, 0.999), "eps": 1e-08, "weight_decay": 0, "foreach": None, "maximize": False, "differentiable": False, "capturable": False},
    "LBFGS": {"lr": 1, "max_iter": 20, "max_eval": None, "tolerance_grad": 1e-07, "tolerance_change": 1e-09, "history_size": 100, "line_search_fn": None},
    "Muon": {"lr": 0.001, "weight_decay": 0.1, "momentum": 0.95, "nesterov": True, "ns_coefficients": (3.4445, -4.775, 2.0315), "eps": 1e-07, "ns_steps": 5, "adjust_lr_fn": None},
    "NAdam": {"lr": 0.002, "betas": (0.9, 0.999), "eps": 1e-08, "weight_decay": 0, "momentum_decay": 0.004, "decoupled_weight_decay": False, "foreach": None, "maximize": False, "capturable": False, "differentiable": False},
    "RAdam": {"lr": 0.001, "betas": (0.9, 0.999), "eps": 1e-08, "weight_decay": 0, "decoupled_weight_decay": False, "foreach": None, "maximize": False, "capturable": False, "differentiable": False},
    "RMSprop": {"lr": 0.01, "alpha": 0.99, "eps": 1e-08, "weight_decay": 0, "momentum": 0, "centered": False, "capturable": False, "foreach": None, "maximize": False, "differentiable": False},
    "Rprop": {"lr": 0.01, "etas": (0.5, 1.2), "step_sizes": (1e-06, 50), "capturable": False, "foreach": None, "maximize": False, "differentiable": False},
    "SGD": {"lr": 0.001, "momentum": 0, "dampening": 0, "weight_decay": 0, "nesterov": False, "maximize": False, "foreach": None, "differentiable": False, "fused": None},
    "SparseAdam": {"lr": 0.001, "betas": (0.9, 0.999), "eps": 1e-08, "maximize": False},
}
# fmt: on

# Arguments whose values torch checks by a simple range, and that range, for the optimisers
# whose constructors check nothing else of plain values: a setting inside it needs no trial
# construction by torch (tests/test_startup.py checks both edges of every range against torch).
CHECKED_LIGHTLY = ("Adam", "AdamW", "RMSprop", "SGD")
NOT_NEGATIVE = ("lr", "eps", "weight_decay", "momentum", "alpha")
BETA_RANGE = (0.0, 1.0)  # each of betas: low <= beta < high


def torch_release() -> str:
    """The installed torch's version without its local part ("2.13.0+cpu" → "2.13.0")."""
    import importlib.metadata  # here: it takes longer to import than `gankit --help` needs

    try:
        return importlib.metadata.version("torch").split("+")[0]
    except importlib.metadata.PackageNotFoundError:
        return ""


@cache
def optimizer_table() -> dict[str, dict[str, Any]]:
    """Every torch.optim optimiser's keyword arguments and defaults, by class name."""
    if torch_release() == TABLE_TORCH:
        return OPTIMIZERS
    return signature_table()


def signature_table() -> dict[str, dict[str, Any]]:
    """The table read from the installed torch.optim's constructor signatures (imports torch)."""
    import inspect

    import torch

    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    table = {}
    for name in sorted(dir(torch.optim)):
        cls = getattr(torch.optim, name)
        if isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer) and cls is not torch.optim.Optimizer:
            parameters = inspect.signature(cls.__init__).parameters.values()
            table[name] = {
                p.name: p.default for p in parameters if p.name not in ("self", "params") and p.kind in kinds
            }
    return table


def accepted_without_torch(name: str, settings: Mapping[str, Any]) -> bool:
    """Whether torch is known to accept these settings of optimiser `name` (validated keys and
    types) without constructing it: each is its default or inside a range torch accepts."""
    if name not in CHECKED_LIGHTLY:
        return False
    defaults = optimizer_table()[name]
    low, high = BETA_RANGE
    for key, value in settings.items():
        default = defaults[key]
        if isinstance(value, bool) or value is None or isinstance(default, bool) or default is None:
            known = value is default  # switches: only their defaults (some exclude each other)
        elif key == "betas":
            known = all(low <= beta < high for beta in value)
        else:
            known = value == default or (key in NOT_NEGATIVE and value >= 0)
        if not known:
            return False
    return True
