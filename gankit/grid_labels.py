"""Sample grids as a person looks at them: enlarged without blurring (every pixel repeated), with
the iteration above and, for conditional models, the name of each row's class at its left."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

MIN_SHOWN_SIDE = 64  # automatic scale: each image at least this many pixels on its shorter side
FONT_SIZE = 14
TITLE_HEIGHT = 22  # the strip above a grid that holds its title
NAME_MARGIN = 6  # pixels either side of a row's name
INK = (0, 0, 0)


def grid_scale(setting: int, side: int) -> int:
    """The upscaling factor of a grid of images `side` pixels high: `setting` (eval.grid_scale)
    when at least 1, else the smallest that shows each image at least MIN_SHOWN_SIDE pixels."""
    return setting if setting >= 1 else max(1, math.ceil(MIN_SHOWN_SIDE / max(side, 1)))


def upscale(picture: np.ndarray, scale: int) -> np.ndarray:
    """An H×W×C picture `scale` times larger by nearest neighbour: pixels stay crisp squares."""
    return picture if scale == 1 else picture.repeat(scale, axis=0).repeat(scale, axis=1)


@functools.cache
def _font() -> Any:
    try:
        return ImageFont.load_default(size=FONT_SIZE)  # Pillow's scalable font (needs FreeType)
    except (TypeError, ImportError, OSError):  # an older Pillow or no FreeType: the small bitmap font
        return ImageFont.load_default()


def label_grid(
    grid: np.ndarray, title: str, row_names: Sequence[str] = (), row_height: int = 0, top_padding: int = 0
) -> np.ndarray:
    """`grid` (H×W×3 uint8) with `title` in a white strip of TITLE_HEIGHT pixels above it and, when
    given, `row_names` in a white strip at its left, each centred on its row: row i spans
    `row_height` pixels from `top_padding + i * row_height`."""
    font = _font()
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    name_width = max((measure.textbbox((0, 0), n, font=font)[2] for n in row_names), default=0)
    left = name_width + 2 * NAME_MARGIN if row_names else 0
    height, width = grid.shape[:2]
    canvas = Image.new("RGB", (left + width, TITLE_HEIGHT + height), "white")
    canvas.paste(Image.fromarray(np.ascontiguousarray(grid)), (left, TITLE_HEIGHT))
    draw = ImageDraw.Draw(canvas)
    draw.text((left + (width - measure.textbbox((0, 0), title, font=font)[2]) // 2, TITLE_HEIGHT // 2), title,
              fill=INK, font=font, anchor="lm")  # fmt: skip
    for i, name in enumerate(row_names):
        centre = TITLE_HEIGHT + top_padding + i * row_height + row_height // 2
        draw.text((left - NAME_MARGIN, centre), name, fill=INK, font=font, anchor="rm")
    return np.asarray(canvas)
