"""The whole training iteration as one CUDA graph: captured once, replayed every iteration.

Small GANs spend most of a step launching kernels. After a few eager warm-up iterations (on a
side stream, as CUDA graphs require, which also creates the optimisers' state), one iteration
(every player's forward, backward and optimiser step, noise and, for streamed data, the real
batch) is captured and then replayed with a single launch. What the host does between replays
stays outside the graph: copying the next real batches of a fixed data set into the graph's
input buffers, counting the statistics the graph adds into the running sums, the EMA of G.

A model or setting that needs a host decision inside the iteration cannot be captured;
`graph_obstacle` names why, and the engine then trains eagerly and says so.
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import torch
from torch import Tensor

from .errors import ConfigError

# The engine's Trainer, seen only through the attributes used here (device, group, config,
# precision, optimizers, players, data, means, noise_rng, gan, schedules, train_step, updates);
# not imported, so that the engine can import this module.
Trainer = Any

log = logging.getLogger("gankit")

Batch = dict[str, Tensor]


class StepGraph(Protocol):
    """What GraphedStep needs of a graph: capture a function once, replay it."""

    def capture(self, body: Callable[[], None]) -> None: ...

    def replay(self) -> None: ...


class CudaStepGraph:
    """A torch.cuda.CUDAGraph that also replays the given torch.Generators' draws."""

    def __init__(self, generators: list[torch.Generator]) -> None:
        self.graph = torch.cuda.CUDAGraph()
        cuda = [g for g in generators if g.device.type == "cuda"]
        if cuda and not hasattr(self.graph, "register_generator_state"):
            raise GraphUnsupported(
                f"PyTorch {torch.__version__} cannot replay a torch.Generator of its own in a CUDA graph"
            )
        for generator in cuda:
            self.graph.register_generator_state(generator)

    def capture(self, body: Callable[[], None]) -> None:
        with torch.cuda.graph(self.graph):
            body()

    def replay(self) -> None:
        self.graph.replay()


class GraphUnsupported(RuntimeError):
    """This iteration cannot be captured; the reason is the message."""


def graph_obstacle(trainer: Trainer) -> str | None:
    """Why this run's iteration cannot be captured as a CUDA graph (None: it can)."""
    if trainer.device.type != "cuda":
        return f"a CUDA graph needs a CUDA device (this run is on {trainer.device.type})"
    if trainer.group.distributed:
        return "data-parallel gradient reduction (DDP hooks) is not captured"
    if not trainer.precision.graph_safe:
        return "fp16's gradient scaler decides on the host at every update (use bf16)"
    if trainer.config["train"]["compile"]:
        return "train.compile and train.cuda_graph are alternatives; choose one"
    for name, optimizer in trainer.optimizers.items():
        if "capturable" not in optimizer.defaults and not isinstance(optimizer, torch.optim.SGD):
            return (
                f"optimiser {type(optimizer).__name__} of {name} has no capturable form (Adam, AdamW, RMSprop, SGD do)"
            )
    if trainer.finite.skip:
        return "train.nonfinite = skip decides on the host at every update whether to step"
    if trainer.accumulate > 1:
        return "train.accumulate > 1 draws several batches per update (the graph stages one per update)"
    if not trainer.schedules.constant:
        return "a learning-rate schedule (optim.<player>.warmup/decay) changes the rate on the host"
    return trainer.gan.graph_obstacle()


@contextlib.contextmanager
def side_stream(device: torch.device) -> Iterator[None]:
    """Run the body on a fresh CUDA stream ordered after the current one (eager warm-up before
    capture must not run on the default stream); a no-op off CUDA."""
    if device.type != "cuda":
        yield
        return
    stream = torch.cuda.Stream(device)
    stream.wait_stream(torch.cuda.current_stream(device))
    try:
        with torch.cuda.stream(stream):
            yield
    finally:
        torch.cuda.current_stream(device).wait_stream(stream)


class GraphedStep:
    """A drop-in for `Trainer.train_step`: eager warm-up, then capture, then replays.

    If capture fails, the failure is logged and every later iteration runs eagerly; the state
    is as it was before the attempt (capture executes nothing).
    """

    warmup = 3

    def __init__(self, trainer: Trainer, make_graph: Callable[[list[torch.Generator]], StepGraph] | None = None):
        self.trainer = trainer
        self.make_graph = make_graph or CudaStepGraph
        self.graph: StepGraph | None = None
        self.eager = False
        self.done_warmup = 0
        self.inputs: list[Batch] = []  # the graph's real-batch buffers (fixed data sets)
        self.counts: Counter[str] = Counter()  # statistics the graph adds per replay
        self.streamed = getattr(trainer.data, "graph_safe", False)
        self.saved_rng: list[tuple[torch.Generator, Tensor]] = []
        self.stream: torch.cuda.Stream | None = None  # the stream current before capture
        trainer.precision.cache_casts = False

    def __call__(self) -> None:
        trainer = self.trainer
        if self.eager:
            trainer.train_step()
            return
        if self.done_warmup < self.warmup:
            self.done_warmup += 1
            with side_stream(trainer.device):
                trainer.train_step()
            return
        if self.graph is None:
            batches = self._next_batches()
            try:
                self._capture(batches)
            except Exception as exc:  # noqa: BLE001 - any capture failure means: train eagerly
                self._give_up(exc, batches)
                return
        else:
            self._load_inputs(self._next_batches())
        self.graph.replay()
        for key, count in self.counts.items():
            trainer.means.counts[key] = trainer.means.counts.get(key, 0) + count

    # ------------------------------------------------------------------ capture

    def _draws(self) -> int:
        """Real batches one iteration draws (a player without `fresh_batch` reuses the last)."""
        draws, have = 0, False
        for player in self.trainer.players:
            for _ in range(player.steps if player.uses_data else 0):
                if player.fresh_batch or not have:
                    draws, have = draws + 1, True
        return draws

    def _next_batches(self) -> list[Batch]:
        """This iteration's real batches of a fixed data set, drawn on the host's schedule."""
        return [] if self.streamed else [self.trainer.data.next() for _ in range(self._draws())]

    def _generators_usable(self) -> bool:
        """Whether the engine's generators (and the default CUDA one) can draw again after a
        failed capture, without consuming a draw."""
        device = self.trainer.device
        generators = [g for g, _ in self.saved_rng] + [torch.cuda.default_generators[device.index or 0]]
        for generator in generators:
            state = generator.get_state()
            try:
                torch.empty(1, device=device).normal_(generator=generator)
            except RuntimeError:
                return False
            finally:
                try:
                    generator.set_state(state)
                except RuntimeError:
                    return False
        return True

    def _load_inputs(self, batches: list[Batch]) -> None:
        for buffers, batch in zip(self.inputs, batches):
            for key, value in batch.items():
                buffers[key].copy_(value)

    def _body(self) -> None:
        """One iteration on the input buffers, adding its statistics into the running sums."""
        trainer = self.trainer
        inputs = iter(self.inputs)
        next_batch = trainer.data.next if self.streamed else lambda: next(inputs)
        self.counts = Counter()
        for stats in trainer.updates(next_batch):
            for key, value in stats.items():
                trainer.means.sums[key].add_(value.detach().float())
                self.counts[key] += 1

    def _capture(self, batches: list[Batch]) -> None:
        trainer = self.trainer
        self.inputs = [{k: v.clone() for k, v in batch.items()} for batch in batches]
        generators = [trainer.noise_rng] + ([trainer.data.rng] if self.streamed else [])
        self.saved_rng = [(g, g.get_state()) for g in generators]
        graph = self.make_graph(generators)
        for optimizer in trainer.optimizers.values():
            set_capturable(optimizer, True, trainer.device)  # here, after any checkpoint was loaded
            optimizer.zero_grad(set_to_none=True)
        self.stream = torch.cuda.current_stream(trainer.device) if trainer.device.type == "cuda" else None
        graph.capture(self._body)
        self.graph = graph
        log.info("training iteration captured as one CUDA graph (after %d eager warm-up iterations)", self.warmup)

    def _give_up(self, exc: Exception, batches: list[Batch]) -> None:
        """Log why capture failed, restore what the attempt touched, run this iteration eagerly.

        A Python error during capture leaves CUDA as it was. A CUDA error (an operation that
        cannot be captured) can leave the generators and the stream in capture mode, which no
        public API undoes: then the run stops with one clear line (its last checkpoint intact)."""
        trainer = self.trainer
        cause = exc.__context__ if exc.__context__ is not None and "previous error" in str(exc) else exc
        first = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
        if trainer.device.type == "cuda":
            if self.stream is not None:
                torch.cuda.set_stream(self.stream)
            if not self._generators_usable():
                raise ConfigError(
                    f"train.cuda_graph: this training iteration cannot be captured ({first}); "
                    "set train.cuda_graph=false (the run's last checkpoint is intact)"
                ) from None
            torch.cuda.synchronize(trainer.device)
        log.warning("CUDA graph capture failed (%s); training continues eagerly", first)
        for net in trainer.gan.nets.values():
            net.requires_grad_(True)
        trainer.gan.active = frozenset()
        for optimizer in trainer.optimizers.values():
            optimizer.zero_grad(set_to_none=True)
        trainer.precision.cache_casts = True
        for generator, state in self.saved_rng:
            generator.set_state(state)
        for optimizer in trainer.optimizers.values():
            set_capturable(optimizer, False, trainer.device)
        self.eager, self.graph = True, None
        pending = iter(batches)
        trainer.train_step((lambda: next(pending)) if batches else None)  # this iteration's batches, if drawn


def set_capturable(optimizer: torch.optim.Optimizer, capturable: bool, device: torch.device) -> None:
    """Switch the optimiser's `capturable` form (Adam, AdamW, RMSprop…; SGD needs none) and
    keep its step counters where that form wants them: on the device when capturable, on the
    host otherwise. A no-op off CUDA."""
    if device.type != "cuda" or "capturable" not in optimizer.defaults:
        return
    for group in optimizer.param_groups:
        group["capturable"] = capturable
    for state in optimizer.state.values():
        if isinstance(state.get("step"), Tensor):
            state["step"] = state["step"].to(device if capturable else "cpu")
