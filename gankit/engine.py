"""The training engine: one loop for every GAN.

Each iteration lets every player of the model (usually D then G) make its updates: freeze
the other players' networks, compute the player's loss, step its optimiser. Statistics stay
on the device and are read only at log intervals; evaluation, pictures and checkpoints run
at their own intervals. The engine knows no model, target or objective by name.
"""

from __future__ import annotations

import gc
import logging
import math
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import safetensors.torch
import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from . import checkpoint
from .config import build_optimizer
from .data import Target, TargetInfo, build_source, build_target
from .distributed import (
    SINGLE,
    Group,
    any_process,
    barrier,
    broadcast_buffers,
    gather_rows,
    group_from_environment,
    mean_across,
    same_everywhere,
)
from .distributed import start as start_group
from .distributed import stop as stop_group
from .errors import CheckpointError, ConfigError, RunError
from .graphs import GraphedStep, graph_obstacle, set_capturable
from .health import HealthMonitor, spread_ratio, total_norm
from .metrics.images import ImageMetrics, better
from .models import build_model
from .precision import Precision
from .recipe import GAN, Player
from .rng import capture_global_rng, make_generator, restore_global_rng, seed_everything
from .run import SUMMARY, RunDir
from .watch import Watcher, tensorboard_available

log = logging.getLogger("gankit")
STOP_CHECK_EVERY = 10  # iterations between the processes' agreement on a stop request


class TrainingInterrupted(Exception):
    """Training stopped on SIGINT/SIGTERM after saving a checkpoint."""

    def __init__(self, step: int, run: Path | None) -> None:
        super().__init__(f"interrupted at iteration {step}")
        self.step, self.run = step, run


def resolve_device(name: str, group: Group = SINGLE) -> torch.device:
    """`auto` → CUDA if present, else Apple MPS, else CPU; an explicit device must exist. Under
    data parallelism on GPUs each process takes the GPU of its local rank."""
    if group.distributed and name in ("auto", "cuda") and torch.cuda.is_available():
        return torch.device("cuda", group.local_rank % torch.cuda.device_count())
    if group.distributed and name not in ("auto", "cpu"):
        raise ConfigError(f"device {name!r} under torchrun: use auto or cuda (each process takes the GPU of its "
                          "LOCAL_RANK), or cpu (gloo)")  # fmt: skip
    if group.distributed:
        return torch.device("cpu")  # gloo: CPU tensors (it has no MPS support)
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and (not torch.cuda.is_available() or (device.index or 0) >= torch.cuda.device_count()):
        raise ConfigError(
            f"device {name!r} is not available here (CUDA devices: {torch.cuda.device_count()}); use cpu or auto"
        )
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("device 'mps' is not available here; use cpu or auto")
    return device


class RunningMeans:
    """Sums of per-update statistics kept on the device; read (one sync) at log time."""

    def __init__(self) -> None:
        self.sums: dict[str, Tensor] = {}
        self.counts: dict[str, int] = {}

    def add(self, stats: dict[str, Tensor]) -> None:
        """Add one update's statistics. The sums are updated in place, so that a captured CUDA
        graph can keep adding into the same buffers (gankit/graphs.py)."""
        for key, value in stats.items():
            value = value.detach().float()
            if key in self.sums:
                self.sums[key].add_(value)
            else:
                self.sums[key] = value.clone()
            self.counts[key] = self.counts.get(key, 0) + 1

    def pop(self, reduce: Callable[[Tensor], Tensor] | None = None) -> dict[str, float]:
        """The means since the last pop, as Python floats (after `reduce`, e.g. across
        processes); then start again from zero in the same buffers."""
        keys = [k for k in self.sums if self.counts.get(k)]
        if not keys:
            return {}
        stacked = torch.stack([self.sums[k] / self.counts[k] for k in keys])
        values = (reduce(stacked) if reduce is not None else stacked).tolist()
        for total in self.sums.values():
            total.zero_()
        self.counts = dict.fromkeys(self.sums, 0)
        return dict(zip(keys, values))

    def state_dict(self) -> dict[str, Any]:
        return {"sums": dict(self.sums), "counts": dict(self.counts)}

    def load_state_dict(self, state: dict[str, Any], device: torch.device) -> None:
        self.sums = {k: v.to(device).clone() for k, v in state["sums"].items()}
        self.counts = {k: int(v) for k, v in state["counts"].items()}


class StopSignals:
    """Turn the first SIGINT/SIGTERM into a polite stop request; a second Ctrl-C is immediate."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        self.requested = True
        signal.signal(signal.SIGINT, signal.default_int_handler)

    def __enter__(self) -> StopSignals:
        try:
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        except ValueError:  # not the main thread: leave signals alone
            self._previous.clear()
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


@dataclass
class Snapshot:
    """Generated samples (and their noise) with a real reference sample, from fixed seeds."""

    fake: Tensor
    noise: Tensor
    real: Tensor
    measures: dict[str, float] = field(default_factory=dict)
    protocol: dict[str, Any] = field(default_factory=dict)


def take_snapshot(
    gan: GAN,
    target: Target,
    n: int,
    seed: int,
    measure: bool = True,
    image_metrics: ImageMetrics | None = None,
    group: Group = SINGLE,
) -> Snapshot:
    """`n` samples from the same evaluation noise (and labels) every time, a real reference
    sample, the target's measures of the samples and the image metrics asked for, with their
    protocol: the numbers logged in training, printed by `gankit eval` and returned by the API.

    Under data parallelism each process generates its share of the same samples and every
    process gets them all; only the main process measures.
    """
    device = next(gan.parameters()).device
    labels = gan.sample_labels(n, make_generator(device, seed, "eval-labels"))
    noise = gan.sample_noise(n, make_generator(device, seed, "eval-noise"))
    share = group.shard(n // group.world)
    fake, _ = gan.generate(n // group.world, None, None if labels is None else labels[share], noise[share])
    fake = gather_rows(fake, group)
    measure = measure and group.main
    real = target.sample(n, make_generator(device, seed, "eval-real"))
    measures = target.evaluate(fake, make_generator(device, seed, "eval-real"), labels) if measure else {}
    protocol: dict[str, Any] = {}
    if measure:
        measures["spread_ratio"] = spread_ratio(fake, real)
        if image_metrics is not None:
            values, protocol = image_metrics(target.to_images(fake))
            measures.update(values)
    return Snapshot(fake, noise, real, measures, protocol)


class Trainer:
    """Trains the GAN a validated config describes, writing into `run` if given."""

    def __init__(
        self,
        config: dict[str, Any],
        run: RunDir | None = None,
        progress: bool = False,
        gan: GAN | None = None,
        group: Group | None = None,
    ) -> None:
        """`gan` replaces the model the config names (a GAN of one's own on the same engine);
        `group` is this process's place in data-parallel training (read from torchrun's
        environment when not given). Only the main process may be given a run folder."""
        self.config = config
        self.run = run
        self.progress = progress
        self.group = group or group_from_environment()
        self.device = resolve_device(config["device"], self.group)
        seed_everything(config["seed"])
        self.target = build_target(config["data"])
        self.info = TargetInfo.of(self.target)
        if gan is not None:
            gan.configure(config["train"])
        self.gan = (gan or build_model(config, self.info)).to(self.device)
        self._speed_up(config["train"])
        ImageMetrics.check(config["eval"], self.target, config["data"]["target"])  # on every process, first
        self._distribute(config)
        self.data = build_source(self.target, config["data"], config["seed"], self.device, self.group)
        self.players: list[Player] = self.gan.players()
        self.player_params = {p.name: list(self._parameters(p)) for p in self.players}
        self.optimizers = {
            p.name: build_optimizer(config["optim"][p.name], self.player_params[p.name]) for p in self.players
        }
        self.precision = Precision(config["train"]["precision"], self.device, self.optimizers)
        objective = getattr(self.gan, "objective", None)
        self.health = HealthMonitor(
            watch_accuracy=not (objective and objective.critic), settle_after=config["train"]["steps"] // 5
        )
        self.noise_rng = make_generator(self.device, config["seed"], "noise")
        self.means = RunningMeans()
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
        self.watcher: Watcher | None = None
        self._step: Callable[[], None] = self._step_choice(config["train"])

    def _speed_up(self, train: dict[str, Any]) -> None:
        """Channels-last memory and torch.compile, as the config asks (before DDP wraps them)."""
        if train["channels_last"]:
            self.gan.to(memory_format=torch.channels_last)  # 4-D weights only; others unchanged
        if train["compile"]:
            twice = self.gan.twice_differentiated()
            for name, net in self.gan.nets.items():
                if name in twice:
                    log.warning("not compiling %s: its gradient penalty needs a double backward, which "
                                "compiled graphs do not support", name)  # fmt: skip
                else:
                    net.compile()

    def _step_choice(self, train: dict[str, Any]) -> Callable[[], None]:
        """The eager iteration, or one captured as a CUDA graph when asked and possible."""
        if not train["cuda_graph"]:
            return self.train_step
        reason = graph_obstacle(self)
        if reason is not None:
            log.warning("CUDA graph off: %s; training runs eagerly", reason)
            return self.train_step
        return GraphedStep(self)

    def _distribute(self, config: dict[str, Any]) -> None:
        """Join the process group and wrap every network in DistributedDataParallel."""
        if not self.group.distributed:
            return
        if config["eval"]["n_samples"] % self.group.world:
            raise ConfigError(f"eval.n_samples ({config['eval']['n_samples']}) must divide evenly among the "
                              f"{self.group.world} processes")  # fmt: skip
        if config["train"]["sync_batchnorm"] and self.device.type != "cuda":
            raise ConfigError("train.sync_batchnorm needs CUDA devices (PyTorch's SyncBatchNorm has no CPU version)")
        start_group(self.group, self.device, config["train"]["dist_timeout"])
        wrappers = {}
        for name, net in self.gan.nets.items():
            if config["train"]["sync_batchnorm"]:
                net = self.gan.nets[name] = nn.SyncBatchNorm.convert_sync_batchnorm(net)
            if any(p.requires_grad for p in net.parameters()):
                ids = [self.device.index] if self.device.type == "cuda" else None
                wrappers[name] = DistributedDataParallel(net, device_ids=ids)
        self.gan.distribute(self.group, wrappers)

    def close(self) -> None:
        """Let go of the DDP wrappers and leave the process group (in that order: a gloo group
        destroyed under a live DDP reducer can deadlock at exit)."""
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
        default), their statistics added to the running means."""
        for stats in self.updates(next_batch or self.data.next):
            self.means.add(stats)

    def updates(self, next_batch: Callable[[], dict[str, Tensor]]) -> list[dict[str, Tensor]]:
        """Every player makes its updates, in order, on batches from `next_batch`; the others'
        networks are frozen meanwhile. Returns each update's statistics (device tensors)."""
        all_stats = []
        for player in self.players:
            for name, net in self.gan.nets.items():
                net.requires_grad_(name in player.networks)
            self.gan.active = frozenset(player.networks)
            optimizer = self.optimizers[player.name]
            for _ in range(player.steps):
                batch = next_batch() if player.uses_data else {}
                with self.precision.autocast():
                    loss, stats = player.loss(batch, self.noise_rng)
                optimizer.zero_grad(set_to_none=True)
                self.precision.backward(loss, player.name)
                self.precision.unscale(optimizer, player.name)
                grads = [p.grad for p in self.player_params[player.name] if p.grad is not None]
                if grads:
                    stats[f"grad_norm_{player.name}"] = total_norm(grads)
                self.precision.step(optimizer, player.name)
                if player.after_update is not None:
                    player.after_update()
                all_stats.append(stats)
        for net in self.gan.nets.values():
            net.requires_grad_(True)
        self.gan.active = frozenset()
        return all_stats

    # ------------------------------------------------------------------ the loop

    def fit(self) -> dict[str, Any]:
        """Train to `train.steps`, then evaluate, draw and save; return the summary."""
        from tqdm.auto import tqdm

        train = self.config["train"]
        total = train["steps"]
        bar = tqdm(
            total=total,
            initial=self.step,
            disable=not self.progress,
            unit="it",
            dynamic_ncols=True,
            desc=self.config["name"] or "train",
        )
        self._clock = (time.perf_counter(), self.step)
        self._started = time.perf_counter() - self.elapsed
        if self.run is not None and self.watcher is None:
            self.watcher = Watcher(
                self.run.path, self.gan, self.target, self.info, self.config, self.tensorboard, self.step
            )
        try:
            with StopSignals() as stop:
                while self.step < total:
                    self._step()
                    self.step += 1
                    self.gan.update_ema(self.step)
                    bar.update()
                    self._at_intervals(bar)
                    if self._stopping(stop) and self.step < total:
                        if self.run:
                            self.save_checkpoint()
                        barrier(self.group)  # the others wait until the checkpoint is written
                        raise TrainingInterrupted(self.step, self.run.path if self.run else None)
        finally:
            bar.close()
            if self.watcher is not None:
                self.watcher.flush()
        return self.finish()

    def _stopping(self, stop: StopSignals) -> bool:
        """Whether to stop after this iteration. Processes agree every STOP_CHECK_EVERY
        iterations (or each log interval if shorter) with one small collective, so that all of
        them stop at the same iteration, well within the 30 s torchrun allows after a signal."""
        if not self.group.distributed:
            return stop.requested
        if self.step % min(self.config["train"]["log_every"], STOP_CHECK_EVERY):
            return False
        return any_process(stop.requested, self.group, self.device)

    def _at_intervals(self, bar: Any) -> None:
        train = self.config["train"]
        last = self.step == train["steps"]

        def due(every: int) -> bool:
            return last or (every > 0 and self.step % every == 0)

        evaluate = due(train["eval_every"]) if train["eval_every"] else last
        draw = due(train["plot_every"]) if train["plot_every"] else evaluate
        periodic_checkpoint = not last and train["checkpoint_every"] > 0 and self.step % train["checkpoint_every"] == 0
        if self.group.distributed and (evaluate or draw or last or periodic_checkpoint or due(train["log_every"])):
            broadcast_buffers(
                list(self.gan.nets.values()) + ([self.gan.ema] if self.gan.ema is not None else []), self.group
            )
        record: dict[str, Any] = {}
        if due(train["log_every"]):
            record.update(self._train_record())
            bar.set_postfix({k: f"{record[k]:.3f}" for k in ("d_loss", "g_loss", "d_accuracy") if k in record})
        snapshot = self.snapshot(measure=evaluate) if evaluate or draw else None
        if snapshot is not None and evaluate:
            record.update({f"eval/{k}": v for k, v in snapshot.measures.items()})
            if snapshot.protocol:
                record["protocol"] = snapshot.protocol
            self._report(bar, record)
        if record:
            epochs = {} if self.data.epochs is None else {"epoch": round(self.data.epochs, 4)}
            record = {"step": self.step, **epochs, "time": round(self._now(), 3), **record}
            self.records.append(record)
            self.health.check(record)
            if self.run:
                self.run.append_record(record)
                self._keep_best(record)
        if self.watcher is not None:
            if record:
                self.watcher.record(record)
            if snapshot is not None and draw:
                self.watcher.pictures(self.records, snapshot.real, snapshot.fake, snapshot.noise, self.step)
            grid = due(train["grid_every"]) if train["grid_every"] else draw
            if grid:
                self.watcher.sample_grid(self.step)
        if self.run and periodic_checkpoint:
            self.save_checkpoint()

    def _keep_best(self, record: dict[str, Any]) -> None:
        """Copy the state to checkpoints/best.safetensors when `eval.best` improves."""
        metric = self.config["eval"]["best"]
        value = record.get(f"eval/{metric}") if metric else None
        if value is None or not better(metric, value, self.best):
            return
        self.best = value
        assert self.run is not None
        checkpoint.save(self.run.checkpoints / "best.safetensors", {**self.state_dict(), "best_metric": metric})
        log.info("best %s so far: %.5g at iteration %d", metric, value, self.step)

    def _report(self, bar: Any, record: dict[str, Any]) -> None:
        """One line per evaluation: iteration, epoch, losses, D accuracy and the measures."""
        epochs = self.data.epochs
        parts = [f"iteration {self.step}"] + ([f"epoch {epochs:g}"] if epochs is not None else [])
        parts += [f"{k} {_fmt(record[k])}" for k in ("d_loss", "g_loss", "d_accuracy") if k in record]
        parts += [f"{k.removeprefix('eval/')} {_fmt(v)}" for k, v in record.items() if k.startswith("eval/")]
        line = ", ".join(parts)
        if bar.disable:
            log.info(line)
        else:
            bar.write(line)

    def _now(self) -> float:
        return time.perf_counter() - self._started

    def _train_record(self) -> dict[str, Any]:
        means = self.means.pop(lambda t: mean_across(t, self.group))  # the one host sync of a log interval
        now, then = time.perf_counter(), self._clock
        rate = (self.step - then[1]) / max(now - then[0], 1e-9)
        self._clock = (now, self.step)
        return {**means, "steps_per_s": round(rate, 2)}

    # ------------------------------------------------------------------ evaluation and pictures

    def snapshot(self, measure: bool = True) -> Snapshot:
        ev = self.config["eval"]
        return take_snapshot(
            self.gan, self.target, ev["n_samples"], ev["seed"], measure, self.image_metrics, self.group
        )

    # ------------------------------------------------------------------ state

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
        load_gan_weights(self.gan, state["gan"], "checkpoint")
        try:
            for name, opt in self.optimizers.items():
                opt.load_state_dict(state["optim"][name])
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
        self.step = int(state["step"])
        self.elapsed = float(state.get("elapsed", 0.0))
        self.best = state.get("best")
        if isinstance(self._step, GraphedStep) and self._step.graph is not None:
            self._step = GraphedStep(self)  # the old graph writes into buffers just replaced

    def save_checkpoint(self) -> Path:
        assert self.run is not None
        path = checkpoint.checkpoint_path(self.run.checkpoints, self.step)
        checkpoint.save(path, self.state_dict())
        checkpoint.prune(self.run.checkpoints, self.config["train"]["keep_checkpoints"])
        return path

    def restore_latest(self, folder: RunDir | None = None) -> Path | None:
        """Load the newest readable checkpoint of the run (of `folder` on processes that do not
        write it); None if it has none yet. Only the writing process trims metrics.jsonl."""
        run = self.run or folder
        assert run is not None
        found = checkpoint.load_latest(run.checkpoints, "cpu")
        if found is not None:
            self.load_state_dict(found[1])
        if not same_everywhere(self.step, self.group, self.device):
            raise RunError(f"the processes found different checkpoints in {run.checkpoints} (this one: iteration "
                           f"{self.step}); every machine must see the same run folder")  # fmt: skip
        if self.run is not None:
            self.records = self.run.keep_records_until(self.step)
        return None if found is None else found[0]

    # ------------------------------------------------------------------ the end

    def finish(self) -> dict[str, Any]:
        """Final checkpoint, generator weights, pictures and summary."""
        measures = (
            {k.removeprefix("eval/"): v for k, v in self.records[-1].items() if k.startswith("eval/")}
            if self.records
            else {}
        )
        train = {k: v for k, v in (self.records[-1] if self.records else {}).items() if not k.startswith("eval/")}
        summary = {
            "run": str(self.run.path) if self.run else None,
            "steps": self.step,
            "seconds": round(self._now() if hasattr(self, "_started") else self.elapsed, 2),
            "device": str(self.device),
            "train": train,
            "measures": measures,
            "protocol": next((r["protocol"] for r in reversed(self.records) if "protocol" in r), {}),
            "warnings": self.health.warnings,
        }
        if self.watcher is not None:
            self.watcher.finish()
            self.watcher.close()
            self.watcher = None
        if self.run:
            self.save_checkpoint()
            safetensors.torch.save_file(
                {k: v.detach().cpu().contiguous() for k, v in self.gan.sampling_generator.state_dict().items()},
                str(self.run.path / "generator.safetensors"),
            )
            self.run.write_json(SUMMARY, summary)
        return summary


def load_gan_weights(gan: GAN, weights: dict[str, Tensor], source: str) -> None:
    """Load a GAN's weights, forgiving only G's moving average: a run resumed with EMA newly
    enabled starts the average from G, one resumed with it disabled drops it."""
    missing, unexpected = [], []
    try:
        missing, unexpected = gan.load_state_dict(weights, strict=False)
    except RuntimeError as exc:  # shape mismatches
        first = next((line.strip() for line in str(exc).splitlines()[1:] if line.strip()), str(exc))
        raise CheckpointError(f"{source} does not match this model and config: {first}") from None
    if missing and all(k.startswith("ema.") for k in missing):
        log.info("%s has no moving average of G; it starts from G's weights", source)
        gan.ema.load_state_dict(gan.generator.state_dict())
        missing = []
    unexpected = [k for k in unexpected if not k.startswith("ema.")]
    if missing or unexpected:
        what = f"missing {missing[0]}" if missing else f"unexpected {unexpected[0]}"
        count = len(missing) + len(unexpected)
        raise CheckpointError(f"{source} does not match this model and config ({what}, {count} keys differ)")


def describe(summary: dict[str, Any]) -> str:
    """The one-paragraph summary printed when training ends."""
    train, measures = summary["train"], summary["measures"]
    rate = summary["steps"] / summary["seconds"] if summary["seconds"] else math.nan
    parts = [
        f"Trained {summary['steps']} iterations in {summary['seconds']:.1f} s ({rate:.1f} it/s) on {summary['device']}."
    ]
    if "d_loss" in train:
        parts.append(
            f"Last interval: D loss {train['d_loss']:.3f}, G loss {train.get('g_loss', math.nan):.3f}, "
            f"D accuracy {100 * train.get('d_accuracy', math.nan):.0f}% "
            f"(real {100 * train.get('acc_real', math.nan):.0f}%, generated {100 * train.get('acc_fake', math.nan):.0f}%)."
        )
    if measures:
        parts.append("Measures: " + ", ".join(f"{k} {_fmt(v)}" for k, v in measures.items()) + ".")
    if summary["run"]:
        parts.append(f"Run folder: {summary['run']} (pictures in plots/, metrics in metrics.jsonl).")
    return " ".join(parts)


def _fmt(value: Any) -> str:
    if isinstance(value, int):
        return str(value)
    return f"{value:.4g}" if isinstance(value, float) else str(value)
