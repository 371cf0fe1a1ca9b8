"""Progressive GAN: the grown networks at fade-in 0 compute what the smaller ones did, its layers
against the paper's definitions, the growth plan, and errors for sizes it cannot grow to."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F

import gankit
from gankit.config import resolve
from gankit.diversity import MinibatchStdDev
from gankit.engine import Trainer
from gankit.models.progan import GrowthPlan
from gankit.models.progan_nets import EqualizedConv2d, EqualizedLinear, PixelNorm, ProDiscriminator, ProGenerator

from .conftest import data_dir, resumed_after_a_kill


def test_grown_generator_at_alpha_0_draws_the_smaller_ones_image_enlarged():
    torch.manual_seed(0)
    g = ProGenerator(latent_dim=16, channels=1, levels=4, width=8)
    z = torch.randn(5, 16)
    for level in range(1, 4):
        g.grow(level - 1, 1.0)
        smaller = g(z)
        g.grow(level, 0.0)
        assert g.fading and g.resolution == 4 * 2**level
        torch.testing.assert_close(g(z), F.interpolate(smaller, scale_factor=2, mode="nearest"))
        g.grow(level, 0.5)  # halfway: half of each
        torch.testing.assert_close(g(z), torch.lerp(F.interpolate(smaller, scale_factor=2), _alone(g, z, level), 0.5))


def _alone(g: ProGenerator, z: torch.Tensor, level: int) -> torch.Tensor:
    g.grow(level, 1.0)
    out = g(z)
    g.grow(level, 0.5)
    return out


def test_grown_discriminator_at_alpha_0_scores_as_the_smaller_one_did_on_the_image_shrunk():
    torch.manual_seed(0)
    d = ProDiscriminator(channels=3, levels=4, width=8)
    for level in range(1, 4):
        x = torch.randn(8, 3, 4 * 2**level, 4 * 2**level)
        d.grow(level - 1, 1.0)
        smaller = d(F.avg_pool2d(x, 2))
        d.grow(level, 0.0)
        torch.testing.assert_close(d(x), smaller)
        d.grow(level, 1.0)
        assert not torch.allclose(d(x), smaller)  # the new block alone judges otherwise


def test_pixel_norm_gives_every_pixel_unit_mean_square():
    x = torch.randn(4, 16, 5, 5) * torch.rand(4, 1, 5, 5) * 10
    y = PixelNorm()(x)
    torch.testing.assert_close(y.square().mean(dim=1), torch.ones(4, 5, 5), rtol=1e-5, atol=1e-5)


def test_minibatch_stddev_feature_is_zero_for_identical_samples():
    same = torch.randn(1, 6, 4, 4).expand(8, 6, 4, 4)
    out = MinibatchStdDev(4)(same)
    assert out.shape == (8, 7, 4, 4)
    assert out[:, -1].abs().max() < 1e-3  # √ε of its ε = 1e-8: 1e-4
    varied = MinibatchStdDev(4)(torch.randn(8, 6, 4, 4))[:, -1]
    assert varied.min() > 0.5  # N(0, 1) features: a spread near 1


def test_equalised_learning_rate_scales_by_hes_constant():
    conv, linear = EqualizedConv2d(12, 5, 3), EqualizedLinear(20, 7)
    assert math.isclose(conv.scale, math.sqrt(2 / (12 * 3 * 3))) and math.isclose(linear.scale, math.sqrt(2 / 20))
    x = torch.randn(2, 12, 6, 6)
    torch.testing.assert_close(conv(x), F.conv2d(x, conv.weight * math.sqrt(2 / 108), conv.bias, padding=1))
    assert abs(conv.weight.std().item() - 1) < 0.2  # the weights themselves are N(0, 1)


def test_growth_plan_counts_images_and_fades_alpha_in():
    plan = GrowthPlan(levels=3, fade_images=100, stable_images=200, batches=[50, 25])
    # 4 px: 200 images / 50 = 4 iterations; 8 px and 16 px (batch 25): fade 4, stable 8
    assert [(p.start, p.length, p.level, p.fading, p.batch) for p in plan.phases] == [
        (0, 4, 0, False, 50), (4, 4, 1, True, 25), (8, 8, 1, False, 25), (16, 4, 2, True, 25), (20, 8, 2, False, 25)
    ]  # fmt: skip
    assert [plan.at(s)[1] for s in range(4, 9)] == [0.25, 0.5, 0.75, 1.0, 1.0]
    assert plan.at(1000)[0].level == 2 and plan.grown == 28


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["data.target=mnist"], "model progan grows from 4×4 by doubling: the images must be 4·2^k pixels"),
        (["data.target=mnist", "data.resolution=24"], "these are 24 (set data.resolution"),
        (["model.batch_sizes=[16, 64]"], "model.batch_sizes [16, 64] must not exceed data.batch_size = 16"),
        (["data.target=ring"], "model progan builds square images"),
    ],
)
def test_sizes_progan_cannot_grow_to_are_one_line(cli, tmp_path, overrides, message):
    args = [a for kv in overrides for a in ("--set", kv)]
    status, _, err = cli("train", "progan", *args, "--runs-dir", str(tmp_path))
    assert status == 2 and message in err and "Traceback" not in err, err


def test_optimisers_start_afresh_when_a_resolution_is_added():
    config = resolve("progan", overrides=["data.target=mnist", "data.resolution=8", "data.limit=64", "model.width=4", "model.latent_dim=8",
                                          "model.fade_images=32", "model.stable_images=32", "train.threads=1"])  # fmt: skip
    trainer = Trainer(config)
    for _ in range(2):  # 4 px: 32 images / 16 = 2 iterations
        trainer.iterate()
    assert trainer.optimizers["G"].state and trainer.gan.nets["G"].level == 0
    trainer.iterate()  # the 8 px fade-in starts: fresh moments
    assert trainer.gan.nets["G"].level == 1 and trainer.gan.nets["G"].fading
    steps = {int(s["step"]) for s in trainer.optimizers["G"].state.values()}
    assert steps == {1}


def test_progan_killed_mid_fade_in_resumes_bit_identically(tmp_path):
    """Killed after the checkpoint of iteration 6, halfway through the 8 px fade-in (iterations
    4–7), resumed to 12: every tensor as in the uninterrupted run, the moving average too."""
    args = ["train", "progan", "--name", "r"] + [
        arg for item in ["data.target=mnist", "data.limit=64", "data.resolution=8", "data.batch_size=16",
                         "model.width=4", "model.latent_dim=8", "model.fade_images=64", "model.stable_images=64",
                         "train.steps=12", "train.checkpoint_every=2", "train.log_every=2", "eval.n_samples=20",
                         "train.ema_decay=0.9", "train.threads=1", "data.classifier=false"]
        for arg in ("--set", item)
    ]  # fmt: skip
    data_dir("mnist")
    a, _ = resumed_after_a_kill(tmp_path, args, "r", kill_at=6, final=12)
    assert a["gan"]["nets.G.growth"].tolist() == [1.0, 1.0] and "ema.G.growth" in a["gan"]


# MNIST at 32 px grown 4 → 8 → 16 → 32: 100 iterations of 32 images (3,200) per fade-in and 200
# (6,400) per stable phase, widths 16: 1,100 iterations, about 1.5 minutes on one thread. The test
# trains with the non-saturating loss and R1 (γ = 1): the preset's WGAN-GP at this size diverged
# at 32 px in two tries (its drift term rising past 50), which docs/progan.md records.
SMALL_PROGAN = [
    "data.target=mnist", "data.resolution=32", "data.batch_size=32", "model.width=16", "model.latent_dim=32",
    "model.fade_images=3200", "model.stable_images=6400", "loss.objective=non-saturating", "loss.gp=0",
    "loss.drift=0", "loss.r1=1", "train.ema_decay=0", "train.steps=1100", "train.eval_every=100",
    "train.log_every=50", "train.checkpoint_every=1100", "eval.n_samples=500", "train.threads=1",
    "train.tensorboard=off",
]  # fmt: skip


def test_progan_learns_digits_as_it_grows(tmp_path):
    data_dir("mnist")
    result = gankit.train("progan", overrides=SMALL_PROGAN, runs_dir=tmp_path, progress=False)
    records = [json.loads(line) for line in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    at = {r["step"]: r for r in records if "eval/confidence" in r}
    # the ends of the stable phases at 4, 8, 16 and 32 px: each resolution's digits are read more surely
    confidence = [at[step]["eval/confidence"] for step in (200, 500, 800, 1100)]
    assert confidence[0] < confidence[1] < confidence[2] < confidence[3], confidence
    assert confidence[3] > 0.6 and at[1100]["eval/classes_covered"] == 10, at[1100]


def test_a_growth_without_fade_in_still_starts_the_optimisers_afresh_and_packing_is_refused(cli, tmp_path):
    plan = GrowthPlan(levels=3, fade_images=0, stable_images=64, batches=[16])
    assert [p.fading for p in plan.phases] == [False, False, False] and plan.growths == {4, 8}
    assert GrowthPlan(levels=3, fade_images=32, stable_images=64, batches=[16]).growths == {4, 10}
    status, _, err = cli("train", "progan", "--set", "model.pack=2", "--runs-dir", str(tmp_path))
    assert status == 2 and "Progressive GAN's D grows and cannot be packed" in err
