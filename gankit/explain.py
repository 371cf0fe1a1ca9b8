"""`gankit config --explain [SECTION]`: every config key with its help line, type, default and
allowed values, read from the settings dataclasses that validation uses (so it cannot drift).

Nothing here imports torch: the names of targets, models and objectives come from their
torch-free declarations (`target_settings`, `model_settings`, `objective_names`), and the
optimisers' arguments from `optimizers`' table of torch.optim's signatures.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from typing import Any

from .config import SECTIONS, SELECTORS, RootSettings, default_optimizer, registries
from .errors import ConfigError
from .schedule import ScheduleSettings

EXPLAINED = ("top", *SECTIONS, "optim")
TYPE_NAMES = {int: "integer", float: "number", bool: "true or false", str: "string"}


def explain(section: str | None = None) -> str:
    """The description of one section's keys (`top`: those outside any section), or of all."""
    if section is not None and section not in EXPLAINED:
        raise ConfigError(f"--explain {section!r}: unknown section (allowed: {', '.join(EXPLAINED)})")
    return "\n\n".join(_section(name) for name in ([section] if section else EXPLAINED))


def _section(name: str) -> str:
    if name == "top":
        return "\n".join(["[top level: keys outside any section]", *_keys(RootSettings, "")])
    if name == "optim":
        return _optim()
    schema, selector = SECTIONS[name], SELECTORS.get(name)
    lines = [f"[{name}]", *_keys(schema, name, skip_descriptions=selector is not None)]
    if selector is not None:
        for entry in _registry_of(schema, selector):
            lines += ["", f"{name}.{selector} = {entry.name}: {entry.description}"]
            lines += _keys(entry.params, name) if entry.params else ["    (no settings of its own)"]
    return "\n".join(lines)


def _registry_of(schema: type, selector: str) -> Any:
    (field,) = [f for f in dataclasses.fields(schema) if f.name == selector]
    return registries()[field.metadata["choices_from"]]


def _optim() -> str:
    """Each player's optimiser table: torch.optim's class and its keyword arguments, and the schedule."""
    from .checks import check_optimizer, optimizer_names
    from .optimizers import optimizer_table

    default = default_optimizer()
    filled = check_optimizer(default, "optim.<player>")
    arguments = {**optimizer_table()[default["name"]], **filled}
    lines = [
        "[optim] one table per player of the model: optim.D and optim.G (a model may name others)",
        f"optim.<player>.name  string, default {_literal(default['name'])}, one of: {', '.join(optimizer_names())}",
        "    the torch.optim optimiser; its keyword arguments are keys of the same table, with torch's "
        "defaults (naming another optimiser starts from its own defaults)",
    ]
    schedule = {f.name for f in dataclasses.fields(ScheduleSettings)}
    for key, value in arguments.items():
        if key != "name" and key not in schedule:
            kind = _value_type(value)
            source = "gankit's" if key in default else "torch's"
            lines.append(
                f"optim.<player>.{key}  {kind}default {_literal(value)} ({source} default for {default['name']})"
            )
    return "\n".join([*lines, *_keys(ScheduleSettings, "optim.<player>")])


def _keys(schema: type, prefix: str, skip_descriptions: bool = False) -> list[str]:
    """Two lines per field: `key  type, default, limits`, then its help line, indented."""
    hints = typing.get_type_hints(schema)
    lines = []
    for field in dataclasses.fields(schema):
        limits = field.metadata
        default = field.default if field.default is not dataclasses.MISSING else field.default_factory()  # type: ignore[misc]
        parts = [_type_name(hints[field.name]), f"default {_literal(default)}", *_limits(limits)]
        key = f"{prefix}.{field.name}" if prefix else field.name
        lines += [f"{key}  {', '.join(parts)}", f"    {limits.get('help', '')}"]
        if limits.get("choices_from") and not skip_descriptions:
            lines += [f"      {e.name}: {e.description}" for e in registries()[limits["choices_from"]]]
    return lines


def _limits(limits: typing.Mapping[str, Any]) -> list[str]:
    parts = []
    if limits.get("min") is not None:
        parts.append(f">= {limits['min']}")
    if limits.get("max") is not None:
        parts.append(f"<= {limits['max']}")
    if limits.get("choices"):
        parts.append("one of: " + ", ".join(_choice(c) for c in limits["choices"]))
    if limits.get("choices_from"):
        parts.append("one of: " + ", ".join(registries()[limits["choices_from"]].names()))
    if limits.get("comma"):
        parts.append("or one comma-separated string")
    return parts


def _type_name(tp: Any) -> str:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        (inner,) = [a for a in args if a is not type(None)]
        return f"{_type_name(inner)} or unset"
    if origin is list:
        return f"list of {_type_name(args[0])}s"
    if origin is typing.Literal:
        return "one of " + ", ".join(map(str, args))
    return TYPE_NAMES.get(tp, str(tp))


def _value_type(value: Any) -> str:
    """The type an optimiser argument takes, from its default ("" where the default does not say)."""
    if isinstance(value, bool):
        return "true or false, "
    if isinstance(value, (int, float)):
        return "number, "
    if isinstance(value, (list, tuple)):
        return f"list of {len(value)} numbers, "
    return ""


def _literal(value: Any) -> str:
    """A value as it is written in `--set` or a config file (unset for None)."""
    return "unset" if value is None else json.dumps(value, ensure_ascii=False)


def _choice(value: Any) -> str:
    return value if isinstance(value, str) and value else json.dumps(value)
