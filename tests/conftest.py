"""Shared test helpers: small configs, running the CLI (in this process or a fresh one), comparing weights."""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import os
import shutil
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

from gankit import checkpoint

ROOT = Path(__file__).resolve().parents[1]
# $GANKIT_TEST_DEVICE=cuda points the suite at a GPU: every config that names no device (built
# here, or by the CLI in a subprocess, which inherits the variable) gets it through $GANKIT_DEVICE.
# Unset, the suite runs as it always has: device `auto`, whatever the shell says.
TEST_DEVICE = os.environ.get("GANKIT_TEST_DEVICE", "")
if TEST_DEVICE:
    os.environ["GANKIT_DEVICE"] = TEST_DEVICE
else:
    os.environ.pop("GANKIT_DEVICE", None)
# The shared real datasets: $GANKIT_DATA, or ../shared/data beside the repository.
DATA = Path(os.environ.get("GANKIT_DATA") or ROOT.parent / "shared" / "data").resolve()

# A ring GAN small enough that a few dozen iterations take well under a second.
TINY = [
    "model.g_hidden=[32, 32]",
    "model.d_hidden=[32, 32]",
    "data.batch_size=32",
    "eval.n_samples=200",
    "train.log_every=10",
    "train.eval_every=20",
]


def gankit(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """`gankit ARGS` run in this process from folder CWD, as the command line runs it: its exit
    status and what it printed on stdout and stderr, with Python's warnings and other loggers'
    messages printed there as in a fresh interpreter. A fresh interpreter costs 4-8 s of
    importing torch and its compiler on the CI machine; what only one shows (output while
    importing, at exit, or written to file descriptor 2 by C code) is checked by the tests that
    start one (`gankit_process`, `patched_run`, `killed_after_checkpoint`, torchrun). An
    exception main() does not handle is raised here, where a process would exit with status 1."""
    from gankit.cli import main
    from gankit.rng import capture_global_rng, restore_global_rng

    loggers = [logging.getLogger(name) for name in ("gankit", "")]
    saved = [(list(log.handlers), log.level, log.propagate) for log in loggers]
    for log in loggers:  # as a fresh process has them: no handlers (Python's last resort prints)
        log.handlers[:] = []
    loggers[0].level, loggers[0].propagate = logging.NOTSET, True
    out, err, previous = io.StringIO(), io.StringIO(), Path.cwd()
    threads, autotune, rng = torch.get_num_threads(), torch.backends.cudnn.benchmark, capture_global_rng()
    try:
        os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), warnings.catch_warnings():
            _fresh_interpreter_warnings()
            try:
                status = main(list(args))
            except SystemExit as exc:  # argparse: usage errors, --help, --version
                if isinstance(exc.code, str):
                    print(exc.code, file=sys.stderr)
                status = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    finally:
        os.chdir(previous)
        torch.set_num_threads(threads)
        torch.backends.cudnn.benchmark = autotune
        restore_global_rng(rng)
        for log, (handlers, level, propagate) in zip(loggers, saved):
            log.handlers[:], log.level, log.propagate = handlers, level, propagate
    return subprocess.CompletedProcess(["gankit", *args], status, out.getvalue(), err.getvalue())


def _fresh_interpreter_warnings() -> None:
    """Python's default warning filters (not pytest's), printed onto whatever stderr is now."""
    warnings.resetwarnings()
    warnings.simplefilter("default")
    for quiet in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
        warnings.filterwarnings("ignore", category=quiet)
    warnings.filterwarnings("default", category=DeprecationWarning, module="__main__")
    warnings.showwarning = _print_warning


def _print_warning(message, category, filename, lineno, file=None, line=None) -> None:
    sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


def gankit_process(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `python -m gankit ARGS` in a fresh interpreter and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "gankit", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def python(code: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def patched_run(cwd: Path, args: list[str], patch: str) -> subprocess.CompletedProcess:
    """Run the CLI with ARGS in a fresh interpreter after executing PATCH (os, signal imported)."""
    code = f"import os, signal, sys\n{patch}\nfrom gankit.cli import main\nsys.exit(main({args!r}))\n"
    return python(code, cwd)


def killed_after_checkpoint(cwd: Path, args: list[str], step: int) -> subprocess.CompletedProcess:
    """Run the CLI with ARGS and SIGKILL it right after it wrote the checkpoint of iteration STEP."""
    patch = f"""
from gankit.engine import Trainer
write = Trainer._write_checkpoint  # every checkpoint, written now or after a running evaluation
def write_then_die(self, state, at, *rest):
    path = write(self, state, at, *rest)
    if at == {step}:
        self.writes.wait()  # written by a thread beside training: the kill comes once it is on disk
        os.kill(os.getpid(), signal.SIGKILL)
    return path
Trainer._write_checkpoint = write_then_die
"""
    return patched_run(cwd, args, patch)


def resumed_after_a_kill(tmp_path: Path, args: list[str], run: str, kill_at: int, final: int) -> tuple[dict, dict]:
    """Train ARGS (naming run RUN) once uninterrupted and once SIGKILLed right after the checkpoint
    of iteration KILL_AT then resumed; the two checkpoints of iteration FINAL (resumed, reference),
    every part of the training state asserted bit-identical."""
    reference = tmp_path / "ref"
    reference.mkdir()
    assert gankit(*args, cwd=reference).returncode == 0
    assert killed_after_checkpoint(tmp_path, args, step=kill_at).returncode == -signal.SIGKILL
    resumed = gankit("train", "--resume", str(tmp_path / "runs" / run), cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    name = f"ckpt-{final:08d}.safetensors"
    a = checkpoint.load(tmp_path / "runs" / run / "checkpoints" / name)
    b = checkpoint.load(reference / "runs" / run / "checkpoints" / name)
    for key in ("gan", "optim", "noise_rng", "data", "global_rng"):
        assert_same_tensors({key: a[key]}, {key: b[key]})
    return a, b


def assert_same_tensors(a: dict, b: dict, atol: float = 0.0) -> None:
    """Every tensor in two (nested) state dicts is bit-identical (or, given `atol`, within it)."""
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], dict):
            assert_same_tensors(a[key], b[key], atol)
        elif isinstance(a[key], torch.Tensor):
            same = torch.equal(a[key], b[key]) if atol == 0 else torch.allclose(a[key], b[key], rtol=0, atol=atol)
            assert same, f"{key} differs"
        else:
            assert a[key] == b[key], f"{key}: {a[key]} != {b[key]}"


def with_fast_choice(expected: dict, written: dict) -> dict:
    """A resolved config with what a run wrote into its config.json of `train.fast`'s choice (the
    record, and on CUDA the switches it decided): tests/test_fast.py checks those themselves."""
    out = copy.deepcopy(expected)
    out["train"].update({k: written["train"][k] for k in ("fast_chosen", "channels_last", "cuda_graph")})
    for player, spec in written["optim"].items():
        for key in ("fused", "foreach"):
            if key in spec:
                out["optim"][player][key] = spec[key]
    return out


def data_dir(name: str) -> Path:
    """A folder of the shared test data; a failure (never a skip) when it is not there."""
    path = DATA / name
    if not path.is_dir():
        pytest.fail(f"test data {path} is missing: set GANKIT_DATA to the shared data folder (see its README.md)")
    return path


@pytest.fixture(scope="session", autouse=True)
def _data_root_and_cache(tmp_path_factory):
    """gankit (and the subprocesses tests start) reads the shared data, and caches trained
    classifiers and reference features in one folder for the whole test run (shared by the
    pytest-xdist workers, which take turns through gankit's file locks) rather than in the
    user's cache. Each worker, and what it starts, uses one thread: the workers share the cores."""
    os.environ.setdefault("GANKIT_DATA", str(DATA))
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
        os.environ["OMP_NUM_THREADS"] = "1"
        torch.set_num_threads(1)
    cache = root / "gankit-cache"
    (cache / "classifiers").mkdir(parents=True, exist_ok=True)
    os.environ["GANKIT_CACHE"] = str(cache)
    _seed_classifiers(cache / "classifiers")
    yield


# The MNIST and Fashion-MNIST LeNets gankit trains on the shared data (tests/fixtures/classifiers:
# trained by its recipe on the CI machine, 80-90 s of one core each there), placed in the test
# cache as gankit would have left them. Their names hold the data's and recipe's hashes: another
# dataset or a new recipe misses them, and gankit trains its own as before.
CLASSIFIERS = ROOT / "tests" / "fixtures" / "classifiers"


def _seed_classifiers(folder: Path) -> None:
    for fixture in CLASSIFIERS.glob("*.safetensors"):
        if not (folder / fixture.name).exists():
            partial = folder / f".{fixture.name}.{os.getpid()}"
            shutil.copyfile(fixture, partial)
            os.replace(partial, folder / fixture.name)  # whole, whichever worker gets there first


@pytest.fixture
def cli(capsys):
    """`gankit ARGS` run in this process (no interpreter start-up) as (status, stdout, stderr);
    the logging set-up main() makes is undone afterwards, so later tests' caplog still sees gankit."""
    from gankit.cli import main

    log = logging.getLogger("gankit")
    saved = (list(log.handlers), log.level, log.propagate)

    def run(*args: str) -> tuple[int, str, str]:
        status = main(list(args))
        captured = capsys.readouterr()
        return status, captured.out, captured.err

    yield run
    log.handlers[:], log.level, log.propagate = saved[0], saved[1], saved[2]


@pytest.fixture(autouse=True)
def _gankit_logger_restored():
    """Every test starts with the "gankit" logger as a fresh process has it (no handler, no
    level, propagating to the root, where caplog listens) and leaves it as it found it: a
    command run in-process (`cli.main`, also inside module-scoped fixtures) gives it a stderr
    handler and stops propagation for the rest of the process."""
    log = logging.getLogger("gankit")
    saved = (list(log.handlers), log.level, log.propagate)
    log.handlers[:], log.level, log.propagate = [], logging.NOTSET, True
    yield
    log.handlers[:], log.level, log.propagate = saved[0], saved[1], saved[2]


@pytest.fixture(autouse=True)
def _quiet_threads():
    """Tests in this process share 2 cores with subprocesses they start."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


# The files that take longest (minutes of one core each, measured on the 2-core CI machine).
# pytest-xdist hands whole files (--dist loadfile) to whichever worker has fewer than two queued,
# in collection order: the longest first, so that both workers stay busy to the end instead of
# one finishing a long file alone.
LONGEST_FIRST = ["test_pix2pix.py", "test_stargan.py", "test_stabilised.py", "test_cyclegan.py",
                 "test_mode_coverage.py", "test_biggan.py", "test_images.py", "test_progan.py", "test_learning.py",
                 "test_distributed.py", "test_failures.py", "test_resume.py"]  # fmt: skip


def pytest_collection_modifyitems(config, items):
    """The longest files first (above); off the CPU, skip the tests marked `cpu_only`
    (bit-identical arithmetic, CPU stand-ins), each with the reason its marker gives."""
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest keep their order
    if not TEST_DEVICE or TEST_DEVICE == "cpu":
        return
    for item in items:
        marker = item.get_closest_marker("cpu_only")
        if marker is not None:
            reason = marker.args[0] if marker.args else "a CPU-only test"
            item.add_marker(pytest.mark.skip(reason=f"cpu_only ({reason}); the suite targets {TEST_DEVICE}"))
