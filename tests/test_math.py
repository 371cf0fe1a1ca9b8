"""Objectives and toy measures against hand formulas, float64 references and SciPy."""

from __future__ import annotations

import math

import numpy as np
import scipy.stats
import torch
import torch.nn.functional as F

from gankit.losses import get_objective
from gankit.metrics.toy import energy_distance, mode_coverage, sliced_wasserstein, wasserstein_1d
from gankit.models.mlp import MeanStd, TwoClassHead

REAL = torch.tensor([2.0, -1.0, 0.5, 4.0], dtype=torch.float64)
FAKE = torch.tensor([-3.0, 0.2, 1.5], dtype=torch.float64)


def sigmoid(x):
    return 1 / (1 + math.exp(-x))


def hand_d_loss():
    real = -sum(math.log(sigmoid(x)) for x in REAL.tolist()) / len(REAL)
    fake = -sum(math.log(1 - sigmoid(x)) for x in FAKE.tolist()) / len(FAKE)
    return real + fake


def test_minimax_value_and_gradient_match_the_paper():
    objective = get_objective("minimax")
    assert math.isclose(float(objective.d_loss(REAL, FAKE)), hand_d_loss(), rel_tol=1e-12)
    fake = FAKE.clone().requires_grad_()
    loss = objective.g_loss(fake)
    assert math.isclose(float(loss.detach()), sum(math.log(1 - sigmoid(x)) for x in FAKE.tolist()) / 3, rel_tol=1e-12)
    loss.backward()
    # d/dl log(1 - sigmoid(l)) = -sigmoid(l): the gradient vanishes as D grows confident (l → -inf)
    expected = torch.tensor([-sigmoid(x) / 3 for x in FAKE.tolist()], dtype=torch.float64)
    assert torch.allclose(fake.grad, expected, rtol=1e-12)
    assert objective.d_equilibrium == 2 * math.log(2) and objective.g_equilibrium == -math.log(2)


def test_non_saturating_value_and_gradient():
    objective = get_objective("non-saturating")
    assert math.isclose(float(objective.d_loss(REAL, FAKE)), hand_d_loss(), rel_tol=1e-12)
    fake = FAKE.clone().requires_grad_()
    loss = objective.g_loss(fake)
    assert math.isclose(float(loss.detach()), -sum(math.log(sigmoid(x)) for x in FAKE.tolist()) / 3, rel_tol=1e-12)
    loss.backward()
    # d/dl -log sigmoid(l) = sigmoid(l) - 1: strong where D rejects the sample
    expected = torch.tensor([(sigmoid(x) - 1) / 3 for x in FAKE.tolist()], dtype=torch.float64)
    assert torch.allclose(fake.grad, expected, rtol=1e-12)


def test_losses_are_finite_for_extreme_logits():
    big = torch.tensor([1e4, -1e4])
    for name in ("minimax", "non-saturating"):
        objective = get_objective(name)
        assert torch.isfinite(objective.d_loss(big, -big)) and torch.isfinite(objective.g_loss(big))


def test_two_class_head_equals_softmax_cross_entropy():
    two = torch.randn(6, 2, dtype=torch.float64)
    labels = torch.tensor([1, 0, 1, 1, 0, 0])
    logit = TwoClassHead()(two)
    bce = F.binary_cross_entropy_with_logits(logit, labels.double(), reduction="none")
    assert torch.allclose(bce, F.cross_entropy(two, labels, reduction="none"), rtol=1e-12)


def test_mean_std_features():
    x = torch.randn(5, 100, dtype=torch.float64)
    features = MeanStd()(x)
    assert torch.allclose(features[:, 0], x.mean(1)) and torch.allclose(features[:, 1], x.std(1, unbiased=False))


def test_wasserstein_1d_of_a_shift_is_the_shift():
    values = np.random.default_rng(0).normal(size=1000)
    assert math.isclose(wasserstein_1d(values + 0.7, values), 0.7, rel_tol=1e-12)


def test_sliced_wasserstein_of_a_shift():
    # every projection of a shift d moves all points by d·θ, so SW1 = |d| E|cos φ| = |d| 2/π
    points = torch.randn(500, 2, dtype=torch.float64)
    shift = torch.tensor([3.0, 4.0], dtype=torch.float64)
    assert sliced_wasserstein(points, points) == 0
    assert math.isclose(sliced_wasserstein(points + shift, points, projections=20000), 5 * 2 / math.pi, rel_tol=0.01)


def test_energy_distance_matches_scipy_in_one_dimension():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=300), rng.normal(0.5, 2.0, size=200)
    ours = energy_distance(torch.from_numpy(a)[:, None], torch.from_numpy(b)[:, None])
    assert math.isclose(ours, scipy.stats.energy_distance(a, b), rel_tol=1e-9)


def test_mode_coverage_protocol_on_constructed_points():
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    std = 1.0
    points = torch.tensor(
        [
            [0.5, 0.5],  # mode 0, high quality
            [1.0, -2.0],  # mode 0, within 3 std (distance 2.24)
            [10.0, 2.9],  # mode 1, high quality
            [4.0, 4.0],  # nearest mode 0 at distance 5.7: low quality
            [0.0, 13.5],  # nearest mode 2 at distance 3.5: low quality
        ]
    )
    result = mode_coverage(points, centres, std)
    assert result["modes"] == 2  # mode 2 got no high-quality point
    assert result["high_quality"] == 3 / 5
    # high-quality histogram (2/3, 1/3, 0) against uniform over 3 modes
    assert math.isclose(result["mode_kl"], 2 / 3 * math.log(2) + 1 / 3 * math.log(1), rel_tol=1e-12)
