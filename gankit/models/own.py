"""Your own networks: the `own` model, a generator and a discriminator rebuilt by importable name.

`model.generator` and `model.discriminator` name a class or a factory function as
`module:qualname` (`my_networks:Generator`); each is called with its `*_kwargs` table and must
return an nn.Module. The game is the standard one (`games.StandardGAN`, the conditional game for
labelled data), so every objective, regulariser and engine option of the presets applies.
`gankit.train(generator=…, discriminator=…)` writes this section; `gankit.load` reads it back.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from ..data import TargetInfo
from ..errors import ConfigError, DataError, RunError
from ..games import StandardGAN
from ..recipe import Latent, LatentKind
from .common import class_count


def import_object(name: str, key: str) -> Any:
    """The object `module:qualname` names; a RunError saying how to make it importable if it is not.
    The current folder is searched after the Python path (the `gankit` command leaves it out)."""
    module_name, sep, qualname = name.partition(":")
    if not sep or not module_name or not qualname:
        raise RunError(f"{key} must name a class or factory as module:qualname (e.g. my_networks:Generator), "
                       f"got {name!r}")  # fmt: skip
    try:
        module = _import(module_name)
    except ImportError as exc:
        raise RunError(f"{key} = {name}: module {module_name} cannot be imported ({exc}); run from the folder "
                       f"that holds {module_name.split('.')[0]}.py or add that folder to PYTHONPATH") from None  # fmt: skip
    found: Any = module
    for part in qualname.split("."):
        found = getattr(found, part, None)
        if found is None:
            where = ("a script or notebook that is not running here: define it in a module (my_networks.py) and "
                     "train again") if module_name == "__main__" else f"module {module_name} ({module.__file__})"  # fmt: skip
            raise RunError(f"{key} = {name}: {qualname} is not defined in {where}")
    return found


def _import(module_name: str) -> Any:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        here = os.getcwd()
        if exc.name != module_name.split(".")[0] or here in sys.path:
            raise
        sys.path.append(here)
        try:
            return importlib.import_module(module_name)
        finally:
            sys.path.remove(here)


def importable_name(item: Any) -> str:
    """`module:qualname` of a class or function; a RunError for other callables (a partial)."""
    module, qualname = getattr(item, "__module__", None), getattr(item, "__qualname__", None)
    if not module or not qualname:
        raise RunError(f"{item!r} has no importable name: give a class or a function defined at the top level of a "
                       "module (a factory's arguments go in generator_kwargs / discriminator_kwargs)")  # fmt: skip
    return f"{module}:{qualname}"


def build_network(name: str, kwargs: dict[str, Any], key: str) -> nn.Module:
    """Network `key` from its recorded factory and keyword arguments."""
    factory: Callable[..., Any] = import_object(name, key)
    try:
        network = factory(**kwargs)
    except TypeError as exc:
        raise RunError(f"{key} = {name} could not be built with {key}_kwargs {kwargs}: {exc}") from None
    if not isinstance(network, nn.Module):
        raise RunError(f"{key} = {name} gave a {type(network).__name__}, not a torch.nn.Module")
    return network


def own_gan(generator: nn.Module, discriminator: nn.Module, config: dict[str, Any], target: TargetInfo) -> StandardGAN:
    """The standard game (conditional for labelled data) of the config, played by these networks."""
    m = config["model"]
    if m["pack"] > 1:  # build_model would pack a D rebuilt for a wider input, which a user's class cannot be
        raise ConfigError(f"model.pack = {m['pack']} needs a discriminator gankit builds for packs; your own "
                          "discriminator judges single samples (use model.pack = 1, or pack inside your D)")  # fmt: skip
    latent_kind: LatentKind = m["latent"]
    classes = class_count(m, target)
    return StandardGAN.from_config(
        generator, discriminator, Latent(m["latent_dim"], latent_kind), config, classes, target.class_frequencies
    )


def check_shapes(G: nn.Module, D: nn.Module, model: Mapping[str, Any], info: TargetInfo) -> None:
    """One pass of two samples through G and D (in eval mode, without gradients): G must give
    samples of the data's shape, D one value per sample; a one-line error otherwise."""
    labels = torch.zeros(2, dtype=torch.long) if model["conditional"] else None
    with_labels = " and 2 class ids" if labels is not None else ""
    modes = G.training, D.training
    G.eval(), D.eval()
    try:
        with torch.no_grad():
            device = next(G.parameters(), torch.zeros(0)).device
            z = torch.zeros(2, model["latent_dim"], device=device)  # shapes only: no draw from the global generator
            args = () if labels is None else (labels.to(device),)
            try:
                fake = G(z, *args)
            except Exception as exc:
                raise ConfigError(f"the generator failed on noise of shape (2, {model['latent_dim']}){with_labels}: "
                                  f"{first_line(exc)} (latent_dim= or model.latent_dim must be the size of its "
                                  "noise input)") from None  # fmt: skip
            if not isinstance(fake, Tensor) or tuple(fake.shape) != (2, *info.shape):
                got = tuple(fake.shape[1:]) if isinstance(fake, Tensor) else type(fake).__name__
                raise DataError(f"the generator's samples have shape {got} but the data's have shape "
                                f"{tuple(info.shape)}: make G output N×{'×'.join(map(str, info.shape))}")  # fmt: skip
            real = torch.zeros(2, *info.shape, device=next(D.parameters(), z).device)
            try:
                logits = D(real, *args)
            except Exception as exc:
                raise ConfigError(f"the discriminator failed on 2 samples of shape {tuple(info.shape)}"
                                  f"{with_labels}: {first_line(exc)}") from None  # fmt: skip
            if not isinstance(logits, Tensor) or logits.numel() != 2:
                got = tuple(logits.shape) if isinstance(logits, Tensor) else type(logits).__name__
                raise ConfigError(f"the discriminator gives {got} for 2 samples: it must give one value per "
                                  "sample (shape N or N×1)")  # fmt: skip
    finally:
        G.train(modes[0]), D.train(modes[1])


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def build_own(config: dict[str, Any], target: TargetInfo) -> StandardGAN:
    m = config["model"]
    generator = build_network(m["generator"], m["generator_kwargs"], "model.generator")
    discriminator = build_network(m["discriminator"], m["discriminator_kwargs"], "model.discriminator")
    weight = next(generator.parameters(), None)
    if weight is None or not weight.is_meta:  # gankit.load first sizes the model on the meta device
        check_shapes(generator, discriminator, m, target)
    return own_gan(generator, discriminator, config, target)
