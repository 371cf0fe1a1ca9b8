"""Each stabilised preset (WGAN, WGAN-GP, LSGAN, SN-GAN, SAGAN) learns the ring of 8 Gaussians.

Budgets are kept small for two CPU cores; each threshold sits well inside what the preset
reached in two seeds at that budget (numbers beside each case) and far from the untrained
generator (sliced W1 ≈ 1.3: every sample near the centre)."""

from __future__ import annotations

import pytest
import torch

from gankit.config import resolve
from gankit.engine import Trainer

# preset: (overrides, at least these modes, sliced W1 below)
CASES = {
    # measured (seeds 0, 1): modes 8, 8; sliced W1 0.10, 0.08
    "lsgan": (["train.steps=1500"], 7, 0.2),
    # measured: modes 6, 8; sliced W1 0.23, 0.18
    "wgan": (["train.steps=1500"], 5, 0.35),
    # measured: modes 8, 8; sliced W1 0.17, 0.14
    "wgan-gp": (["train.steps=1500"], 7, 0.3),
    # the ResNet on vectors (residual MLPs); measured: modes 7, 8; sliced W1 0.21, 0.20
    "sngan": (["data.target=ring", "train.steps=1000", "model.g_width=128", "model.d_width=64"], 6, 0.3),
    # SAGAN's slow G (lr 1e-4, one D step) needs longer; measured: modes 6, 5; sliced W1 0.37, 0.39
    "sagan": (["data.target=ring", "train.steps=2000", "model.g_width=128", "model.d_width=64"], 4, 0.5),
}


@pytest.mark.parametrize("preset", list(CASES))
def test_stabilised_preset_learns_the_ring(preset):
    overrides, modes, distance = CASES[preset]
    config = resolve(preset, overrides=[*overrides, "train.eval_every=0", "train.tensorboard=off"])
    trainer = Trainer(config)
    untrained = trainer.snapshot().measures
    trainer.fit()
    measures = trainer.snapshot().measures
    assert measures["modes"] >= modes and measures["sliced_w1"] < distance, measures
    assert measures["sliced_w1"] < 0.4 * untrained["sliced_w1"], (untrained, measures)
    if config["loss"]["objective"] in ("wasserstein", "hinge"):
        assert "wasserstein" in trainer.records[-1]  # critics log their distance estimate
    assert trainer.records[-1]["grad_norm_D"] > 0 and trainer.records[-1]["grad_norm_G"] > 0


def test_health_monitor_warns_once_when_d_wins_and_when_samples_collapse(caplog):
    from gankit.health import HealthMonitor, spread_ratio

    monitor = HealthMonitor(settle_after=100)
    for step in (10, 20, 30, 40, 50):
        monitor.check({"step": step, "d_accuracy": 0.995})
    monitor.check({"step": 50, "eval/spread_ratio": 0.1})  # too early to judge
    monitor.check({"step": 200, "eval/spread_ratio": 0.1})
    monitor.check({"step": 300, "eval/spread_ratio": 0.05})
    monitor.check({"step": 400, "eval/spread_ratio": 0.05})
    assert len(monitor.warnings) == 2
    assert monitor.warnings[0].startswith("D has told real from generated 100% of the time for 3 log intervals")
    collapse = "spread 0.05× as much as the data (iteration 300, 2 evaluations in a row): mode collapse?"
    assert collapse in monitor.warnings[1]
    assert caplog.text.count("mode collapse?") == 1
    critic = HealthMonitor(watch_accuracy=False)
    for step in (10, 20, 30):
        critic.check({"step": step, "d_accuracy": 1.0})
    assert critic.warnings == []
    # the ratio itself: a set squeezed to a tenth of its spread
    import torch

    points = torch.randn(1000, 2, generator=torch.Generator().manual_seed(0))
    assert abs(spread_ratio(points * 0.1, points) - 0.1) < 1e-6


def test_a_collapsed_generator_is_reported_in_the_summary():
    # a generator whose last layer is held at zero weight emits one point
    trainer = Trainer(resolve("ring", overrides=["train.steps=250", "train.eval_every=50", "model.g_hidden=[8]",
                                                 "model.d_hidden=[8]", "train.tensorboard=off",
                                                 "optim.G.lr=0"]))  # fmt: skip
    last = trainer.gan.nets["G"].net[-2]
    last.weight.data.zero_()
    summary = trainer.fit()
    assert summary["measures"]["spread_ratio"] < 0.25
    (warning,) = [w for w in summary["warnings"] if "mode collapse?" in w]
    assert "(iteration 250, 2 evaluations in a row)" in warning and warning.endswith("See plots/distribution.png")


def test_collapse_is_not_judged_on_an_untrained_generator_nor_on_one_low_evaluation():
    from gankit.health import SETTLE_ITERATIONS, HealthMonitor

    monitor = HealthMonitor(settle_after=2)  # a fifth of a 10-iteration run
    for step in range(10, SETTLE_ITERATIONS, 10):  # an untrained G spreads little: not yet a collapse
        monitor.check({"step": step, "eval/spread_ratio": 0.01})
    assert monitor.warnings == []
    for step, spread in [(200, 0.1), (250, 0.9), (300, 0.1), (350, 0.9)]:  # passing dips
        monitor.check({"step": step, "eval/spread_ratio": spread})
    assert monitor.warnings == []
    monitor.check({"step": 400, "eval/spread_ratio": 0.1})
    monitor.check({"step": 450, "eval/spread_ratio": 0.2})
    assert len(monitor.warnings) == 1 and "(iteration 450, 2 evaluations in a row)" in monitor.warnings[0]


def test_a_winning_d_suggests_the_non_saturating_loss_only_to_a_saturating_objective():
    from gankit.health import HealthMonitor

    def warning(objective: str) -> str:
        config = resolve("ring", overrides=[f"loss.objective={objective}"])
        monitor = HealthMonitor.for_run(config, True, "distribution")
        for step in (10, 20, 30):
            monitor.check({"step": step, "d_accuracy": 1.0})
        (message,) = monitor.warnings
        return message

    assert resolve("ring")["loss"]["objective"] == "non-saturating"  # the presets' objective
    for objective in ("non-saturating", "least-squares"):
        assert "non-saturating" not in warning(objective) and "lower D learning rate" in warning(objective)
    assert "try the non-saturating loss (loss.objective = non-saturating)" in warning("minimax")


def test_the_collapse_warning_names_the_picture_the_run_draws(tmp_path):
    toy = Trainer(resolve("ring", overrides=["train.tensorboard=off"]))
    images = Trainer(resolve("mnist-mlp", overrides=["data.limit=300", "data.classifier=false",
                                                     "train.tensorboard=off"]))  # fmt: skip
    for trainer, picture in ((toy, "plots/distribution.png"), (images, "plots/samples.png")):
        for step in (trainer.health.settle_after, trainer.health.settle_after + 100):
            trainer.health.check({"step": step, "eval/spread_ratio": 0.1})
        trainer.close()
        assert trainer.health.warnings[0].endswith(f"See {picture}")


def test_a_penalised_dcgan_critic_judges_each_sample_alone():
    """A gradient penalty treats samples one by one, so the DCGAN critic under it drops batch norm
    (layer norm instead): a sample's score must not depend on the rest of its batch."""
    x = torch.randn(8, 1, 28, 28)
    for overrides, independent in ((["loss.gp=10"], True), ([], False)):
        D = Trainer(
            resolve("dcgan", overrides=["data.limit=64", "data.batch_size=8", "model.d_width=8", *overrides])
        ).gan.nets["D"]
        together, alone = D(x)[:1], D(x[:1].repeat(8, 1, 1, 1))[:1]
        assert torch.allclose(together, alone, atol=1e-5) == independent, overrides
