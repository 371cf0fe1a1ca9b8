"""The training engine: one loop for every GAN.

Each iteration lets every player of the model (usually D then G) make its updates: freeze
the other players' networks, compute the player's loss, step its optimiser. Statistics stay
on the device and are read only at log intervals; evaluation, pictures and checkpoints run
at their own intervals. The engine knows no model, target or objective by name.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from . import checkpoint
from .checks import apply_settings, build_optimizer, check_same_optimisers
from .data import Target, TargetInfo, build_source, build_target
from .distributed import (
    Group,
    any_process,
    barrier,
    group_from_environment,
    same_everywhere,
)
from .distributed import stop as stop_group
from .divergence import FiniteWatch, TrainingDiverged, nonfinite_network, resume_hint
from .errors import CheckpointError, ConfigError, RunError
from .evaluations import Evaluations, spare_core
from .graphs import GraphedStep, graph_obstacle, set_capturable
from .health import HealthMonitor, total_norm
from .intervals import IntervalWork
from .measuring import MeasuredElsewhere, MeasuringProcess, measures_elsewhere
from .metrics.images import ImageMetrics
from .models import build_model, finish_model
from .placement import Trainable, distribute, settle_fast, speed_up
from .precision import Precision
from .recipe import GAN, Player, Snapshot, check_accumulation
from .rng import capture_global_rng, make_generator, restore_global_rng, seed_everything
from .run import SUMMARY, RunDir
from .runtime import (
    RunningMeans,
    StopSignals,
    TrainingInterrupted,
    resolve_device,
    summarise,
)
from .schedule import Schedules
from .watch import Watcher, tensorboard_available
from .writes import BackgroundWrites

log = logging.getLogger("gankit")
STOP_CHECK_EVERY = 10  # iterations between the processes' agreement on a stop request
GRAD_NORM_SAMPLES = 10  # iterations per log interval whose gradient norms are measured (at most)


class Trainer(IntervalWork):
    """Trains the GAN a validated config describes, writing into `run` if given."""

    def __init__(
        self,
        config: dict[str, Any],
        run: RunDir | None = None,
        progress: bool = False,
        gan: GAN | None = None,
        group: Group | None = None,
        target: Target | None = None,
    ) -> None:
        """`gan` replaces the model the config names (a GAN of one's own on the same engine), and
        `target` the data it names (data given in Python: gankit/data/memory.py); `group` is this
        process's place in data-parallel training (read from torchrun's environment when not
        given). Only the main process may be given a run folder."""
        self.config = config
        self.run = run
        self.progress = progress
        self.group = group or group_from_environment()
        self.device = resolve_device(config["device"], self.group)
        self._threads = torch.get_num_threads()  # restored by close(): the API runs inside a user's process
        if config["train"]["threads"]:
            torch.set_num_threads(config["train"]["threads"])
        seed_everything(config["seed"])
        self.target = build_target(config["data"]) if target is None else target
        self.info = TargetInfo.of(self.target)
        gan = build_model(config, self.info) if gan is None else finish_model(gan, config, self.info)
        self.gan = gan.to(self.device)
        self.gan.check_data(self.info.keys, config["data"]["target"])
        self.fast = speed_up(self.gan, config, self.device)  # chooses train.fast's speed-ups
        ImageMetrics.check(config["eval"], self.target, config["data"]["target"])  # on every process, first
        self.gan.check_evaluation(self.target, config["eval"])
        distribute(self.gan, config, self.group, self.device)
        self.data = build_source(self.target, config["data"], config["seed"], self.device, self.group)
        self.players: list[Player] = self.gan.players()
        missing = [p.name for p in self.players if p.name not in config["optim"]]
        if missing:
            raise ConfigError(f"the model's player {missing[0]} has no optim.{missing[0]} in the config (it has "
                              f"{', '.join(config['optim'])}): set model.name to the model, or give optim.{missing[0]}")  # fmt: skip
        self.player_params = {p.name: list(self._parameters(p)) for p in self.players}
        self.accumulate = check_accumulation(config["train"]["accumulate"], self.players)
        self.trainable = Trainable(self.gan.nets, self.players)
        self.optimizers = {
            p.name: build_optimizer(config["optim"][p.name], self.player_params[p.name]) for p in self.players
        }
        self.schedules = Schedules(self.optimizers, config["optim"])
        train = config["train"]
        self.finite = FiniteWatch(self.optimizers, self.device, train["nonfinite"] == "skip", train["max_skips"])
        self.precision = Precision(config["train"]["precision"], self.device, self.optimizers)
        self.health = HealthMonitor.for_run(config, self.gan.accuracy_meaningful(), self.target.picture)
        self.noise_rng = make_generator(self.device, config["seed"], "noise")
        self.means = RunningMeans()
        self.grad_stride = max(1, train["log_every"] // GRAD_NORM_SAMPLES)
        self.step = 0
        self.records: list[dict[str, Any]] = []
        self.elapsed = 0.0  # training seconds before this process (restored on resume)
        self.tensorboard = tensorboard_available(config["train"]["tensorboard"])  # missing: an error now
        self.image_metrics = (
            ImageMetrics.from_config(config["eval"], self.target, config["data"]["target"], self.device)
            if self.group.main
            else None
        )
        self.best: float | None = None  # best value of eval.best so far
        # measures beside training where that is safe and a core is free for them (gankit/evaluations.py)
        self.evaluations = Evaluations(
            not self.group.distributed and self.gan.evaluates_in_background and spare_core(self.device),
            first_in_loop=self.image_metrics is not None or not getattr(self.target, "pure_evaluation", False),
        )
        self.writes = BackgroundWrites()  # checkpoints written beside training
        self._measuring: MeasuringProcess | None = None  # started with training (gankit/measuring.py)
        self.measure_apart = True  # whether begin() may start it (a population's members share a loop: no)
        self._bar: Any = None
        self.label = ""  # prefixes this run's report lines when several runs report together
        self.watcher: Watcher | None = None
        self._step: Callable[[], None] = self._step_choice(settle_fast(self))

    def _step_choice(self, train: dict[str, Any]) -> Callable[[], None]:
        """The eager iteration, or one captured as a CUDA graph when asked and possible."""
        if not train["cuda_graph"]:
            return self.train_step
        reason = graph_obstacle(self)
        if reason is not None:
            log.warning("CUDA graph off: %s; training runs eagerly", reason)
            return self.train_step
        return GraphedStep(self)

    def close(self) -> None:
        """Let go of the DDP wrappers and leave the process group (in that order: a gloo group
        destroyed under a live DDP reducer can deadlock at exit)."""
        try:
            self.evaluations.close()
            self.writes.close()
        finally:  # a second Ctrl-C during the waits above still lets the children go
            if self._measuring is not None:
                self._measuring.close()
                self._measuring = None
        torch.set_num_threads(self._threads)
        if self.watcher is not None:
            self.watcher.close()
            self.watcher = None
        if self.gan.wrappers:
            self.gan.wrappers = {}
            gc.collect()
        stop_group()

    def _parameters(self, player: Player) -> Iterator[nn.Parameter]:
        for name in player.networks:
            yield from self.gan.nets[name].parameters()

    # ------------------------------------------------------------------ one iteration

    def train_step(self, next_batch: Callable[[], dict[str, Tensor]] | None = None) -> None:
        """One iteration: every player's updates (on batches from `next_batch`, the data source by
        default), their statistics added to the running means. Gradient norms are measured on
        every `grad_stride`-th iteration (GRAD_NORM_SAMPLES per log interval; on a small network
        they cost a few percent of the step) and on each iteration the loop checks after (logs,
        pictures, checkpoints): a non-finite gradient is then seen before anything is drawn or
        saved of the weights it made."""
        upcoming = self.step + 1
        measure = upcoming % self.grad_stride == 0 or any(self._due_at(upcoming))
        for stats in self.updates(next_batch or self.data.next, measure):
            self.means.add(stats)

    def updates(
        self, next_batch: Callable[[], dict[str, Tensor]], measure_grads: bool = True
    ) -> list[dict[str, Tensor]]:
        """Every player makes its updates, in order, on batches from `next_batch`; the others'
        networks are frozen meanwhile. Returns each update's statistics (device tensors), with
        each player's gradient norm if `measure_grads` (always with `train.nonfinite = skip`,
        which decides on it)."""
        measure_grads = measure_grads or self.finite.skip
        all_stats = []
        batch: dict[str, Tensor] = {}
        for player in self.players:
            self.trainable.only(player.name)
            self.gan.active = frozenset(player.networks)
            optimizer, params = self.optimizers[player.name], self.player_params[player.name]
            for _ in range(player.steps):
                for param in params:  # what zero_grad(set_to_none=True) does, without its bookkeeping
                    param.grad = None
                for micro in range(self.accumulate):  # train.accumulate micro-batches make one update
                    if player.uses_data and (player.fresh_batch or not batch):
                        batch = next_batch()
                    with self.precision.autocast():
                        part, stats = player.loss(batch if player.uses_data else {}, self.noise_rng)
                    if self.accumulate == 1:
                        loss = part
                    else:  # the update's loss is the micro-batches' mean
                        part = part / self.accumulate
                        loss = part.detach() if micro == 0 else loss + part.detach()
                        if micro < self.accumulate - 1:
                            all_stats.append(stats)
                    self.precision.backward(part, player.name)
                self.precision.unscale(optimizer, player.name)
                if player.before_step is not None:
                    player.before_step()
                grads = [p.grad for p in params if p.grad is not None] if measure_grads else []
                if grads:
                    stats[f"grad_norm_{player.name}"] = total_norm(grads)
                # an fp16 scaler skips its own overflowing steps: only the loss says the run diverged
                norm = None if self.precision.scalers else stats.get(f"grad_norm_{player.name}")
                bad = self.finite.observe(player.name, loss, norm)
                if self.finite.skip and self.finite.skips(bad, player.name, self.step):
                    optimizer.zero_grad(set_to_none=True)
                else:
                    self.precision.step(optimizer, player.name)
                    if player.after_update is not None:
                        player.after_update()
                all_stats.append(stats)
        self.trainable.release()
        self.gan.active = frozenset()
        return all_stats

    # ------------------------------------------------------------------ the loop

    def fit(self) -> dict[str, Any]:
        """Train to `train.steps`, then evaluate, draw and save; return the summary. A run that
        diverges stops with TrainingDiverged, saying how to resume from its last checkpoint."""
        try:
            return self._fit()
        except TrainingDiverged as exc:
            self.writes.close()  # the hint names the newest checkpoint on disk: the last write included
            raise TrainingDiverged(f"{exc}; {resume_hint(self.run.path if self.run else None)}") from None

    def begin(self) -> Any:
        """Start the clocks, the progress bar and the run folder's pictures: what the loop (or a
        population driving this trainer, gankit/population.py) needs before its first iteration."""
        from tqdm.auto import tqdm

        bar = tqdm(
            total=self.config["train"]["steps"],
            initial=self.step,
            disable=not self.progress,
            unit="it",
            dynamic_ncols=True,
            desc=self.config["name"] or "train",
        )
        self._bar = bar
        self._clock = (time.perf_counter(), self.step)
        self._checked = self.step  # the iteration up to which updates were checked to be finite
        self._started = time.perf_counter() - self.elapsed
        self._first_step, self._earlier_seconds = self.step, self.elapsed  # what earlier processes trained
        apart = self.measure_apart and self.evaluations.background
        if self._measuring is None and apart and measures_elsewhere(self.target, self.device):
            self._measuring = MeasuringProcess(self.target)
        if self.run is not None and self.watcher is None:
            self.watcher = Watcher(
                self.run.path, self.gan, self.target, self.info, self.config, self.tensorboard, self.step
            )
        return bar

    def iterate(self) -> None:
        """One iteration of the loop: learning rates, the model's hook, every player's updates
        (eager or as a captured graph), the generators' moving averages."""
        total = self.config["train"]["steps"]
        self.schedules.apply(self.step, total)
        for player in self.gan.on_iteration(self.step, total) or ():  # (models written before it returned)
            self.optimizers[player].state.clear()  # e.g. a network that just grew: new moments
        self._step()
        self.step += 1
        self.gan.update_ema(self.step)

    def _fit(self) -> dict[str, Any]:
        total = self.config["train"]["steps"]
        bar = self.begin()
        try:
            with StopSignals() as stop:
                while self.step < total:
                    self.iterate()
                    bar.update()
                    self._at_intervals(bar)
                    if self._stopping(stop) and self.step < total:
                        if self.run:
                            self.save_checkpoint()
                        barrier(self.group)  # the others wait until the checkpoint is written
                        raise TrainingInterrupted(self.step, self.run.path if self.run else None)
            self._record_finished(wait=True)
        except BaseException:
            self._record_after_failure()
            if self.watcher is not None:  # the pictures of the last refresh before the stop
                self.watcher.flush()
            raise
        finally:
            bar.close()
        return self.finish()  # saves while the last pictures are drawn, then waits for them

    def _record_after_failure(self) -> None:
        """On the way out of a failed or stopped run, record what was evaluated so far (an
        evaluation that itself failed is logged, not raised over the first error)."""
        try:
            self._record_finished(wait=True)
        except Exception as exc:
            log.warning("an evaluation was lost: %s: %s", type(exc).__name__, exc)

    def _stopping(self, stop: StopSignals) -> bool:
        """Whether to stop after this iteration. Processes agree every STOP_CHECK_EVERY
        iterations (or each log interval if shorter) with one small collective, so that all of
        them stop at the same iteration, well within the 30 s torchrun allows after a signal."""
        if not self.group.distributed:
            return stop.requested
        if self.step % min(self.config["train"]["log_every"], STOP_CHECK_EVERY):
            return False
        return any_process(stop.requested, self.group, self.device)

    def _now(self) -> float:
        return time.perf_counter() - self._started

    # ------------------------------------------------------------------ evaluation and pictures

    def snapshot(self, measure: bool = True, gan: GAN | None = None) -> Snapshot:
        """The evaluation samples (and their measures) of `gan`: the training model by default,
        or a copy of it that a background evaluation measures (gankit/evaluations.py)."""
        ev = self.config["eval"]
        gan = gan or self.gan
        target = self.target if self._measuring is None else MeasuredElsewhere(self.target, self._measuring)
        return gan.snapshot(target, ev["n_samples"], ev["seed"], measure, self.image_metrics, self.group)

    def state_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "elapsed": self._now() if hasattr(self, "_started") else self.elapsed,
            "config": self.config,
            "target": self.info.to_dict(),
            "gan": self.gan.state_dict(),
            "optim": {name: opt.state_dict() for name, opt in self.optimizers.items()},
            "data": self.data.state_dict(),
            "noise_rng": self.noise_rng.get_state(),
            "global_rng": capture_global_rng(),
            "means": self.means.state_dict(),
            "precision": self.precision.state_dict(),
            "best": self.best,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.gan.load_weights(state["gan"], "checkpoint")
        check_same_optimisers(state.get("config"), self.config["optim"])
        try:
            for name, opt in self.optimizers.items():
                opt.load_state_dict(state["optim"][name])
                apply_settings(opt, self.config["optim"][name])  # what the config says now takes effect
                # a checkpoint written under a CUDA graph holds the capturable form: back to the config's
                set_capturable(opt, bool(self.config["optim"][name].get("capturable", False)), self.device)
            self.data.load_state_dict(state["data"])
            self.noise_rng.set_state(state["noise_rng"])
            restore_global_rng(state["global_rng"])
            self.means.load_state_dict(state["means"], self.device)
            self.precision.load_state_dict(state.get("precision"))
        except (KeyError, RuntimeError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise CheckpointError(f"checkpoint does not match this model and config: {first}") from None
        try:
            self.step, self.elapsed = int(state["step"]), float(state.get("elapsed", 0.0))
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"checkpoint has a damaged header ({type(exc).__name__}: {exc})") from None
        self.best = state.get("best")
        self.schedules.reset()
        if isinstance(self._step, GraphedStep) and self._step.graph is not None:
            self._step = GraphedStep(self)  # the old graph writes into buffers just replaced

    def save_checkpoint(self, wait: bool = True) -> Path:
        """Write the state at this iteration (only if every weight is finite), keep the newest few;
        `wait=False`: return once the state is copied, while a thread writes it (gankit/writes.py)."""
        self._record_finished(wait=True)  # metrics.jsonl holds every record up to the checkpoint
        return self._write_checkpoint(self._checkpoint_state(), self.step, wait)

    def _checkpoint_state(self) -> dict[str, Any]:
        """The state to checkpoint now; TrainingDiverged instead if a weight is not finite."""
        bad = nonfinite_network({**self.gan.nets, **{f"ema.{k}": v for k, v in self.gan.ema.items()}})
        if bad is not None:
            raise TrainingDiverged(f"training diverged by iteration {self.step}: network {bad} holds non-finite "
                                   "weights, so no checkpoint was written")  # fmt: skip
        return self.state_dict()

    def _write_checkpoint(self, state: dict[str, Any], step: int, wait: bool = False) -> Path:
        assert self.run is not None
        path, folder = checkpoint.checkpoint_path(self.run.checkpoints, step), self.run.checkpoints
        encoded, keep = checkpoint.encode(state), self.config["train"]["keep_checkpoints"]  # the copy, now
        self.writes.submit(lambda: (checkpoint.write(path, encoded), checkpoint.prune(folder, keep)))
        if wait:
            self.writes.wait()
        return path

    def restore_latest(self, folder: RunDir | None = None) -> Path | None:
        """Load the newest readable checkpoint of the run (of `folder` on processes that do not
        write it); None if it has none yet. Only the writing process trims metrics.jsonl."""
        run = self.run or folder
        assert run is not None
        found, failures = None, []
        for path in checkpoint.newest_first(run.checkpoints):
            try:  # a file that does not read, or does not fit (a damaged header), gives way to the one before
                self.load_state_dict(checkpoint.load(path, "cpu"))
            except CheckpointError as exc:
                failures.append(str(exc))
                continue
            for failure in failures:
                log.warning("skipping %s", failure)
            found = path
            break
        if found is None and failures:
            raise CheckpointError(f"no usable checkpoint in {run.checkpoints}: {failures[0]}")
        if not same_everywhere(self.step, self.group, self.device):
            raise RunError(f"the processes found different checkpoints in {run.checkpoints} (this one: iteration "
                           f"{self.step}); every machine must see the same run folder")  # fmt: skip
        if self.run is not None:
            self.records = self.run.keep_records_until(self.step)
        return found

    # ------------------------------------------------------------------ the end

    def finish(self) -> dict[str, Any]:
        """Final checkpoint, generator weights, pictures and summary."""
        seconds = self._now() if hasattr(self, "_started") else self.elapsed
        summary = summarise(self.records, self.run.path if self.run else None, self.step, seconds, self.device,
                            self.health.warnings, getattr(self, "_first_step", self.step),
                            getattr(self, "_earlier_seconds", self.elapsed))  # fmt: skip
        try:
            if self.run:  # while the last pictures are drawn
                self.save_checkpoint()
                checkpoint.save_generator(
                    self.run.path / "generator.safetensors",
                    self.gan.sampling_generator.state_dict(),
                    checkpoint.generator_header(self.gan, self.config, self.info, self.step),
                )
        finally:  # the last pictures are on disk even when saving failed (a full disk, non-finite weights)
            if self.watcher is not None:
                self.watcher.finish()
                self.watcher.close()
                self.watcher = None
        if self.run:
            self.run.write_json(SUMMARY, summary)
        return summary
