"""Populations and studies (issue 17): many GANs of one config, differing in seed, trained as
one program, each member ending where its solo run ends; a diverging member frozen without
touching the others; a study's folder, table, resume and errors."""

from __future__ import annotations

import json
import logging
import os
import signal

import pytest
import torch

import gankit
from gankit.config import resolve
from gankit.engine import Trainer
from gankit.population import Population, stack_states, unstack_state

from .conftest import TINY

STEPS = 30
CASES = {
    "non-saturating": ("ring", []),
    # a critic with WGAN-GP's penalty (double backward through the stacked networks) and 5 D steps
    "wgan-gp": ("ring", ["loss.objective=wasserstein", "loss.gp=10", "train.d_steps=5"]),
    # R3GAN's recipe: G's step draws real data; zero-centred R1 and R2; G's moving average
    "relativistic-r1-r2-ema": (
        "grid",
        ["loss.objective=relativistic", "loss.r1=0.05", "loss.r2=0.05", "train.ema_decay=0.99"],
    ),
}


def config(preset: str, extra: list[str], seed: int, steps: int = STEPS) -> dict:
    return resolve(preset, overrides=[*TINY, *extra, f"train.steps={steps}", "device=cpu", f"seed={seed}"])


def solo(preset: str, extra: list[str], seed: int, steps: int = STEPS) -> dict[str, torch.Tensor]:
    trainer = Trainer(config(preset, extra, seed, steps))
    try:
        while trainer.step < steps:
            trainer.iterate()  # the loop of Trainer.fit without its intervals
        return {k: v.clone() for k, v in trainer.gan.state_dict().items() if torch.is_tensor(v)}
    finally:
        trainer.close()


def trained_population(preset: str, extra: list[str], seeds: list[int], poison=None) -> list[dict]:
    members = [Trainer(config(preset, extra, seed)) for seed in seeds]
    population = Population(members)
    if poison is not None:
        poison(population)
    try:
        population.fit()
        return [{k: v.clone() for k, v in m.gan.state_dict().items() if torch.is_tensor(v)} for m in members]
    finally:
        population.close()


def assert_close(a: dict, b: dict, tol: float) -> None:
    assert a.keys() == b.keys()
    for key in a:
        if a[key].is_floating_point():
            assert torch.allclose(a[key], b[key], atol=tol, rtol=0), (key, (a[key] - b[key]).abs().max())


@pytest.mark.parametrize("case", list(CASES))
def test_each_member_ends_with_its_solo_runs_weights(case):
    preset, extra = CASES[case]
    seeds = [0, 1, 2]
    together = trained_population(preset, extra, seeds)
    for seed, member in zip(seeds, together):
        alone = solo(preset, extra, seed)
        assert_close(member, alone, tol=1e-4)  # float rounding only: measured at most 3.2e-7
    # the members really differ (their seeds drew different weights, noise and data)
    assert not torch.allclose(together[0]["nets.G.net.0.weight"], together[1]["nets.G.net.0.weight"])


def test_a_diverging_member_is_frozen_and_leaves_the_others_unchanged(caplog):
    preset, extra = CASES["non-saturating"]
    seeds = [0, 1, 2]
    clean = trained_population(preset, extra, seeds)
    seen: dict[str, object] = {}

    def poison(population: Population) -> None:
        engine, step = population.engine, population.engine._step

        def poisoned_step(*args):
            step(*args)
            if engine.step == 14:  # member 1's D weights become NaN during iteration 15 (step counts after)
                with torch.no_grad():
                    engine.gan.nets["D"].weights[0][1].fill_(float("nan"))
            seen["population"] = population

        engine._step = poisoned_step

    with caplog.at_level(logging.WARNING, logger="gankit"):
        poisoned = trained_population(preset, extra, seeds, poison)
    population = seen["population"]
    assert population.diverged == {1: 20}  # seen at the next log interval
    assert any("member ring, seed 1 diverged by iteration 20" in r.getMessage() for r in caplog.records)
    for i in (0, 2):
        assert_close(poisoned[i], clean[i], tol=0.0)  # bit for bit: nothing crossed between members
    frozen = poisoned[1]
    assert all(torch.isfinite(v).all() for v in frozen.values() if v.is_floating_point())
    assert population.members[1].step == 10  # its weights as last synchronised, before the NaN
    assert "diverged" in population.members[1].health.warnings[-1]


def test_optimiser_states_stack_and_unstack_exactly():
    shapes = [torch.Size([3, 2]), torch.Size([2])]
    states = [
        {"state": {i: {"step": torch.tensor(5.0), "exp_avg": torch.randn(s), "exp_avg_sq": torch.rand(s)}
                   for i, s in enumerate(shapes)}, "param_groups": [{"lr": 0.1, "params": [0, 1]}]}
        for _ in range(4)
    ]  # fmt: skip
    stacked = stack_states(states, shapes)
    assert stacked["state"][0]["exp_avg"].shape == (4, 3, 2) and stacked["state"][0]["step"].shape == ()
    for member, state in enumerate(states):
        back = unstack_state(stacked, member, 4, shapes)
        for i in state["state"]:
            for key, value in state["state"][i].items():
                assert torch.equal(back["state"][i][key], value)


STUDY = [*(f"--set={s}" for s in TINY), "--set=train.steps=40", "--set=device=cpu", "--set=train.checkpoint_every=20"]


def test_a_study_writes_member_runs_a_table_and_pictures(tmp_path, cli):
    status, out, err = cli("study", "ring", "--seeds", "2", "--grid", "optim.D.lr=1e-3,2e-3", *STUDY,
                           "--runs-dir", str(tmp_path), "-q")  # fmt: skip
    assert status == 0, err
    folder = tmp_path / "ring-study"
    plan = json.loads((folder / "study.json").read_text())
    assert [s["overrides"] for s in plan["settings"]] == [["optim.D.lr=1e-3"], ["optim.D.lr=2e-3"]]
    assert all(s["batched"] for s in plan["settings"])
    table = plan["result"]["settings"]
    for setting in table:
        modes = [m["measures"]["modes"] for m in setting["members"]]
        assert len(modes) == 2 and setting["measures"]["modes"]["mean"] == pytest.approx(sum(modes) / 2)
        assert setting["measures"]["modes"]["min"] == min(modes) and setting["measures"]["modes"]["max"] == max(modes)
    assert "| optim.D.lr=1e-3 | 2 |" in out and "modes" in out
    assert (folder / "study.md").read_text().count("optim.D.lr=2e-3-seed") == 2
    assert (folder / "study.png").stat().st_size > 10_000
    member = folder / "optim.D.lr=2e-3-seed1"
    config = json.loads((member / "config.json").read_text())
    assert config["seed"] == 1 and config["optim"]["D"]["lr"] == 2e-3
    loaded = gankit.load(member)  # a member is a run like any other
    assert loaded.sample(5, seed=0).shape == (5, 2)
    records = [json.loads(line) for line in (member / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "eval/modes" in r] == [20, 40]


def test_a_stopped_study_resumes_to_the_same_weights(tmp_path, cli, monkeypatch):
    status, _, err = cli("study", "ring", "--seeds", "2", *STUDY, "--runs-dir", str(tmp_path), "--name", "whole", "-q")
    assert status == 0, err
    at_intervals = Population._at_intervals

    def interrupt_at_30(self, due, bars):
        at_intervals(self, due, bars)
        if self.engine.step == 30:
            os.kill(os.getpid(), signal.SIGINT)  # as Ctrl-C: the population saves every member and stops

    monkeypatch.setattr(Population, "_at_intervals", interrupt_at_30)
    status, _, err = cli("study", "ring", "--seeds", "2", *STUDY, "--runs-dir", str(tmp_path), "--name", "cut", "-q")
    assert status == 130 and f"gankit study --resume {tmp_path / 'cut'}" in err
    monkeypatch.setattr(Population, "_at_intervals", at_intervals)
    status, _, err = cli("study", "--resume", str(tmp_path / "cut"), "-q")
    assert status == 0, err
    for seed in (0, 1):
        whole = gankit.load(tmp_path / "whole" / f"seed{seed}").generator.state_dict()
        resumed = gankit.load(tmp_path / "cut" / f"seed{seed}").generator.state_dict()
        assert_close(whole, resumed, tol=0.0)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--grid", "optim.D.nosuch=1,2"], "nosuch"),
        (["--grid", "optim.D.lr=fast,slow"], "optim.D.lr"),
        (["--grid", "seed=1,2"], "the grid cannot vary seed"),
        (["--seeds", "0"], "seeds must be an integer >= 1, got 0"),
        (["--strict", "--set", "model.spectral_norm=D"], "--strict: the members of ring cannot be trained as one"),
        (["--strict", "--set", "optim.D.name=Adafactor"], "Adafactor does not update each weight on its own"),
        (["--grid", "train.d_steps=1,1"], "the grid repeats a value"),
        (["--resume", "somewhere"], "--resume continues a study as it was planned"),
    ],
)
def test_bad_study_requests_get_one_line_and_exit_2(tmp_path, cli, args, message):
    status, out, err = cli("study", "ring", *STUDY, *args, "--runs-dir", str(tmp_path / "runs"))
    assert status == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())  # nothing written


def test_a_model_that_cannot_be_batched_runs_its_members_one_after_another_and_resumes(tmp_path, cli, monkeypatch):
    at_intervals = Trainer._at_intervals

    def interrupt_seed1_at_30(self, bar):
        at_intervals(self, bar)
        if self.config["seed"] == 1 and self.step == 30:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(Trainer, "_at_intervals", interrupt_seed1_at_30)
    args = ("study", "ring", "--seeds", "2", *STUDY, "--set", "model.spectral_norm=D", "--runs-dir", str(tmp_path))
    status, _, err = cli(*args)
    assert status == 130 and "one after another: network D is reparametrised" in err
    monkeypatch.setattr(Trainer, "_at_intervals", at_intervals)
    status, _, err = cli("study", "--resume", str(tmp_path / "ring-study"))  # seed 0 finished; seed 1 from 30
    assert status == 0, err
    plan = json.loads((tmp_path / "ring-study" / "study.json").read_text())
    assert plan["settings"][0]["batched"] is False
    for seed in (0, 1):  # each member is exactly its solo run: the same code path trained it
        alone = solo("ring", ["model.spectral_norm=D", "train.checkpoint_every=20"], seed, steps=40)
        member = gankit.load(tmp_path / "ring-study" / f"seed{seed}").generator.state_dict()
        assert_close({f"nets.G.{k}": v for k, v in member.items()}, {k: v for k, v in alone.items()
                                                                      if k.startswith("nets.G.")}, tol=0.0)  # fmt: skip


def test_the_api_names_stay_functions_after_their_modules_are_imported():
    import gankit.population
    import gankit.studies
    import gankit.study_result  # noqa: F401

    assert callable(gankit.study) and callable(gankit.resume_study) and isinstance(gankit.StudyResult, type)
