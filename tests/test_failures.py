"""User mistakes through the Python API and races between processes end in gankit's own one-line
errors, never in bare Python exceptions or a damaged run."""

from __future__ import annotations

import json
import math
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import gankit
from gankit import checkpoint
from gankit.errors import ConfigError, GankitError, RunError
from gankit.run import RunDir

from .conftest import assert_same_tensors, patched_run
from .conftest import gankit as run_gankit

FIXTURE_RUN = Path(__file__).parent / "fixtures" / "v1-ring"  # a ring run (gankit 0.1)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda run: run.sample(0), "n must be an integer >= 1, got 0"),
        (lambda run: run.sample(-1), "n must be an integer >= 1, got -1"),
        (lambda run: run.sample(3, seed=2**70), "seed must be an integer from 0 to 2**64 - 1"),
        (lambda run: run.evaluate(n=-1), "n must be an integer >= 1, got -1"),
        (lambda run: run.interpolate(steps=0), "steps must be an integer >= 1, got 0"),
        (lambda run: run.interpolate(paths=0), "paths must be an integer >= 1, got 0"),
    ],
)
def test_api_mistakes_raise_gankits_own_one_line_errors(call, message):
    run = gankit.load(FIXTURE_RUN)
    with pytest.raises(GankitError) as error:
        call(run)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_load_and_train_arguments_are_checked():
    with pytest.raises(RunError, match="load needs a run folder or a checkpoint file"):
        gankit.load(None)
    with pytest.raises(ConfigError, match="device must be auto, cpu, cuda, cuda:N or mps; got 'banana'"):
        gankit.load(FIXTURE_RUN, device="banana")
    with pytest.raises(ConfigError, match=r"overrides must be a list .* wrap it in a list"):
        gankit.train("ring", overrides="train.steps=5")
    with pytest.raises(ConfigError, match="optim.D.lr must be a finite number, got inf"):
        gankit.train("ring", overrides=["optim.D.lr=inf"])


def test_run_names_are_one_folder_inside_the_runs_directory(tmp_path):
    for name in ("../x", "/abs/x", "a/b", "..", ""):
        with pytest.raises(RunError, match="must be one folder name"):
            RunDir.create(tmp_path / "runs", name, unique=True)
    assert not (tmp_path / "x").exists()


def test_a_name_taken_between_looking_and_creating_goes_to_the_next_suffix(tmp_path, monkeypatch):
    """Another process creates runs/ring just after this one found it free: this one takes ring-2."""
    runs = tmp_path / "runs"
    runs.mkdir()
    real_mkdir = Path.mkdir
    raced = []

    def mkdir_after_a_rival(self, *args, **kwargs):
        if self.name == "ring" and not raced:
            raced.append(True)
            real_mkdir(self)  # the rival wins the name
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", mkdir_after_a_rival)
    assert RunDir.create(runs, "ring", unique=True).path.name == "ring-2"


def test_threads_racing_for_one_default_name_each_get_their_own_folder(tmp_path):
    runs, barrier, names = tmp_path / "runs", threading.Barrier(8), []

    def create() -> None:
        barrier.wait()
        names.append(RunDir.create(runs, "ring", unique=True).path.name)

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(names) == sorted(["ring"] + [f"ring-{k}" for k in range(2, 9)])


def test_optimiser_settings_given_on_resume_take_effect(tmp_path):
    """The audit's case: lr and betas given with --resume were recorded but not used."""
    first = gankit.train("ring", name="a", runs_dir=tmp_path, overrides=["train.steps=20", "train.checkpoint_every=10",
                         "model.g_hidden=[16]", "model.d_hidden=[16]", "train.tensorboard=off"])  # fmt: skip
    gankit.resume(first.run_dir, overrides=["train.steps=40", "optim.D.lr=0.5", "optim.D.betas=[0.0, 0.9]"])
    from gankit import checkpoint

    state = checkpoint.load(first.run_dir / "checkpoints" / "ckpt-00000040.safetensors")
    group = state["optim"]["D"]["param_groups"][0]
    assert group["lr"] == 0.5 and list(group["betas"]) == [0.0, 0.9]
    assert state["config"]["optim"]["D"]["lr"] == 0.5
    with pytest.raises(ConfigError, match="optim.D.name is Adam in the checkpoint"):
        gankit.resume(first.run_dir, overrides=["train.steps=60", "optim.D.name=SGD", "optim.D.lr=0.1"])


POISON_D_AT_60 = """
import torch
from gankit.engine import Trainer
original = Trainer.train_step
def poisoned(self, next_batch=None):
    if self.step == 60:  # D's weights turn non-finite during iteration 61
        with torch.no_grad():
            for p in self.gan.nets["D"].parameters():
                p.fill_(float("nan"))
    return original(self, next_batch)
Trainer.train_step = poisoned
"""
DIVERGING = ["train", "ring", "--name", "d", "--set", "model.g_hidden=[16]", "--set", "model.d_hidden=[16]",
             "--set", "train.steps=150", "--set", "train.log_every=25", "--set", "train.checkpoint_every=50",
             "--set", "train.eval_every=100", "--set", "train.keep_checkpoints=1", "--set", "eval.n_samples=200"]  # fmt: skip


def test_a_diverging_run_stops_within_a_log_interval_keeps_its_last_finite_checkpoint_and_resumes(tmp_path):
    done = patched_run(tmp_path, DIVERGING, POISON_D_AT_60)
    assert done.returncode == 3, done.stderr
    line = done.stderr.strip().splitlines()[-1]
    assert "training diverged between iterations 51 and 75: player D" in line and "d_loss = nan" in line
    assert "newest checkpoint (iteration 50) is finite" in line and "gankit train --resume" in line
    assert "Traceback" not in done.stderr
    run = tmp_path / "runs" / "d"
    assert [step for step, _ in checkpoint.list_checkpoints(run / "checkpoints")] == [50]  # never pruned away
    weights = checkpoint.load(run / "checkpoints" / "ckpt-00000050.safetensors")["gan"]
    assert all(torch.isfinite(v).all() for v in weights.values() if isinstance(v, torch.Tensor))
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert max(r["step"] for r in records) == 50  # nothing logged from the bad interval
    resumed = run_gankit("train", "--resume", str(run), "--set", "optim.D.lr=1e-4", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((run / "summary.json").read_text())["steps"] == 150


NAN_BATCHES = """
import torch
from gankit.data import StreamSource
original, calls = StreamSource.next, [0]
def sometimes_nan(self):
    calls[0] += 1
    batch = original(self)
    return {{"x": batch["x"] * float("nan")}} if 30 <= calls[0] < 30 + {bad} else batch
StreamSource.next = sometimes_nan
"""


@pytest.mark.parametrize("bad, max_skips, status", [(5, 10, 0), (5, 3, 3)])
def test_skip_mode_drops_non_finite_updates_and_stops_after_too_many_in_a_row(tmp_path, bad, max_skips, status):
    args = [*DIVERGING, "--set", "train.nonfinite=skip", "--set", f"train.max_skips={max_skips}"]
    done = patched_run(tmp_path, args, NAN_BATCHES.format(bad=bad))
    assert done.returncode == status, done.stderr
    run = tmp_path / "runs" / "d"
    if status == 0:
        summary = RunDir(run).read_json("summary.json")  # non-finite values read back as floats
        assert all(math.isfinite(v) for v in summary["train"].values() if isinstance(v, float))
    else:
        assert "4 updates in a row had a non-finite loss or gradient" in done.stderr
        assert [step for step, _ in checkpoint.list_checkpoints(run / "checkpoints")] == []


def _with_header(source: Path, target: Path, change) -> None:
    """Copy a checkpoint, editing the JSON state in its header with `change(state)`."""
    import safetensors
    import safetensors.torch

    with safetensors.safe_open(str(source), framework="pt") as f:
        metadata, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    state = json.loads(metadata["state"])
    change(state)
    target.write_bytes(safetensors.torch.save(tensors, metadata={**metadata, "state": json.dumps(state)}))


# damage, and the iteration --resume continues from: it rebuilds from the run's config.json, so a
# header's own config and target (what `sample` rebuilds from) do not stop it using the file
DAMAGE = {
    "no target": (lambda s: s.pop("target"), 20),
    "a step that is not a number": (lambda s: s.update(step="abc"), 10),
    "weights that are not a table": (lambda s: s.update(gan=5), 10),
    "a config asking for a huge network": (lambda s: s["config"]["model"].update(g_hidden=[2_000_000_000]), 20),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_checkpoint_header_is_checked_and_sample_and_resume_fall_back_to_the_one_before(tmp_path, damage):
    run = tmp_path / "v1-ring"
    shutil.copytree(FIXTURE_RUN, run)
    newest = run / "checkpoints" / "ckpt-00000020.safetensors"
    change, resumed_from = DAMAGE[damage]
    _with_header(FIXTURE_RUN / "checkpoints" / newest.name, newest, change)
    alone = run_gankit("sample", str(newest), "--n", "5", "--out", str(tmp_path / "a.npy"), cwd=tmp_path)
    assert alone.returncode == 2 and alone.stderr.count("\n") == 1, alone.stderr
    assert "ckpt-00000020" in alone.stderr and not (tmp_path / "a.npy").exists()
    sampled = run_gankit("sample", str(run), "--n", "5", "--out", str(tmp_path / "b.npy"), "--seed", "0", cwd=tmp_path)
    assert sampled.returncode == 0 and "skipping" in sampled.stderr, sampled.stderr
    assert np.array_equal(np.load(tmp_path / "b.npy"), gankit.load(run / "checkpoints" / "ckpt-00000010.safetensors")
                          .sample(5, seed=0).numpy())  # fmt: skip
    resumed = run_gankit("train", "--resume", str(run), "--set", "train.steps=30", cwd=tmp_path)
    assert resumed.returncode == 0 and f"from iteration {resumed_from}" in resumed.stderr, resumed.stderr


FULL_DISK_AT_40 = """
import errno, os
import gankit.checkpoint as checkpoint
from gankit.atomic import atomic_write_bytes
def full(path, data):
    if "ckpt-00000040" in str(path):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
    atomic_write_bytes(path, data)
checkpoint.atomic_write_bytes = full
"""
READ_ONLY = """
import errno, os
import gankit.run as run
def refuse(path, obj):
    raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
run.atomic_write_json = refuse
"""
CTRL_C_AT_START = """
import gankit.engine as engine
def interrupted(*args, **kwargs):
    raise KeyboardInterrupt
engine.build_target = interrupted
"""
SHORT = ["train", "ring", "--name", "s", "--set", "model.g_hidden=[16]", "--set", "model.d_hidden=[16]",
         "--set", "train.steps=60", "--set", "train.checkpoint_every=20", "--set", "eval.n_samples=200"]  # fmt: skip


def test_environment_failures_are_one_line_and_leave_runs_resumable(tmp_path):
    full = patched_run(tmp_path, SHORT, FULL_DISK_AT_40)  # the disk fills while checkpoint 40 is written
    assert full.returncode == 2 and "No space left on device" in full.stderr and "Traceback" not in full.stderr
    run = tmp_path / "runs" / "s"
    assert [step for step, _ in checkpoint.list_checkpoints(run / "checkpoints")] == [20]
    assert run_gankit("train", "--resume", str(run), cwd=tmp_path).returncode == 0  # space freed: it goes on

    locked = patched_run(tmp_path, ["eval", str(run)], READ_ONLY)  # a run folder that cannot be written
    assert locked.returncode == 2 and "Permission denied" in locked.stderr and "Traceback" not in locked.stderr
    started = patched_run(tmp_path, [*SHORT[:3], "t"], CTRL_C_AT_START)
    assert started.returncode == 130 and started.stderr.strip() == "gankit: interrupted"
    assert not (tmp_path / "runs" / "t").exists()

    (tmp_path / "folder.npy").mkdir()
    for args, message in [
        (["--out", "/proc/x.npy"], "No such file or directory (/proc/x.npy)"),
        (["--out", str(tmp_path / "folder.npy")], "that path is a folder"),
        (["--n", "1000000000000", "--out", str(tmp_path / "x.npy")], "samples would need"),
        (["--seed", str(2**70), "--out", str(tmp_path / "x.npy")], "seed must be an integer from 0"),
    ]:
        done = run_gankit("sample", str(run), *args, cwd=tmp_path)
        assert done.returncode == 2 and done.stderr.count("\n") == 1 and message in done.stderr, done.stderr
    huge = run_gankit("train", "ring", "--name", "h", "--set", "data.batch_size=2000000000", cwd=tmp_path)
    assert huge.returncode == 2 and "data.batch_size: one batch of samples would need" in huge.stderr
    assert not (tmp_path / "runs" / "h").exists()


def test_random_kills_each_resumed_end_bit_identical_to_an_uninterrupted_run(tmp_path):
    """Fault injection: the run is SIGKILLed at three pseudo-random instants (one of them may fall
    inside a checkpoint write), resumed after each, and ends exactly where an uninterrupted run ends."""
    args = ["train", "ring", "--name", "k", "--set", "model.g_hidden=[16]", "--set", "model.d_hidden=[16]",
            "--set", "train.steps=400", "--set", "train.checkpoint_every=10", "--set", "train.log_every=10",
            "--set", "train.eval_every=100", "--set", "eval.n_samples=200", "--set", "train.tensorboard=off"]  # fmt: skip
    reference = tmp_path / "reference"
    reference.mkdir()
    assert run_gankit(*args, cwd=reference).returncode == 0
    chance = random.Random(7)
    command = [sys.executable, "-m", "gankit", *args]
    for _ in range(3):
        process = subprocess.Popen(command, cwd=tmp_path, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        config = tmp_path / "runs" / "k" / "config.json"
        while not config.exists() and process.poll() is None:  # the run folder exists from here on
            time.sleep(0.05)
        time.sleep(chance.uniform(0.5, 3.0))  # training takes ~1 s per 100 iterations
        process.send_signal(signal.SIGKILL)
        process.wait()
        command = [sys.executable, "-m", "gankit", "train", "--resume", str(tmp_path / "runs" / "k")]
    finished = run_gankit("train", "--resume", str(tmp_path / "runs" / "k"), cwd=tmp_path)
    assert finished.returncode == 0, finished.stderr
    a = checkpoint.load(tmp_path / "runs" / "k" / "checkpoints" / "ckpt-00000400.safetensors")
    b = checkpoint.load(reference / "runs" / "k" / "checkpoints" / "ckpt-00000400.safetensors")
    for key in ("gan", "optim", "noise_rng", "data", "global_rng"):
        assert_same_tensors({key: a[key]}, {key: b[key]})


NO_SPACE_FOR_SAMPLES = """
import errno, os
import gankit.atomic as atomic  # the sample command imports atomic_write_bytes when it writes
def full(path, data):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
atomic.atomic_write_bytes = full
"""
FULL_DISK_AFTER_RESUME = """
import errno, os
import gankit.checkpoint as checkpoint
from gankit.atomic import atomic_write_bytes
def full(path, data):
    if "ckpt-00000060" in str(path):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
    atomic_write_bytes(path, data)
checkpoint.atomic_write_bytes = full
"""
READ_ONLY_LOCK = """
import errno, os, builtins
real_open = builtins.open
def guarded(path, *args, **kwargs):
    if str(path).endswith(".lock"):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
    return real_open(path, *args, **kwargs)
builtins.open = guarded
"""
READ_ONLY_OUT = """
import errno, os
import gankit.atomic as atomic  # the sample command imports atomic_write_bytes when it writes
def refuse(path, data):
    raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
atomic.atomic_write_bytes = refuse
"""


@pytest.mark.parametrize(
    "command, patch, message",
    [
        (["sample", "RUN", "--n", "5", "--out", "OUT"], NO_SPACE_FOR_SAMPLES, "No space left on device"),
        (["train", "--resume", "RUN", "--set", "train.steps=80"], FULL_DISK_AFTER_RESUME, "No space left on device"),
        (["train", "--resume", "RUN", "--set", "train.steps=80"], READ_ONLY_LOCK, "Permission denied"),
        (["sample", "RUN", "--n", "5", "--out", "RUN/x.npy"], READ_ONLY_OUT, "Permission denied"),
    ],
    ids=["full disk: sample", "full disk: resume", "read-only run: resume's lock", "read-only run: sample --out"],
)
def test_full_disks_and_read_only_runs_end_in_one_line_and_the_run_resumes(tmp_path, command, patch, message):
    """(As root, permissions are not enforced, so the read-only folder is simulated by refusing the write.)"""
    run = tmp_path / "v1-ring"
    shutil.copytree(FIXTURE_RUN, run)
    args = [a.replace("RUN", str(run)).replace("OUT", str(tmp_path / "s.npy")) for a in command]
    done = patched_run(tmp_path, args, patch)
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("gankit: error: ")  # after any progress lines, one line
    assert not (tmp_path / "s.npy").exists() and not (run / "x.npy").exists()
    again = run_gankit("train", "--resume", str(run), "--set", "train.steps=80", cwd=tmp_path)
    assert again.returncode == 0, again.stderr  # the run is intact and goes on once the cause is gone
