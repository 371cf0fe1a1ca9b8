"""Data given in Python: a tensor, a torch Dataset or a DataLoader, as targets the engine trains on.

A tensor or a map-style Dataset is read once into memory and walked like gankit's own data
sets (shuffled epochs from the run's seed, an exact resume). A DataLoader is used as it is
(its batch size, workers, transforms and collation): gankit counts its epochs and batches,
reseeds a shuffling loader's sampler from (seed, epoch) at every pass, and on resume starts
the interrupted pass again and skips the batches it had already given. A fixed pool of the
loader's samples is kept as the real reference of evaluations and pictures. None of this data
is saved with the run: the config records what it was (`data.target = memory`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, IterableDataset, RandomSampler

from ..distributed import Group
from ..errors import ConfigError, DataError
from ..metrics.toy import energy_distance, sliced_wasserstein
from ..plots import draw_points_2d, draw_values_1d
from ..rng import derive_seed
from ..target_settings import MEMORY
from .images import ImageDataset, decode_pixels


def memory(s: dict) -> Any:
    """The data was not saved with the run: say how to give it again."""
    shape = "×".join(map(str, s["shape"])) or "?"
    count = f"{s['samples']:,} samples" if s["samples"] else "samples"
    raise DataError(f"this run trained on data given in Python (a {s['kind']} of {count} of shape {shape}), which "
                    "is not saved with the run: resume it in Python with gankit.resume(run, data=…); loading "
                    "and sampling need no data, evaluating it needs the data loaded in Python")  # fmt: skip


# --------------------------------------------------------------------------- tensors and datasets


class PointsData:
    """Samples that are not images (points, vectors): drawn from the data, measured by sliced W1
    and energy distance against the data, pictured as a scatter (2-D) or a histogram of values."""

    picture = "distribution"
    value_range = None
    pure_evaluation = True

    def __init__(self, x: Tensor, y: Tensor | None) -> None:
        self.x, self.y = x.float().contiguous(), y
        self.shape: tuple[int, ...] = tuple(x.shape[1:])
        self.num_classes = 0 if y is None else int(y.max()) + 1

    @property
    def dataset(self) -> dict[str, Tensor]:
        return {"x": self.x} if self.y is None else {"x": self.x, "y": self.y}

    def decode(self, stored: Tensor) -> Tensor:
        return stored

    def to_images(self, samples: Tensor) -> None:
        return None

    def sample(self, n: int, rng: torch.Generator) -> Tensor:
        """`n` rows of the data drawn at random (with replacement), on `rng.device`."""
        index = torch.randint(len(self.x), (n,), generator=rng, device=rng.device).cpu()
        return self.x[index].to(rng.device)

    def evaluate(self, fake: Tensor, rng: torch.Generator, labels: Tensor | None = None) -> dict[str, float]:
        reference = self.sample(len(fake), rng)
        return {"sliced_w1": sliced_wasserstein(fake, reference), "energy": energy_distance(fake, reference)}

    def draw(self, ax: Any, real: Tensor, fake: Tensor, noise: Tensor) -> None:
        if self.shape == (2,):
            draw_points_2d(ax, real, fake)
        else:
            draw_values_1d(ax, real, fake, noise)


def tensor_target(x: Tensor, y: Tensor | None, what: str) -> PointsData | ImageDataset:
    """The target of samples `x` (N×F points or N×C×H×W images) and optional class ids `y`."""
    if not isinstance(x, Tensor) or x.dim() < 2 or len(x) == 0:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise DataError(f"{what} must be samples × features (N×F) or images (N×C×H×W); got {shape}")
    if y is not None:
        y = torch.as_tensor(y).flatten()
        if y.dtype.is_floating_point or len(y) != len(x) or bool((y < 0).any()):
            raise DataError(f"{what}'s labels must be {len(x)} class ids >= 0 (integers), got {y.dtype} "
                            f"{tuple(y.shape)}")  # fmt: skip
        y = y.long()
    if not (x.dtype == torch.uint8 or x.dtype.is_floating_point):
        raise DataError(f"{what} must hold floats (or uint8 pixels), got {x.dtype}")
    if x.dtype.is_floating_point and not bool(torch.isfinite(x).all()):
        raise DataError(f"{what} holds non-finite values (nan or inf)")
    if x.dim() != 4:
        if x.dtype == torch.uint8:
            x = x.float()
        return PointsData(x, y)
    images, value_range = as_pixels(x, what)
    names = [str(i) for i in range(int(y.max()) + 1)] if y is not None else []
    return ImageDataset(images, y, names, value_range)


def as_pixels(x: Tensor, what: str) -> tuple[Tensor, str]:
    """N×C×H×W images as uint8 pixels and the range their floats are in (uint8 reads as [-1, 1])."""
    if x.dtype == torch.uint8:
        return x.contiguous(), "minus-one-one"
    low, high = float(x.min()), float(x.max())
    if low < -1 or high > 1:
        raise DataError(f"{what}: float images must lie in [0, 1] or [-1, 1] (or be uint8 pixels); these span "
                        f"[{low:.3g}, {high:.3g}]")  # fmt: skip
    value_range = "zero-one" if low >= 0 else "minus-one-one"
    scaled = x * 255 if value_range == "zero-one" else (x + 1) * 127.5
    return scaled.round().clamp(0, 255).to(torch.uint8).contiguous(), value_range


def split_item(item: Any, what: str) -> tuple[Tensor, Tensor | None]:
    """A sample (or batch) and its label(s): a tensor, or an (x, y) pair."""
    if isinstance(item, Tensor):
        return item, None
    if isinstance(item, (tuple, list)) and len(item) == 1 and isinstance(item[0], Tensor):  # a TensorDataset's
        return item[0], None
    if isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[0], Tensor):
        return item[0], torch.as_tensor(item[1])
    raise DataError(f"{what} must give tensors or (x, y) pairs of a tensor and class ids; got "
                    f"{type(item).__name__}")  # fmt: skip


def dataset_target(dataset: Dataset, what: str) -> PointsData | ImageDataset:
    """A map-style Dataset read once into memory (every item: a tensor, or (x, y))."""
    try:
        n = len(dataset)  # type: ignore[arg-type]
    except TypeError:
        raise DataError(f"{what} has no length: give a map-style Dataset, or wrap it in a DataLoader") from None
    if n == 0:
        raise DataError(f"{what} is empty")
    pairs = [split_item(dataset[i], what) for i in range(n)]
    shapes = {tuple(p[0].shape) for p in pairs}
    if len(shapes) > 1:
        raise DataError(f"{what}'s items must all have one shape, got {', '.join(map(str, sorted(shapes)[:3]))}")
    x = torch.stack([p[0] for p in pairs])
    labelled = [p[1] is not None for p in pairs]
    if any(labelled) and not all(labelled):
        raise DataError(f"{what}: some items have labels and some not")
    if all(labelled) and any(p[1].numel() != 1 for p in pairs):  # type: ignore[union-attr]
        raise DataError(f"{what}: the y of an (x, y) item must be one class id")
    y = torch.stack([p[1].reshape(()) for p in pairs]) if all(labelled) else None  # type: ignore[union-attr]
    return tensor_target(x, y, what)


# --------------------------------------------------------------------------- data loaders


class LoaderData:
    """A DataLoader as a target: its batches feed training, a pool of its samples is the reference."""

    def __init__(self, loader: DataLoader, reference: int, seed: int) -> None:
        self.loader, self.seed = loader, seed
        source = LoaderSource(loader, seed, "reference", torch.device("cpu"))
        xs, ys, count = [], [], 0
        while count < reference:
            batch = source.next()
            if source.epoch:  # the whole loader is smaller than the pool
                break
            xs.append(batch["x"])
            ys.append(batch.get("y"))
            count += len(batch["x"])
        self.pool = tensor_target(torch.cat(xs)[:reference], None if ys[0] is None else torch.cat(ys)[:reference],
                                  "the DataLoader's batches")  # fmt: skip
        self.shape, self.num_classes = self.pool.shape, self.pool.num_classes
        self.picture, self.value_range = self.pool.picture, self.pool.value_range
        self.keys = ("x", "y") if self.num_classes else ("x",)
        self.pure_evaluation = getattr(self.pool, "pure_evaluation", False)

    dataset = None  # batches come from the loader itself: see batch_source

    def batch_source(self, settings: dict[str, Any], seed: int, device: torch.device, group: Group) -> LoaderSource:
        if group.distributed:
            raise ConfigError("a DataLoader cannot be shared out among torchrun processes by gankit: give a tensor "
                              "or a Dataset, or train in one process")  # fmt: skip
        return LoaderSource(self.loader, seed, "loader", device, self.pool.value_range, self.num_classes)

    def decode(self, stored: Tensor) -> Tensor:
        return self.pool.decode(stored)

    def to_images(self, samples: Tensor) -> Tensor | None:
        return self.pool.to_images(samples)

    def sample(self, n: int, rng: torch.Generator) -> Tensor:
        return self.pool.sample(n, rng)

    def evaluate(self, fake: Tensor, rng: torch.Generator, labels: Tensor | None = None) -> dict[str, float]:
        return self.pool.evaluate(fake, rng, labels)

    def draw(self, ax: Any, real: Tensor, fake: Tensor, noise: Tensor) -> None:
        self.pool.draw(ax, real, fake, noise)


class LoaderSource:
    """Batches from a DataLoader, on the device, counted in passes (epochs) and batches.

    A shuffling loader (a RandomSampler) is reseeded from (seed, epoch) at each pass (its
    sampler's `generator` is replaced, and stays so after the run), so a run
    sees the same batches every time; a resume restarts the interrupted pass and skips what it
    had given (exact unless the loader's transforms draw random numbers of their own). `position`
    counts the loader's batches, the skipped smaller ones too.
    """

    graph_safe = False

    def __init__(
        self,
        loader: DataLoader,
        seed: int,
        stream: str,
        device: torch.device,
        value_range: str | None = None,
        num_classes: int = 0,
    ) -> None:
        self.loader, self.device, self.value_range, self.num_classes = loader, device, value_range, num_classes
        self.seed = derive_seed(seed, stream)
        self.epoch, self.position = 0, 0
        self._batches: Any = None

    @property
    def epochs(self) -> float:
        try:
            return self.epoch + self.position / max(1, len(self.loader))
        except TypeError:  # an iterable dataset's loader may not know its length
            return float(self.epoch)

    def _start(self) -> None:
        sampler = getattr(self.loader, "sampler", None)
        if isinstance(sampler, RandomSampler):
            sampler.generator = torch.Generator().manual_seed(self.seed + self.epoch)
        self._batches = iter(self.loader)

    def _draw(self) -> Any:
        if self._batches is None:
            self._start()
        try:
            return next(self._batches)
        except StopIteration:
            self.epoch, self.position = self.epoch + 1, 0
            self._start()
            try:
                return next(self._batches)
            except StopIteration:
                raise DataError("the DataLoader gave no batches") from None

    def next(self) -> dict[str, Tensor]:
        """The next batch of the loader's batch size: a smaller one (the last of a pass, without
        drop_last) is skipped, as gankit's own data sets drop theirs, so every batch has one shape."""
        full, started = self.loader.batch_size, self.epoch
        while True:
            x, y = split_item(self._draw(), "the DataLoader")
            self.position += 1
            if not full or len(x) == full:
                break
            if self.epoch > started:
                raise DataError(f"the DataLoader gave no batch of its batch_size ({full}) in a whole pass")
        x = x.to(self.device, non_blocking=True)
        if x.dtype == torch.uint8 and self.value_range is not None:
            x = decode_pixels(x, self.value_range)
        elif x.dtype.is_floating_point:
            x = x.float()
        batch = {"x": x}
        if y is not None:
            if self.num_classes and y.device.type == "cpu" and int(y.max()) >= self.num_classes:
                raise DataError(f"the DataLoader gave class {int(y.max())}, but its first batches (the reference pool) "
                                f"held classes 0–{self.num_classes - 1}: put every class in the pool "
                                "(a larger eval.n_samples, or a shuffling loader)")  # fmt: skip
            batch["y"] = y.to(self.device, torch.long, non_blocking=True).flatten()
        return batch

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch, position = int(state["epoch"]), int(state["position"])
        self._start()
        for _ in range(position):  # the batches this pass had already given
            if next(self._batches, None) is None:
                raise DataError(f"the DataLoader given has fewer batches in a pass than the run had read ({position}): "
                                "give the one the run trained on")  # fmt: skip
        self.position = position


def describe_data(data: Any) -> str:
    """What a user's data object is, for an error line."""
    shape = f" of shape {tuple(data.shape)}" if isinstance(data, Tensor) else ""
    return f"{type(data).__module__}.{type(data).__qualname__}{shape}"


def user_target(data: Any, batch_size: int, reference: int, seed: int) -> tuple[Any, dict[str, Any]]:
    """The target of data given in Python, and the `data` config section that records it; an
    iterable dataset is batched by `batch_size`, `reference` samples of a loader are kept."""
    if isinstance(data, Tensor):
        target, kind = tensor_target(data, None, "data"), "tensor"
    elif isinstance(data, DataLoader):
        target, kind = LoaderData(data, reference, seed), "dataloader"
    elif isinstance(data, IterableDataset):
        target, kind = LoaderData(DataLoader(data, batch_size=batch_size), reference, seed), "dataloader"
    elif isinstance(data, (Dataset, list, tuple)):
        target, kind = dataset_target(data, "data"), "dataset"
    else:
        raise DataError(f"data must be a tensor, a torch Dataset, a DataLoader or a folder of images (a path); got "
                        f"{describe_data(data)}")  # fmt: skip
    samples = 0 if kind == "dataloader" else len(target.dataset["x"])
    section = {"target": MEMORY, "kind": kind, "shape": list(target.shape), "samples": samples,
               "value_range": target.value_range or ""}  # fmt: skip
    if isinstance(data, DataLoader) and data.batch_size:
        section["batch_size"] = data.batch_size  # G makes batches as large as D's real ones
    return target, section
