"""Many GANs that differ only in their seed, trained as one program: a population.

Each member is an ordinary Trainer with its own run folder, data stream, noise generator and
optimiser state; it evaluates, draws and checkpoints as a solo run does. The population
stacks the members' weights along a new first axis and runs each network once for all of
them (`torch.func.vmap` over `functional_call`). A batch holds every member's rows, member
after member, so a model's losses run unchanged: their means over all N·B rows are 1/N of
each member's own, and a gradient hook multiplies by N. An element-wise optimiser (Adam, SGD,
…) on the stacked weights then moves every member as its solo run moves it, up to float
rounding, while the per-operation overhead of small networks is paid once instead of N times.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call, vmap
from torch.nn.utils import parametrize

from .engine import Trainer
from .errors import RunError
from .group import Group
from .runtime import StopSignals, TrainingInterrupted

log = logging.getLogger("gankit")
SPLIT_ROWS = 1024  # rows per network call from which a population uses every core
# optimisers whose update of each weight element depends on that element's gradient and state
# alone (and on shared scalars), so one of them over stacked weights moves each member as its own
ELEMENTWISE = ("ASGD", "Adadelta", "Adagrad", "Adam", "AdamW", "Adamax", "NAdam", "RAdam", "RMSprop", "Rprop", "SGD")


class StackedNet(nn.Module):
    """N networks of one architecture, each with its own weights, run as one. Inputs and
    outputs hold the members' rows one member after another (N·B rows for B rows each)."""

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        self.count = len(members)
        self.names = [name for name, _ in members[0].named_parameters()]
        tables = [dict(m.named_parameters()) for m in members]
        self.weights = nn.ParameterList(
            nn.Parameter(torch.stack([t[n].detach() for t in tables]).clone(), requires_grad=tables[0][n].requires_grad)
            for n in self.names
        )
        # the architecture without weights (every one is replaced at each call); not a submodule
        self.__dict__["architecture"] = copy.deepcopy(members[0]).to("meta")

    def forward(self, *inputs: Any) -> Tensor:
        def one(weights: tuple[Tensor, ...], *rows: Any) -> Tensor:
            return functional_call(self.architecture, dict(zip(self.names, weights)), rows)

        dims = (0, *(0 if torch.is_tensor(x) else None for x in inputs))
        rows = [x.unflatten(0, (self.count, -1)) if torch.is_tensor(x) else x for x in inputs]
        return vmap(one, in_dims=dims)(tuple(self.weights), *rows).flatten(0, 1)

    @torch.no_grad()
    def copy_to(self, member: int, module: nn.Module) -> None:
        """Write member `member`'s weights into `module` (its own trainer's network)."""
        for weight, param in zip(self.weights, module.parameters()):
            param.copy_(weight[member])

    @torch.no_grad()
    def copy_from(self, member: int, module: nn.Module) -> None:
        """Put `module`'s weights back as member `member`'s."""
        for weight, param in zip(self.weights, module.parameters()):
            weight[member].copy_(param)


@dataclass(frozen=True)
class MemberStreams(Group):
    """The group a population's model plays in: a draw of N·B rows gives each member its B
    rows from its own generator, so every member sees the noise its solo run would."""

    generators: tuple[torch.Generator, ...] = ()

    def draw(self, sampler: Callable[[int, torch.Generator], Tensor], n: int, rng: torch.Generator) -> Tensor:
        share = n // len(self.generators)
        return torch.cat([sampler(share, generator) for generator in self.generators])


class PopulationSource:
    """The members' data sources side by side: a batch joins one batch of each, in member order."""

    def __init__(self, sources: Sequence[Any]) -> None:
        self.sources = list(sources)

    @property
    def epochs(self) -> float | None:
        return self.sources[0].epochs

    def next(self) -> dict[str, Tensor]:
        batches = [source.next() for source in self.sources]
        return {key: torch.cat([b[key] for b in batches]) for key in batches[0]}


def population_obstacle(trainer: Trainer) -> str | None:
    """Why the members of `trainer`'s config cannot be trained as one program (None: they can)."""
    train = trainer.config["train"]
    reason = trainer.gan.population_obstacle()
    if reason is not None:
        return reason
    for player, settings in trainer.config["optim"].items():
        if settings["name"] not in ELEMENTWISE:
            return (f"optim.{player}.name = {settings['name']} does not update each weight on its own (the "
                    f"members' stacked weights would share its steps); element-wise: {', '.join(ELEMENTWISE)}")  # fmt: skip
    for name, net in trainer.gan.nets.items():
        if any(isinstance(m, nn.modules.dropout._DropoutNd) for m in net.modules()):
            return f"network {name} uses dropout (random inside a network, not drawn per member)"
        if any(parametrize.is_parametrized(m) for m in net.modules()):
            return f"network {name} is reparametrised (spectral norm keeps a power-iteration state per network)"
        if any(True for _ in net.buffers()):
            return f"network {name} keeps running statistics (batch norm)"
    if train["precision"] != "fp32":
        return f"train.precision = {train['precision']} (a population trains in fp32)"
    if train["nonfinite"] == "skip":
        return "train.nonfinite = skip decides per update for the whole batch, not per member"
    if train["compile"]:
        return "train.compile = true"
    if trainer.group.distributed:
        return "data parallelism (a population runs in one process)"
    return None


def stack_states(states: Sequence[dict[str, Any]], shapes: Sequence[torch.Size]) -> dict[str, Any]:
    """One optimiser state for stacked weights from each member's: every per-weight tensor
    (shaped like its weight) stacked, shared entries (the step count) taken from the first."""
    first = states[0]
    stacked: dict[Any, dict[str, Any]] = {}
    for index, entry in first["state"].items():
        stacked[index] = {
            key: torch.stack([s["state"][index][key] for s in states])
            if _per_weight(key, value, shapes[index])
            else value
            for key, value in entry.items()
        }
    return {"state": stacked, "param_groups": copy.deepcopy(first["param_groups"])}


def unstack_state(state: dict[str, Any], member: int, count: int, shapes: Sequence[torch.Size]) -> dict[str, Any]:
    """Member `member`'s optimiser state out of one stacked for `count` members (the inverse of
    `stack_states`)."""
    single = {
        index: {
            key: value[member].clone() if _per_weight(key, value, (count, *shapes[index])) else value
            for key, value in entry.items()
        }
        for index, entry in state["state"].items()
    }
    return {"state": single, "param_groups": copy.deepcopy(state["param_groups"])}


def _per_weight(key: str, value: Any, shape: Sequence[int]) -> bool:
    return key != "step" and torch.is_tensor(value) and tuple(value.shape) == tuple(shape)


class Population:
    """Members (Trainers of configs that differ only in `seed`) trained as one program."""

    def __init__(self, members: Sequence[Trainer]) -> None:
        self.members = list(members)
        first = self.members[0]
        reason = population_obstacle(first)
        if reason is not None:
            raise RunError(f"these members cannot be trained as one program: {reason}")
        steps = {m.step for m in self.members}
        if len(steps) > 1:
            raise RunError(f"members trained as one program must start at one iteration; these are at {sorted(steps)}")
        n = len(self.members)
        gan = copy.deepcopy(first.gan)
        for name in gan.nets:
            gan.nets[name] = StackedNet([m.gan.nets[name] for m in self.members])
        for name in gan.ema:
            gan.ema[name] = StackedNet([m.gan.ema[name] for m in self.members]).requires_grad_(False)
        config = copy.deepcopy(first.config)
        config["train"]["cuda_graph"] = False  # the members' generators are not the captured one's
        self.engine = Trainer(config, gan=gan, target=first.target)
        try:
            self._join(n)
        except BaseException:
            self.engine.close()
            raise

    def _join(self, n: int) -> None:
        """Route the engine's draws and batches to the members, and stack their optimiser states."""
        first, config = self.members[0], self.engine.config
        # operations N times larger than a member's can share out over more threads than the
        # members' own (train.threads, 1 for the toy presets): every thread the process had
        # before them, once they reach SPLIT_ROWS rows (measured: bench/population.py)
        if n * config["data"]["batch_size"] >= SPLIT_ROWS:
            torch.set_num_threads(first._threads)
        self.engine.gan.populate(MemberStreams(generators=tuple(m.noise_rng for m in self.members)), n)
        self.engine.data = PopulationSource([m.data for m in self.members])
        self.engine.step = first.step
        self.shapes = {p: [w.shape for w in first.player_params[p]] for p in first.optimizers}
        if any(m.optimizers[p].state for m in self.members for p in m.optimizers):  # resumed members
            for player, optimizer in self.engine.optimizers.items():
                states = [m.optimizers[player].state_dict() for m in self.members]
                optimizer.load_state_dict(stack_states(states, self.shapes[player]))
        # each member's gradient from the means over all members' rows (0 once it has diverged)
        self.scale = torch.full((n,), float(n), device=self.engine.device)
        for params in self.engine.player_params.values():
            for weight in params:
                view = self.scale.view(n, *[1] * (weight.dim() - 1))
                weight.register_hook(lambda grad, view=view: grad * view)
        self.diverged: dict[int, int] = {}  # member → the iteration by which its weights were not finite
        names = [m.config["name"] for m in self.members]
        for trainer in self.members:  # how its report lines and warnings name each member
            name = trainer.config["name"]
            unique = name and names.count(name) == 1
            trainer.label = name if unique else f"{name or 'member'}, seed {trainer.config['seed']}"

    # ------------------------------------------------------------------ copying to and from members

    def _stacked(self) -> list[tuple[StackedNet, Callable[[Trainer], nn.Module]]]:
        gan = self.engine.gan
        nets = [(gan.nets[name], lambda m, name=name: m.gan.nets[name]) for name in gan.nets]
        return nets + [(gan.ema[name], lambda m, name=name: m.gan.ema[name]) for name in gan.ema]

    @torch.no_grad()
    def sync(self, member: int, optimisers: bool) -> None:
        """Give member `member`'s trainer its weights, averages, model state and iteration (and
        its optimiser states when `optimisers`, for a checkpoint)."""
        trainer = self.members[member]
        for stacked, own in self._stacked():
            stacked.copy_to(member, own(trainer))
        extra = getattr(type(self.engine.gan), "get_extra_state", None)
        if extra is not None and extra is not nn.Module.get_extra_state:
            trainer.gan.set_extra_state(self.engine.gan.get_extra_state())
        trainer.step = self.engine.step
        if optimisers:
            for player, optimizer in self.engine.optimizers.items():
                state = unstack_state(optimizer.state_dict(), member, len(self.members), self.shapes[player])
                trainer.optimizers[player].load_state_dict(state)

    @torch.no_grad()
    def _watch(self) -> None:
        """Freeze every member whose weights stopped being finite (one host read)."""
        finite = torch.stack([w.flatten(1).isfinite().all(1) for s, _ in self._stacked() for w in s.weights]).all(0)
        for member, ok in enumerate(finite.tolist()):
            if ok or member in self.diverged:
                continue
            trainer = self.members[member]
            self.diverged[member] = self.engine.step
            message = (f"member {trainer.label} diverged by iteration {self.engine.step}: frozen at its last "
                       f"finite weights (iteration {trainer.step}); the other members go on")  # fmt: skip
            log.warning(message)
            trainer.health.warnings.append(message)
            for stacked, own in self._stacked():  # back to what it last had, and no further moves
                stacked.copy_from(member, own(trainer))
            self.scale[member] = 0.0
            for optimizer in self.engine.optimizers.values():
                for state in optimizer.state.values():
                    for key, value in state.items():
                        if key != "step" and torch.is_tensor(value) and value.dim() > 0:
                            value[member].zero_()

    @property
    def alive(self) -> list[int]:
        return [i for i in range(len(self.members)) if i not in self.diverged]

    # ------------------------------------------------------------------ the loop

    def fit(self, progress: Any = None) -> list[dict[str, Any]]:
        """Train every member to `train.steps`; each then finishes as a solo run does (final
        checkpoint, generator, pictures, summary). Returns the members' summaries."""
        engine, total = self.engine, self.engine.config["train"]["steps"]
        for trainer in [*self.members, engine]:  # members evaluate on threads, as one loop's work
            trainer.measure_apart = False
        bars = [m.begin() for m in self.members]
        engine.begin()
        try:
            with StopSignals() as stop:
                while engine.step < total:
                    engine.iterate()
                    if progress is not None:
                        progress.update()
                    due = engine._due_at(engine.step)
                    if any(due):
                        self._at_intervals(due, bars)
                    if stop.requested and engine.step < total:
                        self.save()
                        raise TrainingInterrupted(engine.step, None)
        finally:
            for bar in [*bars, engine._bar]:
                bar.close()
        for i in self.alive:
            self.sync(i, optimisers=True)
        summaries = []
        for trainer in self.members:  # a diverged member finishes at its last finite iteration
            trainer._record_finished(wait=True)
            summaries.append(trainer.finish())
        return summaries

    def _at_intervals(self, due: tuple[bool, ...], bars: list[Any]) -> None:
        log_due, evaluate, draw, grid, checkpoint = due
        engine = self.engine
        self._watch()  # before any member is given weights to draw, evaluate or save
        if log_due:
            engine.means.pop(lambda t: t)  # the population's means: each member's are not separable
        # a checkpoint, or an evaluation that may become the best one, saves the optimisers too
        optimisers = checkpoint or (evaluate and bool(engine.config["eval"]["best"]))
        for i in self.alive:
            self.sync(i, optimisers)
            self.members[i]._at_intervals(bars[i])

    def save(self) -> None:
        """A checkpoint of every member still training, at this iteration."""
        for i in self.alive:
            self.sync(i, optimisers=True)
            self.members[i].save_checkpoint()

    def close(self) -> None:
        """Close the trainers in the reverse of their making (each restores the thread count it found)."""
        self.engine.close()
        for trainer in reversed(self.members):
            trainer.close()
