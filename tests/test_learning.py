"""Each toy preset learns its target: measured distances and mode counts, not just a run."""

from __future__ import annotations

from gankit.config import resolve
from gankit.engine import Trainer


def train(preset: str, *overrides: str) -> Trainer:
    trainer = Trainer(resolve(preset, overrides=list(overrides)))
    trainer.fit()
    return trainer


def final_measures(trainer: Trainer) -> dict:
    return {k.removeprefix("eval/"): v for k, v in trainer.records[-1].items() if k.startswith("eval/")}


def test_gaussian_1d_learns_mean_and_std():
    # seed 000's setup; half its 200 rounds of 100 D + 100 G steps is enough to converge
    trainer = train("gaussian-1d", "train.steps=100", "train.eval_every=50", "eval.n_samples=500")
    m = final_measures(trainer)
    assert abs(m["mean"] - 4.0) < 0.3 and abs(m["std"] - 1.5) < 0.3, m
    first = next(r for r in trainer.records if "eval/mean" in r)
    assert first["step"] == 50 and m["w1"] < 0.5


def test_gaussian_2d_learns_mean_and_covariance():
    trainer = train("gaussian-2d")  # the seed's 10 epochs of 1000 points in batches of 4
    m = final_measures(trainer)
    assert m["mean_error"] < 0.3, m  # |mean - b|
    assert m["cov_error"] < 0.2, m  # ||cov - AᵀA|| / ||AᵀA||
    epochs = [r["epoch"] for r in trainer.records if "d_accuracy" in r]
    assert epochs == list(range(1, 11))  # one record per epoch, as the seed prints
    # D is fooled: accuracy near 50% at the end (the seed's sign of a trained G)
    assert abs(trainer.records[-1]["d_accuracy"] - 0.5) < 0.1


def test_ring_of_8_covers_every_mode_with_high_quality_samples():
    trainer = train("ring", "train.steps=2000", "train.eval_every=1000")
    m = final_measures(trainer)
    assert m["modes"] == 8, m
    assert m["high_quality"] > 0.8, m
    # the untrained generator did not: a snapshot at step 0 covers few modes
    untrained = Trainer(resolve("ring")).snapshot().measures
    assert untrained["modes"] < 8 and untrained["high_quality"] < 0.2, untrained
