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
from typing import TYPE_CHECKING, Protocol

import torch
from torch import Tensor

if TYPE_CHECKING:
    from .engine import Trainer

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
    with torch.cuda.stream(stream):
        yield
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
        trainer.precision.cache_casts = False
        for optimizer in trainer.optimizers.values():
            make_capturable(optimizer, trainer.device)

    def __call__(self) -> None:
        trainer = self.trainer
        if self.eager or self.done_warmup < self.warmup:
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
        return sum(p.steps for p in self.trainer.players if p.uses_data)

    def _next_batches(self) -> list[Batch]:
        """This iteration's real batches of a fixed data set, drawn on the host's schedule."""
        return [] if self.streamed else [self.trainer.data.next() for _ in range(self._draws())]

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
            optimizer.zero_grad(set_to_none=True)
        graph.capture(self._body)
        self.graph = graph
        log.info("training iteration captured as one CUDA graph (after %d eager warm-up iterations)", self.warmup)

    def _give_up(self, exc: Exception, batches: list[Batch]) -> None:
        """Log why capture failed, restore what the attempt touched, run this iteration eagerly."""
        trainer = self.trainer
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        log.warning("CUDA graph capture failed (%s); training continues eagerly", first)
        if trainer.device.type == "cuda":
            torch.cuda.synchronize(trainer.device)
        for net in trainer.gan.nets.values():
            net.requires_grad_(True)
        trainer.gan.active = frozenset()
        for optimizer in trainer.optimizers.values():
            optimizer.zero_grad(set_to_none=True)
        trainer.precision.cache_casts = True
        for generator, state in self.saved_rng:
            generator.set_state(state)
        self.eager, self.graph = True, None
        pending = iter(batches)
        stats = trainer.updates(lambda: next(pending) if batches else trainer.data.next())
        for s in stats:
            trainer.means.add(s)


def make_capturable(optimizer: torch.optim.Optimizer, device: torch.device) -> None:
    """Keep the optimiser's step counters on the device so its update can be captured (Adam,
    AdamW, RMSprop… have a `capturable` option; SGD needs none)."""
    if device.type != "cuda":
        return
    for group in optimizer.param_groups:
        if "capturable" in group:
            group["capturable"] = True
    for state in optimizer.state.values():
        if isinstance(state.get("step"), Tensor):
            state["step"] = state["step"].to(device)
