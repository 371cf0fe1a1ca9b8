"""Pictures are drawn off the training loop: all of them by the end of a run (also after Ctrl-C),
a failing picture never stops training, and a slow renderer skips refreshes instead of queueing."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

import gankit
from gankit import checkpoint, drawing_process, plots, render
from gankit.runtime import TrainingInterrupted
from gankit.watch import Watcher

from .conftest import TINY

RING = [*TINY, "train.tensorboard=off", "train.checkpoint_every=0"]
MNIST = ["data.limit=640", "data.batch_size=64", "data.classifier=false", "train.steps=30", "train.log_every=5",
         "train.eval_every=10", "train.grid_every=10", "eval.n_samples=100", "train.tensorboard=off"]  # fmt: skip


@pytest.fixture
def messages():
    """What gankit logs (INFO and up) during the test, whatever the CLI did to its logger before."""
    logger, lines = logging.getLogger("gankit"), []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    handler, level = Keep(logging.INFO), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield lines
    logger.removeHandler(handler)
    logger.setLevel(level)


class Written:
    """Lines appended to a file by whoever draws (the drawing process is a fork: what it appends
    to a Python list stays in its own memory)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def add(self, line: object) -> None:
        with open(self.path, "a") as f:
            f.write(f"{line}\n")

    def __getitem__(self, index: int) -> str:
        return self.lines()[index]

    def __len__(self) -> int:
        return len(self.lines())

    def lines(self) -> list[str]:
        return self.path.read_text().splitlines() if self.path.exists() else []


@pytest.fixture
def titles(monkeypatch, tmp_path):
    """The titles of the target pictures the renderer finished, in order."""
    done, draw = Written(tmp_path / "titles.txt"), plots.plot_distribution

    def recorded(*args, **kwargs):
        draw(*args, **kwargs)
        done.add(args[-1])

    monkeypatch.setattr(plots, "plot_distribution", recorded)
    return done


def decodes(path: Path) -> bool:
    with Image.open(path) as image:
        image.load()
    return True


def skipped(messages: list[str], kind: str) -> int:
    """The refreshes of `kind` the end-of-run report says were skipped (0 without a report)."""
    found = [re.search(rf"(\d+) of {kind}\b", m) for m in messages if "refreshes skipped" in m]
    return int(found[0].group(1)) if found and found[0] else 0


def test_every_picture_is_written_by_the_end_of_a_run(tmp_path, titles, messages):
    result = gankit.train("mnist-mlp", overrides=MNIST, runs_dir=tmp_path, name="m")
    run = result.run_dir
    grids = sorted((run / "grids").glob("grid-*.png"))
    # a grid is only ever left out when a newer one replaced it before it started (a busy machine)
    assert len(grids) + skipped(messages, "grid") == 3 and grids[-1].name == "grid-00000030.png"
    for name in ("losses", "accuracy", "eval", "samples", "samples-grid"):
        assert decodes(run / "plots" / f"{name}.png"), name
    assert all(decodes(g) for g in grids)
    # the grid shown last is the final iteration's, and the animation was made after it
    assert (run / "plots" / "samples-grid.png").read_bytes() == grids[-1].read_bytes()
    with Image.open(run / "plots" / "progress.gif") as gif:
        assert gif.n_frames == len(grids)
    assert titles[-1] == "mnist at iteration 30"


def test_the_last_pictures_are_written_when_saving_at_the_end_fails(tmp_path, monkeypatch, titles):
    """The final checkpoint and weights are saved while the last refresh is drawn; a full disk
    there still leaves that refresh's pictures on disk when `fit` raises (before anything closes
    the trainer), and it is this run's only refresh."""
    import errno

    from gankit import engine
    from gankit.config import resolve
    from gankit.run import RunDir

    def full(path, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(engine.checkpoint, "save_generator", full)
    config = resolve("ring", overrides=[*RING, "train.steps=40", "train.eval_every=0"])
    trainer = engine.Trainer(config, run=RunDir.create(tmp_path, "r", unique=False))
    try:
        with pytest.raises(OSError, match="No space left"):
            trainer.fit()
        plots_dir = tmp_path / "r" / "plots"
        assert all(decodes(plots_dir / f"{name}.png") for name in ("losses", "accuracy", "eval"))
        assert titles.lines() == ["ring at iteration 40"]
    finally:
        trainer.close()


def test_ctrl_c_writes_the_last_refresh_and_the_run_resumes(tmp_path, monkeypatch, titles):
    slow_draw = plots.plot_distribution  # (already recording): slowed so the stop comes mid-drawing

    def slow(*args, **kwargs):
        time.sleep(0.3)
        slow_draw(*args, **kwargs)

    monkeypatch.setattr(plots, "plot_distribution", slow)
    pictures = Watcher.pictures

    def then_ctrl_c(self, records, real, fake, noise, step):
        pictures(self, records, real, fake, noise, step)
        if step == 40:
            os.kill(os.getpid(), signal.SIGINT)  # as a Ctrl-C: the loop stops after this iteration

    monkeypatch.setattr(Watcher, "pictures", then_ctrl_c)
    with pytest.raises(TrainingInterrupted):
        gankit.train("ring", overrides=[*RING, "train.steps=1000"], runs_dir=tmp_path, name="r")
    run = tmp_path / "r"
    assert titles[-1] == "ring at iteration 40"  # drawn before the run returned
    assert decodes(run / "plots" / "distribution.png") and decodes(run / "plots" / "losses.png")
    # the refresh of iteration 40 is handed over once its evaluation (beside training) is done:
    # the stop comes within a few iterations of it
    (stopped,) = [step for step, _ in checkpoint.list_checkpoints(run / "checkpoints")]
    assert 40 <= stopped < 50

    monkeypatch.setattr(Watcher, "pictures", pictures)
    resumed = gankit.resume(run, overrides=["train.steps=60"])
    assert resumed.summary["steps"] == 60
    assert titles[-1] == "ring at iteration 60"


def test_a_failing_picture_is_reported_and_training_completes(tmp_path, monkeypatch, messages):
    def broken(*args, **kwargs):
        raise RuntimeError("no ink")

    monkeypatch.setattr(plots, "plot_accuracy", broken)
    result = gankit.train("ring", overrides=[*RING, "train.steps=60"], runs_dir=tmp_path, name="f")
    run = result.run_dir
    warnings = [m for m in messages if "accuracy.png" in m]
    assert warnings[0] == "picture accuracy.png was not drawn: RuntimeError: no ink (training goes on)"
    # warned once, counted at the end: the last refresh tried it, and so did every refresh drawn
    # (not skipped) but one the last overtook after its first picture
    (count,) = [re.fullmatch(r"pictures: drawings failed \(accuracy.png (\d)×\)", w) for w in warnings[1:]]
    assert count and 3 - skipped(messages, "pictures") - 1 <= int(count.group(1)) <= 3 - skipped(messages, "pictures")
    assert [step for step, _ in checkpoint.list_checkpoints(run / "checkpoints")] == [60]
    assert json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])["step"] == 60
    assert json.loads((run / "summary.json").read_text())["steps"] == 60
    assert decodes(run / "plots" / "losses.png") and decodes(run / "plots" / "distribution.png")
    assert not (run / "plots" / "accuracy.png").exists()


def test_a_slow_renderer_skips_refreshes_and_still_draws_the_last(tmp_path, monkeypatch, messages, titles):
    losses, written = plots.plot_losses, Written(tmp_path / "drawn.txt")

    def slow(records, path, guides):
        time.sleep(0.2)
        losses(records, path, guides)
        written.add(records[-1]["step"])

    monkeypatch.setattr(plots, "plot_losses", slow)
    # a picture every 5 iterations of a tiny GAN: far more often than the renderer can draw
    overrides = [*RING, "train.steps=100", "train.log_every=5", "train.plot_every=5", "train.eval_every=0"]
    gankit.train("ring", overrides=overrides, runs_dir=tmp_path, name="s")
    (report,) = [m for m in messages if "skipped" in m]
    total = re.fullmatch(r"pictures: (\d+) refreshes skipped while the renderer was busy \((.*)\)", report)
    assert total and int(total.group(1)) == sum(int(n) for n in re.findall(r"(\d+) of \w+", total.group(2)))
    left_out, drawn = skipped(messages, "pictures"), [int(step) for step in written.lines()]
    assert left_out > 0 and left_out + len(drawn) == 100 // 5  # every refresh either drawn or counted
    assert drawn[-1] == 100 and titles[-1] == "ring at iteration 100"
    assert drawn == sorted(drawn)


@pytest.mark.parametrize("kind", [render.ThreadRenderer, render.ProcessRenderer], ids=["thread", "process"])
def test_both_renderers_draw_the_newest_refresh_report_failures_and_drain(kind, tmp_path, messages):
    """The thread renderer (used where fork is unsafe) and the drawing process share one contract."""
    written = Written(tmp_path / "drawn.txt")

    def build(payload: int):
        def draw():
            time.sleep(0.05)
            written.add(payload)

        def broken():
            raise ValueError(f"bad {payload}")

        return [("numbers.png", draw), ("broken.png", broken)]

    renderer = kind("pictures", build)
    for payload in range(1, 6):  # faster than it draws: some are replaced before they start
        renderer.submit(payload)
    renderer.drain()
    drawn = [int(line) for line in written.lines()]
    assert drawn[-1] == 5 and drawn == sorted(drawn)  # the newest always, in order
    assert renderer.skipped + renderer.drawn == 5 and renderer.skipped > 0
    # every refresh drawn tried the broken picture (the process may leave all but the last refresh
    # after its first picture when the drain overtakes it)
    tried = renderer.drawn - (kind is render.ProcessRenderer)
    assert tried <= renderer.failed["broken.png"] <= renderer.drawn and set(renderer.failed) == {"broken.png"}
    warned = [m for m in messages if m.startswith("picture broken.png")]  # once, for the first refresh that tried
    assert len(warned) == 1 and re.fullmatch(
        r"picture broken.png was not drawn: ValueError: bad [1-5] \(training goes on\)", warned[0]
    )
    renderer.close()


def test_draining_overtakes_the_refresh_being_drawn(tmp_path):
    """At the end of a run the drawing process leaves the refresh it is drawing after its current
    picture: the last refresh, sent at once, redraws every picture."""
    written, release = Written(tmp_path / "drawn.txt"), tmp_path / "release"

    def build(payload: int):
        def draw(name: str):
            if payload == 1:  # refresh 1 holds its first picture until the drain has sent refresh 2
                written.add("1 started")
                while not release.exists():
                    time.sleep(0.01)
            written.add(f"{payload} {name}")

        return [(name, lambda name=name: draw(name)) for name in ("a.png", "b.png", "c.png")]

    renderer = render.ProcessRenderer("pictures", build)
    renderer.submit(1)
    while not written.lines():
        time.sleep(0.01)
    renderer.submit(2)  # waits: refresh 1 is being drawn
    draining = threading.Thread(target=renderer.drain, daemon=True)
    draining.start()
    while len(renderer._in_flight) < 2 and draining.is_alive():  # the drain has sent refresh 2
        time.sleep(0.01)
    release.touch()
    draining.join()
    renderer.close()
    lines = written.lines()  # the last refresh is drawn on every core: its pictures in any order
    assert lines[:2] == ["1 started", "1 a.png"] and sorted(lines[2:]) == ["2 a.png", "2 b.png", "2 c.png"]
    assert (renderer.drawn, renderer.skipped) == (2, 0) and not renderer.failed


def test_the_last_refresh_is_drawn_on_every_core_with_its_failures_reported(tmp_path, monkeypatch):
    """The run's last refresh, which the run waits for, is shared out over forks of the drawing
    process: every picture is drawn once, in whichever fork, and a failing one is reported."""
    monkeypatch.setattr(drawing_process, "usable_cores", lambda: 3)  # a fork per picture, whatever the machine
    written = Written(tmp_path / "drawn.txt")

    def build(payload: int):
        def draw(name: str):
            written.add(f"{name} {os.getpid()}")

        def broken():
            raise ValueError("no ink")

        return [("a.png", lambda: draw("a.png")), ("b.png", broken), ("c.png", lambda: draw("c.png"))]

    renderer = render.ProcessRenderer("pictures", build)
    renderer.submit(1, last=True)
    renderer.close()
    drawn = dict(line.split() for line in written.lines())
    assert sorted(drawn) == ["a.png", "c.png"] and drawn["a.png"] != drawn["c.png"]  # in two processes
    assert renderer.failed == {"b.png": 1} and renderer.drawn == 1


def test_the_last_refresh_is_drawn_again_by_a_fresh_process_when_its_drawing_process_dies(tmp_path, monkeypatch):
    """The run waits for its last refresh: if the drawing process dies while drawing it, a fresh
    one draws it (once), and the death is reported."""
    monkeypatch.setattr(drawing_process, "usable_cores", lambda: 1)  # drawn in the process itself
    written, crashed = Written(tmp_path / "drawn.txt"), tmp_path / "crashed"

    def build(payload: int):
        def draw():
            if not crashed.exists():
                crashed.touch()
                os._exit(1)  # the first drawing process dies in the middle of the picture
            written.add(payload)

        return [("a.png", draw)]

    renderer = render.ProcessRenderer("pictures", build)
    renderer.submit(7, last=True)
    renderer.close()
    assert written.lines() == ["7"]
    assert renderer.failed == {"pictures": 1} and (renderer.drawn, renderer.skipped) == (1, 0)


@pytest.mark.parametrize("plot", ["plot_eval", "plot_losses", "plot_accuracy"])
def test_a_kept_figure_draws_exactly_what_a_new_one_would(plot, tmp_path, monkeypatch):
    """A curve figure kept between refreshes gets new points and limits: its picture is the
    one a newly built figure of the same records gives, pixel for pixel."""

    def records(n: int) -> list[dict]:
        return [{"step": 10 * i, "d_loss": 1 + 0.1 * i, "g_loss": 0.7 - 0.01 * i * i, "acc_real": 0.5 + 0.01 * i,
                 "acc_fake": 0.4, "d_accuracy": 0.45, "eval/a": i**0.5, "eval/b": -i} for i in range(1, n)]  # fmt: skip

    draw = getattr(plots, plot)
    extra = ({"d_loss": 1.386},) if plot == "plot_losses" else ()
    monkeypatch.setattr(plots, "KEPT", plots.KeptFigures())
    draw(records(5), tmp_path / "kept.png", *extra)
    draw(records(12), tmp_path / "kept.png", *extra)  # the same figure, given more points
    monkeypatch.setattr(plots, "KEPT", plots.KeptFigures())
    draw(records(12), tmp_path / "new.png", *extra)
    with Image.open(tmp_path / "kept.png") as kept, Image.open(tmp_path / "new.png") as new:
        assert kept.tobytes() == new.tobytes()
    draw(records(5), tmp_path / "other.png", *extra)  # fewer points than the kept figure had
    with Image.open(tmp_path / "kept.png") as kept, Image.open(tmp_path / "other.png") as other:
        assert kept.tobytes() != other.tobytes()


def test_a_picture_has_the_pixels_matplotlib_would_save_and_keeps_a_see_through_background():
    """figure_bytes encodes the canvas itself (opaque RGB at a fast zlib level): the same pixels
    as matplotlib's own PNG; a figure with a transparent background keeps its alpha channel."""
    import io

    import numpy as np

    fig = plots.new_figure((4, 3))
    ax = fig.subplots()
    ax.plot([0, 1, 2], [1, 0, 2], marker="o")
    ax.set_title("title", **plots.TITLE)
    ours = Image.open(io.BytesIO(plots.figure_bytes(fig)))
    saved = io.BytesIO()
    fig.savefig(saved, format="png", dpi=plots.DPI)
    theirs = Image.open(saved)
    assert ours.mode == "RGB" and ours.size == theirs.size == (400, 300)
    assert np.array_equal(np.asarray(ours), np.asarray(theirs.convert("RGB")))
    fig.patch.set_alpha(0.0)
    clear = Image.open(io.BytesIO(plots.figure_bytes(fig)))
    assert clear.mode == "RGBA" and np.asarray(clear)[0, 0, 3] == 0
