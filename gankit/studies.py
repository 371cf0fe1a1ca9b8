"""Studies: a preset over several seeds and a grid of settings, every setting's members
trained together as one population (gankit/population.py) where the model allows it.

A study is one folder: `study.json` says what was asked (preset, overrides, grid, seeds) and
lists the members; each member is an ordinary run folder inside it (`gankit load`, `sample`,
`eval`, `report` take it as any run). At the end `study.json` gains the result, every measure
as mean ± standard deviation, min and max per setting, with each member's figures; `study.md`
shows the same table and `study.png` every member's final picture side by side.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from . import checkpoint
from .arguments import check_count, check_seed
from .config import resolve
from .console import show_progress, speaking
from .divergence import TrainingDiverged
from .engine import Trainer
from .errors import ConfigError, RunError
from .population import Population, population_obstacle
from .run import RunDir
from .runtime import TrainingInterrupted
from .study_result import StudyResult, summarise_study

log = logging.getLogger("gankit")
STUDY = "study.json"
MAX_NAME = 200  # bytes of a member's folder name (file systems allow 255)
Grid = Mapping[str, Sequence[Any]] | Sequence[str]


def parse_grid(grid: Grid) -> dict[str, list[str]]:
    """The grid as key → values (as `--set` writes them): from a mapping, or from strings
    'key=v1,v2' (commas inside brackets belong to a list value)."""
    parsed: dict[str, list[str]] = {}
    items = grid.items() if isinstance(grid, Mapping) else [_split_entry(entry) for entry in grid]
    for key, values in items:
        if key in ("seed", "name"):
            raise ConfigError(f"the grid cannot vary {key}: a study gives each member its own (use seeds=)")
        texts = [v if isinstance(v, str) else json.dumps(v) for v in values]
        if not texts:
            raise ConfigError(f"grid key {key} has no values (write {key}=VALUE1,VALUE2)")
        parsed[key] = texts
    return parsed


def _split_entry(entry: str) -> tuple[str, list[str]]:
    key, sep, rest = entry.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"grid entry {entry!r} must be KEY=VALUE1,VALUE2,… (e.g. optim.D.lr=1e-4,3e-4)")
    values, depth, current = [], 0, ""
    for char in rest:
        depth += char in "[{" and 1 or (char in "]}" and -1 or 0)
        if char == "," and depth == 0:
            values.append(current)
            current = ""
        else:
            current += char
    values.append(current)
    return key.strip(), [v.strip() for v in values if v.strip()]


def settings_of(grid: dict[str, list[str]]) -> list[list[str]]:
    """Every combination of the grid's values, as lists of overrides (one empty list: no grid)."""
    keys = list(grid)
    return [[f"{k}={v}" for k, v in zip(keys, values)] for values in itertools.product(*grid.values())]


def member_name(setting: list[str], seed: int) -> str:
    """A member's folder name: its overrides and seed, as a file name can hold them."""
    label = ",".join(setting).replace("/", "_").replace("\\", "_")
    return f"{label}-seed{seed}" if label else f"seed{seed}"


def study(
    preset: str | None,
    *,
    seeds: int | Sequence[int] = 10,
    grid: Grid = (),
    overrides: Sequence[str] = (),
    config_files: Sequence[str | Path] = (),
    runs_dir: str | Path = "runs",
    name: str | None = None,
    strict: bool = False,
    progress: bool | None = None,
    quiet: bool = False,
) -> StudyResult:
    """Train `preset` (and `config_files`, `overrides`) once per seed for every setting of `grid`,
    into one study folder; return the study's result table. `strict` refuses a setting whose
    members cannot be trained as one program instead of training them one after another.
    Log lines go to the console unless `quiet`, with a progress bar where `progress` allows."""
    with speaking(quiet):
        result = _study(preset, seeds, grid, overrides, config_files, runs_dir, name, strict,
                        show_progress(progress, quiet))  # fmt: skip
        if not quiet:
            log.info("study %s:\n%s", result.study_dir, result.table())
        return result


def _study(
    preset: str | None,
    seeds: int | Sequence[int],
    grid: Grid,
    overrides: Sequence[str],
    config_files: Sequence[str | Path],
    runs_dir: str | Path,
    name: str | None,
    strict: bool,
    progress: bool,
) -> StudyResult:
    seed_list = list(range(check_count("seeds", seeds))) if isinstance(seeds, int) else [check_seed(s) for s in seeds]
    if not seed_list or len(set(seed_list)) < len(seed_list):
        raise RunError(f"seeds must name at least one seed, each once (got {seed_list})")
    parsed = parse_grid(grid)
    settings = settings_of(parsed)
    names = [member_name(s, seed) for s in settings for seed in seed_list]
    if len(set(names)) < len(names):
        raise ConfigError("the grid repeats a value (or two values name the same folder): give each value once")
    if max(len(n.encode()) for n in names) > MAX_NAME:
        raise ConfigError(f"the grid's values make member folder names longer than {MAX_NAME} bytes: vary fewer "
                          "keys at once, or use shorter values")  # fmt: skip
    configs = [
        [resolve(preset, config_files, [*overrides, *s, f"seed={seed}"]) for seed in seed_list] for s in settings
    ]  # fmt: skip  (every setting validated before anything is written)
    batched = [_obstacle(setting[0], strict, label) for setting, label in zip(configs, settings)]
    folder = RunDir.create(runs_dir, name or f"{preset or configs[0][0]['preset'] or 'custom'}-study", name is None)
    plan = {
        "kind": "gankit-study",
        "preset": configs[0][0]["preset"],
        "config_files": [str(f) for f in config_files],
        "overrides": list(overrides),
        "grid": parsed,
        "seeds": seed_list,
        "settings": [
            {
                "overrides": s,
                "batched": reason is None,
                "why_not": reason,
                "members": [{"seed": seed, "run": member_name(s, seed)} for seed in seed_list],
            }
            for s, reason in zip(settings, batched)
        ],  # fmt: skip
        "diverged": {},
    }
    for setting, members in zip(plan["settings"], configs):
        for entry, config in zip(setting["members"], members):
            run = RunDir.create(folder.path, entry["run"], unique=False)
            config["name"] = entry["run"]
            run.write_config(config)
    folder.write_json(STUDY, plan)
    log.info("study of %d setting(s) × %d seed(s) in %s", len(settings), len(seed_list), folder.path)
    return _train(folder, plan, progress)


def _obstacle(config: dict[str, Any], strict: bool, setting: list[str]) -> str | None:
    """Why this setting's members cannot be one program (None if they can); an error if `strict`."""
    trainer = Trainer(config)
    try:
        reason = population_obstacle(trainer)
    finally:
        trainer.close()
    if reason is not None and strict:
        what = ",".join(setting) or config["preset"] or "this config"
        raise ConfigError(f"--strict: the members of {what} cannot be trained as one program: {reason}")
    return reason


def resume_study(study_dir: str | Path, progress: bool | None = None, quiet: bool = False) -> StudyResult:
    """Continue a study from its members' newest checkpoints (members that finished stay so)."""
    with speaking(quiet):
        result = _resume(study_dir, show_progress(progress, quiet))
        if not quiet:
            log.info("study %s:\n%s", result.study_dir, result.table())
        return result


def _resume(study_dir: str | Path, progress: bool) -> StudyResult:
    if not (Path(study_dir) / STUDY).is_file():
        raise RunError(f"{study_dir} is not a gankit study folder (it has no {STUDY}); a study's folder is "
                       "the one `gankit study` printed")  # fmt: skip
    folder = RunDir(study_dir)
    try:
        plan = folder.read_json(STUDY)
        for setting in plan["settings"]:
            _ = setting["overrides"], setting["batched"], setting["why_not"], [e["run"] for e in setting["members"]]
        plan.setdefault("diverged", {})
    except (OSError, ValueError, KeyError, TypeError, RunError) as exc:
        raise RunError(f"{folder.path} is not a gankit study (no readable {STUDY}: {exc})") from None
    return _train(folder, plan, progress, resuming=True)


def _train(folder: RunDir, plan: dict[str, Any], progress: bool, resuming: bool = False) -> StudyResult:
    for setting in plan["settings"]:
        runs = [RunDir.existing(folder.path / entry["run"]) for entry in setting["members"]]
        trainers: list[Trainer] = []
        locked: list[RunDir] = []
        try:
            for run in runs:
                run.lock()
                locked.append(run)
                trainers.append(Trainer(run.read_config(), run))
            if resuming:
                trainers = _restore(trainers, plan, setting["batched"])
            _train_setting(folder, plan, setting, trainers, progress)
        except TrainingInterrupted as exc:
            raise TrainingInterrupted(exc.step, folder.path, f"gankit study --resume {folder.path}") from None
        finally:
            for trainer in reversed(trainers):  # their picture processes finish before the folders unlock
                trainer.close()
            for run in locked:
                run.unlock()
    result = summarise_study(folder.path, plan)
    folder.write_json(STUDY, {**plan, "result": result.to_dict()})
    result.write(folder.path)
    return result


def _restore(trainers: list[Trainer], plan: dict[str, Any], batched: bool) -> list[Trainer]:
    """Each member at its newest checkpoint. Members trained together must stand at one
    iteration (a stop can come between two members' checkpoints): those still training that
    are ahead go back to the iteration all of them reached, or start again if that is 0."""
    for trainer in trainers:
        trainer.restore_latest()
    if not batched:
        return trainers
    steps = trainers[0].config["train"]["steps"]
    together = [t for t in trainers if t.config["name"] not in plan["diverged"] and not _finished(t, steps)]
    common = min((t.step for t in together), default=0)
    restored = []
    for trainer in trainers:
        if trainer in together and trainer.step > common:
            assert trainer.run is not None
            if common == 0:  # no checkpoint of iteration 0: the member starts again
                trainer.close()
                trainer = Trainer(trainer.run.read_config(), trainer.run)
            else:
                trainer.load_state_dict(checkpoint.load(checkpoint.checkpoint_path(trainer.run.checkpoints, common), "cpu"))  # fmt: skip
            trainer.records = trainer.run.keep_records_until(common)
        restored.append(trainer)
    return restored


def _train_setting(
    folder: RunDir, plan: dict[str, Any], setting: dict[str, Any], trainers: list[Trainer], progress: bool
) -> None:
    steps = trainers[0].config["train"]["steps"]
    todo = [t for t in trainers if t.config["name"] not in plan["diverged"] and not _finished(t, steps)]
    if not todo:
        return
    label = ",".join(setting["overrides"]) or "the preset"
    if setting["batched"] and len(todo) > 1:
        log.info("training %d members of %s as one program", len(todo), label)
        from tqdm.auto import tqdm

        population = Population(todo)
        bar = tqdm(total=steps, initial=todo[0].step, disable=not progress, unit="it", desc=label, dynamic_ncols=True)
        try:
            population.fit(bar)
        finally:
            bar.close()
            population.engine.close()
            if population.diverged:
                for member, step in population.diverged.items():
                    plan["diverged"][todo[member].config["name"]] = step
                folder.write_json(STUDY, plan)
        return
    if setting["why_not"]:
        log.info("training the members of %s one after another: %s", label, setting["why_not"])
    for trainer in todo:
        trainer.progress = progress
        try:
            trainer.fit()
        except TrainingDiverged as exc:  # this member stops; the others still train
            log.warning("member %s: %s", trainer.config["name"], exc)
            plan["diverged"][trainer.config["name"]] = trainer.step
            folder.write_json(STUDY, plan)


def _finished(trainer: Trainer, steps: int) -> bool:
    return trainer.step >= steps and trainer.run is not None and (trainer.run.path / "summary.json").exists()
