"""Paired image targets (pix2pix): an input image A and its target image B, aligned pixel for pixel.

Two layouts are read: two folders A/ and B/ whose files pair by name (the facades layout, under
<split>/ or not), and pix2pix's "aligned" files holding A on the left half and B on the right. The
pairs are read once into two uint8 N×C×H×W tensors, like every image target; `direction` picks
which side is the input. The training jitter (resize, random crop, random mirror) runs per batch
on the device, with the same window and flip for an input and its target.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..errors import ConfigError, DataError
from ..target_settings import DIRECTIONS, LAYOUTS, RANGES, SPLITS, PairedSettings
from .augment import Jitter
from .base import samples_to_images
from .images import (
    IMAGE_EXTENSIONS,
    _open_image,
    _required_path,
    as_chw,
    convert_channels,
    data_root,
    decode_pixels,
    draw_beside,
    draw_images,
    list_images,
    resize_images,
)

UNPAIRED_FOLDERS = ("trainA", "trainB", "testA", "testB", "valA", "valB")
NEEDS_PAIRS = (
    "a paired model needs pairs — A/ and B/ folders whose files match by name, or side-by-side images; "
    "for unpaired data use a two-domain model"
)


# --------------------------------------------------------------------------- settings


# --------------------------------------------------------------------------- the target


def _check_pair(inputs: Tensor, targets: Tensor, what: str) -> None:
    for name, x in (("inputs", inputs), ("targets", targets)):
        if x.dtype != torch.uint8 or x.dim() != 4:
            raise ValueError(f"{what} {name} must be a uint8 N×C×H×W tensor, got {x.dtype} {tuple(x.shape)}")
    if len(inputs) != len(targets) or inputs.shape[2:] != targets.shape[2:]:
        raise ValueError(
            f"{what} inputs {tuple(inputs.shape)} and targets {tuple(targets.shape)} must have the same number "
            "of images and the same height and width"
        )


class PairedImages:
    """Aligned (input, target) image pairs held as uint8 on the CPU: "a" is the input, "x" the target."""

    picture = "samples"
    num_classes = 0
    keys = ("a", "x")

    def __init__(
        self,
        inputs: Tensor,
        targets: Tensor,
        value_range: str,
        held_out: tuple[Tensor, Tensor] | None = None,
        jitter: Jitter | None = None,
    ) -> None:
        _check_pair(inputs, targets, "paired")
        if value_range not in RANGES:
            raise ValueError(f"value_range must be one of {', '.join(RANGES)}, got {value_range!r}")
        if held_out is not None:
            _check_pair(*held_out, "held-out")
            if held_out[0].shape[1:] != inputs.shape[1:] or held_out[1].shape[1:] != targets.shape[1:]:
                raise ValueError(
                    f"held-out pairs {tuple(held_out[0].shape[1:])}/{tuple(held_out[1].shape[1:])} must have the "
                    f"shapes of the training pairs {tuple(inputs.shape[1:])}/{tuple(targets.shape[1:])}"
                )
            held_out = (held_out[0].contiguous(), held_out[1].contiguous())
        if jitter is not None and (jitter.crop_size, jitter.crop_size) != tuple(targets.shape[2:]):
            raise ValueError(f"{jitter} must crop back to the {tuple(targets.shape[2:])} images")
        self.inputs = inputs.contiguous()
        self.targets = targets.contiguous()
        self.class_names: list[str] = []
        self.shape: tuple[int, ...] = tuple(targets.shape[1:])
        self.input_shape: tuple[int, ...] = tuple(inputs.shape[1:])
        self.value_range = value_range
        self._held_out = held_out
        self.jitter = jitter

    def __len__(self) -> int:
        return len(self.targets)

    @property
    def dataset(self) -> dict[str, Tensor]:
        """The stored pairs: inputs under "a" and targets under "x", uint8 N×C×H×W."""
        return {"a": self.inputs, "x": self.targets}

    @property
    def held_out(self) -> tuple[Tensor, Tensor] | None:
        """The other split's (inputs, targets) uint8 pairs, for evaluating translations; None without one."""
        return self._held_out

    def decode(self, stored: Tensor) -> Tensor:
        """uint8 pixels → float32 in the target's range, on the device `stored` is on."""
        return decode_pixels(stored, self.value_range)

    def to_images(self, samples: Tensor) -> Tensor:
        """Float target-shaped samples → uint8 N×C×H×W (clamped, rounded), same device."""
        return samples_to_images(samples, self.shape, self.value_range)

    def sample(self, n: int, rng: torch.Generator) -> Tensor:
        """`n` target images drawn at random (with replacement), decoded, on `rng.device`: a reference set."""
        return draw_images(self.targets, n, rng, self.value_range)

    def augment(self, batch: dict[str, Tensor], rng: torch.Generator) -> dict[str, Tensor]:
        """The batch with its pairs jittered alike (same crop and flip for "a" and "x"), or unchanged."""
        if self.jitter is None or self.jitter.is_identity:
            return batch
        return self.jitter(batch, [key for key in self.keys if key in batch], rng)

    def evaluate(self, fake: Tensor, rng: torch.Generator, labels: Tensor | None = None) -> dict[str, float]:
        """No measures of its own: translations are scored by the image metrics."""
        return {}

    def draw(self, ax: Any, real: Tensor, fake: Tensor, noise: Tensor) -> None:
        """Up to 32 real targets (left) beside up to 32 translations (right)."""
        draw_beside(ax, self.to_images(real[:32]), self.to_images(fake[:32]), ("targets", "translations"))


# --------------------------------------------------------------------------- readers


def _stack(pictures: list[Tensor], files: Sequence[Path], folder: Path) -> Tensor:
    """C×H×W pictures of one side → uint8 N×C×H×W: grey when all are grey, else RGB; all of one size."""
    odd = next((i for i, p in enumerate(pictures) if p.shape[1:] != pictures[0].shape[1:]), None)
    if odd is not None:
        (h0, w0), (h1, w1) = pictures[0].shape[1:], pictures[odd].shape[1:]
        raise DataError(
            f"images in {folder} differ in size ({files[0]} is {h0}×{w0}, {files[odd]} is {h1}×{w1}); "
            "set data.resolution to resize them all to R×R"
        )
    channels = 1 if all(len(p) == 1 for p in pictures) else 3
    return torch.stack([convert_channels(p[None], channels)[0] for p in pictures])


def _count(limit: int, available: int, where: Path) -> int:
    """How many pairs to read: all of them, or the first `limit`."""
    if limit > available:
        raise ConfigError(f"data.limit ({limit}) must be <= the {available} pairs in {where}")
    return limit or available


def read_side_by_side(folder: str | Path, resolution: int, limit: int) -> tuple[Tensor, Tensor, list[Path]]:
    """pix2pix's aligned files (A on the left half, B on the right) → uint8 A and B tensors and the files read."""
    folder = Path(folder)
    files = list_images(folder)
    if not files:
        raise DataError(f"folder {folder} holds no images (allowed extensions: {', '.join(IMAGE_EXTENSIONS)})")
    files = files[: _count(limit, len(files), folder)]
    a_side, b_side = [], []
    for path in files:
        pixels = as_chw(_open_image(path))
        h, w = pixels.shape[1:]
        if w != 2 * h:
            raise DataError(
                f"{path} is {w}×{h}, not two images side by side (expected width = 2 × height, e.g. 512×256); "
                "for two aligned folders use data.layout=folders"
            )
        for side, half in ((a_side, pixels[:, :, :h]), (b_side, pixels[:, :, h:])):
            side.append(resize_images(half[None], resolution)[0] if resolution else half.contiguous())
    return _stack(a_side, files, folder), _stack(b_side, files, folder), files


def _pair_key(path: Path, folder: Path) -> str:
    """What pairs two files: the path relative to its folder, without the extension (1.jpg ↔ 1.png)."""
    return path.relative_to(folder).with_suffix("").as_posix()


def _keyed(folder: Path) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for path in list_images(folder):
        key = _pair_key(path, folder)
        if key in files:
            raise DataError(f"{files[key]} and {path} both pair as {key!r}; keep one image per name in {folder}")
        files[key] = path
    return files


def match_pairs(a_dir: str | Path, b_dir: str | Path) -> list[tuple[str, Path, Path]]:
    """(name, A file, B file) of two folders whose files pair by relative path (extension aside), sorted by name."""
    a_dir, b_dir = Path(a_dir), Path(b_dir)
    a_files, b_files = _keyed(a_dir), _keyed(b_dir)
    for one, other, missing in ((a_files, b_files, b_dir), (b_files, a_files, a_dir)):
        lonely = sorted(set(one) - set(other))
        if lonely:
            more = f" (and {len(lonely) - 1} more)" if len(lonely) > 1 else ""
            raise DataError(
                f"{one[lonely[0]]} has no partner in {missing}{more}: the files of {a_dir} and {b_dir} must pair "
                "by name (A/1.jpg with B/1.jpg)"
            )
    if not a_files:
        raise DataError(f"{a_dir} and {b_dir} hold no images (allowed extensions: {', '.join(IMAGE_EXTENSIONS)})")
    return [(key, a_files[key], b_files[key]) for key in sorted(a_files)]


def read_aligned_folders(
    a_dir: str | Path, b_dir: str | Path, resolution: int, limit: int
) -> tuple[Tensor, Tensor, list[Path]]:
    """Two folders whose files pair by name → uint8 A and B tensors and the A files read.

    With `resolution` R > 0 both images of a pair are resized to R×R as they are read; with 0 they
    must already have the same size.
    """
    pairs = match_pairs(a_dir, b_dir)
    pairs = pairs[: _count(limit, len(pairs), Path(a_dir).parent)]
    a_side, b_side = [], []
    for name, a_path, b_path in pairs:
        a, b = _open_image(a_path, resolution), _open_image(b_path, resolution)
        if a.shape[:2] != b.shape[:2]:
            raise DataError(
                f"pair {name}: {a_path} is {a.shape[0]}×{a.shape[1]} but {b_path} is {b.shape[0]}×{b.shape[1]}; "
                "the two images of a pair must have the same size (or set data.resolution)"
            )
        a_side.append(as_chw(a))
        b_side.append(as_chw(b))
    files = [a_path for _, a_path, _ in pairs]
    return _stack(a_side, files, Path(a_dir)), _stack(b_side, [b for _, _, b in pairs], Path(b_dir)), files


# --------------------------------------------------------------------------- layouts


@dataclass(frozen=True)
class PairFolder:
    """Where one split's pairs are: two folders (`a`, `b`), or one folder `a` of side-by-side images."""

    layout: str  # "folders" or "side-by-side"
    a: Path
    b: Path | None = None

    @property
    def folder(self) -> Path:
        """The folder the split's pairs were found in (the parent of A/ and B/, or that of the images)."""
        return self.a if self.b is None else self.a.parent

    def count(self) -> int:
        """How many pairs there are (without decoding any image)."""
        return len(list_images(self.a)) if self.b is None else len(match_pairs(self.a, self.b))

    def read(self, resolution: int, limit: int) -> tuple[Tensor, Tensor, list[Path]]:
        """The pairs as uint8 A and B tensors (as stored, before direction), and the files read."""
        if self.b is None:
            return read_side_by_side(self.a, resolution, limit)
        return read_aligned_folders(self.a, self.b, resolution, limit)


def _has_loose_images(folder: Path) -> bool:
    return any(
        p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".") and p.is_file() for p in folder.iterdir()
    )


def _pairs_in(base: Path, layout: str) -> PairFolder | None:
    """The pairs `base` itself holds in `layout` (auto: A/ + B/ first, then image files), or None."""
    if layout in ("auto", "folders") and (base / "A").is_dir() and (base / "B").is_dir():
        return PairFolder("folders", base / "A", base / "B")
    if layout == "auto" and _has_loose_images(base):
        return PairFolder("side-by-side", base)
    if layout == "side-by-side" and list_images(base):
        return PairFolder("side-by-side", base)
    return None


def _unpaired(base: Path) -> None:
    """A DataError when `base` holds one domain only, or CycleGAN's unpaired trainA/ trainB/ folders."""
    has = {name for name in ("A", "B", *UNPAIRED_FOLDERS) if (base / name).is_dir()}
    if "A" in has or "B" in has:
        one, other = ("A", "B") if "A" in has else ("B", "A")
        raise DataError(f"{base} holds only one domain ({one}/, no {other}/): {NEEDS_PAIRS}")
    found = [f"{name}/" for name in UNPAIRED_FOLDERS if name in has]
    if found:
        raise DataError(f"{base} holds unpaired domains ({', '.join(found)}): {NEEDS_PAIRS}")


def _contents(folder: Path) -> str:
    """A short listing of what `folder` holds, for an error message."""
    entries = sorted(folder.iterdir(), key=lambda p: p.name)
    folders = [f"{p.name}/" for p in entries if p.is_dir() and not p.name.startswith(".")]
    files = [p for p in entries if p.is_file() and not p.name.startswith(".")]
    parts = []
    if folders:
        parts.append(", ".join(folders[:8]) + (", ..." if len(folders) > 8 else ""))
    if files:
        parts.append(f"{len(files)} file{'s' if len(files) != 1 else ''} (none an image)")
    return "; ".join(parts) or "nothing"


def find_pairs(path: str | Path, split: str, layout: str = "auto") -> PairFolder:
    """Where the pairs of `split` are under `path`: <path>/<split>/ first, then <path>/ itself.

    Each is searched for A/ and B/ folders, then for side-by-side image files (`layout` may force
    one of the two). Unpaired (CycleGAN) or one-domain folders and empty ones are DataErrors.
    """
    if layout not in LAYOUTS:
        raise ConfigError(f"data.layout must be one of {', '.join(LAYOUTS)}; got {layout!r}")
    root = Path(path).expanduser()
    if not root.is_dir():
        raise DataError(f"folder {root} (data.path) does not exist or is not a folder")
    bases = [root / split, root] if (root / split).is_dir() else [root]
    for base in bases:
        found = _pairs_in(base, layout)
        if found is not None:
            return found
    where = " or ".join(f"{base}/" for base in bases)
    if layout == "folders":
        raise DataError(f"data.layout=folders, but neither {where} holds both an A/ and a B/ folder")
    if layout == "side-by-side":
        raise DataError(f"data.layout=side-by-side, but {where} holds no images ({', '.join(IMAGE_EXTENSIONS)})")
    for base in bases:
        _unpaired(base)
    raise DataError(
        f"{root} holds no {split} pairs: expected A/ and B/ folders whose files match by name, or side-by-side "
        f"images (A left, B right), in {root / split}/ or {root}/; found {_contents(root)}"
    )


# --------------------------------------------------------------------------- building


def _prepare(a: Tensor, b: Tensor, s: dict) -> tuple[Tensor, Tensor]:
    """Apply data.channels and data.direction to pairs read (already resized) as stored."""
    a, b = convert_channels(a, s["channels"]), convert_channels(b, s["channels"])
    return (b, a) if s["direction"] == "BtoA" else (a, b)


def build_paired(s: dict, default_path: str | None = None, default_direction: str = "AtoB") -> PairedImages:
    """The paired target of a `data` section: the split's pairs, the held-out test pairs, and the jitter.

    Settings missing from `s` take PairedSettings' defaults (`default_direction` for the direction);
    an empty data.path falls back to `default_path`, and without one is a ConfigError.
    """
    s = {**asdict(PairedSettings()), "direction": default_direction, **s}
    for key, allowed in (("layout", LAYOUTS), ("direction", DIRECTIONS), ("split", SPLITS), ("range", RANGES)):
        if s[key] not in allowed:
            raise ConfigError(f"data.{key} must be one of {', '.join(allowed)}; got {s[key]!r}")
    expected = "A/ and B/ folders of images that pair by name (under <split>/ or not), or side-by-side images"
    path = _required_path({**s, "path": s["path"] or default_path or ""}, "paired", expected)
    if not s["path"] and not path.is_dir():
        raise DataError(
            f"folder {path} (the default data.path) does not exist; set data.path, or GANKIT_DATA to the "
            f"folder holding {path.name}/"
        )
    pairs = find_pairs(path, s["split"], s["layout"])
    a, b, _ = pairs.read(s["resolution"], s["limit"])
    inputs, targets = _prepare(a, b, s)
    held_out = None
    test = path / "test"
    if s["split"] == "train" and pairs.folder == path / "train" and test.is_dir():
        found = _pairs_in(test, s["layout"])
        if found is not None:
            # capped by data.limit like the training pairs, so quick runs stay quick
            limit = min(s["limit"], found.count())
            held_a, held_b = _prepare(*found.read(s["resolution"], limit)[:2], s)
            if held_a.shape[1:] != inputs.shape[1:] or held_b.shape[1:] != targets.shape[1:]:
                raise DataError(
                    f"the pairs of {test} are {tuple(held_a.shape[1:])}/{tuple(held_b.shape[1:])} (C×H×W of "
                    f"input/target) but those of {pairs.folder} are {tuple(inputs.shape[1:])}/"
                    f"{tuple(targets.shape[1:])}; set data.resolution (and data.channels) to read both alike"
                )
            held_out = (held_a, held_b)
    jitter = None
    if s["load_size"]:
        h, w = targets.shape[2:]
        if h != w:
            raise ConfigError(
                f"data.load_size needs square images but the pairs are {h}×{w}; set data.resolution to read them R×R"
            )
        if s["load_size"] < h:
            raise ConfigError(
                f"data.load_size ({s['load_size']}) must be >= the image size {h} (data.resolution, or the images' "
                f"own size): the jitter resizes to load_size, then crops back to {h}; 0 turns the jitter off"
            )
        jitter = Jitter(s["load_size"], h, s["mirror"])
    return PairedImages(inputs, targets, s["range"], held_out, jitter)


def paired(s: dict) -> PairedImages:
    """Pairs from data.path, translated A → B (or B → A)."""
    return build_paired(s)


def facades(s: dict) -> PairedImages:
    """The CMP facades from $GANKIT_DATA/facades (or data.path), label maps → photos by default."""
    return build_paired(s, default_path=str(data_root("facades")), default_direction="BtoA")
