"""Image GANs learn: a domain classifier recognises what DCGAN draws and cgan draws the digit
it is asked for; grids, animations, sampling, latent walks, EMA and TensorBoard work."""

from __future__ import annotations

import json
import math
import sys

import numpy as np
import pytest
import safetensors.torch
import torch
from PIL import Image

import gankit
from gankit.config import resolve
from gankit.data import build_target
from gankit.engine import Trainer
from gankit.errors import ConfigError
from gankit.grid_labels import TITLE_HEIGHT
from gankit.interpolate import lerp, slerp
from gankit.metrics.classifier import class_measures

from .conftest import data_dir
from .conftest import gankit as run_gankit

# A DCGAN small and fast enough for two CPU cores (widths 32, batch 64, a higher learning rate).
SMALL_DCGAN = [
    "model.g_width=32",
    "model.d_width=32",
    "data.batch_size=64",
    "optim.D.lr=5e-4",
    "optim.G.lr=5e-4",
    "eval.n_samples=1000",
    "train.tensorboard=off",
]


@pytest.fixture(scope="module")
def mnist() -> object:
    data_dir("mnist")
    return build_target(resolve("dcgan")["data"])


def test_domain_classifier_recognises_real_digits(mnist):
    real = mnist.sample(2000, torch.Generator().manual_seed(0))
    measures = mnist.evaluate(real, torch.Generator())
    assert measures["classifier_test_accuracy"] >= 0.98
    assert measures["confidence"] > 0.95 and measures["classes_covered"] == 10 and measures["class_kl"] < 0.01
    noise = torch.rand(2000, 1, 28, 28) * 2 - 1
    assert mnist.evaluate(noise, torch.Generator())["confidence"] < 0.7


def test_class_measures_on_constructed_probabilities():
    probabilities = torch.tensor([[0.9, 0.1, 0.0], [0.8, 0.2, 0.0], [0.1, 0.2, 0.7], [0.6, 0.4, 0.0]])
    data = torch.tensor([0.5, 0.25, 0.25])
    m = class_measures(probabilities, data, requested=torch.tensor([0, 1, 2, 0]))
    assert math.isclose(m["confidence"], (0.9 + 0.8 + 0.7 + 0.6) / 4)
    assert m["classes_covered"] == 2  # class 1 is never predicted
    assert math.isclose(m["class_kl"], 0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.25))
    assert m["label_agreement"] == 0.75


def test_dcgan_draws_digits_the_classifier_recognises(mnist):
    trainer = Trainer(resolve("dcgan", overrides=[*SMALL_DCGAN, "train.steps=600", "train.eval_every=600"]))
    untrained = trainer.snapshot().measures
    trainer.fit()
    trained = trainer.snapshot().measures
    assert trained["confidence"] > 0.65 and trained["confidence"] > untrained["confidence"] + 0.2, (untrained, trained)
    assert trained["classes_covered"] >= 8, trained


def test_cgan_draws_the_digit_it_is_asked_for(tmp_path, mnist):
    overrides = [*SMALL_DCGAN, "train.steps=600", "train.eval_every=600", "train.grid_every=300"]
    result = gankit.train("cgan", overrides=overrides, runs_dir=tmp_path)
    assert result.measures["label_agreement"] > 0.5, result.measures  # chance: 0.1
    loaded = gankit.load(result.run_dir)
    classifier = mnist.classifier()
    for digit in (1, 7):
        images = loaded.sample(200, seed=digit, label=digit)
        predicted = classifier.probabilities(images).argmax(1)
        assert float((predicted == digit).float().mean()) > 0.5, digit
    # the grid has one row per digit (enlarged 3 times, titled, the digits named at the left)
    with Image.open(result.run_dir / "plots" / "samples-grid.png") as grid:
        assert grid.size[1] == TITLE_HEIGHT + 3 * (10 * 30 + 2) and grid.size[0] > 3 * (10 * 30 + 2)


@pytest.fixture(scope="module")
def mlp_run(tmp_path_factory):
    """A short seed-003 MNIST GAN through the CLI, leaving grids, an animation and TensorBoard files."""
    cwd = tmp_path_factory.mktemp("images")
    done = run_gankit(
        "train", "mnist-mlp", "--set", "data.limit=2000", "--set", "train.steps=60", "--set", "train.grid_every=20",
        "--set", "train.log_every=10", "--set", "train.eval_every=30", "--set", "data.classifier=false",
        "--set", "train.tensorboard=on", cwd=cwd,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return cwd / "runs" / "mnist-mlp"


def test_run_folder_has_grids_animation_and_tensorboard(mlp_run):
    grids = sorted((mlp_run / "grids").glob("grid-*.png"))
    assert [g.name for g in grids] == [f"grid-{s:08d}.png" for s in (20, 40, 60)]
    with Image.open(grids[0]) as first:
        assert first.size == (3 * (4 * 30 + 2), TITLE_HEIGHT + 3 * (4 * 30 + 2))  # seed 003's 4×4 grid, enlarged
    with Image.open(mlp_run / "plots" / "progress.gif") as gif:
        assert gif.is_animated and gif.n_frames == 3
    for picture in ("samples", "samples-grid", "losses", "accuracy"):
        assert (mlp_run / "plots" / f"{picture}.png").stat().st_size > 1000

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(mlp_run / "tensorboard"))
    events.Reload()
    assert [e.step for e in events.Scalars("d_loss")] == [10, 20, 30, 40, 50, 60]
    assert len(events.Images("samples")) == 3


def test_sample_grid_folder_and_walks_from_the_cli(mlp_run, tmp_path):
    done = run_gankit("sample", str(mlp_run), "--n", "12", "--grid", str(tmp_path / "g.png"), "--cols", "6",
                      "--seed", "1", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    with Image.open(tmp_path / "g.png") as grid:
        assert grid.size == (6 * 30 + 2, 2 * 30 + 2)
    done = run_gankit("sample", str(mlp_run), "--n", "5", "--out", str(tmp_path / "imgs"), "--seed", "1", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    files = sorted((tmp_path / "imgs").iterdir())
    assert [f.name for f in files] == [f"{i:06d}.png" for i in range(5)]
    # the files are the images the API generates from the same seed
    api = gankit.load(mlp_run).images(5, seed=1)
    assert np.array_equal(np.array(Image.open(files[3])), api[3, 0].numpy())

    for out, frames in (("walk.png", None), ("walk.gif", 2 * 6 - 2)):
        done = run_gankit("interpolate", str(mlp_run), "--out", str(tmp_path / out), "--steps", "6", "--paths", "3",
                          "--seed", "0", cwd=tmp_path)  # fmt: skip
        assert done.returncode == 0, done.stderr
        with Image.open(tmp_path / out) as picture:
            if frames is None:
                assert picture.size == (6 * 30 + 2, 3 * 30 + 2)
            else:
                assert picture.n_frames == frames and picture.size == (3 * (3 * 30 + 2), 3 * (30 + 2))  # enlarged


def test_walks_start_and_end_at_their_end_points(mlp_run):
    loaded = gankit.load(mlp_run)
    walks = loaded.interpolate(steps=5, paths=2, mode="linear", seed=3)
    rng = torch.Generator().manual_seed(3)
    ends = loaded.gan.latent.sample(4, rng)
    start, _ = loaded.gan.generate(2, rng, noise=ends[:2])
    end, _ = loaded.gan.generate(2, rng, noise=ends[2:])
    assert torch.allclose(walks[:, 0], start, atol=1e-6) and torch.allclose(walks[:, -1], end, atol=1e-6)


def test_slerp_and_lerp():
    z0, z1 = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 2.0]])
    t = torch.tensor([0.0, 0.5, 1.0])
    assert torch.allclose(lerp(z0, z1, t)[1], torch.tensor([[0.5, 1.0]]))
    arc = slerp(z0, z1, t)
    assert torch.allclose(arc[0], z0) and torch.allclose(arc[2], z1)
    # half way along a quarter circle: at 45°, with the norm interpolated between 1 and 2
    assert torch.allclose(arc[1], torch.tensor([[math.sqrt(0.5) * 1, math.sqrt(0.5) * 2]]), atol=1e-6)
    parallel = slerp(z0, 3 * z0, t)
    assert torch.allclose(parallel, lerp(z0, 3 * z0, t))


def test_ema_follows_the_moving_average_and_is_used_for_sampling():
    config = resolve("ring", overrides=["train.ema_decay=0.9", "train.ema_start=3", "model.g_hidden=[8]"])
    gan = Trainer(config).gan
    params = list(gan.generator.parameters())
    expected = [p.detach().clone() for p in params]
    for step in range(1, 7):
        with torch.no_grad():
            for p in params:
                p.add_(1.0)
        gan.update_ema(step)
        expected = [p.detach().clone() if step < 3 else 0.9 * e + 0.1 * p.detach() for e, p in zip(expected, params)]
    assert all(torch.allclose(e, q) for e, q in zip(expected, gan.ema["G"].parameters()))
    assert gan.sampling_generator is gan.ema["G"]
    assert any(k.startswith("ema.G.") for k in gan.state_dict())  # saved with checkpoints


BAD_IMAGE_INPUTS = {
    "missing dataset": (["--set", "data.root=/nonexistent/mnist"], "folder /nonexistent/mnist does not exist"),
    "unbuildable resolution": (["--set", "data.resolution=100"], "model dcgan cannot build 100×100 images"),
    "conditional without labels": (
        ["--set", "data.target=folder", "--set", "data.path=PLAIN", "--set", "model.conditional=true"],
        "model.conditional needs labelled data",
    ),
}


@pytest.mark.parametrize("case", list(BAD_IMAGE_INPUTS))
def test_bad_image_inputs_are_one_line_and_create_no_run(case, tmp_path):
    args, message = BAD_IMAGE_INPUTS[case]
    plain = tmp_path / "plain"
    plain.mkdir()
    Image.fromarray(np.zeros((28, 28), dtype=np.uint8)).save(plain / "a.png")
    args = [a.replace("PLAIN", str(plain)) for a in args]
    done = run_gankit("train", "dcgan", *args, cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert message in done.stderr
    assert not (tmp_path / "runs").exists()


def test_sampling_a_class_is_checked(mlp_run, tmp_path):
    done = run_gankit("sample", str(mlp_run), "--class", "3", "--grid", str(tmp_path / "g.png"), cwd=tmp_path)
    assert done.returncode == 2 and "is not a class-conditional model" in done.stderr
    conditional = gankit.train("cgan-mlp", overrides=["data.limit=500", "train.steps=5", "data.classifier=false",
                                                      "train.tensorboard=off"], runs_dir=tmp_path)  # fmt: skip
    done = run_gankit("sample", str(conditional.run_dir), "--class", "10", "--grid", str(tmp_path / "g.png"),
                      cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2 and "class 10 is outside this model's classes 0–9" in done.stderr
    assert gankit.load(conditional.run_dir).sample(4, seed=0, label=[0, 1, 2, 3]).shape == (4, 1, 28, 28)


def test_tensorboard_on_without_the_package_is_a_config_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    with pytest.raises(ConfigError, match="train.tensorboard = on needs the tensorboard package"):
        Trainer(resolve("ring", overrides=["train.tensorboard=on"]))
    Trainer(resolve("ring", overrides=["train.tensorboard=auto"]))  # auto goes without (and says so once)


def test_summary_records_image_measures(tmp_path):
    result = gankit.train("cgan-mlp", overrides=["data.limit=1000", "train.steps=20", "train.tensorboard=off",
                                                 "eval.n_samples=200"], runs_dir=tmp_path)  # fmt: skip
    summary = json.loads((result.run_dir / "summary.json").read_text())
    assert {"confidence", "classes_covered", "class_kl", "label_agreement"} <= summary["measures"].keys()


def test_ema_is_trained_with_the_engine_and_is_what_is_sampled_and_exported(tmp_path):
    """With batch norm (DCGAN): the average moves away from its start and from G, buffers follow G,
    and samples, grids and generator.safetensors come from it."""
    overrides = ["data.limit=256", "data.batch_size=32", "model.g_width=8", "model.d_width=8", "train.steps=12",
                 "train.ema_decay=0.8", "train.eval_every=12", "eval.n_samples=64", "train.tensorboard=off",
                 "data.classifier=false"]  # fmt: skip
    trainer = Trainer(resolve("dcgan", overrides=overrides))
    start = {k: v.clone() for k, v in trainer.gan.ema["G"].state_dict().items()}
    trainer.fit()
    ema, g = trainer.gan.ema["G"].state_dict(), trainer.gan.generator.state_dict()
    weights = [k for k in ema if k.endswith("weight")]
    assert all(not torch.equal(ema[k], start[k]) and not torch.equal(ema[k], g[k]) for k in weights)
    buffers = [k for k in ema if "running_" in k]
    assert buffers and all(torch.equal(ema[k], g[k]) for k in buffers)
    z = torch.randn(4, 100)
    samples, _ = trainer.gan.generate(4, None, noise=z)
    trainer.gan.ema["G"].eval()
    assert torch.equal(samples, trainer.gan.ema["G"](z))

    result = gankit.train("dcgan", overrides=overrides, runs_dir=tmp_path)
    exported = safetensors.torch.load_file(result.run_dir / "generator.safetensors")
    loaded = gankit.load(result.run_dir)
    assert all(torch.equal(exported[k], v) for k, v in loaded.gan.ema["G"].state_dict().items())


class StubD(torch.nn.Module):
    """Scores (x, label) by whether the label is the one written in the image's first pixel."""

    def forward(self, x, labels):
        return torch.where(x[:, 0, 0, 0].long() == labels, 5.0, -5.0)


def test_conditional_d_loss_scores_right_wrong_and_generated_pairs():
    from gankit.games import ConditionalGAN
    from gankit.losses import get_objective
    from gankit.recipe import Latent

    class StubG(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.p = torch.nn.Parameter(torch.zeros(()))

        def forward(self, z, labels):  # writes a label that is never the asked one
            return ((labels + 1) % 10).float()[:, None, None, None].expand(-1, 1, 2, 2) + self.p

    gan = ConditionalGAN(StubG(), StubD(), Latent(2), get_objective("non-saturating"), 8, num_classes=10)
    labels = torch.arange(8)
    real = labels.float()[:, None, None, None].expand(-1, 1, 2, 2)
    loss, stats = gan.d_loss({"x": real, "y": labels}, torch.Generator().manual_seed(0))
    sp = torch.nn.functional.softplus
    # right pairs score 5 (real), wrong pairs and generated pairs score -5 (fake): GAN-CLS weighting
    expected = sp(torch.tensor(-5.0)) + 0.5 * sp(torch.tensor(-5.0)) + 0.5 * sp(torch.tensor(-5.0))
    assert torch.isclose(loss, expected)
    assert stats["acc_real"] == 1 and stats["acc_fake"] == 1 and stats["acc_wrong"] == 1


def test_conditional_grid_rows_are_classes():
    gan = Trainer(resolve("cgan-mlp", overrides=["data.limit=100", "data.batch_size=10", "train.tensorboard=off",
                                                  "data.classifier=false"])).gan  # fmt: skip
    noise, labels, cols = gan.grid_inputs(rows=3, cols=4, seed=0)
    assert cols == 4 and noise.shape == (40, 100)
    assert labels.view(10, 4).tolist() == [[k] * 4 for k in range(10)]


def test_toy_runs_have_no_images_to_show(tmp_path):
    done = run_gankit("train", "ring", "--set", "train.steps=5", "--set", "model.g_hidden=[8]", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    run = tmp_path / "runs" / "ring"
    assert not (run / "grids").exists() and not (run / "plots" / "progress.gif").exists()
    for args in (["sample", str(run), "--grid", "g.png"], ["interpolate", str(run), "--out", "w.gif"],
                 ["sample", str(run), "--out", "folder"]):  # fmt: skip
        done = run_gankit(*args, cwd=tmp_path)
        assert done.returncode == 2 and "does not generate images (its target is ring)" in done.stderr
    (tmp_path / "afile").write_text("x")
    done = run_gankit("sample", str(run), "--out", "afile", cwd=tmp_path)
    assert done.returncode == 2 and "--out afile is a file" in done.stderr


def test_a_run_samples_without_its_dataset(tmp_path):
    import shutil

    copy = tmp_path / "mnist"
    shutil.copytree(data_dir("mnist"), copy)
    result = gankit.train("mnist-mlp", overrides=[f"data.root={copy}", "data.limit=300", "train.steps=5",
                                                  "train.tensorboard=off", "data.classifier=false"],
                          runs_dir=tmp_path)  # fmt: skip
    shutil.rmtree(copy)
    done = run_gankit("sample", str(result.run_dir), "--n", "4", "--grid", str(tmp_path / "g.png"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    done = run_gankit("eval", str(result.run_dir), cwd=tmp_path)  # evaluating does need the data
    assert done.returncode == 2 and "does not exist" in done.stderr and done.stderr.count("\n") == 1
