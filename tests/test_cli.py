"""The command line and the Python API end to end: run folder, sampling, evaluation, errors."""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import stat
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import torch
from PIL import Image

import gankit
from gankit.config import resolve
from gankit.models.mlp import MLPGenerator
from gankit.presets import PRESETS
from gankit.run import SUMMARY, RunDir

from .conftest import TINY, gankit_process, with_fast_choice
from .conftest import gankit as run_gankit

SETTINGS = [arg for setting in TINY for arg in ("--set", setting)]
LOG_KEYS = {"step", "time", "d_loss", "g_loss", "d_real", "d_fake", "acc_real", "acc_fake", "d_accuracy", "steps_per_s"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A run trained by `python -m gankit` in an interpreter of its own, as a user starts it."""
    cwd = tmp_path_factory.mktemp("cli")
    done = gankit_process("train", "ring", *SETTINGS, "--set", "train.steps=40", cwd=cwd)
    assert done.returncode == 0, done.stderr
    assert "Trained 40 iterations" in done.stdout and "modes" in done.stdout and "runs/ring" in done.stdout
    return cwd / "runs" / "ring"


def test_run_folder_holds_config_metrics_pictures_and_weights(trained):
    config = json.loads((trained / "config.json").read_text())
    assert config == with_fast_choice(resolve("ring", overrides=[*TINY, "train.steps=40"]), config)
    records = [json.loads(line) for line in (trained / "metrics.jsonl").read_text().splitlines()]
    logged = [r for r in records if "d_loss" in r]
    assert [r["step"] for r in logged] == [10, 20, 30, 40]
    assert all(r.keys() >= LOG_KEYS for r in logged)
    assert all(0 <= r["acc_real"] <= 1 and 0 < r["d_real"] < 1 for r in logged)
    assert [r["step"] for r in records if "eval/modes" in r] == [20, 40]
    for picture in ("losses", "accuracy", "distribution", "eval"):
        with Image.open(trained / "plots" / f"{picture}.png") as image:
            assert image.format == "PNG" and min(image.size) > 200
    summary = json.loads((trained / "summary.json").read_text())
    assert summary["steps"] == 40 and summary["measures"] == {
        k.removeprefix("eval/"): v for k, v in records[-1].items() if k.startswith("eval/")
    }


def test_generator_is_a_plain_module_usable_alone(trained):
    loaded = gankit.load(trained)
    assert loaded.step == 40 and isinstance(loaded.generator, torch.nn.Module)
    # rebuilt from its class and the exported safetensors weights, without gankit's loader
    model = loaded.config["model"]
    alone = MLPGenerator(model["latent_dim"], (2,), model["g_hidden"], model["g_activation"] * 2)
    alone.load_state_dict(safetensors.torch.load_file(trained / "generator.safetensors"))
    z = torch.randn(7, 2)
    assert torch.equal(alone(z), loaded.generator(z))


def test_sample_npy_and_csv_reproducible_by_seed(trained, tmp_path):
    for name in ("a.npy", "b.npy", "c.csv"):
        done = run_gankit(
            "sample", str(trained), "--n", "50", "--out", str(tmp_path / name), "--seed", "3", cwd=tmp_path
        )
        assert done.returncode == 0, done.stderr
    a, b = np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy")
    assert a.shape == (50, 2) and np.array_equal(a, b)
    assert np.allclose(np.loadtxt(tmp_path / "c.csv", delimiter=","), a, rtol=1e-6)
    api = gankit.load(trained).sample(50, seed=3).numpy()
    assert np.array_equal(api, a)
    assert not np.array_equal(gankit.load(trained).sample(50, seed=4).numpy(), a)


def test_eval_reproduces_the_training_measures(trained, tmp_path):
    done = run_gankit("eval", str(trained), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads((trained / "eval.json").read_text())
    summary = json.loads((trained / "summary.json").read_text())
    assert result["measures"] == summary["measures"]
    assert result["n_samples"] == 200 and result["step"] == 40
    assert "modes" in done.stdout


def test_sample_without_a_seed_says_the_seed_it_drew_and_that_seed_repeats_it(trained, tmp_path, cli):
    status, out, _ = cli("sample", str(trained), "--n", "30", "--out", str(tmp_path / "drawn.npy"))
    said = re.search(r"^seed (\d+) \(pass --seed \1 to repeat\)$", out, re.MULTILINE)
    assert status == 0 and said, out
    status, out, _ = cli("sample", str(trained), "--n", "30", "--out", str(tmp_path / "again.npy"), "--seed", said[1])
    assert status == 0 and "pass --seed" not in out  # a seed given is not drawn, nor repeated back
    drawn = np.load(tmp_path / "drawn.npy")
    assert np.array_equal(drawn, np.load(tmp_path / "again.npy"))
    assert np.array_equal(drawn, gankit.load(trained).sample(30, seed=int(said[1])).numpy())


def test_eval_prints_its_protocol_in_real_characters(trained, monkeypatch, cli):
    protocol = {"features": "domain-lenet", "preprocessing": "uint8 → [-1, 1], bilinear antialiased to 28×28"}
    result = {"step": 40, "n_samples": 200, "seed": 0, "measures": {"fid": 1.5}, "protocol": protocol}
    monkeypatch.setattr(gankit.api, "evaluate", lambda *args: result)
    status, out, _ = cli("eval", str(trained))
    assert status == 0
    line = next(line for line in out.splitlines() if line.startswith("  protocol: "))
    assert "uint8 → [-1, 1], bilinear antialiased to 28×28" in line and "\\u" not in line
    assert json.loads(line.removeprefix("  protocol: ")) == protocol


def test_run_files_are_standard_json_with_non_finite_measures_as_strings(trained):
    def strict(text: str) -> object:
        return json.loads(text, parse_constant=lambda token: pytest.fail(f"non-standard JSON token {token}"))

    for line in (trained / "metrics.jsonl").read_text().splitlines():
        strict(line)
    assert strict((trained / "summary.json").read_text())["measures"]["mode_kl"] == "inf"
    # gankit reads them back as the floats they were (this 40-iteration run covers no mode yet)
    run = RunDir(trained)
    assert math.isinf(run.read_records()[-1]["eval/mode_kl"])
    assert math.isinf(run.read_json(SUMMARY)["measures"]["mode_kl"])


def test_non_finite_values_round_trip_through_the_run_files(tmp_path):
    run = RunDir(tmp_path)
    values = {"step": 1, "eval/a": math.inf, "eval/b": -math.inf, "eval/c": math.nan, "protocol": {"n": [math.inf]}}
    run.append_record(values)
    run.append_record({**values, "step": 2})
    assert run.keep_records_until(1)[0]["eval/b"] == -math.inf  # the rewritten file too
    run.write_json(SUMMARY, {"measures": values})
    lines = [*(tmp_path / "metrics.jsonl").read_text().splitlines(), (tmp_path / SUMMARY).read_text()]
    for text in lines:
        json.loads(text, parse_constant=lambda token: pytest.fail(f"non-standard JSON token {token}"))
    for back in (run.read_records()[0], run.read_json(SUMMARY)["measures"]):
        assert (back["eval/a"], back["eval/b"], back["protocol"]) == (math.inf, -math.inf, {"n": [math.inf]})
        assert math.isnan(back["eval/c"])


def test_every_file_of_a_run_gets_the_mode_open_would_give_it(tmp_path):
    umask = os.umask(0o027)
    try:
        result = gankit.train("ring", overrides=[*TINY, "train.steps=20"], runs_dir=tmp_path)
    finally:
        os.umask(umask)
    modes = {
        path.relative_to(result.run_dir).as_posix(): stat.S_IMODE(path.stat().st_mode)
        for path in result.run_dir.rglob("*")
        if path.is_file()
    }
    written = {"config.json", "metrics.jsonl", "summary.json", "generator.safetensors", "plots/distribution.png"}
    assert written <= modes.keys() and any(name.startswith("checkpoints/") for name in modes)
    assert set(modes.values()) == {0o640}, modes  # 0666 less the umask, as open() gives; not mkstemp's 0600


def test_presets_and_config_commands(tmp_path):
    done = run_gankit("presets", cwd=tmp_path)
    names = [line.split()[0] for line in done.stdout.splitlines()]
    assert done.returncode == 0 and names == sorted(PRESETS)
    assert {"gaussian-1d", "gaussian-2d", "ring", "grid", "moons", "spiral", "mnist-mlp", "dcgan", "cgan"} <= set(names)
    done = run_gankit("config", "gaussian-2d", "--set", "train.steps=7", cwd=tmp_path)
    assert json.loads(done.stdout) == resolve("gaussian-2d", overrides=["train.steps=7"])


def folder_digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != ".lock":
            h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()


BAD_INPUTS = {
    "unknown key": (["train", "ring", "--set", "train.stepz=5"], "unknown key 'train.stepz'"),
    "bad value": (["train", "ring", "--set", "data.modes=0"], "data.modes must be >= 1, got 0"),
    "unknown preset": (["train", "donut"], "unknown preset 'donut'"),
    "missing config file": (["train", "--config", "nope.toml"], "config file nope.toml does not exist"),
    "unknown option": (["train", "--stepz", "5"], "unrecognized arguments: --stepz"),
    "resume a non-run": (["train", "--resume", "nowhere"], "nowhere is not a gankit run folder"),
    "sample format": (
        ["sample", "RUN", "--n", "5", "--out", "x.png"],
        "unknown format '.png' (allowed: .npy, .csv, or a folder for images)",
    ),
    "sample folder": (["sample", "RUN", "--n", "5", "--out", "no/such/x.npy"], "folder no/such does not exist"),
    "sample count": (["sample", "RUN", "--n", "0", "--out", "x.npy"], "--n must be >= 1"),
    "sample a non-run": (["sample", "nowhere", "--out", "x.npy"], "nowhere does not exist (expected a run folder"),
    "eval a non-run": (["eval", "RUN/plots"], "plots is not a gankit run folder"),
    "existing name": (["train", "ring", "--name", "ring"], "run folder runs/ring already exists"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_one_line_exit_2_and_touches_nothing(case, trained):
    args, message = BAD_INPUTS[case]
    cwd = trained.parent.parent
    args = [a.replace("RUN", str(trained)) for a in args]
    before = folder_digest(cwd / "runs")
    done = run_gankit(*args, cwd=cwd)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("gankit: error: "), done.stderr
    assert message in done.stderr
    assert folder_digest(cwd / "runs") == before
    assert sorted(p.name for p in (cwd / "runs").iterdir()) == ["ring"]


@pytest.mark.parametrize("case", ["bad value", "sample format"])
def test_bad_input_is_one_line_from_a_fresh_interpreter_too(case, trained):
    """Started as a user starts it: nothing printed while torch and the rest import, by C code
    or at exit joins the line (the test above runs the command inside the test's process)."""
    args, message = BAD_INPUTS[case]
    done = gankit_process(*[a.replace("RUN", str(trained)) for a in args], cwd=trained.parent.parent)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and message in done.stderr, done.stderr


def test_damaged_checkpoint_is_named_in_one_line(tmp_path):
    done = run_gankit("train", "ring", *SETTINGS, "--set", "train.steps=20", cwd=tmp_path)
    assert done.returncode == 0
    run = tmp_path / "runs" / "ring"
    (path,) = (run / "checkpoints").iterdir()
    path.write_bytes(path.read_bytes()[:100])
    for args in (["eval", str(run)], ["sample", str(run), "--out", str(tmp_path / "x.npy")]):
        done = run_gankit(*args, cwd=tmp_path)
        assert done.returncode == 2 and done.stderr.count("\n") == 1
        assert f"checkpoint {path.relative_to(tmp_path)} is damaged" in done.stderr or str(path) in done.stderr


def test_a_run_in_use_is_refused(tmp_path):
    result = gankit.train("ring", overrides=[*TINY, "train.steps=10"], runs_dir=tmp_path / "runs")
    holder = RunDir(result.run_dir)
    holder.lock()
    try:
        done = run_gankit("train", "--resume", str(result.run_dir), "--set", "train.steps=20", cwd=tmp_path)
        assert done.returncode == 2 and "is in use by another gankit process" in done.stderr
    finally:
        holder.unlock()


def test_api_train_names_runs_uniquely_and_resume_extends(tmp_path):
    first = gankit.train("ring", overrides=[*TINY, "train.steps=10"], runs_dir=tmp_path)
    second = gankit.train("ring", overrides=[*TINY, "train.steps=10"], runs_dir=tmp_path)
    assert (first.run_dir.name, second.run_dir.name) == ("ring", "ring-2")
    assert json.loads((second.run_dir / "config.json").read_text())["name"] == "ring-2"
    more = gankit.resume(first.run_dir, overrides=["train.steps=30"])
    assert more.summary["steps"] == 30 and gankit.load(first.run_dir).step == 30
    with pytest.raises(gankit.RunError, match="already exists"):
        gankit.train("ring", overrides=TINY, runs_dir=tmp_path, name="ring")
