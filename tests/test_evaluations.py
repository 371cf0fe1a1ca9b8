"""Evaluation beside training (gankit/evaluations.py, gankit/measuring.py): the records,
checkpoints and best checkpoint of a run whose samples are drawn on a worker thread and
measured by a child process are exactly those of a run that measures in the loop, in
iteration order."""

from __future__ import annotations

import json
import os
import threading
import time

import pytest
import torch

import gankit
from gankit import checkpoint
from gankit.data import toy
from gankit.evaluations import Evaluations
from gankit.measuring import MeasuringProcess

from .conftest import TINY, assert_same_tensors

# a slow measure (below) keeps each evaluation running while the loop goes on: later records
# wait behind it and checkpoints are written from copies of the state
RING = [*TINY, "train.steps=120", "train.log_every=10", "train.eval_every=30", "train.checkpoint_every=60",
        "train.keep_checkpoints=10", "train.tensorboard=off", "train.threads=1", "eval.best=sliced_w1"]  # fmt: skip
VOLATILE = ("time", "steps_per_s")  # wall-clock figures


@pytest.fixture
def measured_on(monkeypatch, tmp_path):
    """Where the toy measures ran (process, thread), slowed so that training overtakes them. A
    file gathers the places: the measuring process is a child, forked with this patch."""
    places, measure = tmp_path / "measured-on.txt", toy.mode_coverage

    def slow(*args, **kwargs):
        with places.open("a") as out:
            out.write(f"{os.getpid()} {threading.current_thread().name}\n")
        time.sleep(0.15)
        return measure(*args, **kwargs)

    monkeypatch.setattr(toy, "mode_coverage", slow)

    def read_and_forget() -> list[tuple[int, str]]:
        found = [(int(pid), name) for pid, name in (line.split(" ", 1) for line in places.read_text().splitlines())]
        places.unlink()
        return found

    return read_and_forget


def train(tmp_path, monkeypatch, name: str, beside: bool):
    original = Evaluations.__init__
    monkeypatch.setattr(
        Evaluations, "__init__", lambda self, background, **kw: original(self, background and beside, **kw)
    )
    return gankit.train("ring", overrides=RING, runs_dir=tmp_path, name=name).run_dir


def records(run) -> list[dict]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k not in VOLATILE} for line in lines]


def test_evaluating_beside_training_records_and_checkpoints_what_the_loop_would(tmp_path, monkeypatch, measured_on):
    beside = train(tmp_path, monkeypatch, "beside", beside=True)
    places = measured_on()
    # evaluations at 30, 60, 90 and 120 (the ring's measures build no state), all by the measuring child
    assert len(places) == 4 and len({pid for pid, _ in places}) == 1 and places[0][0] != os.getpid()
    in_loop = train(tmp_path, monkeypatch, "in-loop", beside=False)
    assert set(measured_on()) == {(os.getpid(), "MainThread")}

    got, expected = records(beside), records(in_loop)
    assert got == expected  # the same measures of the same samples, joined to the same records
    assert [r["step"] for r in got] == list(range(10, 121, 10))
    assert [r["step"] for r in got if "eval/modes" in r] == [30, 60, 90, 120]

    steps = [step for step, _ in checkpoint.list_checkpoints(beside / "checkpoints")]
    assert steps == [step for step, _ in checkpoint.list_checkpoints(in_loop / "checkpoints")] == [60, 120]
    for step in steps:
        a = checkpoint.load(checkpoint.checkpoint_path(beside / "checkpoints", step))
        b = checkpoint.load(checkpoint.checkpoint_path(in_loop / "checkpoints", step))
        a.pop("elapsed"), b.pop("elapsed")
        assert a["config"].pop("name") == "beside" and b["config"].pop("name") == "in-loop"
        assert_same_tensors(a, b)  # the state of its own iteration, though written after the evaluation
    best_a, best_b = (checkpoint.load(run / "checkpoints" / "best.safetensors") for run in (beside, in_loop))
    assert best_a["step"] == best_b["step"] and best_a["best"] == best_b["best"]
    assert_same_tensors(best_a["gan"], best_b["gan"])
    assert_same_tensors(best_a["optim"], best_b["optim"])


@pytest.mark.parametrize("first_in_loop", [True, False])
def test_the_first_evaluation_stays_in_the_loop_only_where_it_may_build_state(first_in_loop):
    """Image measures build state at first use (classifiers trained under a fork of the global
    generator): their first evaluation runs in the loop; pure measures all run beside it."""
    evaluations, ran_on = Evaluations(background=True, first_in_loop=first_in_loop), []

    def take(model):
        ran_on.append(threading.current_thread().name)
        return "measured"

    for _ in range(2):
        done = evaluations.snapshot(torch.nn.Linear(2, 1), take)
        assert (done if isinstance(done, str) else done.result()) == "measured"
    evaluations.close()
    assert [name == "MainThread" for name in ran_on] == [first_in_loop, False]


class Measured:
    """A pure target whose measure is a hand-checkable function of the samples and a reference
    drawn from the generator it is given; `bad` makes it fail."""

    pure_evaluation = True

    def __init__(self, bad: bool = False) -> None:
        self.bad = bad

    def evaluate(self, fake, rng, labels=None):
        if self.bad:
            raise ValueError("no measure of these samples")
        reference = torch.randn(len(fake), generator=rng, dtype=torch.float64)
        return {"gap": float(fake.double().sum() - reference.sum()), "labels": float(labels.sum())}


def test_the_measuring_process_measures_as_the_run_would_and_its_failures_are_the_runs(caplog):
    target = Measured()
    process = MeasuringProcess(target)
    try:
        fake, labels = torch.randn(50, 2), torch.arange(50)
        here = target.evaluate(fake, torch.Generator().manual_seed(3), labels)
        assert process.evaluate(fake, torch.Generator().manual_seed(3), labels) == here  # same reference draws
        target.bad = True  # the child holds its own copy of the target, forked before
        assert process.evaluate(fake, torch.Generator().manual_seed(3), labels) == here
        process._child[0].kill()  # a child that dies: measured here from then on, said once
        process._child[0].join()
        with pytest.raises(ValueError, match="no measure of these samples"):
            process.evaluate(fake, torch.Generator().manual_seed(3), labels)
        assert "the measuring process ended" in caplog.text
        assert process._child is None
    finally:
        process.close()
    failing = MeasuringProcess(Measured(bad=True))
    try:  # an error in the child is raised in the run as it was raised there
        with pytest.raises(ValueError, match="no measure of these samples"):
            failing.evaluate(torch.zeros(3, 2), torch.Generator(), torch.zeros(3))
    finally:
        failing.close()
