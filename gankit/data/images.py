"""Image targets: MNIST, Fashion-MNIST, CIFAR-10, a folder of images and a .npz file.

Every image target is read once at build time into one uint8 N×C×H×W tensor (resized and
converted to the asked channels then, not per batch) with int64 labels when it has classes.
The engine moves the uint8 tensor to the device once and `decode`s each batch to float32 in
[-1, 1] or [0, 1]. Nothing here unpickles a user's file.
"""

from __future__ import annotations

import math
import os
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import ConfigError, DataError
from ..metrics.classifier import DomainClassifier, class_measures, to_unit
from ..target_settings import RANGES
from .base import samples_to_images

IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png", ".webp")
MNIST_CLASSES = [str(digit) for digit in range(10)]
FASHION_MNIST_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
CHUNK = 4096  # images per step when converting to grey, to bound the int32 temporaries


# --------------------------------------------------------------------------- settings


# --------------------------------------------------------------------------- the target


class ImageDataset:
    """A finite set of images held as uint8 N×C×H×W on the CPU, decoded per batch to floats."""

    picture = "samples"

    def __init__(self, images: Tensor, labels: Tensor | None, class_names: Sequence[str], value_range: str) -> None:
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError(f"images must be a uint8 N×C×H×W tensor, got {images.dtype} {tuple(images.shape)}")
        if value_range not in RANGES:
            raise ValueError(f"value_range must be one of {', '.join(RANGES)}, got {value_range!r}")
        self.images = images.contiguous()
        self.labels = None if labels is None else labels.to(torch.int64).contiguous()
        self.class_names = list(class_names) if labels is not None else []
        self.num_classes = len(self.class_names)
        self.shape: tuple[int, ...] = tuple(images.shape[1:])
        self.value_range = value_range
        self.classifier: Callable[[], DomainClassifier] | None = None  # set for datasets that have one

    def __len__(self) -> int:
        return len(self.images)

    @property
    def dataset(self) -> dict[str, Tensor]:
        """The stored images ("x", uint8 N×C×H×W) and labels ("y", int64 N) when there are classes."""
        out = {"x": self.images}
        if self.labels is not None:
            out["y"] = self.labels
        return out

    def decode(self, stored: Tensor) -> Tensor:
        """uint8 pixels → float32 in the dataset's range, on the device `stored` is on."""
        return decode_pixels(stored, self.value_range)

    def to_images(self, samples: Tensor) -> Tensor:
        """Float samples in the dataset's range → uint8 N×C×H×W (clamped, rounded), same device."""
        return samples_to_images(samples, self.shape, self.value_range)

    def sample(self, n: int, rng: torch.Generator) -> Tensor:
        """`n` images drawn at random (with replacement), decoded, on `rng.device`."""
        return draw_images(self.images, n, rng, self.value_range)

    def evaluate(self, fake: Tensor, rng: torch.Generator, labels: Tensor | None = None) -> dict[str, float]:
        """What the dataset's domain classifier recognises in `fake` (nothing without one)."""
        if self.classifier is None:
            return {}
        classifier = self.classifier()
        pixels = to_unit(self.to_images(fake))
        probabilities = classifier.probabilities(pixels)
        frequencies = torch.bincount(self.labels, minlength=self.num_classes).double() / len(self.labels)
        measures = class_measures(probabilities, frequencies, labels)
        classes = probabilities.argmax(1) if labels is None else labels
        spread = class_spread(pixels, classes.to(pixels.device), self.num_classes)
        return {**measures, "class_spread": spread, "classifier_test_accuracy": classifier.test_accuracy}

    def draw(self, ax: Any, real: Tensor, fake: Tensor, noise: Tensor) -> None:
        """Up to 32 real images (left) beside up to 32 generated ones (right)."""
        draw_beside(ax, self.to_images(real[:32]), self.to_images(fake[:32]), ("real", "generated"))


# --------------------------------------------------------------------------- image helpers


def class_spread(pixels: Tensor, classes: Tensor, num_classes: int) -> float:
    """Diversity within classes: each pixel's standard deviation over the images of one class
    (the class asked for, or the one the classifier sees), averaged over pixels, then over the
    classes with at least two images. 5,000 real MNIST digits score 0.31, Fashion-MNIST 0.39."""
    flat = pixels.flatten(1).double()
    counts = torch.bincount(classes, minlength=num_classes).double()
    sums = torch.zeros(num_classes, flat.shape[1], dtype=torch.float64, device=flat.device)
    squares = torch.zeros_like(sums)
    sums.index_add_(0, classes, flat)
    squares.index_add_(0, classes, flat * flat)
    kept = counts >= 2
    if not bool(kept.any()):
        return 0.0
    n = counts[kept, None]
    variance = (squares[kept] - sums[kept] ** 2 / n) / (n - 1)
    return float(variance.clamp_min(0).sqrt().mean(1).mean())


def decode_pixels(stored: Tensor, value_range: str) -> Tensor:
    """uint8 pixels → float32 in [0, 1] ("zero-one") or [-1, 1], on the device `stored` is on."""
    x = stored.to(torch.float32)
    return x.div_(255) if value_range == "zero-one" else x.div_(127.5).sub_(1)


def draw_images(images: Tensor, n: int, rng: torch.Generator, value_range: str) -> Tensor:
    """`n` of the stored uint8 `images` drawn at random (with replacement), decoded, on `rng.device`."""
    index = torch.randint(len(images), (n,), generator=rng, device=rng.device)
    return decode_pixels(images[index.cpu()].to(rng.device), value_range)


def draw_beside(ax: Any, left: Tensor, right: Tensor, names: tuple[str, str]) -> None:
    """Two uint8 image sets as grids of 4 columns side by side on a matplotlib axis, named below."""
    grids = [make_grid(x.cpu(), nrow=4) for x in (left, right)]
    height = max(grid.shape[0] for grid in grids)
    grids = [np.pad(g, ((0, height - g.shape[0]), (0, 0), (0, 0)), constant_values=255) for g in grids]
    gap = np.full((height, left.shape[-1], 3), 255, dtype=np.uint8)
    ax.imshow(np.concatenate([grids[0], gap, grids[1]], axis=1), interpolation="nearest")
    width = [g.shape[1] for g in grids]
    ax.set_xticks([width[0] / 2, width[0] + gap.shape[1] + width[1] / 2], list(names))
    ax.set_yticks([])
    ax.set_title(f"{names[0]} (left) and {names[1]} (right)")


def make_grid(images: Tensor, nrow: int, padding: int = 2, pad_value: int = 255) -> np.ndarray:
    """Tile uint8 N×C×H×W images (C = 1 or 3) into one H×W×3 uint8 picture, `nrow` images per row."""
    if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"make_grid needs uint8 N×C×H×W images with 1 or 3 channels, got {tuple(images.shape)}")
    if nrow < 1:
        raise ValueError(f"nrow must be >= 1, got {nrow}")
    n, _, h, w = images.shape
    cols, rows = min(nrow, max(n, 1)), max(1, math.ceil(n / nrow))
    pictures = images.detach().cpu().expand(-1, 3, -1, -1).permute(0, 2, 3, 1).numpy()
    grid = np.full((rows * (h + padding) + padding, cols * (w + padding) + padding, 3), pad_value, dtype=np.uint8)
    for i, picture in enumerate(pictures):
        top, left = padding + (i // nrow) * (h + padding), padding + (i % nrow) * (w + padding)
        grid[top : top + h, left : left + w] = picture
    return grid


def resize_images(images: Tensor, resolution: int) -> Tensor:
    """uint8 N×C×H×W → N×C×R×R: antialiased bilinear resize of the shorter side to R, then centre crop."""
    _, _, h, w = images.shape
    if (h, w) == (resolution, resolution):
        return images
    scale = resolution / min(h, w)
    size = (max(resolution, round(h * scale)), max(resolution, round(w * scale)))
    top, left = (size[0] - resolution) // 2, (size[1] - resolution) // 2
    if len(images) == 0:
        return images.new_empty((0, images.shape[1], resolution, resolution))
    # torch resizes uint8 directly (Pillow's antialiased bilinear), ~4× faster than through float32
    x = F.interpolate(images, size=size, mode="bilinear", antialias=True, align_corners=False)
    return x[:, :, top : top + resolution, left : left + resolution].contiguous()


def convert_channels(images: Tensor, channels: int) -> Tensor:
    """uint8 N×C×H×W → `channels`: 1 is ITU-R 601-2 luma, bit-exact with Pillow's convert("L"); 3 repeats grey."""
    have = images.shape[1]
    if channels in (0, have):
        return images
    if channels == 3 and have == 1:
        return images.repeat(1, 3, 1, 1)
    if channels == 1 and have == 3:

        def grey(chunk: Tensor) -> Tensor:
            r, g, b = chunk.to(torch.int32).unbind(1)
            return ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16).to(torch.uint8).unsqueeze(1)

        return torch.cat([grey(images[i : i + CHUNK]) for i in range(0, len(images), CHUNK)] or [images[:, :1]])
    raise ValueError(f"cannot convert {have}-channel images to {channels} channels")


def data_root(*folders: str) -> Path:
    """Default dataset folder: the first of `folders` existing under $GANKIT_DATA (or ~/.cache/gankit/datasets)."""
    base = os.environ.get("GANKIT_DATA") or "~/.cache/gankit/datasets"
    base_path = Path(base).expanduser()
    for folder in folders:
        if (base_path / folder).is_dir():
            return base_path / folder
    return base_path / folders[0]


def _finish(images: Tensor, labels: Tensor | None, names: Sequence[str], s: dict) -> ImageDataset:
    """Apply the shared settings (channels, resolution, range) to images already cut to `limit`."""
    images = convert_channels(images, 1) if s["channels"] == 1 else images
    if s["resolution"]:
        images = resize_images(images, s["resolution"])
    images = convert_channels(images, s["channels"])
    return ImageDataset(images, labels, names, s["range"])


def _take(limit: int, available: int, what: str) -> int:
    """How many images to keep: all of them, or `limit` when that many are there."""
    if limit > available:
        raise ConfigError(f"data.limit ({limit}) must be <= the {available} images of {what}")
    return limit or available


# --------------------------------------------------------------------------- a folder of images

GREY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F")


def _open_image(path: Path, resolution: int = 0) -> np.ndarray:
    """Decode one image file to H×W (grey) or H×W×3 (colour) uint8, alpha composited over white.

    With `resolution` R > 0 the centred square of side min(H, W) is resized to R×R by Pillow's
    antialiased bilinear filter (what `resize_images` does to arrays), as the file is read.
    """
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.load()
            grey = image.mode in GREY_MODES
            if image.mode in ("I", "I;16", "I;16B", "I;16L"):  # 16-bit grey: keep the top 8 bits
                flat = Image.fromarray((np.asarray(image, dtype=np.int64) >> 8).clip(0, 255).astype(np.uint8))
            elif image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
                white = Image.new("RGBA", image.size, (255, 255, 255, 255))
                flat = Image.alpha_composite(white, image.convert("RGBA")).convert("L" if grey else "RGB")
            else:
                flat = image.convert("L" if grey else "RGB")
            if resolution:
                w, h = flat.size
                side = min(w, h)
                box = ((w - side) / 2, (h - side) / 2, (w + side) / 2, (h + side) / 2)
                flat = flat.resize((resolution, resolution), Image.Resampling.BILINEAR, box=box)
            return np.asarray(flat)
    except Exception as exc:  # Pillow raises many classes for a damaged file
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"{path} could not be decoded as an image: {reason}") from None


def read_images(paths: Sequence[Path], channels: int, resolution: int) -> Tensor:
    """Image files as one uint8 N×C×R×R tensor: each centre-cropped square resized to R×R as the
    training data was, then converted to `channels` (what `gankit translate` feeds a model)."""
    return torch.stack([convert_channels(as_chw(_open_image(path, resolution))[None], channels)[0] for path in paths])


def as_chw(pixels: np.ndarray) -> Tensor:
    """A decoded H×W (grey) or H×W×3 uint8 picture as a C×H×W tensor."""
    return torch.from_numpy((pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)).copy())


def list_images(folder: str | Path) -> list[Path]:
    """Image files under `folder`, recursively, by extension (case-insensitive), sorted by relative path.

    Hidden files and folders (names starting with ".", such as macOS's "._x.png") are skipped.
    """
    folder = Path(folder)
    files = [
        p
        for p in folder.rglob("*")
        if p.suffix.lower() in IMAGE_EXTENSIONS
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
        and p.is_file()
    ]
    return sorted(files, key=lambda p: p.relative_to(folder).as_posix())


def _required_path(s: dict, target: str, expected: str) -> Path:
    """data.path of a target that has no default location; a ConfigError naming what it should be."""
    if not s["path"]:
        raise ConfigError(f"data.path is required for the {target} target: {expected}")
    return Path(s["path"]).expanduser()


def image_folder(s: dict) -> ImageDataset:
    """Every image under `path`, labelled by first-level sub-folder when `classes` is set."""
    folder = _required_path(s, "folder", "a folder of images (searched recursively)")
    if not folder.is_dir():
        raise DataError(f"folder {folder} (data.path) does not exist or is not a folder")
    files = list_images(folder)
    if not files:
        raise DataError(f"folder {folder} holds no images (allowed extensions: {', '.join(IMAGE_EXTENSIONS)})")
    labels, names = None, []
    if s["classes"]:
        loose = [f for f in files if f.parent == folder]
        if loose:
            raise DataError(
                f"{loose[0]} lies directly in {folder}; with data.classes=true each image needs a class sub-folder"
            )
        tops = [f.relative_to(folder).parts[0] for f in files]
        names = sorted(set(tops))
        ids = {name: i for i, name in enumerate(names)}
        labels = torch.tensor([ids[top] for top in tops], dtype=torch.int64)
    n = _take(s["limit"], len(files), f"folder {folder}")
    pictures = []
    for path in files[:n]:
        # resized as each file is read, so large photos are never all held at full size
        pictures.append(as_chw(_open_image(path, s["resolution"])))
    odd = next((i for i, p in enumerate(pictures) if p.shape[1:] != pictures[0].shape[1:]), None)
    if odd is not None:
        (h0, w0), (h1, w1) = pictures[0].shape[1:], pictures[odd].shape[1:]
        raise DataError(
            f"images in {folder} differ in size ({files[0]} is {h0}×{w0}, {files[odd]} is {h1}×{w1}); "
            "set data.resolution to resize them all to R×R"
        )
    channels = s["channels"] or (1 if all(len(p) == 1 for p in pictures) else 3)
    images = torch.stack([convert_channels(p[None], channels)[0] for p in pictures])
    return _finish(images, None if labels is None else labels[:n], names, {**s, "resolution": 0})


# --------------------------------------------------------------------------- a .npz file

NPZ_IMAGE_KEYS, NPZ_LABEL_KEYS = ("x", "images"), ("y", "labels")


def _npz_images(array: np.ndarray, path: Path, key: str) -> Tensor:
    """N×H×W, N×H×W×C or N×C×H×W (C = 1 or 3), uint8 or float in [0, 1] → uint8 N×C×H×W."""
    if array.ndim == 3:
        array = array[:, None]
    elif array.ndim == 4 and array.shape[-1] in (1, 3):
        array = array.transpose(0, 3, 1, 2)
    elif not (array.ndim == 4 and array.shape[1] in (1, 3)):
        raise DataError(f"{path}: {key} has shape {array.shape}; expected N×H×W, N×H×W×C or N×C×H×W with C = 1 or 3")
    if np.issubdtype(array.dtype, np.floating):
        if array.size and not (np.isfinite(array).all() and array.min() >= 0 and array.max() <= 1):
            raise DataError(f"{path}: {key} holds floats outside [0, 1] (expected uint8, or floats in [0, 1])")
        array = np.round(array * 255).astype(np.uint8)
    elif array.dtype != np.uint8:
        raise DataError(f"{path}: {key} has dtype {array.dtype}; expected uint8, or floats in [0, 1]")
    return torch.from_numpy(np.ascontiguousarray(array))


def npz(s: dict) -> ImageDataset:
    """Images (and labels) from a .npz file, read without pickle."""
    path = _required_path(s, "npz", "a .npz file with images under x or images")
    if not path.is_file():
        raise DataError(f"{path} (data.path) does not exist; expected a .npz file with images under x or images")
    if not zipfile.is_zipfile(path):
        raise DataError(f"{path} is not a .npz file (a zip of .npy arrays, as numpy.savez writes)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            keys = list(archive.keys())
            image_key = next((k for k in NPZ_IMAGE_KEYS if k in keys), None)
            label_key = next((k for k in NPZ_LABEL_KEYS if k in keys), None)
            if image_key is None:
                raise DataError(
                    f"{path} has no image array: expected key x or images, found {', '.join(keys) or 'none'}"
                )
            array = archive[image_key]
            labels = archive[label_key] if label_key else None
    except DataError:
        raise
    except ValueError as exc:  # object arrays: np.load refuses them without pickle
        raise DataError(f"{path} could not be read without unpickling ({exc}); store plain numeric arrays") from None
    except Exception as exc:  # not a zip, a damaged member, ...
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"{path} is not a readable .npz file: {reason}") from None
    x = _npz_images(array, path, image_key)
    y, names = None, []
    if labels is not None:
        if labels.ndim != 1 or len(labels) != len(x) or not np.issubdtype(labels.dtype, np.integer):
            raise DataError(
                f"{path}: {label_key} must be {len(x)} integer labels (one per image), got {labels.dtype} {labels.shape}"
            )
        classes = s["num_classes"] or (int(labels.max()) + 1 if len(labels) else 0)
        if len(labels) and (labels.min() < 0 or labels.max() >= classes):
            bad = int(labels.min()) if labels.min() < 0 else int(labels.max())
            raise DataError(
                f"{path}: {label_key} holds label {bad}, outside the classes 0-{classes - 1} (data.num_classes)"
            )
        y, names = torch.from_numpy(labels.astype(np.int64)), [str(i) for i in range(classes)]
    elif s["num_classes"]:
        raise DataError(f"{path} has no labels (key y or labels) but data.num_classes is {s['num_classes']}")
    n = _take(s["limit"], len(x), str(path))
    return _finish(x[:n], None if y is None else y[:n], names, s)
