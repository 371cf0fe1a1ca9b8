"""The model contract: runs of the previous version resume, the package has no import cycles,
and the engine names no model, player or statistic of its own."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import gankit
from gankit import checkpoint
from gankit.engine import Trainer
from gankit.run import RunDir
from gankit.schedule import lr_factor

from .conftest import ROOT, assert_same_tensors
from .conftest import gankit as run_gankit

FIXTURE = Path(__file__).parent / "fixtures" / "v1-ring"  # written by gankit 0.1 (commit ede3eef)


def test_a_run_of_the_previous_version_loads_losslessly_and_resumes_as_it_would_have(tmp_path):
    """The fixture holds gankit 0.1's checkpoints at iterations 10 and 20 (G's moving average
    then under `ema.`). Loaded today, iteration 10 is every bit of what 0.1 saved (weights, Adam's
    moments, noise and data streams); resumed from there, iteration 20 is what 0.1 wrote: bit for
    bit on the CPU that wrote the fixture (a Xeon), within float rounding on another (an AMD EPYC's
    vector kernels round a few last bits differently: at most 3e-8 after ten iterations, where a
    lost noise or data stream moves the weights by 1e-2)."""
    run = tmp_path / "v1-ring"
    shutil.copytree(FIXTURE, run)
    (run / "checkpoints" / "ckpt-00000020.safetensors").unlink()
    folder = RunDir.existing(run)
    trainer = Trainer(folder.read_config())
    try:
        trainer.restore_latest(folder)
        checkpoint.save(tmp_path / "today.safetensors", trainer.state_dict())  # as today writes it
    finally:
        trainer.close()
    restored = checkpoint.load(tmp_path / "today.safetensors")
    saved = _under_todays_names(checkpoint.load(FIXTURE / "checkpoints" / "ckpt-00000010.safetensors"))
    for key in ("gan", "optim", "noise_rng", "data", "global_rng"):
        assert_same_tensors({key: saved[key]}, {key: restored[key]})
    done = run_gankit("train", "--resume", str(run), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    new = checkpoint.load(run / "checkpoints" / "ckpt-00000020.safetensors")
    old = _under_todays_names(checkpoint.load(FIXTURE / "checkpoints" / "ckpt-00000020.safetensors"))
    assert_same_tensors({"gan": old["gan"], "optim": old["optim"]}, {"gan": new["gan"], "optim": new["optim"]},
                        atol=1e-6)  # fmt: skip
    loaded = gankit.load(FIXTURE)
    assert loaded.sample(5, seed=0).shape == (5, 2) and loaded.generator is loaded.gan.ema["G"]


def _under_todays_names(state: dict) -> dict:
    """A 0.1 checkpoint's state (changed in place) under today's names: the moving average as
    `ema.G.`, and Adam's foreach switch as today's CPU runs set it (train.fast; the same
    arithmetic, bit for bit)."""
    state["gan"] = {("ema.G." + k[4:] if k.startswith("ema.") else k): v for k, v in state["gan"].items()}
    for spec in state["optim"].values():
        for group in spec["param_groups"]:
            assert group["foreach"] is None
            group["foreach"] = True
    return state


def _imports(path: Path, package: str) -> set[str]:
    """The gankit modules a file imports, anywhere in it (function bodies included)."""
    module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
            for _ in range(max(node.level - 1, 0)):
                base = base.rsplit(".", 1)[0]
            target = (base + ("." + node.module if node.module else "")) if node.level else (node.module or "")
            names = [f"{target}.{a.name}" for a in node.names]
            found |= {n for n in [target, *names] if n.startswith(package)}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith(package)}
    return found


def test_the_package_has_no_import_cycles():
    files = {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
             for p in (ROOT / "gankit").rglob("*.py")}  # fmt: skip
    graph = {m: {i for i in _imports(p, "gankit") if i in files and i != m} for m, p in files.items()}
    graph["gankit"] = set()  # the package's own __init__ only re-exports the API for users
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            assert state.get(nxt) != 1, "import cycle: " + " -> ".join([*path, node, nxt])
            if nxt not in state:
                visit(nxt, [*path, node])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [])


def test_the_engine_names_no_model_player_or_statistic():
    engine = ("engine.py", "intervals.py", "evaluations.py", "render.py")
    source = "".join((ROOT / "gankit" / name).read_text() for name in engine)
    for word in ('"D"', '"G"', "d_loss", "g_loss", "pix2pix", "dcgan", ".objective", "generator_key"):
        assert word not in source, word


def test_learning_rate_factors_by_hand():
    assert [lr_factor(i, 10, decay=4) for i in range(10)] == [1, 1, 1, 1, 1, 1, 1, 0.75, 0.5, 0.25]
    assert [lr_factor(i, 10, warmup=4) for i in range(5)] == [0.25, 0.5, 0.75, 1, 1]
    assert lr_factor(9, 10, warmup=20, decay=2) == 0.5 * 0.5


def test_the_worked_example_in_the_docs_runs_and_learns(tmp_path, monkeypatch):
    """docs/translation.md's new model, executed as written: it trains and reloads."""
    text = (ROOT / "docs" / "translation.md").read_text()
    code = text.split("### A new model in one file", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, "docs/translation.md", "exec"), namespace)
    assert namespace["result"].measures["modes"] >= 6  # the ring's 8 modes, nearly all found in 300 iterations
    assert namespace["samples"].shape == (1000, 2)
    records = (namespace["result"].run_dir / "metrics.jsonl").read_text()
    assert "critic_loss" in records and "grad_norm_generator" in records
