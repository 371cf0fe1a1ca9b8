"""Digit domains built from MNIST for the translation tests: each domain a style of the same digits.

Different images go to each domain (unpaired data: no image has a counterpart in another domain),
so a translator can only learn the style, and whether it keeps the digit is measured by reading it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from gankit.data.published import read_idx

from .conftest import data_dir

Style = Callable[[np.ndarray], np.ndarray]  # a 28×28 uint8 digit → a uint8 H×W or H×W×3 picture


def plain(x: np.ndarray) -> np.ndarray:
    return x


def inverted(x: np.ndarray) -> np.ndarray:
    return 255 - x


def tint(channel: int) -> Style:
    """The digit drawn in one colour channel of an RGB picture (0 red, 1 green, 2 blue)."""

    def style(x: np.ndarray) -> np.ndarray:
        rgb = np.zeros((*x.shape, 3), np.uint8)
        rgb[..., channel] = x
        return rgb

    return style


def mnist_digits(split: str) -> np.ndarray:
    """MNIST's uint8 N×28×28 training or test digits from the shared data (a failure if absent)."""
    prefix = "train" if split == "train" else "t10k"
    return read_idx(data_dir("mnist") / f"{prefix}-images-idx3-ubyte.gz", 2051)


def write_domains(root: Path, styles: dict[str, Style], train: int, test: int, layout: str) -> Path:
    """Folders of styled digits, `train` and `test` per domain, each domain drawn from its own
    digits. layout "cyclegan": trainA/ trainB/ testA/ testB/ (styles named A and B); "folders":
    train/<domain>/ and test/<domain>/."""
    for split, count in (("train", train), ("test", test)):
        digits = mnist_digits(split)
        for index, (name, style) in enumerate(styles.items()):
            folder = root / (f"{split}{name}" if layout == "cyclegan" else f"{split}/{name}")
            folder.mkdir(parents=True)
            for i, digit in enumerate(digits[index * count : (index + 1) * count]):
                Image.fromarray(style(digit)).save(folder / f"{i:05d}.png")
    return root
