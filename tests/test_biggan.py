"""BigGAN: its orthogonal regulariser, gradient accumulation, the truncation trick, and a small
class-conditional Fashion-MNIST run whose truncation sweep trades diversity for confidence."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr
from torch import nn

import gankit
from gankit.config import resolve
from gankit.engine import Trainer
from gankit.models.biggan import BigGANGenerator, OrthogonalRegulariser
from gankit.recipe import Latent

from .conftest import data_dir


def test_orthogonal_regulariser_adds_the_gradient_of_its_formula():
    torch.manual_seed(0)
    conv, linear = nn.Conv2d(3, 5, 3), nn.Linear(7, 4)
    weights = [conv.weight, linear.weight]
    regulariser = OrthogonalRegulariser([*weights, conv.bias], beta=0.3)  # biases (1-D) are left alone
    assert regulariser.weights == weights
    expected = torch.autograd.grad(regulariser.value(), weights)  # autograd of β/2·‖W Wᵀ ⊙ (1 − I)‖²
    by_hand = 0.5 * 0.3 * sum(((w.flatten(1) @ w.flatten(1).T) * (1 - torch.eye(len(w)))).pow(2).sum() for w in weights)
    assert torch.allclose(regulariser.value(), by_hand)
    for w in weights:
        w.grad = torch.ones_like(w)  # the loss's gradient, to which the regulariser's is added
    regulariser()
    for w, g in zip(weights, expected):
        torch.testing.assert_close(w.grad, 1 + g, rtol=1e-5, atol=1e-6)
    q = torch.linalg.qr(torch.randn(6, 6))[0]  # orthogonal rows: nothing to push
    assert OrthogonalRegulariser([nn.Parameter(q)], 1.0).value() < 1e-10


def test_accumulated_micro_batches_make_the_update_of_one_large_batch():
    """Four micro-batches of 64 give the same update as one batch of 256 built from the same rows
    and noise (a network without batch statistics; SGD, whose step is the gradient itself)."""
    torch.manual_seed(0)
    real, noise = torch.randn(256, 2), torch.randn(512, 2)  # noise: D's update, then G's

    def trained(batch: int, accumulate: int) -> dict[str, torch.Tensor]:
        sgd = {"name": "SGD", "lr": 0.1}
        config = resolve("ring", overrides={"data.batch_size": batch, "train.accumulate": accumulate,
                                            "optim.D": sgd, "optim.G": sgd})  # fmt: skip
        trainer = Trainer(config)
        rows = {"real": 0, "noise": 0}

        def take(name: str, source: torch.Tensor, n: int) -> torch.Tensor:
            rows[name] += n
            return source[rows[name] - n : rows[name]]

        trainer.gan.noise = lambda n, rng: take("noise", noise, n)
        trainer.updates(lambda: {"x": take("real", real, batch)})
        assert rows == {"real": 256, "noise": 512}
        return {k: v.clone() for k, v in trainer.gan.nets.state_dict().items()}

    one, four = trained(256, 1), trained(64, 4)
    start = Trainer(resolve("ring")).gan.nets.state_dict()
    for key in one:
        assert not torch.equal(one[key], start[key]), key  # every weight moved
        torch.testing.assert_close(four[key], one[key], rtol=1e-5, atol=1e-6)


def test_accumulation_refuses_a_player_that_shares_another_ones_batch(cli):
    status, _, err = cli("train", "pix2pix", "--set", "train.accumulate=2", "--set", "data.target=facades")
    assert status == 2
    assert "train.accumulate = 2 splits every update into micro-batches; player" in err


@pytest.mark.parametrize("t", [0.25, 1.0, 2.5])
def test_truncated_noise_is_the_normal_distribution_conditioned_on_the_interval(t):
    rng = torch.Generator().manual_seed(0)
    z = Latent(8).sample(50_000, rng, truncation=t)
    assert z.abs().max() <= t
    phi = math.exp(-t * t / 2) / math.sqrt(2 * math.pi)
    variance = 1 - 2 * t * phi / math.erf(t / math.sqrt(2))  # of N(0, 1) given |z| ≤ t
    assert abs(z.var().item() - variance) < 0.01 * variance
    assert abs(z.mean().item()) < 0.01
    with pytest.raises(ValueError, match="truncation needs normal noise"):
        Latent(8, "uniform").sample(4, rng, truncation=t)


def test_bad_truncation_augmentation_and_biggan_settings_are_one_line(cli, tmp_path):
    cases = {
        ("train", "biggan", "--set", "eval.truncation=-1"): "eval.truncation must be >= 0.0, got -1.0",
        ("train", "biggan", "--set", "eval.truncation=inf"): "eval.truncation must be a finite number",
        ("train", "biggan", "--set", "data.target=facades"): "model.conditional needs labelled data",
        ("train", "biggan", "--set", "data.target=ring"): "model biggan builds square images (C×R×R)",
        ("train", "ring", "--set", "model.latent=uniform", "--set", "eval.truncation=0.5"): "truncation needs a "
        "generator fed normal noise",
        ("train", "biggan", "--set", "model.latent_dim=2"): "model.latent_dim = 2 cannot be split over BigGAN's 4",
        ("train", "biggan", "--set", "train.augment=color,flip"): "train.augment[1] must be one of color, "
        "translation, cutout; got 'flip'",
        ("train", "ring", "--set", "train.augment=color"): "train.augment transforms images",
    }  # fmt: skip
    for args, message in cases.items():
        status, out, err = cli(*args, "--runs-dir", str(tmp_path))
        assert status == 2 and message in err and "Traceback" not in err, (args, err)
    assert not any(tmp_path.iterdir())  # nothing written


def test_generator_feeds_each_chunk_of_noise_to_its_own_block():
    torch.manual_seed(0)
    g = BigGANGenerator(latent_dim=12, channels=1, resolution=16, width=8, num_classes=3, shared_dim=4).eval()
    assert g.chunks == 3 and g.linear.in_features == 4  # 16 px = 4·2²: the first layer and two blocks
    assert [b.norm1.gain.in_features for b in g.blocks] == [4 + 4, 4 + 4]  # shared embedding + its chunk
    z, labels = torch.randn(2, 12), torch.tensor([0, 2])
    base = g(z, labels)
    for chunk in range(3):  # every chunk reaches the image
        moved = z.clone()
        moved[:, 4 * chunk : 4 * chunk + 4] += 1
        assert not torch.allclose(g(moved, labels), base)
    assert not torch.allclose(g(z, torch.tensor([1, 1])), base)  # and so does the class


# A small class-conditional BigGAN on Fashion-MNIST at 16 px: 600 iterations, 3 minutes on one thread
# (bench/truncation_sweep.py trains it too, for the plot in docs/biggan.md)
SMALL_BIGGAN = [
    "data.target=fashion-mnist", "data.resolution=16", "data.batch_size=64", "model.g_width=32",
    "model.d_width=32", "model.attention=0", "model.latent_dim=30", "model.shared_dim=16",
    "optim.D.lr=5e-4", "optim.G.lr=5e-4", "train.d_steps=1", "train.steps=600", "train.ema_start=200",
    "train.ema_decay=0.99", "train.eval_every=600", "train.grid_every=600", "train.checkpoint_every=600",
    "eval.n_samples=1000", "train.tensorboard=off", "train.threads=1",
]  # fmt: skip


@pytest.fixture(scope="module")
def fashion_biggan(tmp_path_factory):
    data_dir("fashion-mnist")
    return gankit.train("biggan", overrides=SMALL_BIGGAN, runs_dir=tmp_path_factory.mktemp("biggan"), progress=False)


def test_biggan_draws_the_class_it_is_asked_for(fashion_biggan):
    assert fashion_biggan.measures["label_agreement"] > 0.4, fashion_biggan.measures  # chance: 0.1


def test_truncation_trades_diversity_for_class_fidelity_steadily(fashion_biggan):
    """Lower t: less varied within a class, and more samples read as the class asked for. (The
    classifier's mean confidence moves too little on this short-trained model to say which way:
    up 0.013 on a Xeon, down 0.016 on an AMD EPYC; docs/biggan.md.)"""
    loaded = gankit.load(fashion_biggan.run_dir)
    values = [1.0, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25]
    rows = loaded.truncation_sweep(values, n=1000, seed=0)
    agreement, spread = [r["label_agreement"] for r in rows], [r["class_spread"] for r in rows]
    assert spearmanr(values, agreement).statistic < -0.8, agreement  # −0.90 on a Xeon, −0.96 on an EPYC
    assert agreement[-1] > agreement[0], agreement
    assert spearmanr(values, spread).statistic > 0.9, spread  # lower t, less varied within a class
    assert spread[-1] < 0.6 * spread[0]
    assert loaded.evaluate(n=200, seed=0, truncation=0.5)["protocol"]["truncation"] == 0.5
    same = loaded.sample(8, seed=3, label=2, truncation=0.5)
    assert torch.equal(same, loaded.sample(8, seed=3, label=2, truncation=0.5))


def test_truncation_from_the_command_line(fashion_biggan, cli, tmp_path):
    run = str(fashion_biggan.run_dir)
    status, out, _ = cli("eval", run, "--truncation-sweep", "1,0.5", "--n", "200", "--seed", "0")
    assert status == 0 and "confidence" in out.splitlines()[1], out
    rows = json.loads((fashion_biggan.run_dir / "truncation-sweep.json").read_text())["rows"]
    assert [r["truncation"] for r in rows] == [1.0, 0.5] and rows[1]["class_spread"] < rows[0]["class_spread"]
    status, _, err = cli("sample", run, "--n", "4", "--grid", str(tmp_path / "g.png"), "--truncation", "0")
    assert status == 2 and "truncation must be a number in (0, ∞)" in err
    status, _, err = cli("eval", run, "--truncation-sweep", "1,x")
    assert status == 2 and "--truncation-sweep takes numbers in (0, ∞)" in err
    npy = str(tmp_path / "s.npy")
    status, _, _ = cli("sample", run, "--n", "4", "--out", npy, "--truncation", "0.5", "--seed", "1")
    expected = gankit.load(run).sample(4, seed=1, truncation=0.5)
    assert status == 0 and np.array_equal(np.load(npy), expected.numpy())
