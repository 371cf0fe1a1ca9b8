"""Export: a run's generator as TorchScript, pt2 or ONNX gives `gankit.load(run).sample`'s samples
for the same noise, loaded by a process in which gankit cannot be imported; generator.safetensors
carries what gankit needs to load and sample it; bad input is one line and exit status 2."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import safetensors
import torch
from safetensors.torch import load_file, save_file

import gankit
import gankit.export as export_module
from gankit import checkpoint
from gankit.cli import main
from gankit.errors import CheckpointError, RunError
from gankit.export import contract

from .conftest import TINY

CGAN = ["data.limit=64", "data.batch_size=8", "model.g_width=8", "model.d_width=8", "train.steps=4",
        "train.ema_decay=0.8", "train.eval_every=4", "eval.n_samples=32", "train.tensorboard=off",
        "data.classifier=false", "train.grid_every=0"]  # fmt: skip
SIZES = (5, 9)  # two batch sizes, neither the one traced: the files take any batch size
SEED = 7

# Loads every exported file with torch alone: gankit is blocked before anything is imported.
WITHOUT_GANKIT = r"""
import json, sys
sys.modules["gankit"] = None  # `import gankit` now raises ImportError
import torch
from safetensors.torch import load_file, save_file

jobs, out = json.loads(sys.argv[1]), sys.argv[2]
outputs, headers = {}, {}
for name, (format, path, inputs_path) in jobs.items():
    extra = {"gankit.json": ""}
    if format == "torchscript":
        module = torch.jit.load(path, _extra_files=extra)
    else:
        module = torch.export.load(path, extra_files=extra).module()
    headers[name] = json.loads(extra["gankit.json"])
    inputs = load_file(inputs_path)
    for n in (5, 9):
        args = [inputs[f"noise_{n}"]] + ([inputs[f"labels_{n}"]] if f"labels_{n}" in inputs else [])
        outputs[f"{name}_{n}"] = module(*args).contiguous()
assert not [m for m, v in sys.modules.items() if v is not None and m.split(".")[0] == "gankit"]
save_file(outputs, out)
print(json.dumps(headers))
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """Two tiny trained runs: the ring (points, no EMA) and a class-conditional DCGAN on MNIST with EMA."""
    folder = tmp_path_factory.mktemp("runs")
    ring = gankit.train("ring", overrides=[*TINY, "train.steps=20", "train.tensorboard=off"], runs_dir=folder)
    cgan = gankit.train("cgan", overrides=CGAN, runs_dir=folder)
    return {"ring": ring.run_dir, "cgan": cgan.run_dir}


def inputs_for(loaded: gankit.LoadedGAN, n: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The noise `loaded.sample(n, seed=SEED)` draws (its generator's first draw), and class ids
    for a conditional model."""
    noise = loaded.gan.latent.sample(n, torch.Generator().manual_seed(SEED))
    return noise, (torch.arange(n) % loaded.num_classes if loaded.num_classes else None)


def write_inputs(loaded: gankit.LoadedGAN, path: Path) -> Path:
    tensors = {}
    for n in SIZES:
        noise, labels = inputs_for(loaded, n)
        tensors[f"noise_{n}"] = noise
        if labels is not None:
            tensors[f"labels_{n}"] = labels
    save_file(tensors, path)
    return path


@pytest.fixture(scope="module")
def exported(runs, tmp_path_factory) -> tuple[dict[str, dict], dict[str, torch.Tensor]]:
    """TorchScript and pt2 files of both runs (one through the CLI, one through gankit.load(run).export,
    the others through gankit.export_generator), run by one process without gankit: their headers and
    outputs."""
    folder = tmp_path_factory.mktemp("exported")
    jobs = {}
    for run_name, run in runs.items():
        inputs = write_inputs(gankit.load(run), folder / f"{run_name}-inputs.safetensors")
        for format in ("torchscript", "pt2"):
            name = f"{run_name}-{format}"
            if name == "cgan-pt2":
                assert main(["export", str(run), "--format", "pt2"]) == 0  # the default --out: in the run
                path = run / "generator.pt2"
            elif name == "ring-pt2":
                path = gankit.load(run).export(folder / f"{name}.pt2", "pt2")
            else:
                path = gankit.export_generator(run, folder / f"{name}.file", format)
            jobs[name] = (format, str(path), str(inputs))
    done = subprocess.run([sys.executable, "-c", WITHOUT_GANKIT, json.dumps(jobs), str(folder / "outputs.safetensors")],
                          cwd=folder, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), load_file(folder / "outputs.safetensors")


@pytest.mark.parametrize("format", ["torchscript", "pt2"])
@pytest.mark.parametrize("run_name", ["ring", "cgan"])
def test_exported_generator_without_gankit_gives_the_samples_of_the_run(runs, exported, run_name, format):
    headers, outputs = exported
    loaded = gankit.load(runs[run_name])
    for n in SIZES:
        _, labels = inputs_for(loaded, n)
        expected = loaded.sample(n, seed=SEED, label=labels)
        got = outputs[f"{run_name}-{format}_{n}"]
        assert got.shape == expected.shape == (n, *loaded.info.shape)
        assert (got - expected).abs().max().item() <= 1e-6
    header = headers[f"{run_name}-{format}"]
    assert header["latent_dim"] == loaded.gan.latent.dim and header["latent_kind"] == "normal"
    assert header["sample_shape"] == list(loaded.info.shape) and header["step"] == loaded.step
    assert header["format"] == format and header["batch"] is None


def test_export_header_names_inputs_range_and_the_averaged_generator(exported):
    headers, outputs = exported
    ring, cgan = headers["ring-pt2"], headers["cgan-pt2"]
    assert ring["inputs"] == ["noise"] and ring["generator"] == "G" and ring["num_classes"] == 0
    assert ring["output_range"] == "unbounded: the target's coordinates"
    assert cgan["inputs"] == ["noise", "labels"] and cgan["generator"] == "ema.G" and cgan["num_classes"] == 10
    assert cgan["output_range"] == "[-1, 1]" and cgan["class_names"] == [str(k) for k in range(10)]
    assert cgan["model"] == "dcgan" and cgan["config"]["train"]["ema_decay"] == 0.8
    assert contract(cgan) == ("noise N×100 float32 drawn N(0, 1) and labels N int64 in 0–9; gives samples "
                              "N×1×28×28 float32, [-1, 1]")  # fmt: skip
    images = outputs["cgan-pt2_9"]
    assert images.min() >= -1 and images.max() <= 1


def test_a_fixed_batch_pt2_takes_that_batch_only(runs, tmp_path):
    loaded = gankit.load(runs["cgan"])
    path = gankit.export_generator(runs["cgan"], tmp_path / "g.pt2", "pt2", batch=3)
    module = torch.export.load(path).module()
    noise, labels = inputs_for(loaded, 3)
    assert torch.equal(module(noise, labels), loaded.sample(3, seed=SEED, label=labels))
    four, four_labels = inputs_for(loaded, 4)
    with pytest.raises(Exception, match="3"):
        module(four, four_labels)


def test_onnx_export_gives_the_samples_of_the_run(runs, tmp_path):
    for package in ("onnx", "onnxscript", "onnxruntime"):
        pytest.importorskip(package, reason=f"ONNX export is the optional extra gankit[export] ({package})")
    import onnxruntime

    for run_name, run in runs.items():
        loaded = gankit.load(run)
        path = gankit.export_generator(run, tmp_path / f"{run_name}.onnx", "onnx")
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        header = json.loads(session.get_modelmeta().custom_metadata_map["gankit.json"])
        assert header["inputs"] == [i.name for i in session.get_inputs()]
        for n in SIZES:
            noise, labels = inputs_for(loaded, n)
            feeds = {"noise": noise.numpy(), **({"labels": labels.numpy()} if labels is not None else {})}
            got = torch.from_numpy(session.run(None, feeds)[0])
            assert (got - loaded.sample(n, seed=SEED, label=labels)).abs().max().item() <= 1e-5


@pytest.mark.parametrize("run_name", ["ring", "cgan"])
def test_generator_safetensors_loads_and_samples_as_its_run(runs, run_name):
    run = runs[run_name]
    from_run, from_file = gankit.load(run), gankit.load(run / "generator.safetensors")
    labels = [3] * 6 if from_run.num_classes else None
    assert torch.equal(from_file.sample(6, seed=1, label=labels), from_run.sample(6, seed=1, label=labels))
    assert from_file.step == from_run.step and from_file.config == from_run.config
    with safetensors.safe_open(str(run / "generator.safetensors"), "pt") as f:
        header = f.metadata()
    assert header["format"] == "gankit-generator" and header["gankit_version"] == gankit.__version__
    assert header["generator"] == ("ema.G" if run_name == "cgan" else "G")
    assert json.loads(header["config"]) == from_run.config and int(header["latent_dim"]) == from_run.gan.latent.dim


def test_generator_file_is_not_a_checkpoint_to_resume_or_evaluate(runs, capsys):
    file = runs["ring"] / "generator.safetensors"
    with pytest.raises(CheckpointError, match="holds only a generator: it can be loaded, sampled and exported"):
        checkpoint.load(file)
    for command in (["train", "--resume", str(file)], ["eval", str(file)]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("gankit: error: ") and str(file) in err


def test_a_generator_file_that_does_not_fit_its_config_is_refused(runs, tmp_path):
    ring = gankit.load(runs["ring"])
    weights = load_file(runs["cgan"] / "generator.safetensors")  # the DCGAN's weights under the ring's header
    checkpoint.save_generator(tmp_path / "g.safetensors", weights,
                              checkpoint.generator_header(ring.gan, ring.config, ring.info, ring.step))  # fmt: skip
    with pytest.raises(CheckpointError, match="does not match this model and config: (Missing|Unexpected) key"):
        gankit.load(tmp_path / "g.safetensors")


def refuse_writes(path, data):
    raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))


BAD_INPUTS = {
    "unknown format": (["--format", "gif"], {}, "argument --format: invalid choice: 'gif'"),
    "no config.json": (["RUN=empty"], {}, "is not a gankit run folder (no config.json)"),
    "no checkpoint": (["RUN=config-only"], {}, "has no checkpoint yet"),
    "missing folder": (["--out", "TMP/nowhere/g.pt"], {}, "folder TMP/nowhere does not exist"),
    "folder is a file": (["--out", "TMP/afile/g.pt"], {}, "folder TMP/afile is a file, not a folder"),
    "out is a folder": (["--out", "TMP"], {}, "is a folder; give a file name"),
    "not writable": (["--out", "TMP/g.pt"], {"access": lambda path, mode: False}, "is not writable by this user"),
    "write refused": (["--out", "TMP/g.pt"], {"atomic_write_bytes": refuse_writes}, "Permission denied (TMP/g.pt)"),
    "no onnx": (["--format", "onnx"], {"ONNX_PACKAGES": ("onnx_not_here",)}, "pip install 'gankit[export]'"),
    "batch 0": (["--batch", "0"], {}, "batch must be an integer >= 1, got 0"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_export_input_is_one_line_and_exit_status_2(runs, tmp_path, monkeypatch, capsys, case):
    args, patches, message = BAD_INPUTS[case]
    (tmp_path / "empty").mkdir()
    (tmp_path / "config-only").mkdir()
    (tmp_path / "config-only" / "config.json").write_text((runs["ring"] / "config.json").read_text())
    (tmp_path / "afile").write_text("")
    for name, value in patches.items():
        monkeypatch.setattr(os if name == "access" else export_module, name, value)
    run = str(tmp_path / args[0][4:]) if args[0].startswith("RUN=") else str(runs["ring"])
    args = [a.replace("TMP", str(tmp_path)) for a in args if not a.startswith("RUN=")]
    try:
        status = main(["export", run, *args])
    except SystemExit as exit:  # argparse's own errors
        status = exit.code
    out, err = capsys.readouterr()
    assert status == 2 and not out
    assert err.count("\n") == 1 and err.startswith("gankit: error: ")
    assert message.replace("TMP", str(tmp_path)) in err
    assert not (tmp_path / "g.pt").exists() and not (runs["ring"] / "generator.pt").exists()


def test_the_api_checks_the_format_and_needs_an_output_for_a_loaded_run(runs, tmp_path):
    with pytest.raises(RunError, match=r"unknown export format 'tflite' \(allowed: torchscript, onnx, pt2\)"):
        gankit.export_generator(runs["ring"], tmp_path / "g", "tflite")
    with pytest.raises(RunError, match="export of a loaded run needs an output file"):
        gankit.export_generator(gankit.load(runs["ring"]))
