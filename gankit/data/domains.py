"""Image domains for translation between them: two unaligned domains (CycleGAN) and several
labelled ones (StarGAN), read from a folder per domain or from CycleGAN's trainA/ trainB/.

Each domain is read once into a uint8 N×C×H×W tensor, and every domain of a target ends with the
same C×H×W. `unpaired` offers its two domains as the source's groups, so each is walked in its own
shuffled epochs; `domains` is one image set labelled by domain. A held-out split (test/ or val/
beside train/, or testA/ testB/) is read apart for evaluation. The optional jitter (resize, random
crop, random mirror) runs per batch on the device, each image drawn on its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import ConfigError, DataError
from ..target_settings import RANGES, SPLITS, DomainSettings, UnpairedSettings
from .augment import Jitter
from .base import samples_to_images
from .images import (
    IMAGE_EXTENSIONS,
    _open_image,
    _required_path,
    as_chw,
    convert_channels,
    decode_pixels,
    draw_beside,
    draw_images,
    list_images,
)
from .paired import _stack

HELD_OUT = ("test", "val")  # beside train/, the first of these that exists is the held-out split
IMAGE_KEYS = ("a", "x")  # the batch keys that hold images (the rest are labels)
D = TypeVar("D", bound="DomainImages")
TWO_DOMAINS = "a two-domain model needs trainA/ and trainB/ folders, or data.domains naming two folders of images"


# --------------------------------------------------------------------------- settings


# --------------------------------------------------------------------------- what every domain target offers


class DomainTarget:
    """Images labelled by domain (or attribute), held as uint8 on the CPU, with what translation models
    and their measures need: the training set, a held-out split, and each domain's images.

    Subclasses set `num_classes`, `keys`, `dataset` and `labelled_images`; `images` are all training images.
    """

    picture = "samples"
    multi_label = False

    def __init__(self, images: Tensor, class_names: Sequence[str], value_range: str, jitter: Jitter | None) -> None:
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError(f"images must be a uint8 N×C×H×W tensor, got {images.dtype} {tuple(images.shape)}")
        if value_range not in RANGES:
            raise ValueError(f"value_range must be one of {', '.join(RANGES)}, got {value_range!r}")
        if jitter is not None and (jitter.crop_size, jitter.crop_size) != tuple(images.shape[2:]):
            raise ValueError(f"{jitter} must crop back to the {tuple(images.shape[2:])} images")
        self.images = images.contiguous()
        self.class_names: tuple[str, ...] = tuple(class_names)
        self.shape: tuple[int, ...] = tuple(images.shape[1:])
        self.input_shape = self.shape  # a translation's input is an image of another domain, of the same shape
        self.value_range = value_range
        self.jitter = jitter

    def __len__(self) -> int:
        return len(self.images)

    @property
    def has_held_out(self) -> bool:
        """Whether images were kept out of training for evaluation."""
        raise NotImplementedError

    def labelled_images(self, held_out: bool = True) -> tuple[Tensor, Tensor]:
        """(uint8 images, float32 N×K multi-hot labels) of the held-out split when there is one and
        `held_out` is true, else of the training images."""
        raise NotImplementedError

    def domain_images(self, i: int, held_out: bool = True) -> Tensor:
        """uint8 images of domain (or attribute) `i`, from the split `labelled_images` would use."""
        self._check_domain(i)
        images, labels = self.labelled_images(held_out)
        return images[labels[:, i] > 0]

    def _check_domain(self, i: int) -> None:
        if not 0 <= i < len(self.class_names):
            raise IndexError(f"domain {i} is out of range: the target has {len(self.class_names)} "
                             f"({', '.join(self.class_names)})")  # fmt: skip

    def decode(self, stored: Tensor) -> Tensor:
        """uint8 pixels → float32 in the target's range, on the device `stored` is on; labels pass through
        (a batch source decodes every key but "y", attributes included)."""
        return decode_pixels(stored, self.value_range) if stored.dtype == torch.uint8 else stored

    def to_images(self, samples: Tensor) -> Tensor:
        """Float image-shaped samples → uint8 N×C×H×W (clamped, rounded), same device."""
        return samples_to_images(samples, self.shape, self.value_range)

    def sample(self, n: int, rng: torch.Generator) -> Tensor:
        """`n` training images drawn at random (with replacement), decoded, on `rng.device`: a reference set."""
        return draw_images(self.images, n, rng, self.value_range)

    def augment(self, batch: dict[str, Tensor], rng: torch.Generator) -> dict[str, Tensor]:
        """The batch with each image jittered on its own (its own crop and flip), or unchanged without jitter.

        Each domain of unpaired data is its own batch, jittered from its own generator.
        """
        if self.jitter is None or self.jitter.is_identity:
            return batch
        out = dict(batch)
        for key in IMAGE_KEYS:
            if key in batch:
                out[key] = self.jitter({key: batch[key]}, [key], rng)[key]
        return out

    def evaluate(self, fake: Tensor, rng: torch.Generator, labels: Tensor | None = None) -> dict[str, float]:
        """No measures of its own: translations are scored by the image and domain metrics."""
        return {}

    def draw(self, ax: Any, real: Tensor, fake: Tensor, noise: Tensor) -> None:
        """Up to 32 real images (left) beside up to 32 translations (right)."""
        draw_beside(ax, self.to_images(real[:32]), self.to_images(fake[:32]), ("real", "translations"))


def _check_domains(domains: Sequence[Tensor], names: Sequence[str], what: str) -> None:
    if not domains or len(domains) != len(names):
        raise ValueError(f"{what}: {len(domains)} domains of images for {len(names)} names")
    for name, images in zip(names, domains):
        if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1:] != domains[0].shape[1:]:
            raise ValueError(f"{what} domain {name}: expected uint8 N×{'×'.join(map(str, domains[0].shape[1:]))} "
                             f"images, got {images.dtype} {tuple(images.shape)}")  # fmt: skip


def _labels(domains: Sequence[Tensor]) -> Tensor:
    """int64 domain ids of the concatenated domains: 0 for the first's images, 1 for the next's…"""
    return torch.cat([torch.full((len(images),), i, dtype=torch.int64) for i, images in enumerate(domains)])


class DomainImages(DomainTarget):
    """Images of several domains, each labelled by its domain: "x" images, "y" int64 domain ids."""

    keys = ("x", "y")

    def __init__(
        self,
        domains: Sequence[Tensor],
        class_names: Sequence[str],
        value_range: str,
        held_out: Sequence[Tensor] | None = None,
        jitter: Jitter | None = None,
    ) -> None:
        _check_domains(domains, class_names, "training")
        super().__init__(torch.cat(list(domains)), class_names, value_range, jitter)
        self.labels = _labels(domains)
        self.sizes = tuple(len(images) for images in domains)
        self.num_classes = len(self.class_names)
        self._held: tuple[Tensor, Tensor] | None = None
        if held_out is not None:
            _check_domains(held_out, class_names, "held-out")
            if held_out[0].shape[1:] != self.images.shape[1:]:
                raise ValueError(f"held-out images {tuple(held_out[0].shape[1:])} must have the shape of the "
                                 f"training images {self.shape}")  # fmt: skip
            self._held = (torch.cat(list(held_out)).contiguous(), _labels(held_out))

    @property
    def dataset(self) -> dict[str, Tensor]:
        """Every training image ("x", uint8 N×C×H×W) and its domain id ("y", int64 N)."""
        return {"x": self.images, "y": self.labels}

    @property
    def has_held_out(self) -> bool:
        return self._held is not None

    def labelled_images(self, held_out: bool = True) -> tuple[Tensor, Tensor]:
        images, labels = self._held if held_out and self._held is not None else (self.images, self.labels)
        return images, F.one_hot(labels, len(self.class_names)).to(torch.float32)


class UnpairedImages(DomainImages):
    """Two unaligned domains: batches join an image of A ("a") and one of B ("x"), drawn independently.

    No labels reach the batches (`num_classes` is 0): the model knows which domain each key holds.
    """

    keys = ("a", "x")

    def __init__(
        self,
        domains: Sequence[Tensor],
        class_names: Sequence[str],
        value_range: str,
        held_out: Sequence[Tensor] | None = None,
        jitter: Jitter | None = None,
    ) -> None:
        if len(domains) != 2:
            raise ValueError(f"unpaired data has two domains, got {len(domains)}")
        super().__init__(domains, class_names, value_range, held_out, jitter)
        self.num_classes = 0

    @property
    def groups(self) -> dict[str, dict[str, Tensor]]:
        """Each domain as its own data set (views of the stored images), for a source to walk apart."""
        split = self.sizes[0]
        return {"A": {"a": self.images[:split]}, "B": {"x": self.images[split:]}}


# --------------------------------------------------------------------------- finding the domains


@dataclass(frozen=True)
class DomainFolders:
    """Where a target's domains are: a folder per domain to train on, and the held-out split's (or None)."""

    names: tuple[str, ...]
    train: tuple[Path, ...]
    held_out: tuple[Path, ...] | None = None


def domain_names(value: str | Sequence[str]) -> list[str]:
    """data.domains (or data.attributes) as a list: a comma-separated string or a list, blanks dropped."""
    names = [str(name).strip() for name in (value.split(",") if isinstance(value, str) else value)]
    names = [name for name in names if name]
    repeated = next((name for i, name in enumerate(names) if name in names[:i]), None)
    if repeated is not None:
        raise ConfigError(f"{repeated!r} is named twice in {', '.join(names)}; name each domain once")
    return names


def _folders(base: Path) -> list[str]:
    return sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))


def _split_bases(root: Path, split: str) -> tuple[Path, Path | None]:
    """The folder holding the domains to train on, and the one holding the held-out domains (or None)."""
    if split == "train":
        if not (root / "train").is_dir():
            return root, None
        return root / "train", next((root / name for name in HELD_OUT if (root / name).is_dir()), None)
    for name in HELD_OUT:
        if (root / name).is_dir():
            return root / name, None
    raise DataError(f"data.split=test, but {root} has no test/ or val/ folder (nor testA/ and testB/)")


def _cyclegan(root: Path, split: str) -> DomainFolders | None:
    """CycleGAN's trainA/ trainB/ (testA/ testB/ held out), or testA/ testB/ for split test; None without them."""
    prefix = "train" if split == "train" else "test"
    a, b = root / f"{prefix}A", root / f"{prefix}B"
    if a.is_dir() != b.is_dir():
        one, other = (a, b) if a.is_dir() else (b, a)
        raise DataError(f"{root} holds {one.name}/ but no {other.name}/: {TWO_DOMAINS}")
    if not a.is_dir():
        return None
    held = (root / "testA", root / "testB")
    held_out = held if split == "train" and all(p.is_dir() for p in held) else None
    return DomainFolders(("A", "B"), (a, b), held_out)


def find_domains(path: str | Path, split: str, names: Sequence[str] = (), two: bool = False) -> DomainFolders:
    """Where the domains of `split` are under `path`: trainA/ trainB/ (unless `names` are given), else a
    folder per domain in <path>/train/ (test/ or val/ held out) or in <path>/ itself.

    `names` picks and orders the domain folders (default: all, sorted); `two` asks for exactly two.
    """
    root = Path(path).expanduser()
    if not root.is_dir():
        raise DataError(f"folder {root} (data.path) does not exist or is not a folder")
    if not names:
        found = _cyclegan(root, split)
        if found is not None:
            return found
    base, held_base = _split_bases(root, split)
    available = _folders(base)
    listing = ", ".join(f"{name}/" for name in available) or "none"
    missing = next((name for name in names if name not in available), None)
    if missing is not None:
        raise DataError(f"data.domains names {missing!r}, which is not a folder in {base}; available: {listing}")
    if not names and not available:
        if two:
            raise DataError(f"{base} holds one domain (no domain sub-folders): {TWO_DOMAINS}")
        what = "images but no" if list_images(base) else "no"
        raise DataError(f"{base} holds {what} domain folders: the domains target needs a sub-folder of images "
                        "per domain (cat/, dog/, ...), under train/ or not")  # fmt: skip
    chosen = tuple(names or available)
    if two and len(chosen) != 2:
        if names:
            raise ConfigError(f"data.domains must name exactly two domain folders (A, B) for the unpaired target, "
                              f"got {len(chosen)} ({', '.join(chosen)}); available in {base}: {listing}")  # fmt: skip
        if len(chosen) == 1:
            raise DataError(f"{base} holds one domain folder ({chosen[0]}/): {TWO_DOMAINS}")
        raise DataError(f"{base} holds {len(chosen)} domain folders ({listing}); set data.domains to the two to "
                        f"translate between, e.g. data.domains={chosen[0]},{chosen[1]}")  # fmt: skip
    held_out = None
    if held_base is not None:
        absent = next((name for name in chosen if not (held_base / name).is_dir()), None)
        if absent is not None:
            raise DataError(f"the held-out split {held_base} has no {absent}/ folder; every domain of {base} needs "
                            f"one there (or remove {held_base.name}/ to train without a held-out split)")  # fmt: skip
        held_out = tuple(held_base / name for name in chosen)
    return DomainFolders(chosen, tuple(base / name for name in chosen), held_out)


# --------------------------------------------------------------------------- reading


def read_domain(folder: Path, resolution: int, limit: int) -> Tensor:
    """The images of one domain folder (recursively, sorted) as uint8 N×C×H×W: at most `limit`, each
    resized to R×R as it is read; grey when all are grey, else RGB."""
    files = list_images(folder)
    if not files:
        raise DataError(f"domain folder {folder} holds no images (allowed extensions: {', '.join(IMAGE_EXTENSIONS)})")
    files = files[:limit] if limit else files
    return _stack([as_chw(_open_image(path, resolution)) for path in files], files, folder)


def same_shape(domains: Sequence[Tensor], where: Sequence[Any], reference: tuple[Tensor, Any] | None = None) -> None:
    """A DataError unless every domain's images have the C×H×W of the first (or of `reference`)."""
    first, first_where = reference or (domains[0], where[0])
    for images, place in zip(domains, where):
        if images.shape[1:] != first.shape[1:]:
            shapes = ["×".join(map(str, x.shape[1:])) for x in (images, first)]
            raise DataError(f"the images of {place} are {shapes[0]} (C×H×W) but those of {first_where} are "
                            f"{shapes[1]}; every domain needs one size: set data.resolution (R×R) and data.channels "
                            "(1 or 3)")  # fmt: skip


def read_domains(folders: Sequence[Path], s: dict) -> list[Tensor]:
    """Every domain folder read with the shared settings (resolution, channels, limit per domain)."""
    domains = [convert_channels(read_domain(folder, s["resolution"], s["limit"]), s["channels"]) for folder in folders]
    same_shape(domains, folders)
    return domains


def jitter_of(s: dict, shape: tuple[int, ...]) -> Jitter | None:
    """The jitter of data.load_size and data.mirror for images of `shape` (C×H×W), or None when off."""
    h, w = shape[1:]
    if not s["load_size"]:  # flips alone, as the references do without a resize-and-crop
        return Jitter(h, h, True) if s["mirror"] and h == w else None
    if h != w:
        raise ConfigError(
            f"data.load_size needs square images but they are {h}×{w}; set data.resolution to read them R×R"
        )
    if s["load_size"] < h:
        raise ConfigError(
            f"data.load_size ({s['load_size']}) must be >= the image size {h} (data.resolution, or the images' "
            f"own size): the jitter resizes to load_size, then crops back to {h}; 0 turns the jitter off"
        )
    return Jitter(s["load_size"], h, s["mirror"])


def check_choices(s: dict, choices: dict[str, Sequence[str]]) -> None:
    for key, allowed in choices.items():
        if s[key] not in allowed:
            raise ConfigError(f"data.{key} must be one of {', '.join(allowed)}; got {s[key]!r}")


def build_domains(s: dict, kind: type[D]) -> D:
    """The `unpaired` (UnpairedImages) or `domains` (DomainImages) target of a `data` section; missing
    settings take their defaults."""
    two = issubclass(kind, UnpairedImages)
    s = {**asdict(UnpairedSettings() if two else DomainSettings()), **s}
    check_choices(s, {"split": SPLITS, "range": RANGES})
    name = "unpaired" if two else "domains"
    expected = "trainA/ and trainB/, or a folder per domain" if two else "a folder with a sub-folder per domain"
    found = find_domains(_required_path(s, name, expected), s["split"], domain_names(s["domains"]), two)
    train = read_domains(found.train, s)
    held_out = None
    if found.held_out is not None:
        held_out = read_domains(found.held_out, s)
        same_shape(held_out, found.held_out, (train[0], found.train[0]))
    return kind(train, found.names, s["range"], held_out, jitter_of(s, tuple(train[0].shape[1:])))


def unpaired(s: dict) -> UnpairedImages:
    """Domains A and B from data.path, each walked in its own shuffled epochs."""
    return build_domains(s, UnpairedImages)


def domains(s: dict) -> DomainImages:
    """Every chosen domain folder under data.path, each image labelled by its domain."""
    return build_domains(s, DomainImages)
