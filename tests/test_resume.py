"""Nothing is lost on a crash: killed, half-written and interrupted runs resume bit-identically."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from gankit import checkpoint

from .conftest import TINY, assert_same_tensors, gankit, killed_after_checkpoint, patched_run

# the generator's moving average is part of what must resume exactly
SETTINGS = [arg for setting in [*TINY, "train.ema_decay=0.9"] for arg in ("--set", setting)]
VOLATILE = {"time", "steps_per_s"}


def train_args(name: str, steps: int, every: int = 20) -> list[str]:
    return [
        "train",
        "ring",
        "--name",
        name,
        *SETTINGS,
        "--set",
        f"train.steps={steps}",
        "--set",
        f"train.checkpoint_every={every}",
    ]


def final_state(run: Path) -> dict:
    step, path = checkpoint.list_checkpoints(run / "checkpoints")[-1]
    return checkpoint.load(path)


def assert_same_training(a: Path, b: Path) -> None:
    """Same weights, optimiser, RNG and data state at the end, and the same logged numbers."""
    sa, sb = final_state(a), final_state(b)
    assert sa["step"] == sb["step"]
    for key in ("gan", "optim", "noise_rng", "data", "global_rng"):
        assert_same_tensors({key: sa[key]}, {key: sb[key]})

    def records(run: Path) -> list[dict]:
        lines = (run / "metrics.jsonl").read_text().splitlines()
        return [{k: v for k, v in json.loads(line).items() if k not in VOLATILE} for line in lines]

    assert records(a) == records(b)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """An uninterrupted 60-iteration run to compare the others with."""
    cwd = tmp_path_factory.mktemp("reference")
    done = gankit(*train_args("ref", 60), cwd=cwd)
    assert done.returncode == 0, done.stderr
    return cwd / "runs" / "ref"


def test_run_killed_after_a_checkpoint_resumes_bit_identical(tmp_path, reference):
    killed = killed_after_checkpoint(tmp_path, train_args("killed", 60), step=40)
    assert killed.returncode == -signal.SIGKILL
    run = tmp_path / "runs" / "killed"
    assert [s for s, _ in checkpoint.list_checkpoints(run / "checkpoints")] == [20, 40]
    resumed = gankit("train", "--resume", str(run), cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stderr and "from iteration 40" in resumed.stderr
    assert_same_training(run, reference)


def test_run_killed_while_writing_a_checkpoint_keeps_the_previous_one(tmp_path, reference):
    # die between writing the new file's first half and renaming it into place
    patch = """
import gankit.atomic as atomic
replace = os.replace
def half_then_die(src, dst):
    if str(dst).endswith("ckpt-00000040.safetensors"):
        size = os.path.getsize(src)
        os.truncate(src, size // 2)
        os.kill(os.getpid(), signal.SIGKILL)
    replace(src, dst)
os.replace = half_then_die
"""
    killed = patched_run(tmp_path, train_args("killed", 60), patch)
    assert killed.returncode == -signal.SIGKILL
    folder = tmp_path / "runs" / "killed" / "checkpoints"
    assert [s for s, _ in checkpoint.list_checkpoints(folder)] == [20]
    assert list(folder.glob(".tmp-*")), "the half-written temporary should be left behind"
    assert checkpoint.load(checkpoint.checkpoint_path(folder, 20))["step"] == 20
    resumed = gankit("train", "--resume", str(folder.parent), cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert not list(folder.glob(".tmp-*"))
    assert_same_training(folder.parent, reference)


def test_sigkill_at_an_arbitrary_moment_then_resume(tmp_path, reference):
    """A checkpoint every iteration, killed from outside whenever the clock says: still exact."""
    args = train_args("killed", 60, every=1)
    process = subprocess.Popen(
        [sys.executable, "-m", "gankit", *args], cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    folder = tmp_path / "runs" / "killed" / "checkpoints"
    deadline = time.monotonic() + 120
    while len(checkpoint.list_checkpoints(folder)) < 3 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    process.kill()
    process.wait()
    steps = [s for s, _ in checkpoint.list_checkpoints(folder)]
    assert steps and steps[-1] < 60, steps
    resumed = gankit("train", "--resume", str(folder.parent), cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert_same_training(folder.parent, reference)


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_saves_exits_cleanly_and_resumes(tmp_path, stop):
    args = train_args("stopped", 1_000_000, every=0)
    process = subprocess.Popen(
        [sys.executable, "-m", "gankit", *args], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    metrics = tmp_path / "runs" / "stopped" / "metrics.jsonl"
    deadline = time.monotonic() + 120
    while (not metrics.exists() or len(metrics.read_text().splitlines()) < 2) and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(stop)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "Traceback" not in err
    run = tmp_path / "runs" / "stopped"
    ((step, _),) = checkpoint.list_checkpoints(run / "checkpoints")
    assert 20 <= step < 1_000_000
    assert f"interrupted at iteration {step}" in err and f"gankit train --resume {Path('runs/stopped')}" in err

    resumed = gankit("train", "--resume", str(run), "--set", f"train.steps={step + 15}", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    fresh = gankit(*train_args("fresh", step + 15, every=0), cwd=tmp_path)
    assert fresh.returncode == 0, fresh.stderr
    assert_same_training(run, tmp_path / "runs" / "fresh")


def test_conditional_image_run_with_ema_and_classifier_resumes_bit_identical(tmp_path):
    """Labels, the data walk, G's moving average and the classifier's evaluations all resume exactly."""
    settings = ["data.limit=640", "data.batch_size=64", "train.steps=30", "train.checkpoint_every=10",
                "train.log_every=5", "train.eval_every=10", "train.grid_every=10", "eval.n_samples=100",
                "train.ema_decay=0.9", "train.tensorboard=off"]  # fmt: skip
    args = ["cgan-mlp", *[a for s in settings for a in ("--set", s)]]
    done = gankit("train", *args, "--name", "ref", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    killed = killed_after_checkpoint(tmp_path, ["train", *args, "--name", "killed"], step=20)
    assert killed.returncode == -signal.SIGKILL
    resumed = gankit("train", "--resume", str(tmp_path / "runs" / "killed"), cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert_same_training(tmp_path / "runs" / "killed", tmp_path / "runs" / "ref")
    state = final_state(tmp_path / "runs" / "ref")
    assert "label_agreement" in json.loads((tmp_path / "runs" / "ref" / "summary.json").read_text())["measures"]
    ema = {k: v for k, v in state["gan"].items() if k.startswith("ema.G.")}
    assert ema and any(not torch.equal(v, state["gan"][k.replace("ema.G.", "nets.G.", 1)]) for k, v in ema.items())


def test_resuming_with_ema_newly_enabled_starts_it_from_g(tmp_path):
    done = gankit(*train_args("plain", 20), "--set", "train.ema_decay=0", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    run = tmp_path / "runs" / "plain"
    resumed = gankit("train", "--resume", str(run), "--set", "train.steps=30", "--set", "train.ema_decay=0.5",
                     cwd=tmp_path)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert "no moving average of the generators; they start from their weights" in resumed.stderr
    assert any(k.startswith("ema.G.") for k in final_state(run)["gan"])


def test_a_resumed_run_reports_the_speed_of_the_iterations_it_trained(tmp_path):
    import gankit
    from gankit.runtime import describe

    first = gankit.train("ring", overrides=[*TINY, "train.steps=20"], runs_dir=tmp_path)
    # as if the first process had been slow: its time must not count in the resumed one's speed
    path = checkpoint.list_checkpoints(first.run_dir / "checkpoints")[-1][1]
    checkpoint.save(path, {**checkpoint.load(path), "elapsed": 1000.0})
    summary = gankit.resume(first.run_dir, overrides=["train.steps=50"]).summary
    session = summary["this_process"]
    assert (summary["steps"], session["from_step"], session["steps"]) == (50, 20, 30)
    assert session["seconds"] == pytest.approx(summary["seconds"] - 1000.0, abs=0.011)
    assert 0 < session["seconds"] < 1000
    text = describe(summary)
    assert f"Trained iterations 21–50 in {session['seconds']:.1f} s ({30 / session['seconds']:.1f} it/s)" in text
    assert f"resumed from iteration 20 (50 iterations in {summary['seconds']:.1f} s in all)" in text
    assert json.loads((first.run_dir / "summary.json").read_text())["this_process"] == session
