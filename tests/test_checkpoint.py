"""Checkpoint files: exact round trips, atomic writes, damaged files refused with one line."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import pytest
import safetensors.torch
import torch

from gankit import atomic, checkpoint
from gankit.errors import CheckpointError

from .conftest import assert_same_tensors


def adam_state() -> dict:
    net = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(net.parameters(), lr=0.1, betas=(0.5, 0.9))
    net(torch.randn(4, 3)).sum().backward()
    opt.step()
    return {"net": net.state_dict(), "opt": opt.state_dict()}


def test_round_trip_keeps_tensors_int_keys_and_plain_values(tmp_path):
    state = {
        **adam_state(),
        "step": 7,
        "rng": torch.get_rng_state(),
        "python": [3, [1, 2, 3], None],
        "nested": {"flag": True, "ratio": 0.25, "name": "x"},
    }
    path = tmp_path / "c.safetensors"
    checkpoint.save(path, state)
    loaded = checkpoint.load(path)
    assert_same_tensors(loaded["net"], state["net"])
    assert set(loaded["opt"]["state"]) == {0, 1}  # optimiser state keeps its int keys
    assert_same_tensors(loaded["opt"]["state"][0], state["opt"]["state"][0])
    assert loaded["opt"]["param_groups"][0]["betas"] == [0.5, 0.9]
    assert torch.equal(loaded["rng"], state["rng"])
    assert loaded["python"] == [3, [1, 2, 3], None] and loaded["nested"] == state["nested"] and loaded["step"] == 7
    # a loaded optimiser state drives the optimiser exactly like the original
    net = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(net.parameters(), lr=0.1, betas=(0.5, 0.9))
    net.load_state_dict(loaded["net"])
    opt.load_state_dict(loaded["opt"])
    assert torch.equal(opt.state_dict()["state"][0]["exp_avg"], state["opt"]["state"][0]["exp_avg"])


def test_load_only_some_keys(tmp_path):
    checkpoint.save(tmp_path / "c.safetensors", {**adam_state(), "step": 3})
    loaded = checkpoint.load(tmp_path / "c.safetensors", keys=("net", "step"))
    assert set(loaded) == {"net", "step"}


def test_a_crash_during_a_write_leaves_the_old_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "ckpt-00000001.safetensors"
    checkpoint.save(path, {"step": 1, "w": torch.ones(3)})
    before = path.read_bytes()

    def crash(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        checkpoint.save(path, {"step": 2, "w": torch.zeros(3)})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # the temporary is cleaned up


def test_damaged_files_are_refused_with_one_line(tmp_path):
    path = tmp_path / "ckpt-00000001.safetensors"
    checkpoint.save(path, {"step": 1, "w": torch.ones(1000)})
    data = path.read_bytes()
    cases = {
        "truncated": data[: len(data) // 2],
        "garbage": b"\x00" * 64,
        "empty": b"",
    }
    for name, content in cases.items():
        damaged = tmp_path / f"{name}.safetensors"
        damaged.write_bytes(content)
        with pytest.raises(CheckpointError) as info:
            checkpoint.load(damaged)
        assert str(damaged) in str(info.value) and "\n" not in str(info.value)
    plain = tmp_path / "plain.safetensors"
    safetensors.torch.save_file({"w": torch.ones(2)}, str(plain))
    with pytest.raises(CheckpointError, match="not a gankit checkpoint"):
        checkpoint.load(plain)
    with pytest.raises(CheckpointError, match="does not exist"):
        checkpoint.load(tmp_path / "nope.safetensors")


def test_newer_format_versions_are_refused(tmp_path):
    path = tmp_path / "c.safetensors"
    metadata = {"format": checkpoint.FORMAT, "version": "99", "state": json.dumps({"step": 1})}
    safetensors.torch.save_file({"w": torch.ones(1)}, str(path), metadata=metadata)
    with pytest.raises(CheckpointError, match="format version 99; this gankit reads up to 1"):
        checkpoint.load(path)


def test_latest_skips_a_damaged_newest_file_and_removes_temporaries(tmp_path, caplog):
    folder = tmp_path / "checkpoints"
    checkpoint.save(checkpoint.checkpoint_path(folder, 10), {"step": 10})
    checkpoint.checkpoint_path(folder, 20).write_bytes(b"half a file")
    (folder / f"{atomic.TMP_PREFIX}ckpt-00000030.safetensors.abc").write_bytes(b"partial")
    path, state = checkpoint.load_latest(folder)
    assert path.name == "ckpt-00000010.safetensors" and state["step"] == 10
    assert "skipping checkpoint" in caplog.text and "ckpt-00000020" in caplog.text
    assert not list(folder.glob(f"{atomic.TMP_PREFIX}*"))


def test_prune_keeps_the_newest(tmp_path):
    for step in (1, 2, 3, 4):
        checkpoint.save(checkpoint.checkpoint_path(tmp_path, step), {"step": step})
    checkpoint.prune(tmp_path, keep=2)
    assert [s for s, _ in checkpoint.list_checkpoints(tmp_path)] == [3, 4]


def test_no_pickle_anywhere_in_gankit():
    source = Path(checkpoint.__file__).parent
    for file in source.rglob("*.py"):
        text = file.read_text()
        # pickletools only tokenises a stream (CIFAR-10's python batches); it never builds an object
        assert not re.search(r"import pickle\b|pickle\.loads?\(|Unpickler|allow_pickle=True", text), file
        assert "torch.load(" not in text or "weights_only=True" in text, file


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_atomic_writes_get_the_mode_open_gives_a_new_file(tmp_path, umask):
    previous = os.umask(umask)
    try:
        atomic.atomic_write_bytes(tmp_path / "atomic", b"x")
        with open(tmp_path / "plain", "wb") as f:
            f.write(b"x")
    finally:
        os.umask(previous)
    mode = stat.S_IMODE((tmp_path / "atomic").stat().st_mode)
    assert mode == stat.S_IMODE((tmp_path / "plain").stat().st_mode) == 0o666 & ~umask


def test_background_writes_keep_their_order_and_stop_at_the_first_failure(tmp_path, caplog):
    """Checkpoints are written by a thread beside training (gankit/writes.py): in order; a
    failure (a full disk) stops what was queued after it and is raised in the loop at every
    later write; closing finishes what is queued and logs a failure the loop was not told of."""
    import threading

    from gankit.writes import BackgroundWrites

    writes, done, started = BackgroundWrites(), [], threading.Event()
    release = threading.Event()

    def slow_first():
        started.set()
        release.wait(10)
        done.append(("first", threading.current_thread().name))

    writes.submit(slow_first)
    writes.submit(lambda: done.append(("second", threading.current_thread().name)))
    started.wait(10)
    assert done == []  # the loop went on while the first was being written
    release.set()
    writes.wait()
    assert [name for name, _ in done] == ["first", "second"]
    assert all(thread.startswith("gankit-writes") for _, thread in done)

    def full_disk():
        raise OSError(28, "No space left on device", str(tmp_path / "ckpt-00000040.safetensors"))

    writes.submit(full_disk)
    writes.submit(lambda: done.append(("after the failure", "")))
    with pytest.raises(OSError, match="No space left"):
        writes.wait()
    with pytest.raises(OSError, match="No space left"):  # every later write says so: none of them is written
        writes.submit(lambda: done.append(("next", "")))
    assert [name for name, _ in done] == ["first", "second"]
    writes.close()  # the loop was told: not logged again
    assert "a checkpoint was not written" not in caplog.text

    later = BackgroundWrites()
    later.submit(full_disk)
    later.close()  # on the way out of a run that failed otherwise: logged, not raised
    assert "a checkpoint was not written" in caplog.text and "No space left" in caplog.text


def test_a_run_copies_its_checkpoints_off_the_loop_and_writes_them_beside_it(tmp_path, monkeypatch):
    """Periodic checkpoints are encoded (copied) in the loop and written by the writer thread;
    the file holds the state of its own iteration though training went on meanwhile."""
    import threading

    import gankit

    from .conftest import TINY

    writers, write = [], checkpoint.write

    def recorded(path, encoded):
        writers.append((Path(path).name, threading.current_thread().name))
        write(path, encoded)

    monkeypatch.setattr(checkpoint, "write", recorded)
    run = gankit.train("ring", overrides=[*TINY, "train.steps=40", "train.checkpoint_every=10",
                                          "train.keep_checkpoints=10", "train.tensorboard=off"],
                       runs_dir=tmp_path, name="w").run_dir  # fmt: skip
    assert [name for name, _ in writers] == [f"ckpt-{s:08d}.safetensors" for s in (10, 20, 30, 40)]
    assert all(thread.startswith("gankit-writes") for _, thread in writers)
    for step, path in checkpoint.list_checkpoints(run / "checkpoints"):
        assert checkpoint.load(path)["step"] == step
