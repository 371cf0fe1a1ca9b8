"""The Python API: train or resume a run, load it (gankit/loading.py), sample from it, evaluate
and export it.

import gankit
result = gankit.train("ring", overrides={"train.steps": 2000})
gan = gankit.load(result.run_dir)
points = gan.sample(1000, seed=0)        # a tensor of generated samples
gan.generator                            # the plain torch.nn.Module
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .arguments import check_count, check_seed
from .config import resolve
from .console import reports_to_console, show_progress
from .distributed import broadcast_text, group_from_environment
from .engine import Trainer
from .errors import RunError
from .export import check_request
from .loading import LoadedGAN, load
from .run import EVAL, RunDir

__all__ = ["LoadedGAN", "TrainResult", "check_count", "check_seed", "evaluate", "export_generator", "load",
           "resume", "train"]  # fmt: skip

log = logging.getLogger("gankit")
Overrides = Sequence[str] | Mapping[str, Any]


@dataclass
class TrainResult:
    """Where a run lives and what it measured at the end."""

    run_dir: Path
    summary: dict[str, Any]

    @property
    def measures(self) -> dict[str, Any]:
        return self.summary.get("measures", {})


@reports_to_console
def train(
    preset: str | None = None,
    *,
    config: Mapping[str, Any] | None = None,
    config_files: Sequence[str | Path] = (),
    overrides: Overrides = (),
    runs_dir: str | Path = "runs",
    name: str | None = None,
    progress: bool | None = None,
    quiet: bool = False,
    generator: Any = None,
    discriminator: Any = None,
    data: Any = None,
    latent_dim: int | None = None,
    generator_kwargs: Mapping[str, Any] | None = None,
    discriminator_kwargs: Mapping[str, Any] | None = None,
) -> TrainResult:
    """Train a new run from a preset and/or a config dict, config files and overrides.

    `generator` and `discriminator` (nn.Modules, classes or factories, or 'module:qualname')
    replace the preset's networks; `data` (a tensor, Dataset, DataLoader or a folder of images)
    replaces its data (docs/own-gan.md). The config is validated, and the networks built, before
    the run folder is created. Without `name`, a taken folder name gets a suffix (`ring-2`); an
    explicit `name` that is taken is an error, so an existing run is never touched. Progress and
    log lines go to the console (a bar in terminals and notebooks, unless `progress` says
    otherwise) and a summary at the end; `quiet=True` leaves the console to the caller.
    """
    if preset is None and config is None and not config_files:
        from .presets import DEFAULT_PRESET

        preset = DEFAULT_PRESET
    own = None
    bringing = generator is not None or discriminator is not None or data is not None
    if bringing:  # the user's networks and/or data (gankit/own.py)
        from .own import Brought, bring_your_own, folder_overrides

        overrides = folder_overrides(data, overrides)
    resolved = resolve(preset, config_files, overrides, base=dict(config) if config else None)
    if bringing:
        brought = Brought(generator, discriminator, data, latent_dim, generator_kwargs, discriminator_kwargs)
        own = bring_your_own(resolved, brought)
        resolved = own.config
    group = group_from_environment()
    trainer = Trainer(resolved, progress=show_progress(progress, quiet) and group.main, group=group,
                      gan=own.gan if own else None, target=own.target if own else None)  # fmt: skip
    if not group.main:  # under torchrun only rank 0 writes a run folder; the others learn its name
        try:
            path = Path(broadcast_text("", group, trainer.device))
            return TrainResult(path, trainer.fit())
        finally:
            trainer.close()
    run = RunDir.create(runs_dir, name or resolved["name"] or resolved["preset"] or "run", unique=name is None)
    broadcast_text(str(run.path), group, trainer.device)
    resolved["name"] = run.path.name
    run.lock()
    try:
        run.write_config(resolved)
        trainer.run = run
        where = f"{group.world} processes" if group.distributed else str(trainer.device)
        log.info("training %s into %s on %s", resolved["preset"] or "a custom config", run.path, where)
        return TrainResult(run.path, trainer.fit())
    finally:  # closed first: checkpoints still being written are on disk before the lock goes
        try:
            trainer.close()
        finally:
            run.unlock()


@reports_to_console
def resume(
    run_dir: str | Path,
    overrides: Overrides = (),
    progress: bool | None = None,
    *,
    quiet: bool = False,
    data: Any = None,
) -> TrainResult:
    """Continue a run from its newest checkpoint (overrides may e.g. raise `train.steps`); a run
    trained on data given in Python needs that `data` again (it is not saved with the run). The
    console shows what `train` shows, unless `quiet=True`."""
    run = RunDir.existing(run_dir)
    config = run.read_config()
    if overrides:
        config = resolve(base=config, overrides=overrides)
    target = None
    if data is not None:
        from .own import resume_data

        target, config = resume_data(data, config)
    group = group_from_environment()
    trainer = Trainer(config, run if group.main else None, progress=show_progress(progress, quiet) and group.main,
                      group=group, target=target)  # fmt: skip
    if not group.main:  # the other processes read the same checkpoint, and write nothing
        try:
            trainer.restore_latest(run)
            return TrainResult(run.path, trainer.fit())
        finally:
            trainer.close()
    run.lock()
    try:
        found = trainer.restore_latest()
        run.write_config(config)
        if found is None:
            log.info("%s has no checkpoint yet: starting it from the beginning", run.path)
        else:
            log.info("resuming %s from iteration %d (%s)", run.path, trainer.step, found.name)
        if trainer.step >= config["train"]["steps"]:
            log.info("%s already has its %d iterations (raise train.steps to go on)", run.path, trainer.step)
        return TrainResult(run.path, trainer.fit())
    finally:  # closed first: checkpoints still being written are on disk before the lock goes
        try:
            trainer.close()
        finally:
            run.unlock()


def evaluate(
    run_dir: str | Path,
    n: int | None = None,
    seed: int | None = None,
    metrics: Sequence[str] | None = None,
    features: str | None = None,
    n_real: int | None = None,
    inception_resize: str | None = None,
    truncation: float | None = None,
) -> dict[str, Any]:
    """Recompute a run's measures from its newest checkpoint and write them to eval.json."""
    if Path(run_dir).is_file():
        raise RunError(f"{run_dir} is a file; eval takes a run folder (it writes eval.json there): for one checkpoint "
                       "or generator file use gankit.load(FILE).evaluate()")  # fmt: skip
    loaded = load(run_dir)
    result = loaded.evaluate(n, seed, metrics, features, n_real, inception_resize, truncation)
    RunDir(run_dir).write_json(EVAL, result)
    return result


def export_generator(
    run: str | Path | LoadedGAN, out: str | Path | None = None, format: str = "torchscript", batch: int | None = None
) -> Path:
    """Write the sampling generator of `run` (a run folder, a checkpoint, a generator.safetensors
    or a loaded run) to `out` (default: generator.<suffix> in the run folder) as `format`. With
    `batch`, pt2 and ONNX files take exactly that many samples per call (TorchScript is traced at
    it); without, any number. Returns `out`."""
    loaded = run if isinstance(run, LoadedGAN) else None
    out = check_request(None if loaded else run, out, format, batch)  # before the run is loaded
    return (loaded or load(run)).export(out, format, batch)
