"""Bring your own networks and data to `gankit.train` and `gankit.resume`.

The user's generator and discriminator (modules, classes, factories or `module:qualname` names)
become the `own` model (gankit/models/own.py), recorded in the config by importable name so
that `gankit.load` rebuilds them; data given in Python (a tensor, Dataset or DataLoader)
becomes a `memory` target (gankit/data/memory.py), and a folder the `folder` target. All is
checked before a run folder exists: that the networks rebuild from what is recorded, and their
shapes (G's output against the data, D's against one value per sample).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .config import merge, parse_overrides, resolve
from .data import Target, TargetInfo, build_target
from .data.memory import user_target
from .errors import ConfigError, DataError, RunError
from .model_settings import OWN
from .models.own import build_network, check_shapes, import_object, importable_name, own_gan
from .recipe import GAN
from .rng import seed_everything
from .target_settings import MEMORY

log = logging.getLogger("gankit")


@dataclass
class OwnParts:
    """What `train` hands the engine: the completed config, and the target and model built here
    (None: the ones the config names)."""

    config: dict[str, Any]
    target: Target | None = None
    gan: GAN | None = None


def folder_overrides(data: Any, overrides: Any) -> Any:
    """The user's overrides after `data.target = folder` for a folder given as `data`, so that
    the folder's own settings (resolution, channels) may be overridden as well."""
    if not isinstance(data, (str, Path)):
        return overrides
    return merge({"data": {"target": "folder", "path": str(data)}}, parse_overrides(overrides))


@dataclass
class Brought:
    """What the user gave `gankit.train` in place of the preset's networks and data."""

    generator: Any = None
    discriminator: Any = None
    data: Any = None
    latent_dim: int | None = None
    generator_kwargs: Mapping[str, Any] | None = None
    discriminator_kwargs: Mapping[str, Any] | None = None


def bring_your_own(config: dict[str, Any], brought: Brought) -> OwnParts:
    """The config, target and model of a run trained on the user's networks and/or data."""
    generator, discriminator, data = brought.generator, brought.discriminator, brought.data
    if (generator is None) != (discriminator is None):
        raise ConfigError("give both generator= and discriminator= (or neither, for the preset's networks)")
    seed_everything(config["seed"])  # networks built here from classes start as the engine's would
    target = None
    if data is not None and not isinstance(data, (str, Path)):
        target, section = user_target(data, config["data"]["batch_size"], config["eval"]["n_samples"], config["seed"])
        config = resolve(base=config, overrides={"data": section})
    if generator is None:
        return OwnParts(config, target)
    target = target if target is not None else build_target(config["data"])
    info = TargetInfo.of(target)
    g_name, g_kwargs, G = network(generator, brought.generator_kwargs, "generator")
    d_name, d_kwargs, D = network(discriminator, brought.discriminator_kwargs, "discriminator")
    latent = brought.latent_dim if brought.latent_dim is not None else infer_latent_dim(G)
    section = {
        "name": OWN,
        "generator": g_name,
        "generator_kwargs": g_kwargs,
        "discriminator": d_name,
        "discriminator_kwargs": d_kwargs,
        "latent_dim": latent,
        "latent": config["model"].get("latent", "normal"),  # the preset's noise
        "conditional": info.num_classes > 0,
    }
    config = resolve(base=config, overrides={"model": section})
    check_shapes(G, D, config["model"], info)
    return OwnParts(config, target, own_gan(G, D, config, info))


def network(spec: Any, kwargs: Mapping[str, Any] | None, key: str) -> tuple[str, dict[str, Any], nn.Module]:
    """The importable name of a network, its arguments and the network: a module (recorded by its class, which
    must rebuild it from `kwargs`), a class or factory, or its `module:qualname`. The arguments
    are used as config.json will give them back (tuples become lists)."""
    try:
        kwargs = json.loads(json.dumps(dict(kwargs or {})))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{key}_kwargs must hold plain values (numbers, strings, lists, tables) that config.json "
                          f"can record: {exc}") from None  # fmt: skip
    if isinstance(spec, nn.Module):
        name = importable_name(type(spec))
        if "<locals>" in name:
            raise RunError(f"{key} class {type(spec).__qualname__} is defined inside a function, where gankit cannot "
                           "import it to reload the run: define it at the top level of a module")  # fmt: skip
        if import_object(name, key) is not type(spec):
            raise RunError(f"{key} = {name} imports as another object than the network's class")
        check_rebuilds(spec, name, kwargs, key)
        built = spec
    elif isinstance(spec, str) or callable(spec):
        name = spec if isinstance(spec, str) else importable_name(spec)
        built = build_network(name, kwargs, key)
    else:
        raise ConfigError(f"{key} must be an nn.Module, a class or function that returns one, or its "
                          f"'module:qualname'; got {type(spec).__name__}")  # fmt: skip
    if name.startswith("__main__:"):
        log.warning("%s %s is defined in a script or notebook: the run reloads only where it is defined (put it in "
                    "a module, e.g. my_networks.py, to reload it anywhere)", key, name)  # fmt: skip
    return name, kwargs, built


def check_rebuilds(module: nn.Module, name: str, kwargs: dict[str, Any], key: str) -> None:
    """A RunError unless `name`(**kwargs) builds a network with `module`'s weights' names and shapes
    (built on the meta device: nothing is allocated), as `gankit.load` will build it."""
    with torch.device("meta"):
        rebuilt = build_network(name, kwargs, key)
    shapes = {k: tuple(v.shape) for k, v in module.state_dict().items() if isinstance(v, Tensor)}
    again = {k: tuple(v.shape) for k, v in rebuilt.state_dict().items() if isinstance(v, Tensor)}
    if shapes != again:
        differ = sorted(set(shapes) ^ set(again)) or [k for k in shapes if shapes[k] != again[k]]
        raise RunError(f"{key} = {name} built with {key}_kwargs {kwargs} differs from the network given (at "
                       f"{differ[0]}): give {key}_kwargs= the arguments it was built with")  # fmt: skip


def infer_latent_dim(generator: nn.Module) -> int:
    """The noise size: the generator's `latent_dim` attribute, else its first layer's input size."""
    declared = getattr(generator, "latent_dim", None)
    if isinstance(declared, int) and not isinstance(declared, bool) and declared > 0:
        return declared
    for layer in generator.modules():
        size = getattr(layer, "in_features", None) or getattr(layer, "in_channels", None)
        if isinstance(size, int) and size > 0:
            return size
    raise ConfigError("cannot tell the size of the generator's noise input: give latent_dim=")


def resume_data(data: Any, config: dict[str, Any]) -> tuple[Target, dict[str, Any]]:
    """The target of data given again to a run that trained on data given in Python, and its
    config with the data's record; the samples must have the shape the run trained on."""
    if config["data"]["target"] != MEMORY:
        raise RunError(f"this run reads its data from the config (data.target = {config['data']['target']}); "
                       "data= is for runs trained on data given in Python")  # fmt: skip
    if isinstance(data, (str, Path)):
        raise RunError("this run trained on data given in Python: give that tensor, Dataset or DataLoader again")
    target, section = user_target(data, config["data"]["batch_size"], config["eval"]["n_samples"], config["seed"])
    if section["shape"] != config["data"]["shape"]:
        raise DataError(f"the data given has samples of shape {tuple(section['shape'])}; this run trained on "
                        f"{tuple(config['data']['shape'])}")  # fmt: skip
    return target, resolve(base=config, overrides={"data": section})
