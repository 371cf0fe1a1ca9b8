"""Configuration as plain data: defaults ← preset ← files ← `--set` overrides, then validated.

A config is a nested dict of plain values (what `config.json` in a run folder holds). Its
shape is described by small dataclasses; the `data` and `model` sections are completed by the
settings dataclass of the target or model they name, and `optim.<player>` by the signature of
the `torch.optim` class it names. Every error is one `ConfigError` line naming the key and
what is allowed.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .checks import _table, _unknown, check_optimizer, check_table
from .errors import ConfigError
from .schedule import SCHEDULE_KEYS
from .sections import SECTIONS, RootSettings

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

Config = dict[str, Any]
DEFAULT_PLAYERS = ("D", "G")  # the players of a model that declares none


# Sections completed by the settings of the registry entry their selector names.
SELECTORS: dict[str, str] = {"data": "target", "model": "name"}
DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
DEVICE_VARIABLE = "GANKIT_DEVICE"  # the default of `device` where a config does not say


def registries() -> dict[str, Any]:
    """Registries by the name used in `choices_from`, filled by torch-free declarations (the
    builders' modules are imported only when something is built)."""
    from .model_settings import MODELS
    from .objective_names import OBJECTIVES
    from .target_settings import TARGETS

    return {"target": TARGETS, "model": MODELS, "objective": OBJECTIVES}


def model_players(model_name: str) -> tuple[str, ...]:
    """The player names a model declares (its `optim.<player>` tables)."""
    return tuple(registries()["model"].get(model_name, "model.name").meta.get("players", DEFAULT_PLAYERS))


def default_optimizer() -> dict[str, Any]:
    return {"name": "Adam", "lr": 2e-4, "betas": [0.5, 0.999]}


# --------------------------------------------------------------------------- layers


def load_file(path: str | Path) -> Config:
    """Read a TOML, JSON or YAML config file into a dict; a ConfigError if it can't be read."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist (expected a .toml, .json or .yaml file)")
    suffix = path.suffix.lower()
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        if suffix == ".toml":
            data = tomllib.loads(text)
        elif suffix == ".json":
            data = json.loads(text)
        elif suffix in (".yaml", ".yml"):
            try:
                import yaml
            except ImportError:
                raise ConfigError(
                    f"reading {path} needs PyYAML: pip install 'gankit[yaml]' (or use TOML/JSON)"
                ) from None
            data = yaml.safe_load(text)
        else:
            raise ConfigError(f"config file {path}: unknown format {suffix!r} (allowed: .toml, .json, .yaml, .yml)")
    except ConfigError:
        raise
    except Exception as exc:  # parser errors come in many classes
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"config file {path} is not valid {suffix[1:].upper()}: {reason}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a table of settings, got {type(data).__name__}")
    return data


def parse_overrides(items: Sequence[str] | Mapping[str, Any]) -> Config:
    """Turn `key.path=value` strings (or a {key.path: value} mapping) into a nested dict.

    Values are read as TOML literals (`3`, `0.5`, `true`, `[64, 64]`, `"x"`); anything else is
    kept as a plain string, so `data.target=ring` needs no quotes.
    """
    pairs: list[tuple[str, Any]] = []
    if isinstance(items, (str, bytes)):
        raise ConfigError(f"overrides must be a list of key.path=value strings or a mapping, got the string "
                          f"{items[:40]!r}; wrap it in a list: [{items[:40]!r}]")  # fmt: skip
    if isinstance(items, Mapping):
        pairs = list(items.items())
    else:
        for item in items:
            key, sep, text = item.partition("=")
            if not sep or not key.strip():
                raise ConfigError(f"override {item!r} must look like key.path=value, e.g. train.steps=2000")
            pairs.append((key.strip(), _parse_literal(text.strip())))
    out: Config = {}
    for key, value in pairs:
        parts = key.split(".")
        if any(not p for p in parts):
            raise ConfigError(f"override key {key!r} has an empty part")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {key!r} conflicts with another override of {part!r}")
        node[parts[-1]] = value
    return out


def _parse_literal(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def merge(base: Config, layer: Mapping[str, Any]) -> Config:
    """Deep-merge `layer` into a copy of `base`: tables merge, everything else replaces."""
    out = copy.deepcopy(base)
    for key, value in layer.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def resolve(
    preset: str | None = None,
    files: Sequence[str | Path] = (),
    overrides: Sequence[str] | Mapping[str, Any] = (),
    base: Config | None = None,
) -> Config:
    """The validated, complete config: preset (or `base`) ← files ← overrides. A preset named
    in a file (`preset = "grid"`) is taken as if it had been given here; the last file naming
    one wins, and a different preset given here as well is a ConfigError."""
    from .presets import get_preset

    loaded = [(Path(f), load_file(f)) for f in files]
    preset = _chosen_preset(preset, loaded)
    layers: list[Config] = []
    if base is not None:
        layers.append(base)
    if preset:
        layers.append({"preset": preset, "name": preset, **get_preset(preset)})
    layers += [layer for _, layer in loaded]
    layers.append(parse_overrides(overrides))

    # When a later layer picks another target, model or optimiser, earlier layers' settings
    # for the old choice are dropped, so `ring --set data.target=grid` starts from grid's
    # defaults and `--set optim.D.name=SGD` from SGD's.
    for path, selector in _selector_paths(layers):
        chosen = [_get(layer, path)[selector] for layer in layers if selector in _get(layer, path)]
        for layer in layers:
            table = _get(layer, path)
            if chosen and table.get(selector, chosen[-1]) != chosen[-1]:
                _set(layer, path, {k: v for k, v in table.items() if k in _common_keys(path)})
    _drop_other_players(layers)
    merged: Config = {}
    for layer in layers:
        merged = merge(merged, layer)
    return validate(merged)


def _chosen_preset(given: str | None, files: Sequence[tuple[Path, Config]]) -> str | None:
    """The preset to start from: `given`, else the one the last config file naming one names."""
    named = [(path, layer["preset"]) for path, layer in files if layer.get("preset")]
    if not named:
        return given
    path, preset = named[-1]
    if not isinstance(preset, str):
        raise ConfigError(f"config file {path}: preset must be a preset's name (see `gankit presets`), got {preset!r}")
    if given and given != preset:
        raise ConfigError(f"preset {given!r} was given, but config file {path} names preset {preset!r}; "
                          "name one preset (drop it from the file or from the command)")  # fmt: skip
    return preset


def _drop_other_players(layers: Sequence[Config]) -> None:
    """When a layer picks another model, earlier layers' `optim` tables for players that model
    does not have are dropped (a preset's optim.D and optim.G under a model whose players have
    other names); what the choosing layer and later ones say is kept, and checked."""
    choosing = [i for i, layer in enumerate(layers) if "name" in _get(layer, ("model",))]
    if not choosing or _get(layers[choosing[-1]], ("model",))["name"] not in registries()["model"]:
        return
    players = model_players(_get(layers[choosing[-1]], ("model",))["name"])
    for layer in layers[: choosing[-1]]:
        if isinstance(layer.get("optim"), Mapping):
            layer["optim"] = {k: v for k, v in layer["optim"].items() if k in players}


def _selector_paths(layers: Sequence[Config]) -> list[tuple[tuple[str, ...], str]]:
    """(path of a table, its selector key) for every table whose selector picks a schema."""
    paths = [((section,), selector) for section, selector in SELECTORS.items()]
    players = {p for layer in layers if isinstance(layer.get("optim"), Mapping) for p in layer["optim"]}
    return paths + [(("optim", player), "name") for player in sorted(players)]


def _get(layer: Mapping[str, Any], path: tuple[str, ...]) -> Mapping[str, Any]:
    node: Any = layer
    for part in path:
        node = node.get(part) if isinstance(node, Mapping) else None
    return node if isinstance(node, Mapping) else {}


def _set(layer: Config, path: tuple[str, ...], value: Config) -> None:
    for part in path[:-1]:
        layer = layer[part]
    layer[path[-1]] = value


def _kind(section: str) -> str:
    return {"data": "target", "model": "model"}[section]


def _common_keys(path: tuple[str, ...]) -> set[str]:
    """Keys of a table that do not depend on its selector's choice."""
    if path[0] == "optim":
        return {"name", *SCHEDULE_KEYS}
    return {f.name for f in dataclasses.fields(SECTIONS[path[0]])}


# --------------------------------------------------------------------------- validation


def validate(config: Mapping[str, Any]) -> Config:
    """Check every key, type and range; return the complete config with defaults filled in."""
    if not isinstance(config, Mapping):
        raise ConfigError(f"a config must be a table of settings, got {type(config).__name__}")
    tables = registries()
    allowed_top = [f.name for f in dataclasses.fields(RootSettings)] + [*SECTIONS, "optim"]
    for key in config:
        if key not in allowed_top:
            _unknown(key, allowed_top)
    out = check_table({k: v for k, v in config.items() if k not in (*SECTIONS, "optim")}, RootSettings, "")
    if "device" not in config and os.environ.get(DEVICE_VARIABLE):
        out["device"] = os.environ[DEVICE_VARIABLE]  # e.g. the test suite pointed at a GPU
        if not DEVICE_PATTERN.match(out["device"]):
            raise ConfigError(f"${DEVICE_VARIABLE} must be auto, cpu, cuda, cuda:N or mps; got {out['device']!r}")
    if not DEVICE_PATTERN.match(out["device"]):
        raise ConfigError(f"device must be auto, cpu, cuda, cuda:N or mps; got {out['device']!r}")
    for section, schema in SECTIONS.items():
        values = _table(config.get(section, {}), section)
        selector = SELECTORS.get(section)
        if selector is None:
            out[section] = check_table(values, schema, section, tables)
            continue
        common = check_table({k: v for k, v in values.items() if k == selector}, schema, section, tables)
        entry = tables[_kind(section)].get(common[selector], f"{section}.{selector}")
        schemas = [schema] + ([entry.params] if entry.params else [])
        out[section] = check_table(values, schemas, section, tables)
    _check_best(out["eval"])
    optim = _table(config.get("optim", {}), "optim")
    players = model_players(out["model"]["name"])
    for player in optim:
        if player not in players:
            _unknown(f"optim.{player}", list(players), section=f"optim (the players of model {out['model']['name']})")
    out["optim"] = {}
    for player in players:
        given = _table(optim.get(player, {}), f"optim.{player}")
        # naming another optimiser starts from torch's defaults, not from Adam's settings
        spec = given if "name" in given else merge(default_optimizer(), given)
        out["optim"][player] = check_optimizer(spec, f"optim.{player}")
    return out


def _check_best(evaluation: Mapping[str, Any]) -> None:
    """eval.best must name an image metric that eval.metrics computes."""
    needs = {
        "fid": "fid",
        "kid": "kid",
        "is": "is",
        "precision": "pr",
        "recall": "pr",
        "density": "dc",
        "coverage": "dc",
    }
    best = evaluation["best"]
    if best in needs and needs[best] not in evaluation["metrics"]:
        raise ConfigError(f"eval.best = {best} needs {needs[best]!r} in eval.metrics (now {evaluation['metrics']})")
