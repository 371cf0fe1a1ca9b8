"""A study's result: every measure per setting as mean ± standard deviation, min and max over
its members, each member's figures, and the members' final pictures side by side."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .atomic import atomic_write_bytes
from .errors import RunError
from .run import SUMMARY, RunDir

TILE = 320  # pixels of the longer side of each member's picture in study.png


@dataclass
class SettingResult:
    """One setting's members and their measures' spread (finite values of members that did not diverge)."""

    overrides: list[str]
    members: list[dict[str, Any]]
    measures: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return ",".join(self.overrides) or "(preset)"


@dataclass
class StudyResult:
    """Where a study lives and what each of its settings measured."""

    study_dir: Path
    settings: list[SettingResult]

    def to_dict(self) -> dict[str, Any]:
        return {"settings": [{"overrides": s.overrides, "measures": s.measures, "members": s.members}
                             for s in self.settings]}  # fmt: skip

    def table(self) -> str:
        """The result as a Markdown table: a row per setting, a column per measure."""
        names = list(dict.fromkeys(k for s in self.settings for k in s.measures))
        head = ["setting", "members", *names]
        rows = [
            [s.label, _members(s), *(_spread(s.measures[n]) if n in s.measures else "–" for n in names)]
            for s in self.settings
        ]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])

    def per_member(self) -> str:
        """Each member's figures, a line each."""
        lines = []
        for setting in self.settings:
            for m in setting.members:
                figures = ", ".join(f"{k} {_number(v)}" for k, v in m["measures"].items())
                note = f" (diverged by iteration {m['diverged']})" if m.get("diverged") is not None else ""
                lines.append(f"- {m['run']}: {figures}{note}")
        return "\n".join(lines)

    def write(self, folder: Path) -> None:
        """study.md (the table and each member's figures) and study.png (the pictures)."""
        picture = draw_members(self, folder)
        text = [f"# Study {folder.name}", "", "Mean ± standard deviation [min, max] over each setting's members.", "",
                self.table(), "", "## Each member", "", self.per_member(), ""]  # fmt: skip
        if picture is not None:
            text += ["## Final pictures (a row per setting, a column per seed)", "", f"![members]({picture.name})", ""]
        atomic_write_bytes(folder / "study.md", "\n".join(text).encode())


def summarise_study(folder: Path, plan: dict[str, Any]) -> StudyResult:
    """Read every member's summary and gather the study's table."""
    settings = []
    for setting in plan["settings"]:
        members = []
        for entry in setting["members"]:
            try:
                summary = RunDir(folder / entry["run"]).read_json(SUMMARY)
            except RunError:  # a member that never finished
                summary = {}
            measures = {k: v for k, v in summary.get("measures", {}).items() if isinstance(v, (int, float))}
            members.append({"run": entry["run"], "seed": entry["seed"], "steps": summary.get("steps"),
                            "measures": measures, "diverged": plan["diverged"].get(entry["run"])})  # fmt: skip
        result = SettingResult(list(setting["overrides"]), members)
        healthy = [m["measures"] for m in members if m["diverged"] is None]
        for name in dict.fromkeys(k for m in healthy for k in m):
            values = [float(m[name]) for m in healthy if name in m and math.isfinite(float(m[name]))]
            if values:
                result.measures[name] = {
                    "mean": statistics.fmean(values),
                    "std": statistics.stdev(values) if len(values) > 1 else 0.0,
                    "min": min(values),
                    "max": max(values),
                    "n": len(values),
                }
        settings.append(result)
    return StudyResult(folder, settings)


def draw_members(result: StudyResult, folder: Path) -> Path | None:
    """Every member's final picture (its target's kind: points or a sample grid), a row per
    setting and a column per seed, each titled with its run name; None when no member has one."""
    import numpy as np
    from PIL import Image

    from .grid_labels import label_grid
    from .watch import write_picture

    rows = []
    for setting in result.settings:
        tiles = []
        for member in setting.members:
            path = _picture(folder / member["run"])
            if path is None:
                continue
            with Image.open(path) as image:
                tile = image.convert("RGB")
                tile.thumbnail((TILE, TILE))
            tiles.append(label_grid(np.asarray(tile), member["run"]))
        if tiles:
            height = max(t.shape[0] for t in tiles)
            rows.append(np.concatenate([_pad(t, height, t.shape[1]) for t in tiles], axis=1))
    if not rows:
        return None
    width = max(r.shape[1] for r in rows)
    canvas = np.concatenate([_pad(r, r.shape[0], width) for r in rows], axis=0)
    out = folder / "study.png"
    write_picture(out, [canvas])
    return out


def _picture(run: Path) -> Path | None:
    """A run's final picture of its samples: the points' picture or the sample grid."""
    plots = run / "plots"
    found = sorted(p for p in plots.glob("*.png") if p.stem not in ("losses", "accuracy", "eval"))
    preferred = [p for p in found if p.stem in ("distribution", "samples", "samples-grid")]
    return (preferred or found or [None])[0]


def _pad(picture: Any, height: int, width: int) -> Any:
    import numpy as np

    canvas = np.full((height, width, 3), 255, dtype=np.uint8)
    canvas[: picture.shape[0], : picture.shape[1]] = picture
    return canvas


def _members(setting: SettingResult) -> str:
    diverged = sum(m["diverged"] is not None for m in setting.members)
    return f"{len(setting.members)}" + (f" ({diverged} diverged)" if diverged else "")


def _spread(values: dict[str, float]) -> str:
    return f"{_number(values['mean'])} ± {_number(values['std'])} [{_number(values['min'])}, {_number(values['max'])}]"


def _number(value: Any) -> str:
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) < 1e6):
        return str(int(value))
    return f"{value:.4g}"
