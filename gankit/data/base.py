"""Targets and batch sources.

A target knows how to draw real samples, how to score generated ones and how to picture
both. A source turns a target into batches: fresh samples every batch (`StreamSource`), or a
fixed set drawn once and walked in shuffled epochs (`FixedSource`). Both keep their state
on the device and can save and restore it, so a resumed run sees the same batches.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import Tensor

from ..distributed import SINGLE, Group, check_batch
from ..errors import ConfigError
from ..rng import derive_seed, make_generator
from ..runtime import check_memory


class Target(Protocol):
    """What a GAN learns: a distribution to sample, with its own measures and picture.

    `dataset` is a finite data set ({"x": samples, "y": labels} on the CPU, possibly stored
    compactly) or None for a distribution sampled afresh; `decode` turns a batch of stored
    samples into what the networks see. `num_classes` > 0 marks labelled data. `to_images`
    gives uint8 N×C×H×W pictures of samples, or None when samples are not images.
    `picture` names the file of the target's own picture in plots/; `value_range` is
    "minus-one-one" or "zero-one" for images and None otherwise.
    """

    shape: tuple[int, ...]
    num_classes: int
    picture: str
    value_range: str | None

    @property
    def dataset(self) -> dict[str, Tensor] | None: ...

    def decode(self, stored: Tensor) -> Tensor: ...

    def sample(self, n: int, rng: torch.Generator) -> Tensor: ...

    def evaluate(self, fake: Tensor, rng: torch.Generator, labels: Tensor | None = None) -> dict[str, float]: ...

    def draw(self, ax: Any, real: Tensor, fake: Tensor, noise: Tensor) -> None: ...

    def to_images(self, samples: Tensor) -> Tensor | None: ...


@dataclass(frozen=True)
class TargetInfo:
    """What a model and a sampler need to know of a target, without its data: saved in every
    checkpoint so that a run can be loaded and sampled where its dataset is absent."""

    shape: tuple[int, ...]
    num_classes: int = 0
    value_range: str | None = None  # "minus-one-one" or "zero-one" for images, None otherwise
    class_frequencies: tuple[float, ...] = ()
    keys: tuple[str, ...] = ("x",)  # what a batch holds: x samples, y class ids, a input images, attrs
    input_shape: tuple[int, ...] = ()  # shape of the input images "a" of paired data
    class_names: tuple[str, ...] = ()  # names of the classes, domains or attributes (empty: none)
    multi_label: bool = False  # labels are N×K multi-hot attributes ("attrs"), not one class id per sample

    @classmethod
    def of(cls, target: Target) -> TargetInfo:
        frequencies: tuple[float, ...] = ()
        dataset = target.dataset
        if target.num_classes and dataset is not None and "y" in dataset:
            counts = torch.bincount(dataset["y"], minlength=target.num_classes).double()
            frequencies = tuple((counts / counts.sum()).tolist())
        keys = batch_keys(target)
        input_shape = tuple(getattr(target, "input_shape", ()) or ())
        names = tuple(str(name) for name in getattr(target, "class_names", ()) or ())
        multi_label = bool(getattr(target, "multi_label", False))
        return cls(tuple(target.shape), target.num_classes, target.value_range, frequencies, keys, input_shape,
                   names, multi_label)  # fmt: skip

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> TargetInfo:
        """Read back `to_dict`; older records (no keys, input shape, class names or multi-label flag)
        read as they meant: gankit 0.1's single-label or unlabelled samples."""
        classes = state["num_classes"]
        keys = tuple(state.get("keys") or (("x", "y") if classes else ("x",)))
        return cls(tuple(state["shape"]), classes, state["value_range"], tuple(state["class_frequencies"]), keys,
                   tuple(state.get("input_shape") or ()), tuple(state.get("class_names") or ()),
                   bool(state.get("multi_label", False)))  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {
            "shape": list(self.shape),
            "num_classes": self.num_classes,
            "value_range": self.value_range,
            "class_frequencies": list(self.class_frequencies),
            "keys": list(self.keys),
            "input_shape": list(self.input_shape),
            "class_names": list(self.class_names),
            "multi_label": self.multi_label,
        }

    @property
    def is_image(self) -> bool:
        return self.value_range is not None

    def to_images(self, samples: Tensor) -> Tensor | None:
        """Samples as uint8 N×C×H×W pictures, or None when they are not images."""
        return samples_to_images(samples, self.shape, self.value_range) if self.is_image else None


def batch_keys(target: Target) -> tuple[str, ...]:
    """What the target's batches hold: its declared `keys`, else its data set's, else samples."""
    declared = getattr(target, "keys", None)
    if declared:
        return tuple(declared)
    groups = getattr(target, "groups", None)
    if groups:
        return tuple(key for tensors in groups.values() for key in tensors)
    dataset = target.dataset
    return tuple(dataset) if dataset is not None else ("x",)


def samples_to_images(samples: Tensor, shape: tuple[int, ...], value_range: str) -> Tensor:
    """Float samples in [-1, 1] or [0, 1] → uint8 N×C×H×W (clamped, rounded), same device."""
    x = samples.detach().to(torch.float32).reshape(-1, *shape).nan_to_num(0.0)
    x = x * 255 if value_range == "zero-one" else (x + 1) * 127.5
    return x.clamp_(0, 255).round_().to(torch.uint8)


class DataSource(Protocol):
    @property
    def epochs(self) -> float | None:
        """Passes over a fixed data set so far (None for an endless stream)."""

    def next(self) -> dict[str, Tensor]: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class StreamSource:
    """Fresh samples from the target for every batch: an endless data set. Under data
    parallelism every process draws the same global batch and keeps its slice."""

    def __init__(self, target: Target, batch_size: int, seed: int, device: torch.device, group: Group = SINGLE) -> None:
        self.target = target
        self.group = group
        self.local_batch = check_batch(batch_size, group)
        check_memory(batch_size * math.prod(target.shape), "one batch of samples", "data.batch_size")
        self.rng = make_generator(device, seed, "data")

    epochs = None
    graph_safe = True  # next() is device work only, with its own generator: a CUDA graph may hold it

    def next(self) -> dict[str, Tensor]:
        return {"x": self.group.draw(self.target.sample, self.local_batch, self.rng)}

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self.rng.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.set_state(state["rng"])


class FixedSource:
    """A fixed data set held on the device, walked in epochs reshuffled from (seed, epoch).

    Every key of the data set is indexed with the same permutation, so paired entries stay
    paired; every key but the class ids "y" is `decode`d, and `augment(batch, rng)` (random
    crops and flips, say) then draws from the source's own generator, saved with its position,
    so that a resumed run sees the same batches. The last incomplete batch of an epoch is
    dropped so every batch has the same shape. Under data parallelism every process walks the
    same global batches (`batch_size` is global) and takes its slice of each, so the position in
    the epoch does not depend on the number of processes and a run resumes on any number of
    them (augmentation draws per process, for its own slice, so it follows the process count).
    """

    def __init__(
        self,
        tensors: dict[str, Tensor],
        batch_size: int,
        seed: int,
        decode: Callable[[Tensor], Tensor] | None = None,
        group: Group = SINGLE,
        augment: Callable[[dict[str, Tensor], torch.Generator], dict[str, Tensor]] | None = None,
    ) -> None:
        self.tensors = tensors
        self.decode = decode
        self.augment = augment
        self.group = group
        self.local_batch = check_batch(batch_size, group)
        self.size = len(next(iter(tensors.values())))
        if batch_size > self.size:
            raise ConfigError(f"data.batch_size ({batch_size}) must be <= the data set size ({self.size})")
        self.batch_size = batch_size
        self.seed = derive_seed(seed, "shuffle")
        self.device = next(iter(tensors.values())).device
        self.epoch, self.position = 0, 0
        self._order = self._permutation(0)
        # each process jitters its own slice, from its own stream (one process: the run's "augment" stream)
        stream = f"augment-{group.rank}" if group.distributed else "augment"
        self.rng = make_generator(self.device, seed, stream) if augment is not None else None

    @property
    def batches_per_epoch(self) -> int:
        return self.size // self.batch_size

    @property
    def epochs(self) -> float:
        return self.epoch + self.position / (self.batches_per_epoch * self.batch_size)

    def _permutation(self, epoch: int) -> Tensor:
        gen = torch.Generator().manual_seed(self.seed + epoch)
        return torch.randperm(self.size, generator=gen).to(self.device)

    def next(self) -> dict[str, Tensor]:
        if self.position + self.batch_size > self.size:
            self.epoch, self.position = self.epoch + 1, 0
            self._order = self._permutation(self.epoch)
        index = self._order[self.position : self.position + self.batch_size][self.group.shard(self.local_batch)]
        self.position += self.batch_size
        batch = {key: value[index] for key, value in self.tensors.items()}
        if self.decode is not None:
            batch = {key: value if key == "y" else self.decode(value) for key, value in batch.items()}
        if self.augment is not None:
            batch = self.augment(batch, self.rng)
        return batch

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"epoch": self.epoch, "position": self.position}
        if self.rng is not None:
            state["augment_rng"] = self.rng.get_state()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
        self._order = self._permutation(self.epoch)
        if self.rng is not None and "augment_rng" in state:
            self.rng.set_state(state["augment_rng"])


class GroupedSource:
    """Several data sets walked side by side, each with its own size and shuffle (the unaligned
    domains of unpaired translation): a batch joins one batch of each. A target declares them
    as `groups`, {group: {key: tensor}}, with distinct keys across groups."""

    def __init__(self, sources: dict[str, FixedSource]) -> None:
        self.sources = sources

    @property
    def epochs(self) -> float:
        """Passes over the first group (the others cycle at their own pace)."""
        return next(iter(self.sources.values())).epochs

    def next(self) -> dict[str, Tensor]:
        return {key: value for source in self.sources.values() for key, value in source.next().items()}

    def state_dict(self) -> dict[str, Any]:
        return {name: source.state_dict() for name, source in self.sources.items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name, source in self.sources.items():
            source.load_state_dict(state[name])


def build_source(
    target: Target, settings: dict[str, Any], seed: int, device: torch.device, group: Group = SINGLE
) -> DataSource:
    """Batches for the `data` config section.

    A target with a `batch_source` method makes its own batches (data/memory.py's DataLoader);
    one with groups of data sets (unaligned domains) walks each in its own shuffled epochs;
    one with a finite data set walks it in shuffled epochs, its stored tensors moved to the
    device once; otherwise `data.size` N > 0 draws a fixed set of N samples, and 0 streams fresh
    samples for every batch.
    """
    own_source = getattr(target, "batch_source", None)  # a target that brings its batches (a DataLoader)
    if own_source is not None:
        return own_source(settings, seed, device, group)
    groups = getattr(target, "groups", None)
    augment = getattr(target, "augment", None)  # a target's own batch augmentation (translation jitter)
    if groups:
        # each group jitters its batches from its own generator (seeded by the group), saved with its position
        return GroupedSource({
            name: FixedSource({k: v.to(device) for k, v in tensors.items()}, settings["batch_size"],
                              derive_seed(seed, f"group-{name}"), target.decode, group, augment)
            for name, tensors in groups.items()
        })  # fmt: skip
    dataset = target.dataset
    if dataset is not None:
        on_device = {key: value.to(device) for key, value in dataset.items()}
        return FixedSource(on_device, settings["batch_size"], seed, target.decode, group, augment)
    size = settings.get("size", 0)
    if size == 0:
        return StreamSource(target, settings["batch_size"], seed, device, group)
    points = target.sample(size, make_generator(device, seed, "dataset"))
    return FixedSource({"x": points}, settings["batch_size"], seed, group=group)
