"""`gankit compare`: several runs' curves overlaid, one figure per metric they share, and their
final measures side by side, as one self-contained HTML page and a plain-text table."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from .arguments import check_output_file
from .errors import RunError
from .plots import as_number, figure_bytes, new_figure
from .report import PAGE_SUFFIXES, RunView, image, page, show, table, write_page

NOT_CURVES = ("step", "time", "epoch")  # what every record holds about itself, not a metric
MARKED_BELOW = 30  # a run's curve with fewer points than this marks each one (a single one shows)


def run_labels(runs: Sequence[RunView]) -> list[str]:
    """A column name per run: its folder's name, or its path where two folders share a name."""
    names = [run.name for run in runs]
    return [name if names.count(name) == 1 else str(run.path) for name, run in zip(names, runs)]


def curve(run: RunView, key: str) -> tuple[list[float], list[float], int]:
    """A run's finite values of metric `key` against iteration, and how many were not finite."""
    points = [(r["step"], as_number(r.get(key))) for r in run.records if as_number(r.get(key)) is not None]
    finite = [(x, y) for x, y in points if math.isfinite(y)]
    return [x for x, _ in finite], [y for _, y in finite], len(points) - len(finite)


def shared_metrics(runs: Sequence[RunView]) -> tuple[list[str], list[str]]:
    """The numeric metrics logged by at least two of the runs, and those only one logged."""
    held = [{k for r in run.records for k, v in r.items() if k not in NOT_CURVES and as_number(v) is not None}
            for run in runs]  # fmt: skip
    every = sorted(set().union(*held))
    shared = [k for k in every if sum(k in h for h in held) >= 2]
    return shared, [k for k in every if k not in shared]


def draw_metric(runs: Sequence[RunView], labels: Sequence[str], key: str) -> bytes:
    """One figure of metric `key` against iteration, each run a line, as PNG bytes."""
    fig = new_figure((5.2, 3.2), left=0.13, bottom=0.15, top=0.9)
    ax = fig.subplots()
    for run, label in zip(runs, labels):
        xs, ys, not_finite = curve(run, key)
        if xs or not_finite:
            note = f" ({not_finite} not finite)" if not_finite else ""
            ax.plot(xs, ys, label=label + note, marker="o" if len(xs) < MARKED_BELOW else None, markersize=4)
    ax.set_title(key)
    ax.set_xlabel("iteration")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return figure_bytes(fig)


def measure_rows(runs: Sequence[RunView]) -> list[list[Any]]:
    """A row per final measure (any run's), then the timings: the name and each run's value."""
    measures = [run.measures() for run in runs]
    names = list(dict.fromkeys(k for m in measures for k in m))
    rows = [[name, *(m.get(name) for m in measures)] for name in names]
    timings = [run.timings() for run in runs]
    for name in ("iterations", "seconds", "it/s"):
        rows.append([name, *(t.get(name) for t in timings)])
    return rows


def text_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """`rows` under `header` as aligned plain text: the first column left, the others right."""
    cells = [list(header)] + [[show(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
             for row in cells]  # fmt: skip
    return "\n".join(line.rstrip() for line in lines)


def compare_runs(paths: Sequence[str | Path], out: str | Path = "compare.html") -> tuple[Path, str]:
    """Write the comparison page of the runs at `paths` to `out`; return its path and the
    plain-text table of their final measures."""
    if len(paths) < 2:
        raise RunError(f"compare needs at least two run folders, got {len(paths)}")
    page_path = check_output_file(out, "--out", PAGE_SUFFIXES)
    runs = [RunView.read(p) for p in paths]
    labels = run_labels(runs)
    rows = measure_rows(runs)
    shared, alone = shared_metrics(runs)
    figures = "\n".join(image(draw_metric(runs, labels, key), ".png", key) for key in shared)
    if alone:
        figures += f"<p>Logged by one run only: {escape(', '.join(alone))}.</p>"
    about = table(("run", "folder", "preset", "model", "target"), [
        (label, str(run.path), run.config.get("preset") or "–", run.config.get("model", {}).get("name", "?"),
         run.config.get("data", {}).get("target", "?")) for label, run in zip(labels, runs)
    ])  # fmt: skip
    warnings = [(label, w) for label, run in zip(labels, runs) for w in run.warnings()]
    sections = [
        ("Runs", about),
        ("Final measures", table(("measure", *labels), rows)),
        ("Warnings", table(("run", "warning"), warnings) if warnings else "<p>None.</p>"),
        ("Curves", figures or "<p>The runs share no logged metric.</p>"),
    ]
    write_page(page_path, page(f"gankit compare: {', '.join(labels)}", f"{len(runs)} runs", sections))
    return page_path, text_table(("measure", *labels), rows)
