"""What a GAN is to the engine: the contract every model implements.

A model is an `nn.Module` holding its networks by name. It declares
- what a training batch holds (`batch_keys`: "x" images or points, "y" class ids, "a" an input
  image paired with its target "x", …) and checks that the data gives it (`check_data`);
- its players (`players()`): each names the networks it updates, the loss it minimises and how
  often it moves; each player's optimiser is `optim.<player>` in the config, with its
  learning-rate schedule;
- how it samples and what its pictures show (`snapshot`, `grid`): from noise (and labels) for
  generative models, from input images for translation models;
- a hook called before every iteration (`on_iteration`) for training that changes with time;
- which networks are generators (`generators`), each averaged (EMA) when the run asks.
The engine calls only these; it names no model, player or statistic.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor, nn

from .distributed import SINGLE, Group
from .errors import CheckpointError, ConfigError
from .layers import apply_spectral_norm

log = logging.getLogger("gankit")
Batch = dict[str, Tensor]
LossFn = Callable[[Batch, torch.Generator], tuple[Tensor, dict[str, Tensor]]]
SPECTRAL_NORM_PLAYERS = {"D": ("D",), "G": ("G",), "both": ("D", "G"), "none": ()}


@dataclass
class Player:
    """One side of the game: the networks it updates, its loss, and how often it moves.

    `loss(batch, rng)` returns the loss to minimise and a dict of detached statistics (kept on
    the device; the engine averages them between log records; names ending in `loss` are
    drawn as losses). `batch` is a real batch when `uses_data` (a fresh one per update, or with
    `fresh_batch=False` the batch the previous player drew this iteration), else an empty dict.
    The other players' networks are frozen during its update, except those in `forwards`: it
    runs them with their graph kept, for a later player to differentiate (Pix2Pix's D step
    translates the batch once for both updates, as the reference does). `before_step` runs
    between the backward pass and the optimiser step (a regulariser that adds to the gradients
    directly); `after_update` after the step (WGAN's weight clipping).
    """

    name: str
    networks: tuple[str, ...]
    loss: LossFn
    steps: int = 1
    uses_data: bool = True
    after_update: Callable[[], None] | None = None
    fresh_batch: bool = True
    forwards: tuple[str, ...] = ()
    before_step: Callable[[], None] | None = None


def check_accumulation(accumulate: int, players: Sequence[Player]) -> int:
    """`train.accumulate` micro-batches per update, if every player can take them: one that reuses
    the previous player's batch or its kept graph (Pix2Pix's G) cannot be split."""
    bound = [p.name for p in players if not p.fresh_batch or p.forwards]
    if accumulate > 1 and bound:
        raise ConfigError(f"train.accumulate = {accumulate} splits every update into micro-batches; player "
                          f"{bound[0]} shares a batch or a forward pass with another player (use 1)")  # fmt: skip
    return accumulate


LatentKind = Literal["normal", "uniform", "uniform-symmetric"]


@dataclass(frozen=True)
class Latent:
    """The generator's input noise: N(0, 1), uniform [0, 1) or uniform [−1, 1)."""

    dim: int
    kind: LatentKind = "normal"

    def sample(self, n: int, rng: torch.Generator, truncation: float | None = None) -> Tensor:
        """n noise vectors; with `truncation` t (normal noise only), every entry lies in [−t, t].

        Truncation is BigGAN's trick: entries beyond ±t are redrawn until they fall inside, so
        each entry follows N(0, 1) conditioned on |z| ≤ t. That distribution is drawn here in one
        pass by inverting the normal CDF on [Φ(−t), Φ(t)]: no loop, no host synchronisation, and
        the same uniform draws for every t, so a sweep over t moves each sample smoothly.
        """
        if truncation is not None:
            if self.kind != "normal":
                raise ValueError(f"truncation needs normal noise; this generator takes {self.kind} noise")
            low = 0.5 * math.erfc(truncation / math.sqrt(2))  # Φ(−t)
            precise = torch.float32 if rng.device.type == "mps" else torch.float64  # MPS has no float64
            u = torch.rand(n, self.dim, generator=rng, device=rng.device, dtype=precise)
            return torch.special.ndtri(low + u * (1 - 2 * low)).clamp_(-truncation, truncation).float()
        if self.kind == "normal":
            return torch.randn(n, self.dim, generator=rng, device=rng.device)
        z = torch.rand(n, self.dim, generator=rng, device=rng.device)
        return z * 2 - 1 if self.kind == "uniform-symmetric" else z


@dataclass
class Snapshot:
    """What an evaluation or a picture shows: generated samples, what they came from (noise, or
    input images), a real reference, and the measures with their protocol."""

    fake: Tensor
    noise: Tensor
    real: Tensor
    measures: dict[str, float] = field(default_factory=dict)
    protocol: dict[str, Any] = field(default_factory=dict)


class GAN(nn.Module):
    """Base of every model: networks by name, players, generators and their moving averages."""

    kind = "generative"  # "generative" (samples from noise) or "translation" (from input images)
    batch_keys: tuple[str, ...] = ("x",)  # what a training batch must hold
    generators: tuple[str, ...] = ("G",)  # networks that produce samples (the first is the main one)
    # whether `snapshot` may run on a worker thread, on a copy of the model, while training goes
    # on: not if it draws from (or reseeds) the global random generator training draws from
    evaluates_in_background = True
    # whether some parameters may get no gradient in an update (layers a growing model has not
    # reached yet): data parallelism then has DDP look for them every step
    unused_parameters = False

    def __init__(self, nets: Mapping[str, nn.Module]) -> None:
        super().__init__()
        self.nets = nn.ModuleDict(nets)
        self.ema = nn.ModuleDict()  # moving averages of the generators, by name (saved in checkpoints)
        self.ema_decay, self.ema_start = 0.0, 0
        # data parallelism (gankit/distributed.py): this process's place, the DDP wrappers of
        # the networks, and which of them the player now updating owns
        self.group: Group = SINGLE
        self.wrappers: dict[str, nn.Module] = {}
        self.active: frozenset[str] = frozenset()

    # ------------------------------------------------------------------ what the engine calls

    def players(self) -> list[Player]:
        raise NotImplementedError

    def on_iteration(self, step: int, total: int) -> Sequence[str]:
        """Called on the host before iteration `step` of `total` (a fade-in, a decaying weight);
        returns the players whose optimiser state starts afresh now (a network that grew). A
        value changed here must live in a tensor updated in place, or `graph_obstacle` must say
        so: a CUDA graph replays what it captured."""
        return ()

    def check_data(self, keys: Sequence[str], target_name: str) -> None:
        """A ConfigError unless the data's batches hold what this model's batches need."""
        missing = [k for k in self.batch_keys if k not in keys]
        if missing:
            raise ConfigError(f"model {type(self).__name__} needs batches holding {', '.join(self.batch_keys)} "
                              f"({self.describe_keys()}); data.target {target_name} gives {', '.join(keys)}")  # fmt: skip

    def describe_keys(self) -> str:
        return "x: samples"

    def check_evaluation(self, target: Any, evaluation: Mapping[str, Any]) -> None:
        """A ConfigError, before training, for evaluation settings this model cannot honour."""
        if evaluation.get("digits"):
            raise ConfigError(f"eval.digits measures translations between digit domains; model {type(self).__name__} "
                              "does not translate between domains (use it with cyclegan or stargan)")  # fmt: skip

    def loss_guides(self) -> dict[str, float]:
        """Values that statistics take at the ideal equilibrium, drawn beside the loss curves."""
        return {}

    def log_stats(self, means: dict[str, float]) -> dict[str, float]:
        """A log record's statistics from the interval's means, with those derived from them:
        D's overall accuracy is the mean of its accuracy on real and on generated samples (equal
        halves of every update), so it is computed once per record rather than at every update."""
        if "acc_real" in means and "acc_fake" in means:
            means["d_accuracy"] = (means["acc_real"] + means["acc_fake"]) / 2
        return means

    def accuracy_meaningful(self) -> bool:
        """Whether D's logged accuracy is a classifier's (critics' outputs are not probabilities)."""
        return True

    def snapshot(self, target: Any, n: int, seed: int, measure: bool, image_metrics: Any, group: Group) -> Snapshot:
        """Samples for evaluation and pictures from fixed seeds, with their measures."""
        raise NotImplementedError

    def grid(self, target: Any, rows: int, cols: int, seed: int) -> tuple[Tensor, int] | None:
        """The uint8 N×C×H×W images of a sample grid and its column count (None: no images)."""
        return None

    def grid_row_names(self, class_names: Sequence[str]) -> list[str]:
        """The label of each row of `grid` (empty: its rows need none); `class_names` are the target's."""
        return []

    def twice_differentiated(self) -> frozenset[str]:
        """Networks whose loss differentiates them twice (gradient penalties): torch.compile
        cannot compile those."""
        return frozenset()

    def graph_obstacle(self) -> str | None:
        """Why one training iteration of this model cannot be a static CUDA graph (None: it can)."""
        return None

    def population_obstacle(self) -> str | None:
        """Why members of this model cannot be trained as one program (gankit/population.py):
        only games whose every random draw goes through `group.draw` can be (None: they can)."""
        return f"{type(self).__name__} draws its randomness outside group.draw"

    def populate(self, group: Group, members: int) -> None:
        """Play as `members` GANs at once: batches hold every member's rows, and `group` draws
        each member's noise from its own generator."""
        raise NotImplementedError(self.population_obstacle())

    def set_augment(self, augment: Any) -> None:
        """Show D every image through `augment` (`train.augment`, a DiffAugment; None: as they are)."""
        if augment is not None:
            raise ConfigError(f"train.augment needs a game that shows D images from noise; {type(self).__name__} "
                              "does not take it yet (leave train.augment empty)")  # fmt: skip

    def set_truncation(self, truncation: float | None) -> None:
        """Sample with noise truncated to [−t, t] (BigGAN's trick; None: untruncated): only models
        that sample from normal noise have noise to truncate."""
        if truncation is not None:
            raise ConfigError(f"truncation applies to models that sample from noise; {type(self).__name__} "
                              "translates input images (leave eval.truncation at 0)")  # fmt: skip

    def pack_discriminator(self, discriminator: nn.Module, m: int) -> None:
        """Let D judge packs of `m` samples (`model.pack`, PacGAN) with `discriminator`, built for
        packs: only games of unconditional samples define what a pack is."""
        raise ConfigError(f"model.pack = {m} needs a GAN that judges unconditional samples; "
                          f"{type(self).__name__} does not (use model.pack = 1)")  # fmt: skip

    # ------------------------------------------------------------------ networks

    def net(self, name: str) -> nn.Module:
        """Network `name` as a loss should call it: through its DistributedDataParallel wrapper
        while its own player updates it (gradients are averaged across processes), plain
        otherwise (a frozen network needs no gradient reduction)."""
        if name in self.active and name in self.wrappers:
            return self.wrappers[name]
        return self.nets[name]

    def distribute(self, group: Group, wrappers: dict[str, nn.Module]) -> None:
        """Take part in data-parallel training as `group`, with DDP `wrappers` of the networks."""
        self.group, self.wrappers = group, wrappers

    @property
    def generator(self) -> nn.Module:
        """The main generator as it trains."""
        return self.nets[self.generators[0]]

    def averaged(self, name: str) -> nn.Module:
        """Generator `name` as samples come from it: its moving average when kept, else itself."""
        return self.ema[name] if name in self.ema else self.nets[name]

    @property
    def sampling_generator(self) -> nn.Module:
        """The network samples come from: the main generator's average when kept, else itself."""
        return self.averaged(self.generators[0])

    def apply_spectral_norm(self, which: str) -> None:
        """Spectral norm on every network of the players `model.spectral_norm` names (D, G, both)."""
        chosen = SPECTRAL_NORM_PLAYERS[which]
        names = [p.name for p in self.players()]
        if any(name not in names for name in chosen):
            raise ConfigError(f"model.spectral_norm = {which} names players D and G; this model's players are "
                              f"{', '.join(names)} (use none)")  # fmt: skip
        for player in self.players():
            if player.name in chosen:
                for name in player.networks:
                    apply_spectral_norm(self.nets[name])

    # ------------------------------------------------------------------ moving averages

    def configure(self, train: Mapping) -> None:
        """Apply the engine-level options of the `train` config section (generators' EMA) once."""
        if train["ema_decay"] > 0 and not len(self.ema):
            self.enable_ema(train["ema_decay"], train["ema_start"])

    def enable_ema(self, decay: float, start: int = 0) -> None:
        """Keep a moving average of every generator: weights copied until iteration `start`,
        then averaged with `decay`."""
        for name in self.generators:
            self.ema[name] = copy.deepcopy(self.nets[name]).requires_grad_(False)
        self.ema_decay, self.ema_start = decay, start

    @torch.no_grad()
    def update_ema(self, step: int) -> None:
        """Move the averages towards their generators (no host synchronisation)."""
        for name, average in self.ema.items():
            ema_params, params = list(average.parameters()), list(self.nets[name].parameters())
            if step < self.ema_start:
                torch._foreach_copy_(ema_params, params)
            else:
                torch._foreach_lerp_(ema_params, params, 1.0 - self.ema_decay)
            for ema_buffer, buffer in zip(average.buffers(), self.nets[name].buffers()):
                ema_buffer.copy_(buffer)

    # ------------------------------------------------------------------ weights

    def load_weights(self, weights: dict[str, Tensor], source: str) -> None:
        """Load weights saved by this or an earlier gankit, forgiving only the moving averages: a
        run resumed with EMA newly enabled starts each average from its generator, one resumed
        with it disabled drops them. Checkpoints of gankit 0.1 kept G's average under `ema.`
        (now `ema.G.`); they are read under the new name."""
        if not isinstance(weights, dict):
            raise CheckpointError(f"{source} has no table of weights (found {type(weights).__name__})")
        main = self.generators[0]
        weights = {
            f"ema.{main}.{k[4:]}" if k.startswith("ema.") and not k.startswith(tuple(f"ema.{g}." for g in
                                                                               self.generators)) else k: v
            for k, v in weights.items()
        }  # fmt: skip
        try:
            missing, unexpected = self.load_state_dict(weights, strict=False)
        except RuntimeError as exc:  # shape mismatches
            first = next((line.strip() for line in str(exc).splitlines()[1:] if line.strip()), str(exc))
            raise CheckpointError(f"{source} does not match this model and config: {first}") from None
        averages = [k for k in missing if k.startswith("ema.")]
        if averages:
            log.info("%s has no moving average of the generators; they start from their weights", source)
            for name, average in self.ema.items():
                average.load_state_dict(self.nets[name].state_dict())
        missing = [k for k in missing if not k.startswith("ema.")]
        unexpected = [k for k in unexpected if not k.startswith("ema.")]
        if missing or unexpected:
            what = f"missing {missing[0]}" if missing else f"unexpected {unexpected[0]}"
            count = len(missing) + len(unexpected)
            raise CheckpointError(f"{source} does not match this model and config ({what}, {count} keys differ)")
