"""`gankit report`: one self-contained HTML page of a run, to read or send as a single file.

The page holds the run's curves, grids and distribution pictures (embedded as data: URIs), its
measures with their protocol stamp, timings, warnings and config. It is plain HTML and CSS built
with the standard library's escaping: no template engine, no JavaScript, nothing fetched.
"""

from __future__ import annotations

import base64
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from . import plots
from .arguments import check_output_file
from .atomic import atomic_write_bytes
from .errors import RunError
from .run import CONFIG, EVAL, SUMMARY, RunDir

PAGE_SUFFIXES = (".html", ".htm")
CURVES = ("losses", "accuracy", "eval")  # drawn again from metrics.jsonl where the run has no picture
MAX_EMBEDDED_BYTES = 8 << 20  # a larger picture (a long progress.gif) is linked beside the page instead
MIME = {".png": "image/png", ".gif": "image/gif"}
STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1100px; color: #222; padding: 0 16px }
h1 { font-size: 22px; margin-bottom: 4px } h2 { font-size: 17px; border-bottom: 1px solid #ddd; margin-top: 28px }
.sub { color: #666; margin-top: 0 } table { border-collapse: collapse; margin: 8px 0 }
td, th { border: 1px solid #ddd; padding: 3px 10px; text-align: left; vertical-align: top }
th { background: #f4f4f4 } td.num { text-align: right; font-variant-numeric: tabular-nums }
figure { display: inline-block; margin: 8px 16px 8px 0; vertical-align: top }
figcaption { color: #666; font-size: 12px } img { max-width: 100% }
.row { display: flex; flex-wrap: wrap; gap: 8px 40px; align-items: flex-start } h3 { font-size: 15px; margin: 6px 0 }
.warn { color: #a40 } code { background: #f4f4f4; padding: 0 3px }
"""


@dataclass
class RunView:
    """What a report shows of a run folder, read once: its config, records, summary and eval.json."""

    path: Path
    config: dict[str, Any]
    records: list[dict[str, Any]]
    summary: dict[str, Any]  # empty while the run has not finished
    evaluation: dict[str, Any]  # what `gankit eval` last wrote (empty if never run)

    @classmethod
    def read(cls, path: str | Path) -> RunView:
        """A RunError naming the folder unless it is a gankit run folder with a readable config."""
        path = Path(path)
        if not path.is_dir():
            raise RunError(f"{path} is not a gankit run folder (not a folder; expected one holding {CONFIG})")
        run = RunDir.existing(path)
        return cls(path, _read_json(path / CONFIG, required=True), run.read_records(),
                   _read_json(path / SUMMARY), _read_json(path / EVAL))  # fmt: skip

    @property
    def name(self) -> str:
        return self.path.resolve().name

    def measures(self) -> dict[str, Any]:
        """The final measures: the summary's, else the newest value of each measure logged."""
        if self.summary.get("measures"):
            return dict(self.summary["measures"])
        newest = {}
        for record in self.records:
            newest.update({k.removeprefix("eval/"): v for k, v in record.items() if k.startswith("eval/")})
        return newest

    def protocol(self) -> dict[str, Any]:
        """The protocol stamp of the final measures (what they were measured with)."""
        stamped = [r["protocol"] for r in self.records if isinstance(r.get("protocol"), dict)]
        return self.summary.get("protocol") or (stamped[-1] if stamped else {})

    def timings(self) -> dict[str, Any]:
        """Iterations, seconds, iterations per second and device of the run (empty if unfinished)."""
        if not self.summary:
            return {}
        steps, seconds = self.summary.get("steps"), self.summary.get("seconds")
        rate = steps / seconds if isinstance(steps, int) and isinstance(seconds, (int, float)) and seconds else None
        return {"iterations": steps, "seconds": seconds, "it/s": rate, "device": self.summary.get("device")}

    def warnings(self) -> list[str]:
        return [str(w) for w in self.summary.get("warnings") or []]


def _read_json(path: Path, required: bool = False) -> dict[str, Any]:
    if not path.exists() and not required:
        return {}
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RunError(f"cannot read {path}: {exc}") from None
    if not isinstance(value, dict):
        raise RunError(f"cannot read {path}: expected a JSON object")
    return value


# --------------------------------------------------------------------------- HTML pieces


def show(value: Any) -> str:
    """A value as a short plain-text cell: 4 significant digits for floats, JSON for the rest."""
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    if isinstance(value, (str, int)):
        return str(value)
    return "–" if value is None else json.dumps(value)


def table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """An HTML table (no header row when `header` is empty); numbers right-aligned, every cell escaped."""
    head = "<tr>" + "".join(f"<th>{escape(h)}</th>" for h in header) + "</tr>" if header else ""
    body = "".join(
        "<tr>" + "".join(f'<td{" class=num" if isinstance(v, (int, float)) else ""}>{escape(show(v))}</td>' for v in row)
        + "</tr>"
        for row in rows
    )  # fmt: skip
    return f"<table>{head}{body}</table>"


def image(data: bytes, suffix: str, caption: str) -> str:
    """A picture embedded in the page as a data: URI, with its caption."""
    uri = f"data:{MIME.get(suffix, 'image/png')};base64,{base64.b64encode(data).decode('ascii')}"
    return f'<figure><img src="{uri}" alt="{escape(caption)}"><figcaption>{escape(caption)}</figcaption></figure>'


def picture_file(path: Path, page: Path) -> str:
    """A picture file of the run, embedded; one larger than MAX_EMBEDDED_BYTES is linked by its
    path relative to the page instead."""
    if path.stat().st_size <= MAX_EMBEDDED_BYTES:
        return image(path.read_bytes(), path.suffix, path.name)
    link = escape(Path(os.path.relpath(path.resolve(), page.resolve().parent)).as_posix())
    caption = escape(f"{path.name} ({path.stat().st_size >> 20} MB, beside the page)")
    return f'<figure><img src="{link}" alt="{escape(path.name)}"><figcaption>{caption}</figcaption></figure>'


def flatten(config: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Nested config tables as (dotted key, value) pairs: `train.steps`, `optim.D.lr`."""
    pairs: list[tuple[str, Any]] = []
    for key, value in config.items():
        if isinstance(value, dict) and value:
            pairs += flatten(value, f"{prefix}{key}.")
        else:
            pairs.append((f"{prefix}{key}", value))
    return pairs


def page(title: str, subtitle: str, sections: Sequence[tuple[str, str]]) -> str:
    """A whole page: a title and (heading, HTML) sections."""
    body = "".join(f"<h2>{escape(heading)}</h2>\n{content}\n" for heading, content in sections)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f"<style>{STYLE}</style></head><body>\n<h1>{escape(title)}</h1>\n"
            f'<p class="sub">{escape(subtitle)}</p>\n{body}</body></html>\n')  # fmt: skip


def write_page(out: Path, html: str) -> None:
    try:
        atomic_write_bytes(out, html.encode("utf-8"))
    except OSError as exc:
        raise RunError(f"cannot write {out}: {exc.strerror or exc}") from None


# --------------------------------------------------------------------------- the report


def _curve_pictures(run: RunView, page_path: Path) -> list[str]:
    """The run's curve pictures; one it does not have is drawn again from its records."""
    drawers: dict[str, Callable[[Path], None]] = {
        "losses": lambda p: plots.plot_losses(run.records, p, {}),
        "accuracy": lambda p: plots.plot_accuracy(run.records, p),
        "eval": lambda p: plots.plot_eval(run.records, p),
    }
    shown = []
    with tempfile.TemporaryDirectory() as scratch:
        for name in CURVES:
            path = run.path / "plots" / f"{name}.png"
            if not path.is_file() and run.records:
                path = Path(scratch) / f"{name}.png"
                drawers[name](path)
            if path.is_file():
                shown.append(picture_file(path, page_path))
    return shown


def _other_pictures(run: RunView, page_path: Path) -> list[str]:
    """Grids, the animated progression and the target's pictures (distribution, samples)."""
    folder = run.path / "plots"
    found = sorted(p for p in folder.glob("*") if p.suffix in MIME and p.stem not in CURVES) if folder.is_dir() else []
    return [picture_file(path, page_path) for path in found]


def _boxes(*boxes: tuple[str, str]) -> str:
    """(heading, HTML) boxes side by side, wrapping on a narrow page."""
    return '<div class="row">' + "".join(f"<div><h3>{escape(h)}</h3>{content}</div>" for h, content in boxes) + "</div>"


def _measures(measures: dict[str, Any], protocol: dict[str, Any]) -> list[tuple[str, str]]:
    """The boxes of final measures and of the protocol they were measured with."""
    shown = [("Measures", table(("measure", "value"), measures.items()) if measures else "<p>None were taken.</p>")]
    return shown + ([("Protocol", table((), flatten(protocol)))] if protocol else [])


def build_report(run: RunView, page_path: Path) -> str:
    """The HTML of `run`'s report, to be written at `page_path` (links are relative to it)."""
    config = run.config
    model, target = config.get("model", {}).get("name", "?"), config.get("data", {}).get("target", "?")
    objective = config.get("loss", {}).get("objective", "?")
    state = "finished" if run.summary else "not finished (no summary.json yet)"
    subtitle = (f"{run.path} · preset {config.get('preset') or '–'} · model {model} on {target} · "
                f"{objective} objective · {state}")  # fmt: skip
    warnings = "".join(f'<li class="warn">{escape(w)}</li>' for w in run.warnings())
    timings = table((), run.timings().items()) if run.summary else "<p>The run has not finished.</p>"
    summary = _boxes(
        ("Timings", timings),
        *_measures(run.measures(), run.protocol()),
        ("Warnings", f"<ul>{warnings}</ul>" if warnings else "<p>None: the health checks saw nothing wrong.</p>"),
    )
    sections = [("Summary", summary)]
    if run.evaluation:
        ev = run.evaluation
        about = f"<p>Recomputed by <code>gankit eval</code> at iteration {escape(show(ev.get('step')))}.</p>"
        sections.append(("gankit eval", about + _boxes(*_measures(ev.get("measures") or {}, ev.get("protocol") or {}))))
    sections += [
        ("Pictures", "\n".join(_other_pictures(run, page_path)) or "<p>No pictures yet.</p>"),
        ("Curves", "\n".join(_curve_pictures(run, page_path)) or "<p>No records yet.</p>"),
        ("Config", table(("key", "value"), flatten(config))),
    ]
    return page(f"gankit run {run.name}", subtitle, sections)


def write_report(run_path: str | Path, out: str | Path | None = None) -> Path:
    """Write the report of the run at `run_path` to `out` (default RUN/report.html); return its path."""
    run = RunView.read(run_path)
    page_path = check_output_file(out or run.path / "report.html", "--out", PAGE_SUFFIXES)
    write_page(page_path, build_report(run, page_path))
    return page_path
