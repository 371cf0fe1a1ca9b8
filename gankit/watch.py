"""What a person sees of a run while it trains: curves, the target's picture, sample grids
from fixed noise, an animated progression at the end, and TensorBoard event files."""

from __future__ import annotations

import functools
import io
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from . import plots
from .atomic import atomic_write_bytes
from .data import Target, TargetInfo
from .data.images import make_grid
from .errors import ConfigError
from .grid_labels import grid_scale, label_grid, upscale
from .recipe import GAN
from .render import FrameWriter, Task, refresh_renderer, report

log = logging.getLogger("gankit")
MAX_GIF_FRAMES = 100


def tensorboard_available(mode: str) -> bool:
    """Whether to write TensorBoard files for `train.tensorboard` = auto / on / off."""
    if mode == "off":
        return False
    try:
        import torch.utils.tensorboard  # noqa: F401  (needs the tensorboard package)
    except ImportError:
        if mode == "on":
            raise ConfigError(
                "train.tensorboard = on needs the tensorboard package: pip install 'gankit[tensorboard]'"
            ) from None
        _say_tensorboard_missing()
        return False
    return True


@functools.cache
def _say_tensorboard_missing() -> None:
    """Said once per process: `auto` asks for TensorBoard files where the package is installed."""
    log.info("no TensorBoard files: the tensorboard package is not installed (pip install 'gankit[tensorboard]'; "
             "train.tensorboard=off silences this)")  # fmt: skip


def write_picture(path: Path, frames: list[np.ndarray], seconds_per_frame: float = 0.2, hold_last: float = 0) -> None:
    """H×W×C uint8 arrays as a PNG (one frame) or an animated GIF, written atomically."""
    atomic_write_bytes(path, encode_picture(path.suffix, frames, seconds_per_frame, hold_last))


def encode_picture(
    suffix: str, frames: list[np.ndarray], seconds_per_frame: float = 0.2, hold_last: float = 0
) -> bytes:
    """The bytes of a PNG (one frame) or, for suffix .gif, an animated GIF."""
    images = [Image.fromarray(f[:, :, 0] if f.shape[2] == 1 else f) for f in frames]
    buffer = io.BytesIO()
    if suffix.lower() == ".gif":
        durations = [int(seconds_per_frame * 1000)] * len(images)
        durations[-1] = int((hold_last or seconds_per_frame) * 1000)
        rgb = [image.convert("RGB") for image in images]
        rgb[0].save(buffer, format="GIF", save_all=True, append_images=rgb[1:], duration=durations, loop=0)
    else:
        images[0].save(buffer, format="PNG")
    return buffer.getvalue()


def save_grid(images: Tensor, path: Path, cols: int) -> None:
    """uint8 N×C×H×W images as one PNG grid of `cols` columns."""
    write_picture(path, [make_grid(images.cpu(), cols)])


def save_walk_gif(walks: Tensor, path: Path, scale: int = 0) -> None:
    """uint8 (paths, steps, C, H, W) latent walks as a GIF: frame t shows every walk at step t,
    forwards then backwards so that it loops smoothly; enlarged `scale` times (0: automatic)."""
    paths, steps = walks.shape[:2]
    order = list(range(steps)) + list(range(steps - 2, 0, -1))
    factor = grid_scale(scale, min(walks.shape[-2:]))
    frames = [upscale(make_grid(walks[:, t].cpu(), paths), factor) for t in order]
    write_picture(path, frames, seconds_per_frame=0.12)


class Watcher:
    """Writes a run's pictures and TensorBoard files; knows no model or target by name.

    Pictures are drawn off the loop (gankit/render.py): the loop pays only for the copy of
    their data off the device. `flush` and `finish` wait for them."""

    def __init__(
        self,
        folder: Path,
        gan: GAN,
        target: Target,
        info: TargetInfo,
        config: dict[str, Any],
        tensorboard: bool,
        step: int,
    ) -> None:
        self.folder, self.gan, self.target, self.info, self.config = folder, gan, target, info, config
        self.renderers = {"pictures": refresh_renderer("pictures", self._picture_tasks), "grid": FrameWriter("grid")}
        self._reported = False
        self.writer = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            # events a killed process wrote after its last checkpoint are dropped, as in metrics.jsonl
            self.writer = SummaryWriter(str(folder / "tensorboard"), purge_step=step or None)

    @property
    def plots(self) -> Path:
        return self.folder / "plots"

    def record(self, record: dict[str, Any]) -> None:
        if self.writer is not None:
            for key, value in record.items():
                if key not in ("step", "time") and isinstance(value, (int, float)):
                    self.writer.add_scalar(key, value, record["step"])

    def pictures(self, records: list[dict[str, Any]], real: Tensor, fake: Tensor, noise: Tensor, step: int) -> None:
        """Refresh the curves and the target's own picture of real against generated samples:
        the data is copied off the device now and drawn off the loop."""
        arrays = [t.detach().cpu().numpy() for t in (real, fake, noise)]
        last = step >= self.config["train"]["steps"]
        self.renderers["pictures"].submit(([dict(r) for r in records], arrays, step), last)

    def _picture_tasks(self, payload: tuple[list[dict[str, Any]], list[np.ndarray], int]) -> list[Task]:
        """The drawings of one refresh (run by the renderer, on its side of a fork or thread)."""
        records, arrays, step = payload
        real, fake, noise = (torch.from_numpy(a) for a in arrays)
        guides = self.gan.loss_guides()
        title = f"{self.config['data']['target']} at iteration {step}"
        draw, where = self.target.draw, self.plots
        picture = where / f"{self.target.picture}.png"
        return [
            ("losses.png", lambda: plots.plot_losses(records, where / "losses.png", guides)),
            ("accuracy.png", lambda: plots.plot_accuracy(records, where / "accuracy.png")),
            ("eval.png", lambda: plots.plot_eval(records, where / "eval.png")),
            (picture.name, lambda: plots.plot_distribution(draw, real, fake, noise, picture, title)),
        ]

    def sample_grid(self, step: int) -> None:
        """A grid from the same noise every time (a frame of the final animation): generated in
        the loop (it needs the model), encoded and written by the worker."""
        if not self.info.is_image:
            return
        ev = self.config["eval"]
        shown = self.gan.grid(self.target, ev["grid_rows"], ev["grid_cols"], ev["seed"])
        if shown is None:
            return
        grid = make_grid(shown[0].detach().cpu(), shown[1])
        if self.writer is not None:
            self.writer.add_image("samples", grid, step, dataformats="HWC")
        side = shown[0].shape[-2]
        self.renderers["grid"].submit([(f"grid-{step:08d}.png", lambda: self._write_grid(grid, step, side))])

    def _write_grid(self, grid: np.ndarray, step: int, side: int) -> None:
        """The grid enlarged (eval.grid_scale), titled with its iteration and its rows named, as
        a PNG in grids/ (the frames of progress.gif) and as plots/samples-grid.png."""
        scale = grid_scale(self.config["eval"].get("grid_scale", 0), side)
        names = self.gan.grid_row_names(self.info.class_names)
        # make_grid's tiles: 2 pixels of padding above each image
        grid = label_grid(upscale(grid, scale), f"iteration {step}", names, (side + 2) * scale, 2 * scale)
        png = encode_picture(".png", [grid])  # encoded once, written twice
        atomic_write_bytes(self.folder / "grids" / f"grid-{step:08d}.png", png)
        atomic_write_bytes(self.plots / "samples-grid.png", png)

    def finish(self) -> None:
        """After the last pictures: the animated progression of the sample grids (at most
        MAX_GIF_FRAMES, evenly chosen), and how many refreshes were skipped or failed."""
        self.drain()
        frames = sorted((self.folder / "grids").glob("grid-*.png"))
        if frames:
            chosen = [frames[int(i)] for i in np.linspace(0, len(frames) - 1, min(len(frames), MAX_GIF_FRAMES))]
            arrays = [np.asarray(Image.open(f).convert("RGB")) for f in chosen]
            write_picture(self.plots / "progress.gif", arrays, seconds_per_frame=0.2, hold_last=2.0)
        self.flush()
        self.report()

    def close(self) -> None:
        """Draw what is left and stop the worker (a run stopped early reports its skips here)."""
        for renderer in self.renderers.values():
            renderer.close()
        self.report()
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def flush(self) -> None:
        """Finish the pictures handed over and write out pending TensorBoard events (also on
        Ctrl-C or an error: the last refresh before the stop is on disk when the run ends)."""
        self.drain()
        if self.writer is not None:
            self.writer.flush()

    def poll(self) -> None:
        """Start a refresh that waited for the renderer, if it is free now."""
        for renderer in self.renderers.values():
            renderer.poll()

    def drain(self) -> None:
        """Wait until every picture handed over has been written."""
        for renderer in self.renderers.values():
            renderer.drain()

    def report(self) -> None:
        """Log the skipped refreshes and failed pictures, once per run."""
        if not self._reported:
            self._reported = True
            report(list(self.renderers.values()))
