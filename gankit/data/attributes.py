"""Images labelled by several binary attributes at once (StarGAN on CelebA), from CelebA's table.

The table (`list_attr_celeba.txt`) holds the image count on its first line, the attribute names on
its second, then one line per image: its file name and one value per attribute, 1 or -1. The chosen
attributes become float32 0/1 columns; the table's last `data.held_out` images are kept out of
training for evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import Tensor

from ..errors import ConfigError, DataError
from ..target_settings import RANGES, TABLE, AttributeSettings
from .augment import Jitter
from .domains import DomainTarget, check_choices, domain_names, jitter_of
from .images import _open_image, _required_path, as_chw, convert_channels
from .paired import _stack

VALUES = {"1": 1.0, "-1": 0.0}  # CelebA writes an attribute as present (1) or absent (-1)
SHOWN = 10  # attribute names listed in an error


class AttributeImages(DomainTarget):
    """Images with K binary attributes: "x" images, "attrs" float32 N×K of 0/1 (several may hold at once)."""

    keys = ("x", "attrs")
    multi_label = True
    num_classes = 0  # no single class per image: the labels are the attribute columns

    def __init__(
        self,
        images: Tensor,
        attrs: Tensor,
        class_names: Sequence[str],
        value_range: str,
        held_out: tuple[Tensor, Tensor] | None = None,
        jitter: Jitter | None = None,
    ) -> None:
        super().__init__(images, class_names, value_range, jitter)
        pairs = [("training", images, attrs)] + ([("held-out", *held_out)] if held_out is not None else [])
        for what, x, a in pairs:
            if a.shape != (len(x), len(self.class_names)):
                raise ValueError(f"{what} attributes must be N×K = {len(x)}×{len(self.class_names)}, got "
                                 f"{tuple(a.shape)}")  # fmt: skip
        self.attrs = attrs.to(torch.float32).contiguous()
        self._held: tuple[Tensor, Tensor] | None = None
        if held_out is not None:
            if held_out[0].shape[1:] != images.shape[1:]:
                raise ValueError(f"held-out images {tuple(held_out[0].shape[1:])} must have the shape of the "
                                 f"training images {self.shape}")  # fmt: skip
            self._held = (held_out[0].contiguous(), held_out[1].to(torch.float32).contiguous())

    @property
    def dataset(self) -> dict[str, Tensor]:
        """Every training image ("x", uint8 N×C×H×W) and its attributes ("attrs", float32 N×K of 0/1)."""
        return {"x": self.images, "attrs": self.attrs}

    @property
    def has_held_out(self) -> bool:
        return self._held is not None

    def labelled_images(self, held_out: bool = True) -> tuple[Tensor, Tensor]:
        return self._held if held_out and self._held is not None else (self.images, self.attrs)


# --------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class AttributeTable:
    """A parsed attribute table: the attribute names, the file names, and their 0/1 values (N×K float32)."""

    path: Path
    names: tuple[str, ...]
    files: tuple[str, ...]
    values: Tensor

    def columns(self, chosen: Sequence[str]) -> Tensor:
        """The values of the `chosen` attributes, in that order; a ConfigError naming one not in the table."""
        missing = next((name for name in chosen if name not in self.names), None)
        if missing is not None:
            shown = ", ".join(self.names[:SHOWN]) + (", ..." if len(self.names) > SHOWN else "")
            raise ConfigError(f"data.attributes names {missing!r}, which is not a column of {self.path}; "
                              f"available ({len(self.names)}): {shown}")  # fmt: skip
        return self.values[:, [self.names.index(name) for name in chosen]]


def read_table(path: str | Path) -> AttributeTable:
    """CelebA's attribute table: the count, the names, then a file name and K values (1 or -1) per line."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path} could not be read as an attribute table: {exc}") from None
    head = lines[0].strip() if lines else ""
    if not head.isdigit():
        raise DataError(f"{path}, line 1: expected the number of images, got {head[:40]!r} (the {TABLE} format)")
    names = tuple(lines[1].split()) if len(lines) > 1 else ()
    if not names:
        raise DataError(f"{path}, line 2: expected the attribute names, separated by spaces")
    files, rows = [], []
    for number, line in enumerate(lines[2:], start=3):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != len(names) + 1:
            raise DataError(f"{path}, line {number}: expected a file name and {len(names)} values (1 or -1), got "
                            f"{len(parts) - 1} values")  # fmt: skip
        bad = next((value for value in parts[1:] if value not in VALUES), None)
        if bad is not None:
            raise DataError(f"{path}, line {number}: {bad!r} is not an attribute value (1 or -1)")
        files.append(parts[0])
        rows.append([VALUES[value] for value in parts[1:]])
    if len(files) != int(head):
        raise DataError(f"{path} announces {int(head)} images on line 1 but lists {len(files)}")
    return AttributeTable(path, names, tuple(files), torch.tensor(rows, dtype=torch.float32).reshape(-1, len(names)))


def find_table(folder: Path, table: str) -> Path:
    """data.table, or the default table in the images' folder or its parent."""
    if table:
        path = Path(table).expanduser()
        if not path.is_file():
            raise DataError(f"{path} (data.table) does not exist or is not a file")
        return path
    for place in (folder, folder.parent):
        if (place / TABLE).is_file():
            return place / TABLE
    raise DataError(f"no {TABLE} in {folder} or {folder.parent}; set data.table to the attribute table")


def read_listed(folder: Path, files: Sequence[str], table: Path, s: dict) -> Tensor:
    """The listed images of `folder` as uint8 N×C×H×W (resized as read); a DataError for absent ones."""
    paths = [folder / name for name in files]
    absent = [path for path in paths if not path.is_file()]
    if absent:
        raise DataError(f"{absent[0]} is listed in {table} but absent ({len(absent)} of the {len(paths)} images "
                        "to read are missing); data.path must be the folder holding the table's images")  # fmt: skip
    images = _stack([as_chw(_open_image(path, s["resolution"])) for path in paths], paths, folder)
    return convert_channels(images, s["channels"])


def attributes(s: dict) -> AttributeImages:
    """The chosen attributes of the table's images; the table's last data.held_out images held out."""
    s = {**asdict(AttributeSettings()), **s}
    check_choices(s, {"range": RANGES})
    folder = _required_path(s, "attributes", "the folder of the images listed in the attribute table")
    if not folder.is_dir():
        raise DataError(f"folder {folder} (data.path) does not exist or is not a folder")
    chosen = domain_names(s["attributes"])
    if not chosen:
        raise ConfigError('data.attributes is required for the attributes target: the attribute names to learn, '
                          'e.g. "Black_Hair,Blond_Hair,Male"')  # fmt: skip
    table = read_table(find_table(folder, s["table"]))
    values = table.columns(chosen)
    n = len(table.files) - s["held_out"]
    if n < 1:
        raise ConfigError(f"data.held_out ({s['held_out']}) must be < the {len(table.files)} images of {table.path}")
    train = list(range(min(n, s["limit"]) if s["limit"] else n))
    held = list(range(n, n + min(s["held_out"], s["limit"] or s["held_out"])))
    # read together, so that images of another size are one error naming both files
    images = read_listed(folder, [table.files[i] for i in train + held], table.path, s)
    held_out = (images[len(train) :], values[held]) if held else None
    return AttributeImages(images[: len(train)], values[train], chosen, s["range"], held_out,
                           jitter_of(s, tuple(images.shape[1:])))  # fmt: skip
