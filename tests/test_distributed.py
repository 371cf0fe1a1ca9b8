"""Data parallelism with torchrun and DistributedDataParallel, on the CPU with gloo."""

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
from gankit.config import resolve
from gankit.engine import Trainer

from .conftest import TINY, data_dir, gankit, killed_after_checkpoint

SETTINGS = [a for s in [*TINY, "train.tensorboard=off", "train.dist_timeout=60"] for a in ("--set", s)]


def torchrun(*args: str, processes: int = 2) -> list[str]:
    """The command that runs `gankit ARGS` in `processes` processes on this machine."""
    return [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(processes), "--standalone",
               "-m", "gankit", *args]  # fmt: skip


def weights(run: Path) -> dict[str, torch.Tensor]:
    _, path = checkpoint.list_checkpoints(run / "checkpoints")[-1]
    return checkpoint.load(path)["gan"]


def assert_close_weights(a: Path, b: Path) -> None:
    wa, wb = weights(a), weights(b)
    floats = [k for k, v in wa.items() if isinstance(v, torch.Tensor) and v.is_floating_point()]
    assert floats
    for key in floats:
        assert torch.allclose(wa[key], wb[key], rtol=1e-5, atol=1e-6), key


@pytest.mark.parametrize("preset", ["ring", "wgan-gp"], ids=["non-saturating", "gradient-penalty"])
def test_two_processes_with_global_batch_b_match_one_process(tmp_path, preset):
    args = ["train", preset, *SETTINGS, "--set", "train.steps=30"]
    done = subprocess.run(torchrun(*args, "--name", "two"), cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "training" in done.stderr and "on 2 processes" in done.stderr
    single = gankit(*args, "--name", "one", cwd=tmp_path)
    assert single.returncode == 0, single.stderr
    assert_close_weights(tmp_path / "runs" / "two", tmp_path / "runs" / "one")
    # the logged statistics are averaged over both processes: the same numbers
    two = (tmp_path / "runs" / "two" / "metrics.jsonl").read_text().splitlines()
    one = (tmp_path / "runs" / "one" / "metrics.jsonl").read_text().splitlines()
    assert len(two) == len(one)


def test_a_run_resumes_on_a_different_number_of_processes(tmp_path):
    args = ["train", "ring", *SETTINGS, "--set", "train.steps=40", "--set", "train.checkpoint_every=20"]
    reference = gankit(*args, "--name", "reference", cwd=tmp_path)
    assert reference.returncode == 0, reference.stderr
    assert killed_after_checkpoint(tmp_path, [*args, "--name", "moved"], step=20).returncode == -signal.SIGKILL
    run = tmp_path / "runs" / "moved"
    done = subprocess.run(torchrun("train", "--resume", str(run)), cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "from iteration 20" in done.stderr
    assert_close_weights(run, tmp_path / "runs" / "reference")


def test_a_killed_worker_stops_every_process_and_the_last_checkpoint_resumes(tmp_path):
    args = ["train", "ring", *SETTINGS, "--set", "train.steps=1000000", "--set", "train.checkpoint_every=10",
            "--name", "doomed"]  # fmt: skip
    launcher = subprocess.Popen(torchrun(*args), cwd=tmp_path, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)  # fmt: skip
    folder = tmp_path / "runs" / "doomed" / "checkpoints"
    deadline = time.monotonic() + 120
    while len(checkpoint.list_checkpoints(folder)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    workers = subprocess.run(["ps", "-o", "pid=", "--ppid", str(launcher.pid)], capture_output=True, text=True)
    pids = [int(p) for p in workers.stdout.split()]
    assert len(pids) == 2, workers.stdout
    killed_at = time.monotonic()
    subprocess.run(["kill", "-9", str(pids[1])])
    _, err = launcher.communicate(timeout=120)
    assert launcher.returncode != 0 and time.monotonic() - killed_at < 90
    assert "Signal 9 (SIGKILL)" in err  # torchrun's report names the failure
    alive = subprocess.run(["ps", "-o", "pid=", "-p", ",".join(map(str, pids))], capture_output=True, text=True)
    assert alive.stdout.strip() == "", "a worker outlived the failure"
    last, path = checkpoint.list_checkpoints(folder)[-1]
    assert checkpoint.load(path)["step"] == last  # intact
    resumed = gankit("train", "--resume", str(folder.parent), "--set", f"train.steps={last + 10}", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert f"from iteration {last}" in resumed.stderr


def test_a_global_batch_that_does_not_split_is_a_clear_error(tmp_path):
    done = subprocess.run(torchrun("train", "ring", *SETTINGS, "--set", "data.batch_size=33"),
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode != 0
    assert "data.batch_size (33) is the global batch and must divide evenly among the 2 processes" in done.stderr
    assert not (tmp_path / "runs").exists()


def test_what_two_processes_evaluate_is_what_rank_0_saved(tmp_path):
    """Batch-norm statistics (updated from each process's own slice, also in frozen G) are taken
    from rank 0 before evaluating, so the logged measures are those of the saved generator."""
    settings = ["data.limit=512", "data.batch_size=32", "model.g_width=8", "model.d_width=8", "train.steps=12",
                "train.log_every=6", "train.ema_decay=0.5", "eval.n_samples=200", "train.dist_timeout=120",
                "train.tensorboard=off"]  # fmt: skip
    args = ["train", "dcgan", *[a for s in settings for a in ("--set", s)], "--name", "bn"]
    done = subprocess.run(torchrun(*args), cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    run = tmp_path / "runs" / "bn"
    logged = json.loads((run / "summary.json").read_text())["measures"]
    again = gankit("eval", str(run), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    recomputed = json.loads((run / "eval.json").read_text())["measures"]
    assert recomputed["confidence"] == pytest.approx(logged["confidence"], rel=1e-6)
    assert recomputed["spread_ratio"] == pytest.approx(logged["spread_ratio"], rel=1e-6)


def test_progan_on_two_processes_grows_as_one_process_does(tmp_path):
    """A growth (8 px faded in over iterations 4–7) under DDP, which is told that the layers of
    a level not yet reached get no gradient: two processes end with the single process's
    weights and growth state (the minibatch standard deviation's groups of 4 fall within each
    process's half of the batch), and the 8 px layers trained after the growth."""
    data_dir("mnist")
    settings = ["data.target=mnist", "data.limit=64", "data.resolution=8", "data.batch_size=16", "model.width=4",
                "model.latent_dim=8", "model.fade_images=64", "model.stable_images=64", "train.steps=12",
                "train.log_every=4", "eval.n_samples=32", "data.classifier=false", "train.threads=1",
                "train.dist_timeout=120", "train.tensorboard=off", "device=cpu"]  # fmt: skip
    args = ["train", "progan", *[a for s in settings for a in ("--set", s)]]
    done = subprocess.run(torchrun(*args, "--name", "two"), cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    single = gankit(*args, "--name", "one", cwd=tmp_path)
    assert single.returncode == 0, single.stderr
    two, one = weights(tmp_path / "runs" / "two"), weights(tmp_path / "runs" / "one")
    assert two["nets.G.growth"].tolist() == one["nets.G.growth"].tolist() == [1.0, 1.0]
    assert_close_weights(tmp_path / "runs" / "two", tmp_path / "runs" / "one")
    # the 8 px layers trained after the growth: they moved away from their initial weights
    trainer = Trainer(resolve("progan", overrides=settings))  # the same initial weights
    fresh = trainer.gan.state_dict()
    trainer.close()
    grown = [k for k in fresh if k.startswith(("nets.G.blocks.0.", "nets.G.to_rgb.1.")) and k.endswith("weight")]
    assert len(grown) == 3 and not any(torch.equal(one[k], fresh[k]) for k in grown), grown
