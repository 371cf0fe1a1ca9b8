"""Instant commands and a talking API: what `--help`, `presets` and `config` import, what
`config --explain` says about every key, and what `gankit.train` shows on the console."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import sys
from typing import Any

import pytest
import torch

import gankit
from gankit import console
from gankit.checks import build_optimizer
from gankit.cli import main
from gankit.config import registries, resolve
from gankit.explain import EXPLAINED, explain
from gankit.optimizers import (
    CHECKED_LIGHTLY,
    NOT_NEGATIVE,
    OPTIMIZERS,
    TABLE_TORCH,
    accepted_without_torch,
    optimizer_table,
    signature_table,
    torch_release,
)
from gankit.presets import PRESETS
from gankit.sections import SECTIONS, TrainSettings

from .conftest import ROOT, TINY, python

HEAVY = ("torch", "scipy", "matplotlib", "numpy")
# Runs commands in a fresh interpreter and reports their exit codes and the heavy modules they imported.
PROBE = """
import contextlib, io, json, sys
from gankit.cli import main
codes, out = [], io.StringIO()
with contextlib.redirect_stdout(out):
    for argv in {commands!r}:
        try:
            codes.append(main(argv))
        except SystemExit as exc:
            codes.append(exc.code)
print(json.dumps({{"codes": codes, "out": out.getvalue(), "imported": [m for m in {heavy!r} if m in sys.modules]}}))
"""


def probe(*commands: list[str]) -> dict:
    done = python(PROBE.format(commands=list(commands), heavy=HEAVY), cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture
def fresh_logger(monkeypatch):
    """The "gankit" logger as a new process has it (main() and the API attach handlers to it)."""
    log = logging.getLogger("gankit")
    monkeypatch.setattr(log, "handlers", [])
    monkeypatch.setattr(log, "level", logging.NOTSET)
    monkeypatch.setattr(log, "propagate", True)
    return log


def test_help_presets_and_explaining_train_import_no_torch_scipy_matplotlib_or_numpy():
    found = probe(["--help"], ["train", "--help"], ["presets"], ["config", "--explain", "train"])
    assert found["imported"] == []
    assert found["codes"] == [0, 0, 0, 0]
    assert all(re.search(rf"^{re.escape(name)}\s", found["out"], re.M) for name in PRESETS)
    assert " ".join(found["out"].split()).count("gankit config --explain [SECTION]`; sections: top, data,") == 2
    assert "train.steps  integer, default 2000" in found["out"]


def test_resolving_and_explaining_configs_imports_no_torch_scipy_matplotlib_or_numpy():
    found = probe(["config", "ring"], ["config", "dcgan"], ["config", "--explain"])
    assert found["codes"] == [0, 0, 0]
    ring, end = json.JSONDecoder().raw_decode(found["out"])
    assert ring == resolve("ring")
    assert json.JSONDecoder().raw_decode(found["out"][end:].lstrip())[0] == resolve("dcgan")
    assert "optim.<player>.eps  number, default 1e-08 (torch's default for Adam)" in found["out"]
    # settings and names are declared apart from the networks, optimisers' arguments by a table
    assert found["imported"] == []


def test_the_optimiser_table_is_torch_optims_signatures():
    """Same arguments, same order, same defaults of the same types (an int default keeps
    integers integers in the resolved config)."""
    typed = {name: [(k, type(v), v) for k, v in args.items()] for name, args in signature_table().items()}
    assert {name: [(k, type(v), v) for k, v in args.items()] for name, args in optimizer_table().items()} == typed
    if torch_release() == TABLE_TORCH:  # the written table is the one in use: it must be exact
        assert optimizer_table() is OPTIMIZERS
    else:  # another torch: its signatures are read instead (rewrite OPTIMIZERS from signature_table())
        assert optimizer_table() is not OPTIMIZERS


@pytest.mark.parametrize("name", CHECKED_LIGHTLY)
def test_the_ranges_vouched_for_without_torch_are_those_torch_accepts(name):
    """Each range's edge and an inside value pass torch's own check, the first value outside
    fails it, and outside values are never vouched for (torch is then asked)."""
    defaults = optimizer_table()[name]

    def torch_accepts(key: str, value: Any) -> bool:
        try:
            build_optimizer({"name": name, key: value}, [torch.nn.Parameter(torch.zeros(1))])
        except ValueError:
            return False
        return True

    ranged = [key for key in defaults if key in NOT_NEGATIVE or key == "betas"]
    assert ranged and "lr" in ranged
    for key in ranged:
        if key == "betas":
            inside, outside = [[0.0, 0.0], [0.5, 0.999]], [[-0.1, 0.9], [0.5, 1.0]]
        else:
            inside, outside = [0, 0.0, 0.3, 10.0], [-1e-9, -1.0]
        for value in inside:
            assert accepted_without_torch(name, {key: value}) and torch_accepts(key, value), (key, value)
        for value in outside:
            assert not accepted_without_torch(name, {key: value}) and not torch_accepts(key, value), (key, value)
    switches = [key for key, default in defaults.items() if isinstance(default, bool) or default is None]
    assert switches and all(
        not accepted_without_torch(name, {key: True}) for key in switches if defaults[key] is not True
    )


def test_the_api_names_are_lazy_but_complete():
    from gankit import load, train

    assert train is gankit.api.train and load is gankit.api.load
    assert all(getattr(gankit, name) is not None for name in gankit.__all__)
    assert set(gankit.__all__) <= set(dir(gankit)) and gankit.__version__ == "0.1.0"
    with pytest.raises(AttributeError, match="no attribute 'trian'"):
        gankit.trian  # noqa: B018


def _described(text: str, key: str) -> tuple[str, str]:
    """(the line of facts, the help line) that --explain prints for `key`."""
    match = re.search(rf"^{re.escape(key)}  (.*)\n    (.*)$", text, re.M)
    assert match, f"{key} not explained"
    return match.group(1), match.group(2)


def test_explain_gives_each_key_its_type_default_limits_and_help(capsys, fresh_logger):
    assert main(["config", "--explain", "train"]) == 0
    text = capsys.readouterr().out
    facts, help_line = _described(text, "train.steps")
    assert facts == "integer, default 2000, >= 1"
    assert help_line == TrainSettings.__dataclass_fields__["steps"].metadata["help"]
    assert _described(text, "train.tensorboard")[0] == 'string, default "auto", one of: auto, on, off'
    assert _described(text, "train.channels_last")[0] == "true or false or unset, default unset"
    assert len(re.findall(r"^train\.", text, re.M)) == len(dataclasses.fields(TrainSettings))
    loss = explain("loss")
    assert _described(loss, "loss.objective")[0].endswith("one of: " + ", ".join(registries()["objective"].names()))
    assert _described(explain("eval"), "eval.best")[0].startswith('string, default "", one of: "", class_kl,')


def test_explain_names_every_key_any_preset_resolves_to():
    text = explain()
    for name in PRESETS:
        config = resolve(name)
        keys = [k for k in config if k not in (*SECTIONS, "optim")]
        keys += [f"{section}.{key}" for section in SECTIONS for key in config[section]]
        # the optimiser's own arguments are enumerated for the default, Adam
        keys += [f"optim.<player>.{key}" for spec in config["optim"].values() if spec["name"] == "Adam" for key in spec]
        missing = [k for k in keys if not re.search(rf"^{re.escape(k)}  ", text, re.M)]
        assert missing == [], name
    assert f"data.target = ring: {registries()['target'].get('ring').description}" in text
    assert re.search(r"^optim\.<player>\.eps  number, default 1e-08 \(torch's default for Adam\)$", text, re.M)


def test_unknown_section_is_one_line_listing_the_sections(capsys, fresh_logger):
    assert main(["config", "--explain", "optimiser"]) == 2
    err = capsys.readouterr().err
    assert err == f"gankit: error: --explain 'optimiser': unknown section (allowed: {', '.join(EXPLAINED)})\n"
    assert main(["config", "ring", "--explain", "train"]) == 2
    assert "takes no preset" in capsys.readouterr().err


def test_the_api_reports_to_the_console_unless_quiet(tmp_path, capfd, fresh_logger, monkeypatch):
    monkeypatch.setattr(logging.root, "handlers", [])  # as in a script: pytest's own capturing handlers are gone
    overrides = [*TINY, "train.steps=20"]
    result = gankit.train("ring", overrides=overrides, runs_dir=tmp_path)
    out, err = capfd.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert any(
        re.fullmatch(rf"gankit: training ring into {re.escape(str(result.run_dir))} on \S+", line) for line in lines
    )
    assert "gankit: iteration 20, d_loss " in err and " modes " in err  # the evaluation's report line
    assert lines[-1].startswith("gankit: Trained 20 iterations in ") and str(result.run_dir) in lines[-1]
    assert fresh_logger.handlers == [] and fresh_logger.level == logging.NOTSET  # nothing left behind

    gankit.resume(result.run_dir, ["train.steps=30"], quiet=True)  # not even the collapse warning
    assert capfd.readouterr() == ("", "")
    assert fresh_logger.handlers == []


def test_a_callers_own_logging_setup_receives_the_lines_and_keeps_its_level(caplog, monkeypatch):
    log = logging.getLogger("gankit")
    monkeypatch.setattr(log, "handlers", [])
    monkeypatch.setattr(log, "propagate", True)  # to the root logger, where caplog's handler is
    monkeypatch.setattr(log, "level", logging.NOTSET)
    with console.speaking(quiet=False):
        log.info("shown at INFO")
    log.setLevel(logging.WARNING)  # the caller's own level for gankit
    with console.speaking(quiet=False):
        log.info("not shown")
        log.warning("shown at WARNING")
    assert [r.getMessage() for r in caplog.records] == ["shown at INFO", "shown at WARNING"]
    assert log.handlers == [] and log.level == logging.WARNING


def test_the_progress_bar_shows_where_someone_watches(monkeypatch):
    class Terminal:
        def isatty(self) -> bool:
            return True

    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    assert console.show_progress(None, quiet=False) is False  # pytest's captured stderr
    monkeypatch.setitem(sys.modules, "ipykernel", sys)  # a notebook kernel
    assert console.show_progress(None, quiet=False) is True
    monkeypatch.delitem(sys.modules, "ipykernel")
    monkeypatch.setattr(sys, "stderr", Terminal())
    assert console.show_progress(None, quiet=False) is True
    assert console.show_progress(None, quiet=True) is False and console.show_progress(False, quiet=False) is False


def test_every_declared_builder_imports_and_the_light_names_match_the_networks():
    """The declarations name builders that exist, and each name a setting offers has its layer."""
    from gankit import model_settings
    from gankit.models import common, mlp

    for kind, table in registries().items():
        for entry in table:
            assert isinstance(entry.source, str) and callable(entry.item), (kind, entry.name)
    assert registries()["objective"].get("hinge").item.__name__ == "Hinge"
    assert tuple(mlp.ACTIVATIONS) == model_settings.ACTIVATIONS and tuple(mlp.OUTPUTS) == model_settings.OUTPUTS
    assert tuple(common.INITIALISERS) == model_settings.INITIALISERS
