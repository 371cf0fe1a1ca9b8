"""The pictures a person looks at while a GAN trains: curves, distributions, written atomically."""

from __future__ import annotations

import io
import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .atomic import atomic_write_bytes

REAL, FAKE, NOISE = "tab:green", "tab:red", "tab:blue"  # the colours of seed 000's last figure
DPI = 100  # pixels per inch of every picture
# titles at the top of their panel: a title left to place itself measures the tick labels at every
# draw to dodge ticks on top, which no panel has (same pixels, ~3 ms less a panel); it would also
# dodge a y-axis offset label ("1e6") at the panel's top left, which these short centred titles do
# not reach
TITLE = {"y": 1.0}


def new_figure(figsize: tuple[float, float], **margins: float) -> Any:
    """A figure on its own Agg canvas, outside pyplot's global figure registry, so that figures
    can be drawn on a background thread (and never pile up as open pyplot figures).

    Its panels sit within fixed `margins` (fractions of the figure, as `subplots_adjust` takes
    them) that leave room for a title and tick labels: a layout computed from the drawn text
    (`bbox_inches="tight"`, tight or constrained layout) draws the figure twice, and pictures
    are redrawn all through a run."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=DPI)
    FigureCanvasAgg(fig)
    fig.subplots_adjust(**{"left": 0.1, "right": 0.97, "bottom": 0.12, "top": 0.9, **margins})
    return fig


def save_figure(fig: Any, path: Path) -> None:
    """Write a figure to `path` atomically, so a viewer never sees half a PNG."""
    atomic_write_bytes(path, figure_bytes(fig, path.suffix.lstrip(".") or "png"))


def figure_bytes(fig: Any, file_format: str = "png") -> bytes:
    """A figure encoded as a file of `file_format` (to write, or to embed in a page).

    A PNG is the canvas's own pixels, opaque RGB, compressed at zlib level 1: matplotlib's
    savefig encodes RGBA at level 6, which took a fifth of a curve picture's time for files only
    about a tenth smaller (pictures are redrawn all through a run, and the run waits for the last)."""
    buffer = io.BytesIO()
    if file_format != "png" or fig.get_dpi() != DPI:
        fig.savefig(buffer, format=file_format, dpi=DPI)
        return buffer.getvalue()
    from PIL import Image

    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba())
    image = Image.frombuffer("RGBA", (rgba.shape[1], rgba.shape[0]), rgba, "raw", "RGBA", 0, 1)
    opaque = rgba[..., 3].min() == 255  # a see-through background keeps its alpha
    (image.convert("RGB") if opaque else image).save(buffer, format="png", compress_level=1)
    return buffer.getvalue()


def _legend(ax: Any) -> None:
    """A legend when the panel has labelled lines (a critic has no accuracy to draw)."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)


Series = tuple[str, list[float], list[float]]  # (label, iterations, values)


def as_number(value: Any) -> float | None:
    """A logged value as a float: numbers, and the strings a JSON writer may use for inf and NaN
    ("inf", "Infinity", "nan"); None for anything else."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _series(
    records: Sequence[dict[str, Any]], keys: Sequence[str], labels: Sequence[str] | None = None
) -> list[Series]:
    """The (label, iterations, values) of each key that some record holds."""
    found = []
    for i, key in enumerate(keys):
        points = [(r["step"], as_number(r[key])) for r in records if as_number(r.get(key)) is not None]
        if points:
            xs, ys = zip(*points)
            found.append((labels[i] if labels else key, list(xs), list(ys)))
    return found


class KeptFigures:
    """Curve figures kept between refreshes of the same picture, their lines given new data.

    Building a figure (axes, ticks, labels) costs as much as drawing it; a refresh that shows
    the same curves again only moves their points. A figure is kept under its file and the
    shape of what it shows (panels, curves, reference lines); the KEEP newest are kept."""

    KEEP = 16

    def __init__(self) -> None:
        self._kept: OrderedDict[tuple, tuple[Any, list[Any]]] = OrderedDict()

    def draw(
        self, path: Path, shape: tuple, panels: list[list[Series]], build: Callable[[], tuple[Any, list[Any]]]
    ) -> None:
        """Write the figure of `panels` (each a list of curves) to `path`: the one kept under
        (path, shape) with its lines' data replaced, or a new one from `build`, which returns
        the figure and its curves' lines, panel after panel."""
        key = (str(path), shape)
        kept = self._kept.pop(key, None)
        if kept is None:
            kept = build()
        else:
            fig, lines = kept
            for line, (_, xs, ys) in zip(lines, (curve for panel in panels for curve in panel)):
                line.set_data(xs, ys)
            for ax in fig.axes:
                ax.relim()
                ax.autoscale_view()
        self._kept[key] = kept
        while len(self._kept) > self.KEEP:
            self._kept.popitem(last=False)
        save_figure(kept[0], path)


KEPT = KeptFigures()  # per process: the drawing process's, or the drawing thread's


def _plot_curves(ax: Any, curves: list[Series], **style: Any) -> list[Any]:
    """Curves against iteration, with at most five ticks an axis at round values: tick labels are
    most of a curve picture's drawing time (a 5-panel eval.png drew ~20% faster than with
    matplotlib's default of up to ten), and pictures are redrawn all through a run."""
    from matplotlib.ticker import MaxNLocator

    lines = [ax.plot(xs, ys, label=label, **style)[0] for label, xs, ys in curves]
    ax.set_xlabel("iteration")
    ax.grid(alpha=0.3)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=5, steps=[1, 2, 5, 10], integer=True))  # iterations
    ax.yaxis.set_major_locator(MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10]))
    return lines


def plot_losses(records: Sequence[dict[str, Any]], path: Path, equilibria: dict[str, float]) -> None:
    """Every loss the players log against iteration, with the values `equilibria` gives for them
    at the ideal equilibrium (same colour, dashed)."""
    keys = sorted({k for r in records for k in r if k.endswith("loss") and not k.startswith("eval/")})
    names = [k.replace("d_loss", "D loss").replace("g_loss", "G loss") for k in keys]
    curves = _series(records, keys, names)

    def build() -> tuple[Any, list[Any]]:
        fig = new_figure((7, 4))
        ax = fig.subplots()
        lines = _plot_curves(ax, curves)
        colours = {line.get_label(): line.get_color() for line in lines}
        for key, value in equilibria.items():
            name = names[keys.index(key)] if key in keys else key
            if value == value:  # not NaN
                ax.axhline(value, color=colours.get(name, "grey"), ls="--", lw=0.8,
                           label=f"{name} at equilibrium ({value:.3f})")  # fmt: skip
        ax.set_title("losses", **TITLE)
        _legend(ax)
        return fig, lines

    shape = (tuple(c[0] for c in curves), tuple(sorted(equilibria.items())))
    KEPT.draw(path, shape, [curves], build)


def plot_accuracy(records: Sequence[dict[str, Any]], path: Path) -> None:
    """D's accuracy on real and on generated samples; 50% means D can no longer tell them apart."""
    curves = _series(records, ["acc_real", "acc_fake", "d_accuracy"], ["on real", "on generated", "overall"])

    def build() -> tuple[Any, list[Any]]:
        fig = new_figure((7, 4))
        ax = fig.subplots()
        lines = _plot_curves(ax, curves)
        ax.axhline(0.5, color="grey", ls="--", lw=0.8)
        ax.set_ylim(-0.02, 1.02)
        ax.set_title("discriminator accuracy", **TITLE)
        _legend(ax)
        return fig, lines

    KEPT.draw(path, tuple(c[0] for c in curves), [curves], build)


def split_finite(curve: Series) -> tuple[Series, Series, str]:
    """A curve's finite points; its non-finite points placed at the top (inf, NaN) or bottom
    (-inf) edge of a panel, in axes fractions; and a note naming them ("" when there are none)."""
    label, xs, ys = curve
    finite = [(x, y) for x, y in zip(xs, ys) if math.isfinite(y)]
    other = [(x, 0.0 if y == -math.inf else 1.0, str(y)) for x, y in zip(xs, ys) if not math.isfinite(y)]
    note = ", ".join(f"{text} at {x}" for x, _, text in other[-3:]) + (" …" if len(other) > 3 else "")
    return (
        (label, [x for x, _ in finite], [y for _, y in finite]),
        (f"{label} (not finite)", [x for x, _, _ in other], [y for _, y, _ in other]),
        note,
    )


def plot_eval(records: Sequence[dict[str, Any]], path: Path) -> None:
    """Each evaluation measure against iteration, one panel each; every evaluation is a marker
    (a single one shows), and a value that is not finite is a triangle on the panel's edge with
    a note rather than a gap."""
    keys = sorted({k for r in records for k in r if k.startswith("eval/")})
    if not keys:
        return
    split = [split_finite((_series(records, [key]) or [(key, [], [])])[0]) for key in keys]
    panels = [[finite, other] for finite, other, _ in split]
    notes = tuple(note for _, _, note in split)

    def build() -> tuple[Any, list[Any]]:
        cols = min(3, len(keys))
        rows = (len(keys) + cols - 1) // cols
        # room for a title and tick labels around every panel
        fig = new_figure((4 * cols, 3 * rows), left=0.3 / cols, bottom=0.3 / rows, top=1 - 0.3 / rows,
                         wspace=0.35, hspace=0.45)  # fmt: skip
        axes = fig.subplots(rows, cols, squeeze=False)
        lines = []
        for ax, key, (finite, other), note in zip(axes.flat, keys, panels, notes):
            lines += _plot_curves(ax, [finite], marker="o", markersize=4)
            # x in iterations, y in fractions of the panel: on its edge whatever the finite values' range
            edge = ax.get_xaxis_transform()
            lines += ax.plot(other[1], other[2], ls="none", marker="^", markersize=7, color=FAKE, transform=edge,
                             clip_on=False)  # fmt: skip
            ax.set_title(key.removeprefix("eval/"), fontsize=10, **TITLE)
            if note:
                ax.text(0.02, 0.9, note, transform=ax.transAxes, fontsize=8, color=FAKE, va="top")
        for ax in list(axes.flat)[len(keys) :]:
            ax.axis("off")
        return fig, lines

    KEPT.draw(path, (tuple(keys), notes), panels, build)


def plot_distribution(
    draw: Callable[[Any, Tensor, Tensor, Tensor], None],
    real: Tensor,
    fake: Tensor,
    noise: Tensor,
    path: Path,
    title: str,
) -> None:
    """The target's own picture of real against generated samples."""
    fig = new_figure((6, 5), left=0.12, bottom=0.1, top=0.92)
    ax = fig.subplots()
    draw(ax, real, fake, noise)
    ax.set_title(title, **TITLE)
    save_figure(fig, path)


def draw_values_1d(ax: Any, real: Tensor, fake: Tensor, noise: Tensor) -> None:
    """Histograms of the pooled values of real, noise and generated samples (seed 000's figure)."""
    series = [(real, "real", REAL), (noise, "noise", NOISE), (fake, "generated", FAKE)]
    values = [s.detach().float().cpu().flatten() for s, _, _ in series]
    low = min(float(v.quantile(0.001)) for v in values)
    high = max(float(v.quantile(0.999)) for v in values)
    for v, (_, label, colour) in zip(values, series):
        ax.hist(
            v.numpy(), bins=100, range=(low, high), density=True, histtype="step", lw=1.5, color=colour, label=label
        )
    ax.set_xlabel("value")
    ax.set_ylabel("density")
    _legend(ax)


def draw_points_2d(ax: Any, real: Tensor, fake: Tensor, centres: Tensor | None = None) -> None:
    """Real and generated points with contours of the generated density (and mixture centres)."""
    import numpy as np
    from scipy.ndimage import gaussian_filter

    real, fake = real.detach().float().cpu().numpy(), fake.detach().float().cpu().numpy()
    ax.scatter(real[:, 0], real[:, 1], s=3, c=REAL, alpha=0.3, label="real", linewidths=0)
    ax.scatter(fake[:, 0], fake[:, 1], s=3, c=FAKE, alpha=0.4, label="generated", linewidths=0)
    both = np.concatenate([real, fake])
    low, high = np.quantile(both, 0.005, axis=0), np.quantile(both, 0.995, axis=0)
    pad = 0.1 * (high - low).max() + 1e-3
    low, high = low - pad, high + pad
    spread = fake[:2000].std(axis=0)
    if len(fake) > 2 and np.all(np.isfinite(spread)) and spread.min() > 1e-6:
        # a Gaussian kernel density on a 120×120 lattice with Scott's bandwidth, as a smoothed
        # histogram: the same contours as evaluating the kernel at every lattice point, 100× faster
        bins = 120
        counts, xs, ys = np.histogram2d(fake[:, 0], fake[:, 1], bins=bins, range=[[low[0], high[0]], [low[1], high[1]]])
        bandwidth = spread * len(fake) ** (-1 / 6)
        sigma = bandwidth / ((high - low) / bins)
        density = gaussian_filter(counts, sigma=sigma, mode="constant").T
        centres_x, centres_y = (xs[:-1] + xs[1:]) / 2, (ys[:-1] + ys[1:]) / 2
        if density.max() > 0:
            ax.contour(centres_x, centres_y, density, levels=6, colors=FAKE, linewidths=0.6, alpha=0.8)
    if centres is not None:
        c = torch.as_tensor(centres).cpu().numpy()
        ax.scatter(c[:, 0], c[:, 1], marker="x", c="black", s=25, lw=1, label="mode centres")
    ax.set_xlim(low[0], high[0])
    ax.set_ylim(low[1], high[1])
    ax.set_aspect("equal", adjustable="box")
    ax.legend(fontsize=8, markerscale=2, loc="upper right")
