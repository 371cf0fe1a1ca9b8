"""The fast paths: mixed precision, channels-last, torch.compile, the captured training step and
`train.fast`'s automatic choice (its CUDA logic as a pure function: CI has no GPU).

CI has no GPU, so the CUDA graph itself is compared with the eager step by
`bench/fast_train.py` on a GPU machine (it stops with an error when they differ); here a
stand-in graph (capture records, replay re-runs) checks everything the host does around the
graph: warm-up, the real batches copied into the graph's inputs, the statistics the graph adds
and the counts the host keeps.
"""

from __future__ import annotations

import json
import signal

import pytest
import torch

from gankit import checkpoint
from gankit import train as train_run
from gankit.config import resolve
from gankit.engine import Trainer
from gankit.graphs import GraphedStep
from gankit.placement import choose_fast, choose_for, settle_fast

from .conftest import TINY, assert_same_tensors, gankit, killed_after_checkpoint


class RecordingGraph:
    """A CPU stand-in for a CUDA graph: capture keeps the function, replay runs it again."""

    def __init__(self, generators: list[torch.Generator]) -> None:
        self.body = None

    def capture(self, body) -> None:
        self.body = body

    def replay(self) -> None:
        self.body()


def trained(*overrides: str, graphed: bool = False, device: str = "cpu") -> Trainer:
    trainer = Trainer(resolve("ring", overrides=[*TINY, "train.steps=40", f"device={device}", *overrides]))
    if graphed:
        trainer._step = GraphedStep(trainer, None if device == "cuda" else RecordingGraph)
    trainer.fit()
    return trainer


@pytest.mark.parametrize("data", ["data.size=0", "data.size=512"], ids=["streamed", "fixed data set"])
def test_graph_mode_bookkeeping_reproduces_eager_training(data):
    eager, graphed = trained(data), trained(data, graphed=True)
    assert isinstance(graphed._step, GraphedStep) and graphed._step.graph is not None
    assert_same_tensors(eager.gan.state_dict(), graphed.gan.state_dict())
    # the logged statistics (sums the graph adds into, counts the host keeps) are the same
    assert [r["d_loss"] for r in eager.records] == [r["d_loss"] for r in graphed.records]
    assert_same_tensors(eager.data.state_dict(), graphed.data.state_dict())


@pytest.mark.cpu_only("compared bit for bit with CPU training, through a CPU stand-in graph")
def test_a_failed_capture_falls_back_to_eager_training(caplog):
    class Failing(RecordingGraph):
        def capture(self, body) -> None:
            raise RuntimeError("operation not permitted when stream is capturing")

    eager = trained()
    trainer = Trainer(resolve("ring", overrides=[*TINY, "train.steps=40"]))
    trainer._step = GraphedStep(trainer, Failing)
    trainer.fit()
    assert "CUDA graph capture failed (operation not permitted" in caplog.text
    assert_same_tensors(eager.gan.state_dict(), trainer.gan.state_dict())


def test_asking_for_a_graph_where_none_can_be_made_is_logged_and_trains_eagerly(caplog):
    trainer = trained("train.cuda_graph=true")
    assert "CUDA graph off: a CUDA graph needs a CUDA device (this run is on cpu)" in caplog.text
    assert trainer._step == trainer.train_step


def test_bf16_training_tracks_fp32():
    settings = ["train.steps=600", "train.log_every=100", "train.eval_every=600", "eval.n_samples=2500"]
    fp32, bf16 = trained(*settings), trained(*settings, "train.precision=bf16")
    assert [r["d_loss"] for r in fp32.records] != [r["d_loss"] for r in bf16.records]  # bf16 did run
    for a, b in zip(fp32.records, bf16.records):
        assert abs(a["d_loss"] - b["d_loss"]) < 0.05 and abs(a["g_loss"] - b["g_loss"]) < 0.05, (a, b)
    w1 = fp32.records[-1]["eval/sliced_w1"], bf16.records[-1]["eval/sliced_w1"]
    assert abs(w1[0] - w1[1]) < 0.1, w1


@pytest.mark.cpu_only("a bit-identical resume")
def test_fp16_gradient_scalers_are_checkpointed_and_resume_exactly(tmp_path):
    args = ["train", "ring", *[a for s in TINY for a in ("--set", s)], "--set", "train.precision=fp16",
            "--set", "train.steps=40", "--set", "train.checkpoint_every=20", "--set", "train.tensorboard=off"]  # fmt: skip
    assert gankit(*args, "--name", "ref", cwd=tmp_path).returncode == 0
    assert killed_after_checkpoint(tmp_path, [*args, "--name", "cut"], step=20).returncode == -signal.SIGKILL
    resumed = gankit("train", "--resume", str(tmp_path / "runs" / "cut"), cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    states = []
    for name in ("ref", "cut"):
        _, path = checkpoint.list_checkpoints(tmp_path / "runs" / name / "checkpoints")[-1]
        states.append(checkpoint.load(path))
    assert_same_tensors(states[0]["gan"], states[1]["gan"])
    scalers = states[0]["precision"]["scalers"]
    assert set(scalers) == {"D", "G"} and all(s["scale"] > 0 for s in scalers.values())
    assert all(s["_growth_tracker"] > 0 or s["scale"] != 2.0**16 for s in scalers.values())  # they stepped
    assert states[0]["precision"] == states[1]["precision"]
    ref = (tmp_path / "runs" / "ref" / "metrics.jsonl").read_text().splitlines()
    cut = (tmp_path / "runs" / "cut" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(r)["d_loss"] for r in ref] == [json.loads(r)["d_loss"] for r in cut]


def test_channels_last_keeps_the_arithmetic_and_the_memory_format():
    base = ["data.limit=128", "data.batch_size=32", "model.g_width=8", "model.d_width=8", "train.steps=3",
            "eval.n_samples=64", "train.tensorboard=off"]  # fmt: skip
    plain = Trainer(resolve("dcgan", overrides=base))
    fast = Trainer(resolve("dcgan", overrides=[*base, "train.channels_last=true"]))
    conv = next(p for p in fast.gan.nets["D"].parameters() if p.dim() == 4 and p.shape[1] > 1)
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    for _ in range(3):
        plain.train_step()
        fast.train_step()
    for (key, a), b in zip(plain.gan.state_dict().items(), fast.gan.state_dict().values()):
        if isinstance(a, torch.Tensor) and a.is_floating_point():
            assert torch.allclose(a, b, rtol=1e-4, atol=1e-5), key


def test_compiled_networks_train_like_eager_ones(caplog):
    eager, compiled = trained("train.steps=20"), trained("train.steps=20", "train.compile=true")
    assert all(net._compiled_call_impl is not None for net in compiled.gan.nets.values())
    for (key, a), b in zip(eager.gan.state_dict().items(), compiled.gan.state_dict().values()):
        if isinstance(a, torch.Tensor):
            assert torch.allclose(a, b, rtol=1e-4, atol=1e-6), key
    penalised = Trainer(resolve("wgan-gp", overrides=["train.compile=true"]))
    assert "not compiling D: its gradient penalty needs a double backward" in caplog.text
    assert hasattr(penalised.gan.nets["G"], "_compiled_call_impl") and penalised.gan.nets["G"]._compiled_call_impl


# ------------------------------------------------------------------ train.fast

UNSET = {"channels_last": None, "cuda_graph": None}
ADAMS = {"D": {"name": "Adam"}, "G": {"name": "AdamW"}}


def test_the_choice_is_recorded_in_config_json_and_can_be_turned_off(tmp_path, caplog):
    caplog.set_level("INFO", logger="gankit")
    written = {}
    for fast in ("auto", "off"):
        overrides = [*TINY, "train.steps=5", "device=cpu", "train.tensorboard=off", f"train.fast={fast}"]
        result = train_run("ring", overrides=overrides, runs_dir=tmp_path, name=fast)
        written[fast] = json.loads((result.run_dir / "config.json").read_text())["train"]
    assert written["auto"]["fast_chosen"] == (
        "foreach optimiser (D, G); not chosen: channels-last, cuDNN autotuning and the CUDA graph (CUDA only)"
    )
    assert written["off"]["fast_chosen"] == "nothing (no automatic choice: train.fast = off)"
    assert written["auto"]["channels_last"] is None and written["auto"]["cuda_graph"] is None  # nothing pinned
    assert "speed-ups" not in caplog.text  # on the CPU the choice is recorded, not said (CUDA runs log it once)


def test_choosing_on_the_cpu_changes_nothing():
    """The CPU's one automatic choice, Adam's foreach update, is bit-identical to PyTorch's default."""
    auto, off = trained("train.steps=20"), trained("train.steps=20", "train.fast=off")
    assert_same_tensors(auto.gan.state_dict(), off.gan.state_dict())
    for player in ("D", "G"):
        chosen, default = auto.optimizers[player].state_dict(), off.optimizers[player].state_dict()
        assert [g.pop("foreach") for g in chosen["param_groups"]] == [True]  # the only difference
        assert [g.pop("foreach") for g in default["param_groups"]] == [None]
        assert_same_tensors({"o": chosen}, {"o": default})
    assert torch.backends.cudnn.benchmark is False


def test_on_cuda_auto_chooses_every_exact_speed_up_a_convolutional_model_allows():
    choice = choose_fast("cuda", "auto", UNSET, ADAMS, convolutional=True)
    assert choice.pin and choice.channels_last and choice.cudnn_benchmark and choice.fused == {"D": True, "G": True}
    assert choice.cuda_graph is None  # decided once the trainer is built
    choice.settle_graph(None)
    assert choice.line() == "fused optimiser (D, G), channels-last, cuDNN autotuning, CUDA graph"


def test_on_cuda_auto_says_why_it_leaves_a_speed_up_out():
    optim = {"D": {"name": "Adam", "foreach": True}, "G": {"name": "SGD"}}
    choice = choose_fast("cuda", "auto", UNSET, optim, convolutional=False)
    choice.settle_graph("train.nonfinite = skip decides on the host at every update whether to step")
    assert not (choice.channels_last or choice.cudnn_benchmark or choice.cuda_graph) and choice.fused == {"D": False}
    assert choice.line() == (
        "nothing; not chosen: fused D (optim.D.foreach is set), fused G (SGD is not one of Adam, AdamW), "
        "channels-last and cuDNN autotuning (the model has no 2-D convolutions), "
        "CUDA graph (train.nonfinite = skip decides on the host at every update whether to step)"
    )
    deterministic = choose_fast("cuda", "auto", UNSET, ADAMS, convolutional=True, deterministic=True)
    assert deterministic.channels_last and not deterministic.cudnn_benchmark


def test_explicit_switches_win_over_auto_and_are_all_that_off_leaves():
    train = {"channels_last": False, "cuda_graph": False}
    optim = {"D": {"name": "Adam", "fused": False}, "G": {"name": "Adam"}}
    choice = choose_fast("cuda", "auto", train, optim, convolutional=True)
    choice.settle_graph(None)
    assert not choice.channels_last and choice.cuda_graph is False and choice.fused == {"D": False, "G": True}
    off = choose_fast("cuda", "off", {"channels_last": True, "cuda_graph": True}, optim, convolutional=True)
    assert not off.pin and off.channels_last and off.cuda_graph and not off.cudnn_benchmark
    assert off.fused == {"D": False}  # only what the user set
    assert off.line() == "channels-last, CUDA graph (no automatic choice: train.fast = off)"
    for device in ("cpu", "mps"):
        elsewhere = choose_fast(device, "auto", UNSET, ADAMS, convolutional=True)
        assert not (elsewhere.pin or elsewhere.channels_last or elsewhere.fused or elsewhere.cuda_graph)
        # on the CPU the foreach update, bit-identical to the default loop (test above), unless set
        assert elsewhere.foreach == ({"D": True, "G": True} if device == "cpu" else {})
    mine = {"D": {"name": "Adam", "foreach": False}, "G": {"name": "SGD"}}
    assert choose_fast("cpu", "auto", UNSET, mine, convolutional=False).foreach == {}
    assert choose_fast("cpu", "off", UNSET, ADAMS, convolutional=False).foreach == {}


def test_on_cuda_the_choice_is_written_into_the_config(monkeypatch):
    """The CUDA branch's bookkeeping, on a CPU-built model: the decisions land in the config."""
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    base = ["data.limit=128", "model.g_width=8", "model.d_width=8", "eval.n_samples=64", "train.tensorboard=off"]
    trainer = Trainer(resolve("dcgan", overrides=[*base, "device=cpu", "train.fast=off"]))
    config = resolve("dcgan", overrides=[*base, "device=cpu"])
    trainer.config, trainer.fast = config, choose_for(trainer.gan, config, torch.device("cuda"))
    assert torch.backends.cudnn.benchmark is True
    assert config["train"]["channels_last"] is True and config["optim"]["D"]["fused"] is True
    settle_fast(trainer)  # the graph's obstacle here: the trainer itself is on the CPU
    assert config["train"]["cuda_graph"] is False
    assert config["train"]["fast_chosen"] == (
        "fused optimiser (D, G), channels-last, cuDNN autotuning; "
        "not chosen: CUDA graph (a CUDA graph needs a CUDA device (this run is on cpu))"
    )
    assert resolve(base=config) == config  # a resume reads it back as it is
