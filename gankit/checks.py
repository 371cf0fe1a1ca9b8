"""Checking config values: a table against its settings dataclasses, one value against its type
and limits, an optimiser table against the signature of its `torch.optim` class (read from
`optimizers`' table, so that checking a config imports no torch). Every failure
is one `ConfigError` line naming the key and what is allowed."""

from __future__ import annotations

import dataclasses
import difflib
import json
import types
import typing
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from .errors import ConfigError
from .schedule import SCHEDULE_KEYS, ScheduleSettings

if TYPE_CHECKING:
    import torch


def _table(value: Any, key: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{key} must be a table of settings, got {_describe(value)}")
    return dict(value)


def check_table(
    values: Mapping[str, Any],
    schemas: type | Sequence[type],
    path: str,
    registries: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Validate `values` against the union of dataclass `schemas`; fill defaults."""
    schemas = [schemas] if isinstance(schemas, type) else list(schemas)
    fields: dict[str, tuple[dataclasses.Field, Any]] = {}
    for schema in schemas:
        hints = typing.get_type_hints(schema)
        for f in dataclasses.fields(schema):
            fields[f.name] = (f, hints[f.name])
    prefix = f"{path}." if path else ""
    for key in values:
        if key not in fields:
            _unknown(prefix + key, list(fields), section=path)
    out: dict[str, Any] = {}
    for name, (f, tp) in fields.items():
        if name in values:
            value = values[name]
        elif f.default is not dataclasses.MISSING:
            value = f.default
        else:
            value = f.default_factory()  # type: ignore[misc]
        out[name] = check_value(value, tp, f.metadata, prefix + name, registries)
    return out


def check_value(
    value: Any, tp: Any, limits: Mapping[str, Any], key: str, registries: Mapping[str, Any] | None = None
) -> Any:
    """Check one value against a type hint and its limits; return it normalised."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return check_value(value, inner, limits, key, registries)
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{key} must be one of {', '.join(map(str, args))}; got {value!r}")
        return value
    if origin is list:
        (inner,) = args
        if isinstance(value, str) and inner is str and limits.get("comma"):
            # a list of names declared with comma=True also reads "cat,dog", as written on a command line
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key} must be a list of {_type_name(inner)}s, got {_describe(value)}")
        return [check_value(v, inner, limits, f"{key}[{i}]", registries) for i, v in enumerate(value)]
    ok = {
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float)) and not isinstance(value, bool),
        bool: isinstance(value, bool),
        str: isinstance(value, str),
        dict: isinstance(value, dict) and all(isinstance(k, str) for k in value),  # e.g. constructor kwargs
    }.get(tp)
    if ok is None:
        raise TypeError(f"unsupported config type {tp!r} for {key}")
    if not ok:
        raise ConfigError(f"{key} must be {_type_name(tp, article=True)}, got {_describe(value)}")
    if tp is float:
        value = float(value)
        if value != value or value in (float("inf"), float("-inf")):
            raise ConfigError(f"{key} must be a finite number, got {value}")
    low, high = limits.get("min"), limits.get("max")
    if low is not None and value < low or high is not None and value > high:
        bounds = " and ".join(
            s for s in (f">= {low}" if low is not None else "", f"<= {high}" if high is not None else "") if s
        )
        raise ConfigError(f"{key} must be {bounds}, got {value}")
    if limits.get("choices") and value not in limits["choices"]:
        raise ConfigError(f"{key} must be one of {', '.join(map(str, limits['choices']))}; got {value!r}")
    if limits.get("choices_from") and registries is not None:
        registries[limits["choices_from"]].get(value, key)
    return value


def check_optimizer(spec: Mapping[str, Any], key: str) -> dict[str, Any]:
    """Validate `{name, **settings}` against the signature of `torch.optim.<name>`, plus the
    learning-rate schedule keys every optimiser table takes (see `gankit/schedule.py`).
    torch is imported only for values whose acceptance `optimizers` cannot vouch for."""
    from .optimizers import accepted_without_torch, optimizer_table  # its table is read only when checking

    table = optimizer_table()
    names = list(table)
    name = spec.get("name")
    if name not in names:
        raise ConfigError(f"{key}.name must be a torch.optim optimiser ({', '.join(names)}); got {name!r}")
    schedule = check_table({k: v for k, v in spec.items() if k in SCHEDULE_KEYS}, ScheduleSettings, key)
    spec = {k: v for k, v in spec.items() if k not in SCHEDULE_KEYS}
    params = table[name]
    out: dict[str, Any] = {"name": name}
    filled = {k: list(v) if isinstance(v, tuple) else v for k, v in params.items() if _plain(v)}
    for arg, value in {**filled, **spec}.items():
        if arg == "name":
            continue
        if arg not in params:
            _unknown(f"{key}.{arg}", ["name", *params], section=f"{key} ({name})")
        default = params[arg]
        if isinstance(default, bool) or (default is None and isinstance(value, bool)):
            if not isinstance(value, bool):
                raise ConfigError(f"{key}.{arg} must be true or false, got {_describe(value)}")
        elif isinstance(default, (int, float)):
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise ConfigError(f"{key}.{arg} must be a number, got {_describe(value)}")
            if value != value or value in (float("inf"), float("-inf")):
                raise ConfigError(f"{key}.{arg} must be a finite number, got {value}")
            value = float(value) if isinstance(default, float) else value
        elif isinstance(default, tuple):
            if not isinstance(value, (list, tuple)) or len(value) != len(default):
                raise ConfigError(f"{key}.{arg} must be a list of {len(default)} numbers, got {_describe(value)}")
            value = [check_value(v, float, {}, f"{key}.{arg}[{i}]") for i, v in enumerate(value)]
        out[arg] = value
    if not accepted_without_torch(name, {k: v for k, v in out.items() if k != "name"}):
        import torch  # here: only values outside the ranges known to be fine need torch's own check

        try:  # let torch check the values themselves (negative lr, betas outside [0, 1), ...)
            build_optimizer(out, [torch.nn.Parameter(torch.zeros(1))])
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{key}: {exc}") from None
    return {**out, **schedule}


def optimizer_names() -> list[str]:
    """The torch.optim optimisers a config may name."""
    from .optimizers import optimizer_table

    return list(optimizer_table())


def _plain(value: Any) -> bool:
    """A default worth writing into the resolved config (numbers, flags, tuples of numbers)."""
    if isinstance(value, tuple):
        return all(isinstance(v, (int, float)) for v in value)
    return isinstance(value, (bool, int, float))


def check_same_optimisers(saved_config: Any, optim: Mapping[str, Mapping[str, Any]]) -> None:
    """A resumed run keeps each player's optimiser kind (its saved state is that kind's); only
    the settings may change. `saved_config` is the config a checkpoint holds."""
    saved = saved_config.get("optim", {}) if isinstance(saved_config, Mapping) else {}
    for name, spec in optim.items():
        was = saved.get(name, {}).get("name", spec["name"]) if isinstance(saved.get(name), Mapping) else spec["name"]
        if was != spec["name"]:
            raise ConfigError(f"optim.{name}.name is {was} in the checkpoint: a resumed run keeps its optimiser "
                              f"(the saved state is {was}'s); its settings may change, not its kind")  # fmt: skip


def apply_settings(optimizer: torch.optim.Optimizer, spec: Mapping[str, Any]) -> None:
    """Give a (restored) optimiser the settings of a validated spec: betas, eps, weight decay…
    (the learning rate is the schedule's to set, every iteration)."""
    for group in optimizer.param_groups:
        for key, value in spec.items():
            if key in group and key not in ("name", "params", "lr", "capturable", *SCHEDULE_KEYS):
                group[key] = tuple(value) if isinstance(value, list) else value


def build_optimizer(spec: Mapping[str, Any], parameters: Any) -> torch.optim.Optimizer:
    """`torch.optim.<name>(parameters, **settings)` from a validated optimiser spec."""
    import torch

    settings = {k: tuple(v) if isinstance(v, list) else v for k, v in spec.items() if k not in ("name", *SCHEDULE_KEYS)}
    return getattr(torch.optim, spec["name"])(parameters, **settings)


def _unknown(key: str, allowed: Sequence[str], section: str = "") -> typing.NoReturn:
    leaf = key.rsplit(".", 1)[-1]
    close = difflib.get_close_matches(leaf, allowed, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    where = f" in [{section}]" if section else ""
    raise ConfigError(f"unknown key {key!r}{hint}; allowed keys{where}: {', '.join(allowed)}")


def _type_name(tp: Any, article: bool = False) -> str:
    name = {int: "integer", float: "number", bool: "boolean", str: "string", dict: "table"}.get(tp, str(tp))
    if tp is bool and article:
        return "true or false"
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}" if article else name


def _describe(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, (int, float, str, bool, list, dict)) else repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{text} ({type(value).__name__})"
