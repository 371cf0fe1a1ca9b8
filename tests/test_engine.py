"""The engine: generic over players and networks, freezes the others, never syncs per step."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import gankit
from gankit.config import resolve
from gankit.data import FixedSource, StreamSource, build_target
from gankit.divergence import FiniteWatch, TrainingDiverged
from gankit.engine import RunningMeans, Trainer
from gankit.games import GenerativeGAN
from gankit.losses import get_objective
from gankit.recipe import Latent, Player

from .conftest import TINY

PACKAGE = str(Path(gankit.__file__).parent)


def tiny_config(*overrides: str) -> dict:
    return resolve("ring", overrides=[*TINY, *overrides])


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_no_host_sync_inside_training_steps(monkeypatch, precision):
    """gankit's code never reads a tensor's value during an iteration, only at log time."""
    trainer = Trainer(tiny_config(f"train.precision={precision}"))
    reads = []

    def guard(name):
        original = getattr(torch.Tensor, name)

        def guarded(self, *args, **kwargs):
            caller = sys._getframe(1).f_code.co_filename
            if caller.startswith(PACKAGE):
                reads.append(f"{name} from {caller}:{sys._getframe(1).f_lineno}")
            return original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, guarded)

    for name in ("item", "tolist", "cpu", "numpy", "__bool__", "__float__", "__int__", "__index__"):
        guard(name)
    for _ in range(5):
        trainer.train_step()
    assert reads == []
    trainer.means.pop()  # the guard does catch a read when one happens
    assert reads and "tolist" in reads[0]


def test_the_other_players_networks_are_frozen_during_an_update():
    trainer = Trainer(tiny_config())
    gan = trainer.gan
    seen = {}
    d_loss, g_loss = gan.d_loss, gan.g_loss

    def spy(name, loss):
        def wrapped(batch, rng):
            seen[name] = {net: all(p.requires_grad for p in gan.nets[net].parameters()) for net in ("G", "D")}
            return loss(batch, rng)

        return wrapped

    trainer.players = [
        Player("D", ("D",), spy("D", d_loss), 1, True),
        Player("G", ("G",), spy("G", g_loss), 1, False),
    ]
    d_before = [p.detach().clone() for p in gan.nets["D"].parameters()]
    trainer.train_step()
    assert seen == {"D": {"G": False, "D": True}, "G": {"G": True, "D": False}}
    assert all(p.requires_grad for p in gan.parameters())  # unfrozen again afterwards
    # D moved in its own update only: re-running G's update alone leaves D untouched
    d_after = [p.detach().clone() for p in gan.nets["D"].parameters()]
    assert any(not torch.equal(a, b) for a, b in zip(d_before, d_after))
    trainer.players = trainer.players[1:]
    trainer.train_step()
    assert all(torch.equal(a, b.detach()) for a, b in zip(d_after, gan.nets["D"].parameters()))


class TwinGAN(GenerativeGAN):
    """Two generators against one D, one player updating both, with an extra L1 term: the shape
    of CycleGAN (several networks per player) and Pix2Pix (an extra loss) on the same engine."""

    def __init__(self, objective, batch_size: int) -> None:
        def net():
            return nn.Sequential(nn.Linear(2, 32), nn.Tanh(), nn.Linear(32, 2))

        super().__init__(
            {"G": net(), "G2": net(), "D": nn.Sequential(net(), nn.Linear(2, 1), nn.Flatten(0))}, Latent(2)
        )
        self.objective, self.batch_size = objective, batch_size

    def players(self) -> list[Player]:
        return [Player("D", ("D",), self.d_loss), Player("G", ("G", "G2"), self.g_loss, uses_data=False)]

    def d_loss(self, batch, rng):
        z = self.latent.sample(len(batch["x"]), rng)
        with torch.no_grad():
            fake = torch.cat([self.nets["G"](z), self.nets["G2"](z)])
        loss = self.objective.d_loss(self.nets["D"](batch["x"]), self.nets["D"](fake))
        return loss, {"d_loss": loss.detach()}

    def g_loss(self, batch, rng):
        z = self.latent.sample(self.batch_size, rng)
        a, b = self.nets["G"](z), self.nets["G2"](z)
        adversarial = self.objective.g_loss(self.nets["D"](torch.cat([a, b])))
        l1 = (a - b).abs().mean()  # extra term: the twins should agree on the same noise
        return adversarial + 10 * l1, {"g_loss": adversarial.detach(), "l1": l1.detach()}


def test_engine_trains_several_networks_with_extra_loss_terms():
    config = tiny_config("train.steps=300", "train.log_every=50", "train.eval_every=300")
    twin = TwinGAN(get_objective("non-saturating"), config["data"]["batch_size"])
    before = {k: v.clone() for k, v in twin.state_dict().items()}
    trainer = Trainer(config, gan=twin)
    trainer.fit()
    for name in ("G", "G2", "D"):
        changed = [not torch.equal(before[k], v) for k, v in twin.state_dict().items() if k.startswith(f"nets.{name}.")]
        assert all(changed), f"{name} was not trained"
    l1 = [r["l1"] for r in trainer.records if "l1" in r]
    assert l1[-1] < 0.1 * l1[0]  # the extra term did its job
    assert "eval/modes" in trainer.records[-1]


def test_batches_keep_inputs_and_labels_aligned_for_conditional_models():
    x = torch.arange(10.0)[:, None]
    source = FixedSource({"x": x, "y": torch.arange(10) * 2}, batch_size=3, seed=0)
    seen = []
    for _ in range(6):
        batch = source.next()
        assert torch.equal(batch["y"], batch["x"][:, 0].long() * 2)
        seen.append(batch["x"][:, 0])
    first, second = torch.cat(seen[:3]), torch.cat(seen[3:])
    assert len(set(first.tolist())) == 9 and len(set(second.tolist())) == 9  # each epoch without repeats
    assert not torch.equal(first, second)  # reshuffled
    assert source.epochs == 2.0


def test_sources_restore_their_position_exactly():
    fixed = FixedSource({"x": torch.randn(50, 2)}, batch_size=8, seed=1)
    for _ in range(9):
        fixed.next()
    state = fixed.state_dict()
    expected = [fixed.next()["x"] for _ in range(10)]
    again = FixedSource({"x": fixed.tensors["x"]}, batch_size=8, seed=1)
    again.load_state_dict(state)
    assert all(torch.equal(a, again.next()["x"]) for a in expected)

    stream = StreamSource(build_target(tiny_config()["data"]), 16, seed=0, device=torch.device("cpu"))
    stream.next()
    state = stream.state_dict()
    expected = stream.next()["x"]
    fresh = StreamSource(build_target(tiny_config()["data"]), 16, seed=0, device=torch.device("cpu"))
    fresh.load_state_dict(state)
    assert torch.equal(fresh.next()["x"], expected)


def test_running_means():
    means = RunningMeans()
    for value in (1.0, 2.0, 6.0):
        means.add({"a": torch.tensor(value)})
    means.add({"b": torch.tensor(5.0)})
    assert means.pop() == {"a": 3.0, "b": 5.0}
    assert means.pop() == {}


def test_generate_is_deterministic_and_restores_training_mode():
    gan = Trainer(tiny_config()).gan
    gan.train()
    a, noise = gan.generate(10, torch.Generator().manual_seed(0))
    assert gan.generator.training
    b, _ = gan.generate(10, torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and noise.shape == (10, 2)


def test_an_unavailable_device_is_a_config_error():
    device = f"cuda:{torch.cuda.device_count()}"  # one past the last device, on any machine
    with pytest.raises(gankit.ConfigError, match="not available here"):
        Trainer(tiny_config(f"device={device}"))


def test_unaligned_groups_are_walked_with_their_own_sizes_and_shuffles():
    """Two domains of 10 and 7 samples (unpaired translation): each batch holds one batch of
    each, every domain goes through its own epochs without repeats, and a restored source
    continues exactly."""
    from gankit.data import GroupedSource
    from gankit.data.base import batch_keys, build_source

    class TwoDomains:
        groups = {"A": {"a": torch.arange(10.0)[:, None]}, "B": {"b": 100 + torch.arange(7.0)[:, None]}}
        dataset = None

        def decode(self, stored):
            return stored

    target = TwoDomains()
    assert batch_keys(target) == ("a", "b")
    source = build_source(target, {"batch_size": 3}, seed=0, device=torch.device("cpu"))
    assert isinstance(source, GroupedSource)
    batches = [source.next() for _ in range(6)]
    a_epoch = torch.cat([b["a"] for b in batches[:3]]).flatten().tolist()
    b_epoch = torch.cat([b["b"] for b in batches[:2]]).flatten().tolist()
    assert len(set(a_epoch)) == 9 and len(set(b_epoch)) == 6  # no repeats within an epoch of either domain
    assert source.sources["B"].epoch == 2 and source.sources["A"].epoch == 1  # each at its own pace
    assert source.epochs == source.sources["A"].epochs
    state = source.state_dict()
    expected = [source.next() for _ in range(4)]
    again = build_source(target, {"batch_size": 3}, seed=0, device=torch.device("cpu"))
    again.load_state_dict(state)
    for batch in expected:
        resumed = again.next()
        assert all(torch.equal(batch[k], resumed[k]) for k in ("a", "b"))


def test_losses_are_kept_at_every_update_and_gradient_norms_on_ten_iterations_of_a_log_interval():
    """Gradient norms cost a small network a few percent of its step: they are measured on
    every log_every/10-th iteration and on the run's last, the losses on every one."""
    trainer = Trainer(tiny_config("train.log_every=50", "train.steps=53"))
    for _ in range(53):
        trainer.train_step()
        trainer.step += 1
    counts = trainer.means.counts
    assert counts["d_loss"] == counts["g_loss"] == 53
    assert counts["grad_norm_D"] == counts["grad_norm_G"] == 10 + 1  # iterations 5, 10, …, 50 and 53
    means = trainer.means.pop()
    assert means["grad_norm_D"] > 0 and means["grad_norm_G"] > 0


@pytest.mark.parametrize("loss, grad_norm", [(float("nan"), 1.0), (float("inf"), None), (0.5, float("inf"))])
def test_the_divergence_watch_catches_any_non_finite_loss_or_measured_gradient_norm(loss, grad_norm):
    """Without skipping, each update adds its loss (and gradient norm) into its player's total:
    one bad value among finite ones makes the total, and so the check, fail."""
    watch = FiniteWatch(["D", "G"], torch.device("cpu"))
    for value in (1.0, -3.0, 2.0):
        watch.observe("D", torch.tensor(value), torch.tensor(0.1))
        watch.observe("G", torch.tensor(value), None)
    watch.check(step=3, since=0)  # finite so far: no error, and the totals start again
    watch.observe("G", torch.tensor(loss), None if grad_norm is None else torch.tensor(grad_norm))
    watch.observe("G", torch.tensor(1.0), None)
    with pytest.raises(TrainingDiverged, match="between iterations 4 and 5: player G"):
        watch.check(step=5, since=3)
