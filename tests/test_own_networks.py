"""Bring your own: a user's G and D trained on a user's tensor, Dataset or DataLoader through the
API, reloaded by gankit.load and sampled; bad networks and data refused in one line; the guide
docs/own-gan.md runs as written."""

from __future__ import annotations

import copy
import json
import logging
import re
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import gankit
from gankit.cli import main
from gankit.data.memory import LoaderSource
from gankit.errors import ConfigError, DataError, RunError
from gankit.metrics.toy import energy_distance

from .conftest import ROOT
from .own_networks import ImageDiscriminator, ImageGenerator, PointDiscriminator, PointGenerator

QUICK = {"train.steps": 30, "train.log_every": 10, "train.eval_every": 30, "eval.n_samples": 200,
         "data.batch_size": 64, "train.tensorboard": "off"}  # fmt: skip
CENTRE = torch.tensor([2.0, -1.0])


def gaussian_points(n: int = 512, seed: int = 0) -> torch.Tensor:
    """A 2-D Gaussian of std 0.5 around CENTRE: the user's data."""
    return torch.randn(n, 2, generator=torch.Generator().manual_seed(seed)) * 0.5 + CENTRE


@torch.no_grad()
def outputs(generator: nn.Module, noise: torch.Tensor) -> torch.Tensor:
    was = generator.training
    generator.eval()
    try:
        return generator(noise)
    finally:
        generator.train(was)


def test_modules_on_a_tensor_train_reload_and_sample_the_same(tmp_path):
    G, D = PointGenerator(), PointDiscriminator()
    result = gankit.train("ring", generator=G, discriminator=D, data=gaussian_points(), runs_dir=tmp_path,
                          overrides=QUICK)  # fmt: skip
    config = json.loads((result.run_dir / "config.json").read_text())
    assert config["model"] | {"spectral_norm": "none", "pack": 1} == {
        "pack": 1,
        "name": "own", "spectral_norm": "none", "generator": "tests.own_networks:PointGenerator",
        "generator_kwargs": {}, "discriminator": "tests.own_networks:PointDiscriminator",
        "discriminator_kwargs": {}, "latent_dim": 4, "latent": "normal", "conditional": False,
    }  # fmt: skip
    assert config["data"] == {"target": "memory", "batch_size": 64, "kind": "tensor", "shape": [2], "samples": 512,
                              "value_range": ""}  # fmt: skip
    assert config["loss"]["objective"] == "non-saturating" and config["optim"]["G"]["lr"] == 1e-3  # the preset's
    # the data's generic measures, and the preset's picture of points
    assert set(result.measures) == {"sliced_w1", "energy", "spread_ratio"}
    assert all(np.isfinite(v) and v > 0 for v in result.measures.values())
    assert (result.run_dir / "plots" / "distribution.png").stat().st_size > 10_000

    loaded = gankit.load(result.run_dir)
    assert loaded.step == 30 and type(loaded.generator) is PointGenerator
    assert loaded.sample(100, seed=5).shape == (100, 2)
    assert torch.equal(loaded.sample(100, seed=5), loaded.sample(100, seed=5))
    noise = torch.randn(64, 4)
    assert torch.equal(outputs(loaded.generator, noise), outputs(G, noise))  # the trained user module itself


def test_classes_on_a_dataloader_train_resume_with_it_and_reload(tmp_path):
    loader = DataLoader(TensorDataset(gaussian_points(300)), batch_size=50, shuffle=True)
    result = gankit.train(
        "ring",
        generator=PointGenerator,
        generator_kwargs={"hidden": 16},
        discriminator="tests.own_networks:PointDiscriminator",
        data=loader,
        runs_dir=tmp_path,
        overrides=QUICK,
    )
    config = json.loads((result.run_dir / "config.json").read_text())
    assert config["model"]["generator_kwargs"] == {"hidden": 16}
    assert config["data"]["kind"] == "dataloader" and config["data"]["batch_size"] == 50  # the loader's
    assert result.summary["train"]["epoch"] == 5.0  # 30 batches of a 6-batch loader

    with pytest.raises(DataError, match=r"given in Python \(a dataloader of samples of shape 2\).*data=") as error:
        gankit.resume(result.run_dir, overrides={"train.steps": 40})
    assert "\n" not in str(error.value)
    resumed = gankit.resume(result.run_dir, overrides={"train.steps": 40}, data=loader)
    assert resumed.summary["steps"] == 40 and resumed.summary["train"]["epoch"] == pytest.approx(40 / 6, abs=1e-3)

    loaded = gankit.load(result.run_dir)
    assert loaded.step == 40 and loaded.generator.net[0].out_features == 16
    assert loaded.sample(10, seed=0).shape == (10, 2)


def test_a_factory_is_recorded_by_name_with_its_arguments(tmp_path):
    from .own_networks import make_generator

    quick = {**QUICK, "train.steps": 4, "train.eval_every": 4}
    result = gankit.train("ring", generator=make_generator, generator_kwargs={"width": 8}, data=gaussian_points(),
                          discriminator=PointDiscriminator(), runs_dir=tmp_path, overrides=quick)  # fmt: skip
    model = gankit.load(result.run_dir).config["model"]
    assert (model["generator"], model["generator_kwargs"]) == ("tests.own_networks:make_generator", {"width": 8})
    assert model["latent_dim"] == 3  # its first layer's input
    assert gankit.load(result.run_dir).generator.net[0].weight.shape == (8, 3)
    with pytest.raises(ConfigError, match=r"^generator_kwargs must hold plain values .*config.json can record"):
        gankit.train("ring", generator=make_generator, generator_kwargs={"width": torch.tensor(8)},
                     discriminator=PointDiscriminator(), data=gaussian_points(), runs_dir=tmp_path)  # fmt: skip


def test_a_dataloader_resumes_at_the_batch_it_stopped_at():
    loader = DataLoader(TensorDataset(torch.arange(42.0).view(21, 2)), batch_size=3, shuffle=True)
    first = LoaderSource(loader, seed=7, stream="loader", device=torch.device("cpu"))
    seen = [first.next()["x"] for _ in range(9)]  # into the second pass (7 batches a pass)
    state = first.state_dict()
    later = [first.next()["x"] for _ in range(5)]
    again = LoaderSource(loader, seed=7, stream="loader", device=torch.device("cpu"))
    again.load_state_dict(state)
    assert state == {"epoch": 1, "position": 2} and first.epochs == pytest.approx(2)
    assert all(torch.equal(a, b) for a, b in zip(later, [again.next()["x"] for _ in range(5)]))
    # a pass gives every sample once, each pass in its own order, the same in every run
    assert sorted(torch.cat(seen[:7])[:, 0].tolist()) == list(range(0, 42, 2))
    assert not torch.equal(torch.cat(seen[:7]), torch.cat(seen[7:9] + later))
    replay = LoaderSource(loader, seed=7, stream="loader", device=torch.device("cpu"))
    assert all(torch.equal(a, replay.next()["x"]) for a in seen)


def test_a_dataloaders_smaller_last_batch_is_skipped():
    loader = DataLoader(TensorDataset(torch.arange(20.0).view(20, 1)), batch_size=3)  # 6 batches of 3, then 2
    source = LoaderSource(loader, seed=0, stream="loader", device=torch.device("cpu"))
    batches = [source.next()["x"] for _ in range(7)]
    assert [len(b) for b in batches] == [3] * 7
    assert torch.equal(batches[6], batches[0]) and source.state_dict() == {"epoch": 1, "position": 1}
    tiny = LoaderSource(DataLoader(TensorDataset(torch.zeros(2, 1)), batch_size=3), 0, "loader", torch.device("cpu"))
    with pytest.raises(DataError, match=r"^the DataLoader gave no batch of its batch_size \(3\) in a whole pass$"):
        tiny.next()


def test_labelled_dataset_trains_the_conditional_game(tmp_path):
    class Labelled(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return 128

        def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
            return torch.tensor([float(i % 2), 1.0]), i % 2

    result = gankit.train("ring", generator="tests.own_networks:ConditionalPointGenerator",
                          discriminator="tests.own_networks:ConditionalPointDiscriminator", data=Labelled(),
                          runs_dir=tmp_path, overrides=QUICK)  # fmt: skip
    loaded = gankit.load(result.run_dir)
    assert loaded.config["model"]["conditional"] and loaded.num_classes == 2
    assert loaded.sample(6, seed=0, label=1).shape == (6, 2)


def test_images_as_a_tensor_and_as_a_folder(tmp_path):
    pixels = torch.randint(0, 256, (16, 3, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    (tmp_path / "pictures").mkdir()
    for i, image in enumerate(pixels):
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(tmp_path / "pictures" / f"{i:02d}.png")
    quick = {**QUICK, "train.steps": 4, "train.eval_every": 4, "data.batch_size": 8, "eval.n_samples": 16}
    for name, data in (("tensor", pixels), ("folder", tmp_path / "pictures")):
        result = gankit.train("ring", generator=ImageGenerator(), discriminator=ImageDiscriminator(), data=data,
                              runs_dir=tmp_path / "runs", name=name, overrides=quick)  # fmt: skip
        loaded = gankit.load(result.run_dir)
        assert loaded.config["data"]["target"] == {"tensor": "memory", "folder": "folder"}[name]
        assert loaded.sample(3, seed=0).shape == (3, 3, 8, 8) and loaded.images(3, seed=0).dtype == torch.uint8
        assert (result.run_dir / "plots" / "samples.png").exists() and (
            result.run_dir / "plots" / "samples-grid.png"
        ).exists()
    # the folder holds the same pixels: the two runs saw the same data
    assert gankit.load(tmp_path / "runs" / "folder").target.dataset["x"].sort(0).values.equal(pixels.sort(0).values)


def test_it_learns_a_gaussian(tmp_path):
    """In 300 CPU iterations the generated mean moves from near 0 to the data's, and the energy
    distance to the data falls to a fraction of its start."""
    torch.manual_seed(1)
    G, D = PointGenerator(), PointDiscriminator()
    data, noise = gaussian_points(1024), torch.randn(1000, 4, generator=torch.Generator().manual_seed(2))
    before = outputs(G, noise)
    gankit.train("ring", generator=G, discriminator=D, data=data, runs_dir=tmp_path, overrides={
        **QUICK, "train.steps": 300, "train.log_every": 100, "train.eval_every": 0, "data.batch_size": 128,
        "optim.D.lr": 3e-3, "optim.G.lr": 3e-3, "seed": 1})  # fmt: skip
    after = outputs(G, noise)
    assert float((before.mean(0) - CENTRE).norm()) > 1.8
    assert float((after.mean(0) - CENTRE).norm()) < 0.6
    assert energy_distance(after, data[:1000]) < 0.5 * energy_distance(before, data[:1000])


def test_generator_output_not_the_datas_shape_is_one_line(tmp_path):
    with pytest.raises(DataError, match=r"^the generator's samples have shape \(3,\) but the data's have shape "
                                        r"\(2,\): make G output N×2$"):  # fmt: skip
        gankit.train("ring", generator=PointGenerator(features=3), generator_kwargs={"features": 3},
                     discriminator=PointDiscriminator(), data=gaussian_points(), runs_dir=tmp_path, overrides=QUICK)  # fmt: skip
    assert not any(tmp_path.iterdir())  # refused before a run folder exists


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            np.zeros((10, 2)),
            r"^data must be a tensor, a torch Dataset, a DataLoader or a folder of images \(a path\); "
            r"got numpy.ndarray$",
        ),  # fmt: skip
        (torch.zeros(10), r"^data must be samples × features \(N×F\) or images \(N×C×H×W\); got \(10,\)$"),
        (torch.zeros(10, 2, dtype=torch.int64), r"^data must hold floats \(or uint8 pixels\), got torch.int64$"),
        (torch.full((4, 3, 8, 8), 7.0), r"float images must lie in \[0, 1\] or \[-1, 1\]"),
    ],
)
def test_unsupported_data_is_one_line(tmp_path, data, message):
    with pytest.raises(DataError, match=message):
        gankit.train("ring", data=data, runs_dir=tmp_path, overrides=QUICK)


def test_bad_networks_are_one_line(tmp_path):
    class Inner(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Linear(4, 2)

    points = gaussian_points()
    with pytest.raises(RunError, match=r"^generator class .*Inner is defined inside a function"):
        gankit.train("ring", generator=Inner(), discriminator=PointDiscriminator(), data=points, runs_dir=tmp_path)
    train = {"data": points, "runs_dir": tmp_path}
    with pytest.raises(RunError, match=r"^generator = tests.own_networks:PointGenerator built with generator_kwargs "
                                       r"\{\} differs from the network given \(at net.0.weight\)"):  # fmt: skip
        gankit.train("ring", generator=PointGenerator(hidden=8), discriminator=PointDiscriminator(), **train)
    with pytest.raises(ConfigError, match=r"^the discriminator gives \(2, 2\) for 2 samples"):
        gankit.train("ring", generator=PointGenerator(), discriminator=nn.Linear(2, 2),
                     discriminator_kwargs={"in_features": 2, "out_features": 2}, **train)  # fmt: skip
    with pytest.raises(ConfigError, match=r"^give both generator= and discriminator="):
        gankit.train("ring", generator=PointGenerator(), **train)
    with pytest.raises(RunError, match=r"module no_such_module cannot be imported"):
        gankit.train("ring", generator="no_such_module:G", discriminator=PointDiscriminator(), **train)
    assert not any(tmp_path.iterdir())


NETWORKS = (ROOT / "tests" / "own_networks.py").read_text()


def test_a_network_module_that_cannot_be_imported_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys):
    """The run names a module that is importable while training and not where it is loaded."""
    (tmp_path / "lab").mkdir()
    (tmp_path / "lab" / "lab_networks.py").write_text(NETWORKS)
    monkeypatch.syspath_prepend(str(tmp_path / "lab"))
    import lab_networks  # type: ignore[import-not-found]

    result = gankit.train("ring", generator=lab_networks.PointGenerator(), data=gaussian_points(),
                          discriminator=lab_networks.PointDiscriminator(), runs_dir=tmp_path, overrides=QUICK)  # fmt: skip
    monkeypatch.delitem(sys.modules, "lab_networks")
    sys.path.remove(str(tmp_path / "lab"))
    pattern = (r"model.generator = lab_networks:PointGenerator: module lab_networks cannot be imported \(No module "
               r"named 'lab_networks'\); run from the folder that holds lab_networks.py or add that folder to "
               r"PYTHONPATH")  # fmt: skip
    with pytest.raises(RunError, match="^" + pattern + "$"):
        gankit.load(result.run_dir)
    logger = logging.getLogger("gankit")  # the CLI gives it a console handler: not beyond this test
    for attribute in ("handlers", "propagate", "level"):
        monkeypatch.setattr(logger, attribute, copy.copy(getattr(logger, attribute)))
    monkeypatch.chdir(tmp_path)
    assert main(["sample", str(result.run_dir), "--n", "4", "--out", "x.npy"]) == 2
    printed = capsys.readouterr().err
    assert re.fullmatch(f"gankit: error: {pattern}\n", printed) and not (tmp_path / "x.npy").exists()
    monkeypatch.chdir(tmp_path / "lab")  # run from the folder that holds the module, as the line says: it loads
    assert gankit.load(result.run_dir).sample(4, seed=0).shape == (4, 2)


def python_blocks(markdown: str) -> list[tuple[str | None, str]]:
    """The guide's ```python blocks in order, each with the file it says to save it as (or None)."""
    found = re.findall(r"```python(?: file=(\S+))?\n(.*?)```", markdown, flags=re.S)
    return [(name or None, code) for name, code in found]


def test_the_guide_runs_as_written(tmp_path, monkeypatch):
    blocks = python_blocks((ROOT / "docs" / "own-gan.md").read_text())
    assert len(blocks) >= 4 and any(name for name, _ in blocks)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    namespace: dict = {"__name__": "guide"}
    try:
        for name, code in blocks:
            if name:
                (tmp_path / name).write_text(code)
            else:
                exec(compile(code, "docs/own-gan.md", "exec"), namespace)
    finally:
        sys.modules.pop("my_networks", None)  # another test's guide folder has its own
    # what the guide's comments say it prints
    assert namespace["samples"].shape == (1000, 2) and type(namespace["gan"].generator).__name__ == "Generator"
    assert namespace["model"]["generator"] == "my_networks:Generator" and namespace["model"]["latent_dim"] == 4
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["from-a-loader", "ring", "small"]
    assert namespace["result"].summary["steps"] == 140
    assert gankit.load(tmp_path / "runs" / "small").config["model"]["generator_kwargs"] == {"hidden": 32}
