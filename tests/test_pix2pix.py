"""Pix2Pix on the model contract: it learns paired translation, resumes exactly, translates, and
refuses bad input in one line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import gankit
from gankit.config import resolve
from gankit.engine import Trainer
from gankit.grid_labels import TITLE_HEIGHT
from gankit.metrics.paired import high_frequency_energy, l1

from .conftest import assert_same_tensors, data_dir, resumed_after_a_kill
from .conftest import gankit as run_gankit

# a Pix2Pix small enough for the CPU: 64 px (a U-Net of depth 6, one dropout block), 8-wide networks,
# 16 training pairs
SMALL = ["data.resolution=64", "data.load_size=72", "data.limit=16", "model.g_width=8", "model.d_width=8",
         "eval.n_samples=8", "eval.best=", "train.tensorboard=off", "train.log_every=4", "train.eval_every=8",
         "train.grid_every=8"]  # fmt: skip


def small(*overrides: str) -> list[str]:
    return [arg for item in [*SMALL, *overrides] for arg in ("--set", item)]


@pytest.fixture(scope="module")
def facades() -> Path:
    return data_dir("facades")


@pytest.fixture(scope="module")
def translation_run(tmp_path_factory, facades) -> Path:
    cwd = tmp_path_factory.mktemp("pix2pix")
    done = run_gankit("train", "pix2pix", "--name", "p", *small("train.steps=8"), cwd=cwd)
    assert done.returncode == 0, done.stderr
    return cwd / "runs" / "p"


def _learned(gan_weight: float) -> tuple[Trainer, dict]:
    """Facades photos → label maps at 64 px with a 16-wide U-Net, 1,500 iterations of batch 8 on
    the CPU (labels → photos has no single right answer to score by L1: a plausible photo is as
    far from the true one as the blurry mean photo; the label map of a photo nearly has one).
    Trained on batches of 8, G is evaluated with its running statistics (test_mode eval): the
    statistics of one image at a time are what a batch-1 run (the paper's) learns from."""
    overrides = ["data.direction=AtoB", "data.resolution=64", "data.load_size=72", "model.g_width=16",
                 "model.d_width=16", "data.batch_size=8", "optim.G.lr=5e-4", "optim.D.lr=5e-4", "train.steps=1500",
                 "train.log_every=300", "train.eval_every=1500", "optim.G.decay=500", "optim.D.decay=500",
                 f"model.gan_weight={gan_weight}", "eval.n_samples=106", "eval.best=", "train.tensorboard=off",
                 "model.test_mode=eval"]  # fmt: skip
    trainer = Trainer(resolve("pix2pix", overrides=overrides))
    return trainer, trainer.fit()


def test_pix2pix_learns_facades_and_the_adversarial_term_sharpens(facades):
    """On the 106 held-out pairs: L1 well below copying the input and below the mean training
    target; with the adversarial term, outputs carry more high-frequency energy than L1-only
    training at a similar L1 (the paper's point). Measured: docs/benchmarks.md."""
    adversarial, summary = _learned(1.0)
    target = adversarial.target
    inputs, truth = (target.decode(t) for t in target.held_out)
    mean_target = target.decode(target.dataset["x"]).mean(0, keepdim=True).expand_as(truth)
    copy_l1, mean_l1 = l1(inputs, truth), l1(mean_target, truth)
    learned = summary["measures"]
    assert learned["l1"] < 0.9 * mean_l1 and learned["l1"] < 0.6 * copy_l1, (learned, copy_l1, mean_l1)

    _, plain = _learned(0.0)
    alone = plain["measures"]
    assert alone["l1"] < 0.8 * mean_l1, alone  # L1 alone fits the pixels closest…
    assert abs(learned["l1"] - alone["l1"]) < 0.25 * alone["l1"], (learned, alone)  # …the GAN stays close…
    assert learned["sharpness"] > 1.3 * alone["sharpness"], (learned, alone)  # …and is much sharper
    assert learned["sharpness"] > 0.4 * high_frequency_energy(truth)  # 0.56× on a Xeon, 0.50× on an AMD EPYC


def test_translation_run_leaves_grids_of_input_output_target_and_paired_measures(translation_run):
    grid = np.asarray(Image.open(translation_run / "plots" / "samples-grid.png"))
    rows = resolve("pix2pix")["eval"]["grid_rows"]
    # input | output | target, 64 px + padding, under the iteration
    assert grid.shape[0] == TITLE_HEIGHT + rows * 66 + 2 and grid.shape[1] == 3 * 66 + 2
    records = [json.loads(line) for line in (translation_run / "metrics.jsonl").read_text().splitlines()]
    last = records[-1]
    assert {"eval/l1", "eval/psnr", "eval/ssim", "g_l1", "g_gan", "d_loss"} <= last.keys()
    assert last["protocol"]["split"] == "held-out" and last["protocol"]["pairs"] == 8


def test_pix2pix_with_jitter_resumes_bit_identical_after_a_kill(tmp_path, facades):
    args = ["train", "pix2pix", "--name", "r", *small("train.steps=12", "train.checkpoint_every=4",
                                                       "optim.G.decay=6", "optim.D.decay=6")]  # fmt: skip
    a, _ = resumed_after_a_kill(tmp_path, args, "r", kill_at=8, final=12)
    assert "augment_rng" in a["data"]  # the jitter's generator is part of the saved position


def test_training_follows_the_learning_rate_schedule(facades):
    """fit() sets each player's rate every iteration: G decays to lr/4 at the last of 10
    iterations (decay over 4), D warms up over 2; a restored trainer sets the rate of its step."""
    overrides = [*SMALL, "train.steps=10", "train.eval_every=10", "optim.G.decay=4", "optim.D.decay=0",
                 "optim.D.warmup=2"]  # fmt: skip
    trainer = Trainer(resolve("pix2pix", overrides=overrides))
    seen = []
    original = trainer.train_step

    def spy(next_batch=None):
        seen.append((trainer.optimizers["G"].param_groups[0]["lr"], trainer.optimizers["D"].param_groups[0]["lr"]))
        original(next_batch)

    trainer._step = spy
    trainer.fit()
    g, d = zip(*seen)
    assert g == pytest.approx([2e-4] * 6 + [2e-4 * k / 4 for k in (4, 3, 2, 1)])
    assert d == pytest.approx([1e-4] + [2e-4] * 9)
    again = Trainer(resolve("pix2pix", overrides=[*overrides, "optim.G.lr=1e-3"]))  # a rate changed on resume…
    again.load_state_dict(trainer.state_dict())
    again.schedules.apply(7, 10)
    assert again.optimizers["G"].param_groups[0]["lr"] == pytest.approx(1e-3 * 3 / 4)  # …takes effect


def test_translating_changes_nothing_in_the_model(facades):
    """Batch statistics, spectral norm's power-iteration vectors and the RNG are as before, and
    (without dropout) an image's translation does not depend on the others translated with it."""
    gan = Trainer(resolve("pix2pix", overrides=[*SMALL, "model.spectral_norm=both"])).gan
    before = {k: v.clone() for k, v in gan.state_dict().items()}
    inputs = torch.rand(3, 3, 64, 64) * 2 - 1
    rng = torch.get_rng_state()
    first = gan.translate(inputs, seed=5)
    assert torch.equal(gan.translate(inputs, seed=5), first)
    assert_same_tensors(before, gan.state_dict())
    assert torch.equal(torch.get_rng_state(), rng)
    plain = Trainer(resolve("pix2pix", overrides=[*SMALL, "model.dropout=0"])).gan
    together = plain.translate(inputs, seed=5)
    assert plain.test_mode == "train" and torch.equal(plain.translate(inputs[1:2], seed=5), together[1:2])


def test_translate_command_and_api_agree_and_leave_the_model_untouched(translation_run, facades, tmp_path):
    inputs = tmp_path / "labels"
    inputs.mkdir()
    for name in ("1", "2", "3"):
        shutil.copy(facades / "test" / "B" / f"{name}.jpg", inputs / f"{name}.jpg")
    done = run_gankit("translate", str(translation_run), "--input", str(inputs), "--out", str(tmp_path / "out"),
                      cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == ["1.png", "2.png", "3.png"]
    loaded = gankit.load(translation_run)
    before = {k: v.clone() for k, v in loaded.gan.state_dict().items()}
    pictures = torch.from_numpy(np.stack([np.asarray(Image.open(inputs / f"{n}.jpg").resize((64, 64),
                                Image.Resampling.BILINEAR)) for n in ("1", "2", "3")])).permute(0, 3, 1, 2)  # fmt: skip
    api = loaded.translate(pictures, seed=0)
    cli = torch.from_numpy(np.stack([np.asarray(Image.open(tmp_path / "out" / f"{n}.png")) for n in ("1", "2", "3")]))
    # the same translations (to a level or two of rounding: the command ran in another process,
    # whose thread count may order the convolutions' sums differently)
    assert (api.int() - cli.permute(0, 3, 1, 2).int()).abs().max() <= 2
    assert torch.equal(loaded.translate(pictures, seed=0), api)  # repeatable with a seed
    assert not torch.equal(loaded.translate(pictures, seed=1), api)  # dropout is live in "train" test mode
    assert_same_tensors(before, loaded.gan.state_dict())  # batch-norm statistics restored


def _pairs(folder: Path, a_size=(32, 32), b_size=(32, 32)) -> None:
    for side, size in (("A", a_size), ("B", b_size)):
        (folder / side).mkdir(parents=True)
        Image.fromarray(np.zeros((*size, 3), dtype=np.uint8)).save(folder / side / "1.png")


BAD = {
    "pair images of different sizes": (
        lambda d: _pairs(d, b_size=(40, 40)),
        ["data.target=paired", "data.path=DIR", "data.resolution=0", "data.load_size=0"],
        "must have the same size",
    ),  # fmt: skip
    "not two images side by side": (
        lambda d: Image.fromarray(np.zeros((32, 40, 3), np.uint8)).save(d / "x.png"),
        ["data.target=paired", "data.path=DIR"],
        "not two images side by side",
    ),
    "an unpaired folder": (
        lambda d: [(d / s).mkdir() for s in ("trainA", "trainB")],
        ["data.target=paired", "data.path=DIR"],
        "unpaired domains",
    ),  # fmt: skip
    "an indivisible resolution": (
        None,
        ["data.resolution=48", "data.load_size=48", "model.depth=5"],
        "cannot divide 48×48 images",
    ),
    "a direction other than AtoB/BtoA": (None, ["data.direction=AtoC"], "data.direction must be one of AtoB, BtoA"),
    "unpaired data": (None, ["data.target=mnist"], "needs paired data"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_translation_input_is_one_line_and_writes_nothing(case, tmp_path, facades):
    make, overrides, message = BAD[case]
    folder = tmp_path / "data"
    folder.mkdir()
    if make is not None:
        make(folder)
    overrides = [o.replace("DIR", str(folder)) for o in overrides]
    if "data.target=mnist" in overrides:  # another target: none of the paired data's settings apply
        args = ["--set", "data.target=mnist", "--set", "data.limit=16"]
    else:
        args = small(*overrides, "data.limit=0")
    done = run_gankit("train", "pix2pix", *args, cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert message in done.stderr, done.stderr
    assert not (tmp_path / "runs").exists()


def test_translate_and_sample_on_the_wrong_kind_of_run_say_what_to_use(translation_run, tmp_path):
    noise_run = gankit.train("ring", overrides=["train.steps=2", "model.g_hidden=[8]", "model.d_hidden=[8]",
                                                "train.tensorboard=off"], runs_dir=tmp_path)  # fmt: skip
    picture = tmp_path / "in.png"
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(picture)
    done = run_gankit("translate", str(noise_run.run_dir), "--input", str(picture), "--out", str(tmp_path / "o"),
                      cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2 and "generates from noise" in done.stderr and "gankit sample" in done.stderr
    assert not (tmp_path / "o").exists()
    done = run_gankit("sample", str(translation_run), "--n", "4", "--out", str(tmp_path / "s.npy"), cwd=tmp_path)
    assert done.returncode == 2 and "translates input images" in done.stderr and "gankit translate" in done.stderr
    assert done.stderr.count("\n") == 1 and not (tmp_path / "s.npy").exists()


def test_fid_and_kid_compare_translations_with_the_held_out_targets(facades):
    """Image metrics of a translation run are taken against the held-out targets, protocol-stamped;
    asking for them with fewer than 20 pairs to translate is refused before training."""
    overrides = [*SMALL, "data.limit=24", "eval.n_samples=24", 'eval.metrics=["fid", "kid"]', "eval.features=inception"]
    trainer = Trainer(resolve("pix2pix", overrides=overrides))
    snapshot = trainer.snapshot()
    assert {"fid", "kid", "l1", "ssim"} <= snapshot.measures.keys() and snapshot.measures["fid"] > 0
    assert snapshot.protocol["n_fake"] == 24 and "held-out targets" in snapshot.protocol["reference"]
    assert snapshot.protocol["split"] == "held-out" and snapshot.protocol["test_mode"] == "train"
    with pytest.raises(gankit.ConfigError, match="at least 20 generated images"):
        Trainer(resolve("pix2pix", overrides=[*overrides, "data.limit=12"]))
