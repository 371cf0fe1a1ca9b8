"""Config resolution and validation: every mistake is one ConfigError line naming the key."""

from __future__ import annotations

import json

import pytest

from gankit.config import parse_overrides, resolve, validate
from gankit.errors import ConfigError
from gankit.presets import PRESETS


def error_of(*args, **kwargs) -> str:
    with pytest.raises(ConfigError) as info:
        resolve(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_every_preset_resolves_and_round_trips_through_json():
    for name in PRESETS:
        config = resolve(name)
        assert config["preset"] == name
        assert validate(json.loads(json.dumps(config))) == config


def test_unknown_key_names_the_key_suggests_and_lists_allowed():
    message = error_of("ring", overrides=["train.stepz=5"])
    assert "'train.stepz'" in message and "did you mean 'steps'" in message and "checkpoint_every" in message


def test_unknown_section_and_target_setting():
    assert "'trian'" in error_of("ring", overrides=["trian.steps=5"])
    assert "'data.radius'" in error_of("grid", overrides=["data.radius=3"])


def test_wrong_type():
    assert error_of("ring", overrides=["train.steps=many"]) == ('train.steps must be an integer, got "many" (str)')
    assert "data.std must be a number" in error_of("ring", overrides=["data.std=true"])
    assert "model.g_hidden must be a list of integers" in error_of("ring", overrides=["model.g_hidden=64"])


def test_out_of_range_and_choices():
    assert error_of("ring", overrides=["train.steps=0"]) == "train.steps must be >= 1, got 0"
    assert "data.std must be >= 1e-06" in error_of("ring", overrides=["data.std=-1.0"])
    message = error_of("ring", overrides=["model.d_features=fancy"])
    assert "model.d_features must be one of raw, mean-std" in message
    assert "model.g_activation[0] must be one of relu" in error_of("ring", overrides=['model.g_activation=["swish"]'])


def test_unknown_names_list_what_exists():
    assert "unknown preset 'rings'" in error_of("rings")
    message = error_of("ring", overrides=["data.target=donut"])
    assert "unknown target 'donut'" in message and "gaussian-1d" in message and "spiral" in message
    assert "unknown objective 'hinge2'" in error_of("ring", overrides=["loss.objective=hinge2"])
    assert "device must be auto, cpu" in error_of("ring", overrides=["device=gpu7"])


def test_optimizer_validated_against_torch():
    assert "optim.D.name must be a torch.optim optimiser" in error_of("ring", overrides=["optim.D.name=Adamm"])
    assert "unknown key 'optim.D.momentum'" in error_of("ring", overrides=["optim.D.momentum=0.9"])
    assert "optim.G: Invalid learning rate" in error_of("ring", overrides=["optim.G.lr=-1.0"])
    assert "optim.D.betas must be a list of 2 numbers" in error_of("ring", overrides=["optim.D.betas=[0.5]"])
    assert "unknown key 'optim.E'" in error_of("ring", overrides=["optim.E.lr=0.1"])


def test_switching_choice_starts_from_its_defaults():
    config = resolve("ring", overrides=["data.target=grid", "optim.D.name=SGD"])
    assert config["data"]["std"] == 0.05 and config["data"]["side"] == 5  # grid's own defaults
    assert config["data"]["batch_size"] == 256  # common settings are kept
    assert config["optim"]["D"]["name"] == "SGD" and "betas" not in config["optim"]["D"]


def test_overrides_parse_toml_literals_and_bare_strings():
    assert parse_overrides(["a.b=3", "a.c=0.5", "a.d=[1, 2]", "e=true", "f=ring", 'g="x y"']) == {
        "a": {"b": 3, "c": 0.5, "d": [1, 2]},
        "e": True,
        "f": "ring",
        "g": "x y",
    }
    with pytest.raises(ConfigError, match="must look like key.path=value"):
        parse_overrides(["train.steps"])


def test_files_toml_json_yaml_and_their_errors(tmp_path):
    (tmp_path / "a.toml").write_text("[train]\nsteps = 7\n")
    (tmp_path / "b.json").write_text('{"train": {"log_every": 3}}')
    (tmp_path / "c.yaml").write_text("data:\n  modes: 6\n")
    config = resolve("ring", [tmp_path / "a.toml", tmp_path / "b.json", tmp_path / "c.yaml"], ["train.steps=9"])
    assert (config["train"]["steps"], config["train"]["log_every"], config["data"]["modes"]) == (9, 3, 6)

    (tmp_path / "bad.toml").write_text("[train\nsteps = 7\n")
    assert "bad.toml is not valid TOML" in error_of("ring", [tmp_path / "bad.toml"])
    assert "does not exist" in error_of("ring", [tmp_path / "missing.toml"])
    (tmp_path / "x.ini").write_text("")
    assert "unknown format '.ini'" in error_of("ring", [tmp_path / "x.ini"])
    (tmp_path / "list.json").write_text("[1, 2]")
    assert "must hold a table" in error_of("ring", [tmp_path / "list.json"])


def test_build_time_errors_are_config_errors():
    from gankit.engine import Trainer

    config = resolve("ring", overrides=['model.g_activation=["relu", "tanh"]'])
    with pytest.raises(ConfigError, match="model.g_activation must name one activation or one per hidden layer"):
        Trainer(config)
    config = resolve("gaussian-2d", overrides=["data.batch_size=2000"])
    with pytest.raises(ConfigError, match=r"data.batch_size \(2000\) must be <= the data set size \(1000\)"):
        Trainer(config)


def test_a_preset_named_in_a_config_file_is_the_one_started_from(tmp_path):
    (tmp_path / "grid.toml").write_text('preset = "grid"\n[train]\nsteps = 7\n')
    config = resolve(None, [tmp_path / "grid.toml"])
    assert config == resolve("grid", overrides=["train.steps=7"])  # as if `gankit train grid` had been typed
    assert config["data"]["target"] == "grid" and config["name"] == "grid"
    assert resolve("grid", [tmp_path / "grid.toml"]) == config  # naming it twice is no conflict
    # the last file naming a preset chooses it, as later files win every other setting
    (tmp_path / "moons.json").write_text('{"preset": "moons"}')
    assert resolve(None, [tmp_path / "grid.toml", tmp_path / "moons.json"])["data"]["target"] == "moons"
    message = error_of("ring", [tmp_path / "grid.toml"])
    assert "preset 'ring' was given, but config file" in message and "names preset 'grid'" in message
    (tmp_path / "typo.toml").write_text('preset = "gird"\n')
    assert "unknown preset 'gird'" in error_of(None, [tmp_path / "typo.toml"])


def test_a_preset_named_in_a_config_file_is_honoured_by_the_command(tmp_path, cli):
    (tmp_path / "grid.toml").write_text('preset = "grid"\n')
    status, out, _ = cli("config", "--config", str(tmp_path / "grid.toml"))
    assert status == 0 and json.loads(out) == resolve("grid")
    status, _, error = cli("config", "ring", "--config", str(tmp_path / "grid.toml"))
    assert status == 2 and error.count("\n") == 1 and "names preset 'grid'" in error
