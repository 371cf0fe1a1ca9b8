"""The Python API: train or resume a run, load it, sample from it and evaluate it.

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

import torch
from torch import Tensor, nn

from . import checkpoint
from .config import resolve
from .data import Target, build_target
from .engine import Trainer, resolve_device, take_snapshot
from .errors import CheckpointError, RunError
from .models import build_model
from .recipe import GAN
from .run import EVAL, RunDir

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


def train(
    preset: str | None = None,
    *,
    config: Mapping[str, Any] | None = None,
    config_files: Sequence[str | Path] = (),
    overrides: Overrides = (),
    runs_dir: str | Path = "runs",
    name: str | None = None,
    progress: bool = False,
) -> TrainResult:
    """Train a new run from a preset and/or a config dict, config files and overrides.

    The config is validated, and the networks built, before the run folder is created. Without
    `name`, a taken folder name gets a suffix (`ring-2`); an explicit `name` that is taken is an
    error, so an existing run is never touched.
    """
    if preset is None and config is None and not config_files:
        from .presets import DEFAULT_PRESET

        preset = DEFAULT_PRESET
    resolved = resolve(preset, config_files, overrides, base=dict(config) if config else None)
    trainer = Trainer(resolved, progress=progress)
    run = RunDir.create(runs_dir, name or resolved["name"] or resolved["preset"] or "run", unique=name is None)
    resolved["name"] = run.path.name
    run.lock()
    try:
        run.write_config(resolved)
        trainer.run = run
        log.info("training %s into %s on %s", resolved["preset"] or "a custom config", run.path, trainer.device)
        return TrainResult(run.path, trainer.fit())
    finally:
        run.unlock()


def resume(run_dir: str | Path, overrides: Overrides = (), progress: bool = False) -> TrainResult:
    """Continue a run from its newest checkpoint (overrides may e.g. raise `train.steps`)."""
    run = RunDir.existing(run_dir)
    config = run.read_config()
    if overrides:
        config = resolve(base=config, overrides=overrides)
    trainer = Trainer(config, run, progress=progress)
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
    finally:
        run.unlock()


class LoadedGAN:
    """A trained GAN read back from a run: its networks, config and step, ready to sample."""

    def __init__(self, gan: GAN, target: Target, config: dict[str, Any], step: int, source: Path) -> None:
        self.gan, self.target, self.config, self.step, self.source = gan, target, config, step, source

    @property
    def generator(self) -> nn.Module:
        """The generator as a plain torch.nn.Module (noise in, samples out)."""
        return self.gan.generator

    @property
    def device(self) -> torch.device:
        return next(self.gan.parameters()).device

    def sample(self, n: int, seed: int | None = None) -> Tensor:
        """`n` generated samples; the same `seed` gives the same samples."""
        rng = torch.Generator(device=self.device)
        if seed is None:
            rng.seed()
        else:
            rng.manual_seed(seed)
        return self.gan.generate(n, rng)[0]

    def evaluate(self, n: int | None = None, seed: int | None = None) -> dict[str, Any]:
        """The target's measures, with the training-time protocol unless `n`/`seed` are given."""
        ev = self.config["eval"]
        n = n or ev["n_samples"]
        seed = ev["seed"] if seed is None else seed
        measures = take_snapshot(self.gan, self.target, n, seed).measures
        return {"step": self.step, "checkpoint": str(self.source), "n_samples": n, "seed": seed, "measures": measures}


def load(path: str | Path, device: str | torch.device = "cpu") -> LoadedGAN:
    """Load a run folder (its newest checkpoint) or one checkpoint file, never unpickling."""
    path = Path(path)
    if not path.exists():
        raise RunError(f"{path} does not exist (expected a run folder or a checkpoint file)")
    if path.is_dir():
        found = checkpoint.list_checkpoints(path / "checkpoints")
        if not found:
            if not (path / "config.json").exists():
                raise RunError(f"{path} is not a gankit run folder (no config.json)")
            raise CheckpointError(f"run {path} has no checkpoint yet")
        path = found[-1][1]
    state = checkpoint.load(path, keys=("gan", "config", "step"))
    config = resolve(base=state["config"])
    target = build_target(config["data"])
    gan = build_model(config, target.shape)
    try:
        gan.load_state_dict(state["gan"])
    except RuntimeError as exc:
        raise CheckpointError(f"checkpoint {path} does not match its config: {str(exc).splitlines()[0]}") from None
    gan.to(resolve_device(str(device))).eval()
    return LoadedGAN(gan, target, config, int(state["step"]), path)


def evaluate(run_dir: str | Path, n: int | None = None, seed: int | None = None) -> dict[str, Any]:
    """Recompute a run's measures from its newest checkpoint and write them to eval.json."""
    loaded = load(run_dir)
    result = loaded.evaluate(n, seed)
    RunDir(run_dir).write_json(EVAL, result)
    return result
