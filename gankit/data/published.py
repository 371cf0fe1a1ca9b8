"""The published image datasets: MNIST and Fashion-MNIST (IDX files) and CIFAR-10 (binary
batches, python batches read without unpickling, or the PNG-strip subset), each read once into
an `ImageDataset`, with the MNIST-format datasets' domain classifier."""

from __future__ import annotations

import csv
import functools
import gzip
import math
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..errors import DataError
from ..metrics.classifier import DomainClassifier, domain_classifier
from .download import fetch_dataset
from .images import (
    CIFAR10_CLASSES,
    FASHION_MNIST_CLASSES,
    MNIST_CLASSES,
    ImageDataset,
    _finish,
    _open_image,
    _take,
    data_root,
)

# --------------------------------------------------------------------------- IDX (MNIST, Fashion-MNIST)

IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
IDX_MAGIC = {2049: 1, 2051: 3}  # labels: N; images: N × rows × cols


def read_idx(path: str | Path, magic: int) -> np.ndarray:
    """The uint8 array of an IDX file (gzip-compressed when its name ends in .gz), checking magic and size."""
    path = Path(path)
    compressed = path.suffix == ".gz"
    try:
        if compressed:
            with gzip.open(path, "rb") as f:
                data = f.read()
        else:
            data = path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:
        what = "is not a readable gzip file" if compressed else "could not be read"
        raise DataError(f"{path} {what} ({exc}); fetch it again") from None
    ndim = IDX_MAGIC[magic]
    header = 4 + 4 * ndim
    if len(data) < 4 or int.from_bytes(data[:4], "big") != magic:
        found = int.from_bytes(data[:4], "big") if len(data) >= 4 else "nothing"
        kind = "images" if ndim == 3 else "labels"
        raise DataError(f"{path} is not an IDX {kind} file: magic number {found}, expected {magic}")
    if len(data) < header:
        raise DataError(f"{path} is truncated: {len(data)} bytes, less than its {header}-byte IDX header")
    dims = [int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4)]
    expected = header + math.prod(dims)
    if len(data) != expected:
        problem = "is truncated" if len(data) < expected else "has trailing bytes"
        raise DataError(
            f"{path} {problem}: {len(data)} bytes, its header ({'×'.join(map(str, dims))}) promises {expected}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def _find(root: Path, names: Sequence[str]) -> list[Path | None]:
    """Each name as `name.gz` or `name` in `root`, or None when neither is there."""
    found: list[Path | None] = []
    for name in names:
        paths = [root / f"{name}.gz", root / name]
        found.append(next((p for p in paths if p.is_file()), None))
    return found


def _split_names(split: str) -> list[str]:
    return ["train", "test"] if split == "all" else [split]


def _load_idx(name: str, names: list[str], s: dict) -> ImageDataset:
    """MNIST-format dataset `name`: the split's IDX files from root (fetched first if asked and missing)."""
    root = Path(s["root"]).expanduser() if s["root"] else data_root(name)
    wanted = [file for split in _split_names(s["split"]) for file in IDX_FILES[split]]
    if None in _find(root, wanted) and s["download"]:
        fetch_dataset(name, root)
    paths = _find(root, wanted)
    if None in paths:
        missing = ", ".join(f"{file}[.gz]" for file, path in zip(wanted, paths) if path is None)
        where = f"folder {root} does not exist" if not root.is_dir() else f"{root} lacks {missing}"
        raise DataError(
            f"{name}: {where} (expected {', '.join(wanted)}, each .gz or raw); set data.root, or GANKIT_DATA "
            f"to a folder holding {name}/, or --set data.download=true to fetch them"
        )
    images, labels = [], []
    for image_path, label_path in zip(paths[::2], paths[1::2]):
        x, y = read_idx(image_path, 2051), read_idx(label_path, 2049)
        if len(x) != len(y):
            raise DataError(f"{image_path} holds {len(x)} images but {label_path} holds {len(y)} labels")
        if len(y) and y.max() >= len(names):
            raise DataError(f"{label_path} holds label {y.max()}, outside the classes 0-{len(names) - 1}")
        images.append(x)
        labels.append(y)
    x, y = np.concatenate(images), np.concatenate(labels)
    n = _take(s["limit"], len(x), f"the {name} {s['split']} split in {root}")
    x_t = torch.from_numpy(x[:n].copy()).unsqueeze(1)  # a copy, so a small limit frees the rest
    return _finish(x_t, torch.from_numpy(y[:n].astype(np.int64)), names, s)


@functools.lru_cache(maxsize=4)
def _idx_classifier(name: str, files: tuple[Path, ...], classes: int) -> DomainClassifier:
    """The domain classifier of an MNIST-format dataset: trained on its train split at 28×28,
    tested on its test split, whatever resolution and subset a run uses."""
    splits = []
    for image_path, label_path in zip(files[::2], files[1::2]):
        x = torch.from_numpy(read_idx(image_path, 2051).copy()).unsqueeze(1)
        splits.append((x, torch.from_numpy(read_idx(label_path, 2049).astype(np.int64))))
    return domain_classifier(name, splits[0], splits[1], classes)


def _with_classifier(name: str, dataset: ImageDataset, s: dict) -> ImageDataset:
    """Attach the domain classifier (trained at the first evaluation); its files are checked now,
    so a missing split is an error before the run starts, not thousands of iterations in."""
    if s["classifier"]:
        root = Path(s["root"]).expanduser() if s["root"] else data_root(name)
        wanted = IDX_FILES["train"] + IDX_FILES["test"]
        files = _find(root, wanted)
        if None in files:
            missing = ", ".join(f for f, p in zip(wanted, files) if p is None)
            raise DataError(
                f"{name}: the domain classifier needs both splits, but {root} lacks {missing}; "
                "add them or --set data.classifier=false"
            )
        dataset.classifier = functools.partial(
            _idx_classifier, name, tuple(p.resolve() for p in files), dataset.num_classes
        )
    return dataset


def mnist(s: dict) -> ImageDataset:
    """MNIST from its four IDX files."""
    return _with_classifier("mnist", _load_idx("mnist", MNIST_CLASSES, s), s)


def fashion_mnist(s: dict) -> ImageDataset:
    """Fashion-MNIST from its four IDX files (the MNIST layout)."""
    return _with_classifier("fashion-mnist", _load_idx("fashion-mnist", FASHION_MNIST_CLASSES, s), s)


# --------------------------------------------------------------------------- CIFAR-10

CIFAR_BINARY = {"train": [f"data_batch_{i}.bin" for i in range(1, 6)], "test": ["test_batch.bin"]}
CIFAR_RECORD = 1 + 3 * 32 * 32
CIFAR_SUBSET_COLUMNS = ("file", "row", "split", "index_in_split", "label", "class_name")


def _cifar_folder(root: Path, names: dict[str, list[str]], subfolder: str) -> Path | None:
    """The folder (root or root/subfolder) holding any of the batch files `names`, if one does."""
    for folder in (root, root / subfolder):
        if any((folder / f).is_file() for files in names.values() for f in files):
            return folder
    return None


def _cifar_files(folder: Path, names: dict[str, list[str]], split: str) -> list[Path]:
    """The batch files of a split; an error naming the missing ones."""
    files = [folder / f for part in _split_names(split) for f in names[part]]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        expected = ", ".join(names["train"] + names["test"])
        raise DataError(f"cifar10: {folder} lacks {', '.join(missing)} (expected {expected})")
    return files


def _read_cifar_binary(folder: Path, split: str) -> tuple[Tensor, Tensor]:
    """The binary batches of a split: per record 1 label byte, then 3072 pixel bytes (R, G, B planes)."""
    files = _cifar_files(folder, CIFAR_BINARY, split)
    images, labels = [], []
    for path in files:
        data = np.fromfile(path, dtype=np.uint8)
        if len(data) % CIFAR_RECORD:
            raise DataError(
                f"{path} is truncated: {len(data)} bytes, not a whole number of {CIFAR_RECORD}-byte records "
                "(1 label byte + 3072 pixel bytes)"
            )
        records = data.reshape(-1, CIFAR_RECORD)
        if len(records) and records[:, 0].max() > 9:
            raise DataError(f"{path} holds label {records[:, 0].max()}, outside the classes 0-9")
        labels.append(records[:, 0].astype(np.int64))
        images.append(records[:, 1:].reshape(-1, 3, 32, 32))
    return torch.from_numpy(np.concatenate(images)), torch.from_numpy(np.concatenate(labels))


CIFAR_PYTHON = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
_PICKLE_INTS = {"BININT", "BININT1", "BININT2", "INT", "LONG1"}


def _read_cifar_python(folder: Path, split: str) -> tuple[Tensor, Tensor]:
    """The python-version batches of a split, read without unpickling (see `_parse_cifar_pickle`)."""
    parts = [_parse_cifar_pickle(path) for path in _cifar_files(folder, CIFAR_PYTHON, split)]
    return torch.from_numpy(np.concatenate([x for x, _ in parts])), torch.from_numpy(
        np.concatenate([y for _, y in parts])
    )


def _parse_cifar_pickle(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels of one CIFAR-10 python batch, taken from its pickle opcodes as data.

    Unpickling runs whatever the file names, so gankit never does it: `pickletools.genops`
    only tokenises the stream. The labels are the integers pushed after the key `labels`; the
    pixels are the one large byte string (N·3072 bytes, N × [R, G, B planes of 32×32]).
    """
    import pickletools

    labels: list[int] = []
    blob: bytes = b""
    collecting = False
    try:
        with open(path, "rb") as f:
            for opcode, arg, _ in pickletools.genops(f):
                if isinstance(arg, (str, bytes, bytearray)) and opcode.name not in ("GLOBAL", "INST"):
                    collecting = arg in ("labels", b"labels")
                    if len(arg) > len(blob):
                        blob = arg.encode("latin-1") if isinstance(arg, str) else bytes(arg)
                elif collecting and opcode.name in _PICKLE_INTS:
                    labels.append(int(arg))
    except (ValueError, UnicodeEncodeError, EOFError) as exc:
        raise DataError(f"{path} is not a CIFAR-10 python batch (truncated or not a pickle: {exc})") from None
    if not labels or len(blob) != len(labels) * 3072:
        raise DataError(
            f"{path} is not a CIFAR-10 python batch: {len(labels)} labels and a {len(blob)}-byte pixel array "
            "(expected 3072 bytes per label)"
        )
    y = np.asarray(labels, dtype=np.int64)
    if y.min() < 0 or y.max() > 9:
        raise DataError(f"{path} holds label {y.max() if y.max() > 9 else y.min()}, outside the classes 0-9")
    return np.frombuffer(blob, dtype=np.uint8).reshape(-1, 3, 32, 32), y


def _read_cifar_subset(root: Path, split: str) -> tuple[Tensor, Tensor]:
    """The PNG-strip subset: 1024-pixel-wide RGB PNGs, one 32×32 image per row, indexed by labels.csv."""
    table = root / "labels.csv"
    try:
        with open(table, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if not set(CIFAR_SUBSET_COLUMNS) <= set(reader.fieldnames or []):
                raise DataError(f"{table} must have the columns {', '.join(CIFAR_SUBSET_COLUMNS)}")
            rows = [(r["split"], int(r["index_in_split"]), r["file"], int(r["row"]), int(r["label"])) for r in reader]
    except (ValueError, TypeError, csv.Error) as exc:  # text that is not UTF-8, a short row, a non-integer
        raise DataError(
            f"{table} is not a valid label table ({exc}); expected integer row, index_in_split, label"
        ) from None
    strips: dict[str, np.ndarray] = {}
    images, labels = [], []
    for part in _split_names(split):
        for _, _, file, row, label in sorted(r for r in rows if r[0] == part):
            if file not in strips:
                strips[file] = _read_strip(root / file)
            if not 0 <= row < len(strips[file]):
                raise DataError(f"{table} names row {row} of {file}, which has {len(strips[file])} rows")
            if not 0 <= label <= 9:
                raise DataError(f"{table} holds label {label} for {file} row {row}, outside the classes 0-9")
            images.append(strips[file][row])
            labels.append(label)
    if not images:
        raise DataError(f"{table} lists no {split} images (split column: train or test)")
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous(), torch.tensor(labels)


def _read_strip(path: Path) -> np.ndarray:
    """A PNG strip as rows × 32 × 32 × 3 uint8."""
    pixels = _open_image(path)
    if pixels.ndim != 3 or pixels.shape[1:] != (1024, 3):
        raise DataError(f"{path} must be a 1024-pixel-wide RGB PNG (one 32×32 image per row), got {pixels.shape}")
    return pixels.reshape(-1, 32, 32, 3)


def cifar10(s: dict) -> ImageDataset:
    """CIFAR-10 from the binary batches, the python batches or the PNG-strip subset, whichever the folder holds."""
    # the subset is a fallback for reading; a download always goes to the full set's folder
    default = data_root("cifar10") if s["download"] else data_root("cifar10", "cifar10-subset")
    root = Path(s["root"]).expanduser() if s["root"] else default
    folder = _cifar_folder(root, CIFAR_BINARY, "cifar-10-batches-bin")
    python = _cifar_folder(root, CIFAR_PYTHON, "cifar-10-batches-py")
    subset = (root / "labels.csv").is_file()
    if folder is None and python is None and not subset and s["download"]:
        fetch_dataset("cifar10", root)
        folder = _cifar_folder(root, CIFAR_BINARY, "cifar-10-batches-bin")
    if folder is not None:
        x, y = _read_cifar_binary(folder, s["split"])
    elif python is not None:
        x, y = _read_cifar_python(python, s["split"])
    elif subset:
        x, y = _read_cifar_subset(root, s["split"])
    else:
        where = f"folder {root} does not exist" if not root.is_dir() else f"{root} holds no CIFAR-10 files"
        raise DataError(
            f"cifar10: {where} (expected the binary batches data_batch_1-5.bin and test_batch.bin, the python "
            "batches data_batch_1-5 and test_batch, or labels.csv with PNG strips); "
            "set data.root, or GANKIT_DATA to a folder holding cifar10/, or --set data.download=true to fetch them"
        )
    n = _take(s["limit"], len(x), f"the cifar10 {s['split']} split in {root}")
    return _finish(x[:n], y[:n], CIFAR10_CLASSES, s)
