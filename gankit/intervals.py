"""What the training loop does between iterations: log records, evaluations, pictures and
checkpoints at their intervals, kept in iteration order while evaluations run beside training
(gankit/evaluations.py). A part of the Trainer (gankit/engine.py), kept in its own file."""

from __future__ import annotations

import logging
import time
from typing import Any

from . import checkpoint
from .distributed import broadcast_buffers, mean_across
from .evaluations import Interval, frozen
from .metrics.images import better
from .runtime import headline, report_line

log = logging.getLogger("gankit")


class IntervalWork:
    """The Trainer's work at log, evaluation, picture and checkpoint intervals (mixed into
    `Trainer`, whose state it uses: config, run folder, records, evaluations, watcher)."""

    def _due_at(self, step: int) -> tuple[bool, bool, bool, bool, bool]:
        """What the loop does after iteration `step`: log, evaluate, draw, grid, checkpoint."""
        train = self.config["train"]
        last = step == train["steps"]

        def due(every: int) -> bool:
            return last or (every > 0 and step % every == 0)

        evaluate = due(train["eval_every"]) if train["eval_every"] else last
        draw = due(train["plot_every"]) if train["plot_every"] else evaluate
        grid = due(train["grid_every"]) if train["grid_every"] else draw
        checkpoint = not last and train["checkpoint_every"] > 0 and step % train["checkpoint_every"] == 0
        return due(train["log_every"]), evaluate, draw, grid, checkpoint

    def _at_intervals(self, bar: Any) -> None:
        log_due, evaluate, draw, grid, periodic_checkpoint = self._due_at(self.step)
        if not (evaluate or draw or grid or periodic_checkpoint or log_due):
            self._record_finished()
            return
        if self.group.distributed:
            broadcast_buffers([*self.gan.nets.values(), *self.gan.ema.values()], self.group)
        record: dict[str, Any] = {}
        if log_due:
            record.update(self._train_record())
        self.finite.check(self.step, self._checked, record, self.group)  # before any picture or checkpoint
        self._checked = self.step
        if record:
            bar.set_postfix({k: f"{record[k]:.3f}" for k in headline(record)})
        if record or evaluate or draw:
            epochs = {} if self.data.epochs is None else {"epoch": round(self.data.epochs, 4)}
            interval = Interval({"step": self.step, **epochs, "time": round(self._now(), 3)}, record, evaluate, draw)
            if evaluate or draw:
                interval.snapshot = self.evaluations.snapshot(self.gan, lambda gan: self.snapshot(evaluate, gan))
                if evaluate and self.config["eval"]["best"] and not interval.done():
                    interval.state = frozen(self.state_dict())  # in case this evaluation is the best
            self.evaluations.add(interval)
        self._record_finished()
        if self.watcher is not None and grid:
            self.watcher.sample_grid(self.step)
        if self.run and periodic_checkpoint:
            self._checkpoint_after_records()

    def _checkpoint_after_records(self) -> None:
        """A checkpoint of this iteration, written after the records before it: now, or (while an
        evaluation still runs) from a copy of the state, when that evaluation is recorded."""
        waiting = self.evaluations.last()
        if waiting is None:
            self.save_checkpoint(wait=False)
            return
        if waiting.step != self.step:
            waiting = Interval({"step": self.step}, {}, evaluate=False, draw=False)
            self.evaluations.add(waiting)
        waiting.checkpoint = frozen(self._checkpoint_state())

    def _record_finished(self, wait: bool = False) -> None:
        """Record the intervals whose evaluations are done (all of them when `wait`), in order:
        their measures, the progress line, metrics.jsonl, the best checkpoint and the pictures."""
        for interval in self.evaluations.finished(wait):
            self._record(interval)
        if self.watcher is not None:
            self.watcher.poll()

    def _record(self, interval: Interval) -> None:
        record = dict(interval.record)
        snapshot = interval.resolved()
        if snapshot is not None and interval.evaluate:
            record.update({f"eval/{k}": v for k, v in snapshot.measures.items()})
            if snapshot.protocol:
                record["protocol"] = snapshot.protocol
            self._report(interval, record)
        if record:
            record = {**interval.head, **record}
            self.records.append(record)
            self.health.check(record)
            if self.run:
                self.run.append_record(record)
                self._keep_best(record, interval)
        if self.watcher is not None:
            if record:
                self.watcher.record(record)
            if snapshot is not None and interval.draw:
                self.watcher.pictures(self.records, snapshot.real, snapshot.fake, snapshot.noise, interval.step)
        if interval.checkpoint is not None:  # the best so far now counts this iteration's evaluation
            self._write_checkpoint({**interval.checkpoint, "best": self.best}, interval.step)

    def _keep_best(self, record: dict[str, Any], interval: Interval) -> None:
        """Copy the state at the evaluated iteration to checkpoints/best.safetensors when `eval.best` improves."""
        metric = self.config["eval"]["best"]
        value = record.get(f"eval/{metric}") if metric else None
        if value is None or not better(metric, value, self.best):
            return
        self.best = value
        assert self.run is not None
        state = interval.state if interval.state is not None else self.state_dict()  # in the loop: now is then
        path, encoded = self.run.checkpoints / "best.safetensors", checkpoint.encode({**state, "best": value,
                                                                                     "best_metric": metric})  # fmt: skip
        self.writes.submit(lambda: checkpoint.write(path, encoded))
        log.info("best %s so far: %.5g at iteration %d", metric, value, interval.step)

    def _report(self, interval: Interval, record: dict[str, Any]) -> None:
        """One line per evaluation: iteration, epoch, losses, D accuracy and the measures."""
        line = report_line(interval.step, interval.head.get("epoch"), record)
        if self.label:  # one of several runs reporting together (a study's members)
            line = f"{self.label}: {line}"
        bar = self._bar
        if bar is None or bar.disable:
            log.info(line)
        else:
            bar.write(line)

    def _train_record(self) -> dict[str, Any]:
        means = self.means.pop(lambda t: mean_across(t, self.group))  # the one host sync of a log interval
        means = self.gan.log_stats(means)
        now, then = time.perf_counter(), self._clock
        rate = (self.step - then[1]) / max(now - then[0], 1e-9)
        self._clock = (now, self.step)
        return {**means, "steps_per_s": round(rate, 2)}
