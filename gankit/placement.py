"""Where a model's networks live and how they run: channels-last memory, torch.compile, the
automatic CUDA speed-ups of `train.fast`, which parameters each player trains, and the
DistributedDataParallel wrappers of data-parallel training."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from .distributed import Group
from .distributed import start as start_group
from .errors import ConfigError
from .graphs import graph_obstacle
from .recipe import GAN, Player

log = logging.getLogger("gankit")
# Optimisers whose fused kernel computes the same update as the default one; it needs CUDA (or
# changes the last bits on the CPU), hence chosen only there.
FUSABLE = frozenset({"Adam", "AdamW"})
# optimisers whose multi-tensor ("foreach") CPU update is bit-identical to the per-tensor loop
# PyTorch uses by default on the CPU, and faster (Adam on the ring's networks: 255 against 304 µs
# per step); tests/test_fast.py checks the identity on every CPU run of the suite's ring
FOREACH_ON_CPU = frozenset({"Adam", "AdamW"})


@dataclass
class FastChoice:
    """What `train.fast` resolved to for one run: each speed-up on or off, and why not where off.

    `cuda_graph` is None while the graph is still to be decided (at the end of the Trainer's
    set-up, when everything `graph_obstacle` looks at exists)."""

    channels_last: bool = False
    fused: dict[str, bool] = field(default_factory=dict)  # players whose `fused` was decided
    foreach: dict[str, bool] = field(default_factory=dict)  # players given the foreach update on the CPU
    cudnn_benchmark: bool = False
    cuda_graph: bool | None = False
    pin: bool = False  # write the decisions into the config (CUDA with train.fast = auto)
    manual: str = ""  # why nothing was chosen automatically
    why_not: list[str] = field(default_factory=list)  # "what (why)" of each speed-up not chosen

    def settle_graph(self, obstacle: str | None) -> None:
        """Decide a pending CUDA graph: on unless `obstacle` names why it cannot be captured."""
        if self.cuda_graph is None:
            self.cuda_graph = obstacle is None
            if obstacle is not None:
                self.why_not.append(f"CUDA graph ({obstacle})")

    def line(self) -> str:
        """One line: what runs, and why anything else does not."""
        fused = [p for p, on in self.fused.items() if on]
        foreach = [p for p, on in self.foreach.items() if on]
        chosen = [f"fused optimiser ({', '.join(fused)})" if fused else "",
                  f"foreach optimiser ({', '.join(foreach)})" if foreach else "",
                  "channels-last" if self.channels_last else "", "cuDNN autotuning" if self.cudnn_benchmark else "",
                  "CUDA graph" if self.cuda_graph else ""]  # fmt: skip
        text = (", ".join(c for c in chosen if c) or "nothing") + (
            f" (no automatic choice: {self.manual})" if self.manual else ""
        )
        return text + (f"; not chosen: {', '.join(self.why_not)}" if self.why_not else "")


def choose_fast(
    device_type: str,
    fast: str,
    train: Mapping[str, Any],
    optim: Mapping[str, Mapping[str, Any]],
    convolutional: bool,
    deterministic: bool = False,
) -> FastChoice:
    """The speed-ups a run gets, from the device type, the model and the user's settings.

    Precedence: an explicit `train.channels_last`, `train.cuda_graph` or `optim.<player>.fused`
    always wins; with `train.fast = auto` on CUDA each unset one is chosen where it is exact
    (and cuDNN autotuning for convolutional models unless deterministic algorithms are asked
    for); on the CPU, the foreach update of Adam and AdamW where neither `foreach` nor `fused`
    is set; elsewhere, or with `train.fast = off`, unset means off. Pure: unit-tested without a GPU."""
    auto = fast == "auto" and device_type == "cuda"
    on_cpu = fast == "auto" and device_type == "cpu"
    choice = FastChoice(pin=auto)
    if fast == "off":
        choice.manual = "train.fast = off"
    elif not (auto or on_cpu):
        choice.manual = f"this run is on {device_type}, not CUDA"
    elif on_cpu:
        choice.why_not.append("channels-last, cuDNN autotuning and the CUDA graph (CUDA only)")
        for player, spec in optim.items():
            unset = all(spec.get(k) is None for k in ("foreach", "fused")) and not spec.get("differentiable")
            if unset and spec["name"] in FOREACH_ON_CPU:
                choice.foreach[player] = True
    if train.get("channels_last") is not None:
        choice.channels_last = bool(train["channels_last"])
    elif auto:
        choice.channels_last = convolutional
    for player, spec in optim.items():
        if spec.get("fused") is not None:
            choice.fused[player] = bool(spec["fused"])
        elif auto and spec["name"] not in FUSABLE:
            choice.why_not.append(f"fused {player} ({spec['name']} is not one of {', '.join(sorted(FUSABLE))})")
        elif auto:
            blocker = next((k for k in ("foreach", "differentiable") if spec.get(k)), None)
            choice.fused[player] = blocker is None
            if blocker is not None:
                choice.why_not.append(f"fused {player} (optim.{player}.{blocker} is set)")
    if auto and not convolutional:
        choice.why_not.append("channels-last and cuDNN autotuning (the model has no 2-D convolutions)")
    elif auto:
        choice.cudnn_benchmark = not deterministic
        if deterministic:
            choice.why_not.append("cuDNN autotuning (deterministic algorithms are asked for)")
    user_graph = train.get("cuda_graph")
    choice.cuda_graph = bool(user_graph) if user_graph is not None else (None if auto else False)
    return choice


def choose_for(gan: GAN, config: dict[str, Any], device: torch.device) -> FastChoice:
    """`choose_fast` for this model and config; on CUDA with `train.fast = auto`, the decisions
    are written into the config (so config.json says what ran, and a resume runs the same)."""
    convolutional = any(p.dim() == 4 for p in gan.parameters())
    deterministic = torch.are_deterministic_algorithms_enabled() or torch.backends.cudnn.deterministic
    choice = choose_fast(device.type, config["train"]["fast"], config["train"], config["optim"], convolutional,
                         deterministic)  # fmt: skip
    if choice.pin:
        config["train"]["channels_last"] = choice.channels_last
        for player, fused in choice.fused.items():
            config["optim"][player]["fused"] = fused
    for player, foreach in choice.foreach.items():
        config["optim"][player]["foreach"] = foreach
    if choice.cudnn_benchmark:
        torch.backends.cudnn.benchmark = True
    return choice


def settle_fast(trainer: Any) -> dict[str, Any]:
    """Decide the CUDA graph, log the run's speed-ups in one line and record it in the config;
    returns the train section, for `Trainer._step_choice`."""
    choice: FastChoice = trainer.fast
    train = trainer.config["train"]
    if choice.cuda_graph is None:
        choice.settle_graph(graph_obstacle(trainer))
    if choice.pin:
        train["cuda_graph"] = choice.cuda_graph
    train["fast_chosen"] = choice.line()
    if trainer.group.main and trainer.device.type == "cuda":  # on the CPU it is recorded, not said
        log.info("speed-ups: %s", train["fast_chosen"])
    return train


class Trainable:
    """Which parameters each player trains, listed once, and switched only where they change:
    `Module.requires_grad_` walks the module tree at every call, and flipping every flag twice
    per iteration is a measurable share of a small GAN's iteration on the CPU."""

    def __init__(self, nets: Mapping[str, nn.Module], players: Iterable[Player]) -> None:
        everything = list(dict.fromkeys(p for net in nets.values() for p in net.parameters()))
        states: dict[str | None, dict[nn.Parameter, bool]] = {None: dict.fromkeys(everything, True)}
        for player in players:
            flags: dict[nn.Parameter, bool] = {}  # a parameter shared by two networks: the later one's flag
            for name, net in nets.items():
                on = name in player.networks or name in player.forwards
                flags.update((p, on) for p in net.parameters())
            states[player.name] = flags
        # the flags that differ between any two states (None: every network trainable)
        self.changes = {
            (a, b): [(p, on) for p, on in states[b].items() if states[a].get(p, True) != on]
            for a in states
            for b in states
        }
        self.current: str | None = None

    def only(self, player: str) -> None:
        """Freeze every network but the player's own (and those it differentiates through)."""
        self._become(player)

    def release(self) -> None:
        """Every network trainable again (as the loop leaves them between iterations)."""
        self._become(None)

    def _become(self, state: str | None) -> None:
        if state != self.current:
            for param, on in self.changes[(self.current, state)]:
                param.requires_grad_(on)
            self.current = state


def speed_up(gan: GAN, config: dict[str, Any], device: torch.device) -> FastChoice:
    """Choose the automatic speed-ups, then apply channels-last memory and torch.compile as the
    config says (before DDP wraps the networks)."""
    choice = choose_for(gan, config, device)
    train = config["train"]
    if choice.channels_last:
        gan.to(memory_format=torch.channels_last)  # 4-D weights only; others unchanged
    if train["compile"]:
        twice = gan.twice_differentiated()
        for name, net in gan.nets.items():
            if name in twice:
                log.warning("not compiling %s: its gradient penalty needs a double backward, which "
                            "compiled graphs do not support", name)  # fmt: skip
            else:
                net.compile()
    return choice


def distribute(gan: GAN, config: dict[str, Any], group: Group, device: torch.device) -> None:
    """Join the process group and wrap every trainable network in DistributedDataParallel."""
    if not group.distributed:
        return
    if config["eval"]["n_samples"] % group.world:
        raise ConfigError(f"eval.n_samples ({config['eval']['n_samples']}) must divide evenly among the "
                          f"{group.world} processes")  # fmt: skip
    if config["train"]["sync_batchnorm"] and device.type != "cuda":
        raise ConfigError("train.sync_batchnorm needs CUDA devices (PyTorch's SyncBatchNorm has no CPU version)")
    start_group(group, device, config["train"]["dist_timeout"])
    wrappers = {}
    for name, net in gan.nets.items():
        if config["train"]["sync_batchnorm"]:
            net = gan.nets[name] = nn.SyncBatchNorm.convert_sync_batchnorm(net)
        if any(p.requires_grad for p in net.parameters()):
            ids = [device.index] if device.type == "cuda" else None
            wrappers[name] = DistributedDataParallel(net, device_ids=ids, find_unused_parameters=gan.unused_parameters)
    gan.distribute(group, wrappers)
