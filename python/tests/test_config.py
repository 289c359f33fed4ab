"""Configs from dicts, text and files; bad input raises `ConfigError` naming the field with
the CLI's message; divergence raises `DivergenceError`."""
import pytest

import aedyn
from conftest import CONFIGS, MODELS


def cli_error(cli, path, *args):
    """The CLI's error message (its last stderr line without `error: `) for a config."""
    p = cli("theory", "--config", path, "--out", path.parent / "never", *args, check=False)
    assert p.returncode != 0 and not (path.parent / "never").exists()
    return p.stderr.strip().splitlines()[-1].removeprefix("error: ")


@pytest.mark.parametrize("model", MODELS)
def test_unknown_key_names_key_and_model_as_the_cli(model, cli, config_file):
    path = config_file(model)
    path.write_text(CONFIGS[model].replace("[output]", "[output]\nbogus = 1", 1))
    key = "output.bogus"
    with pytest.raises(aedyn.ConfigError) as e:
        aedyn.Config.from_file(str(path)).validate()
    assert e.value.field == key
    assert f"not a key of the {model} model" in str(e.value)
    assert str(e.value) == cli_error(cli, path)


def test_bad_values_and_types_name_the_field(cli, config_file):
    path = config_file("autoencoder")
    cfg = aedyn.Config.from_file(str(path))
    cfg.set("training.lr", -1.0)
    with pytest.raises(aedyn.ConfigError) as e:
        aedyn.theory(cfg)
    assert e.value.field == "training.lr"
    assert str(e.value) == cli_error(cli, path, "--set", "training.lr=-1.0")
    cfg = aedyn.Config({"network": {"hidden": "three"}})
    with pytest.raises(aedyn.ConfigError) as e:
        cfg.validate()
    assert e.value.field == "network.hidden" and "invalid type" in str(e.value)
    with pytest.raises(aedyn.ConfigError, match="training.lr"):
        aedyn.Config({"training": {"lr": None}})
    with pytest.raises(aedyn.ConfigError, match="model.kind"):
        aedyn.default_config("nope")
    with pytest.raises(aedyn.ConfigError, match="cannot parse") as e:
        aedyn.Config.from_toml("[data\ndim = 3")
    assert e.value.field is None
    with pytest.raises(aedyn.ConfigError) as e:
        aedyn.default_config().set("data.spikes.7", 1.0)
    assert e.value.field == "data.spikes.7" and "out of range" in str(e.value)
    with pytest.raises(aedyn.ConfigError, match="sweep"):
        aedyn.sweep(aedyn.default_config())
    with pytest.raises(aedyn.ConfigError, match="--only"):
        aedyn.reproduce(["no-such-figure"], out="never")
    assert issubclass(aedyn.ConfigError, aedyn.AedynError)
    assert issubclass(aedyn.DivergenceError, aedyn.AedynError)


def test_dicts_text_and_set_round_trip(tmp_path):
    cfg = aedyn.Config({"network": {"hidden": 3, "activation": "relu"}, "data": {"spikes": [4.0, 2.0, 1.0]}})
    cfg.set("training.lr", 0.2)
    cfg.set("data.spikes.1", 3)
    assert cfg.to_dict() == {
        "network": {"hidden": 3, "activation": "relu"},
        "data": {"spikes": [4.0, 3, 1.0]},
        "training": {"lr": 0.2},
    }
    again = aedyn.Config.from_toml(cfg.to_toml())
    assert again.to_dict() == cfg.to_dict()
    full = cfg.filled().to_dict()
    assert full["model"] == {"kind": "autoencoder"} and full["training"]["lr"] == 0.2
    assert full["output"]["t_max"] == 100.0
    path = tmp_path / "c.toml"
    path.write_text(cfg.to_toml())
    assert aedyn.Config.from_file(str(path)).to_dict() == cfg.to_dict()
    # Plain dicts are accepted by the functions too; None is the autoencoder default.
    small = {"data": {"dim": 50}, "output": {"t_max": 1.0, "points": 3}}
    assert len(aedyn.theory(small)) == 3
    copy = cfg.copy()
    copy.set("training.lr", 0.3)
    assert cfg.to_dict()["training"]["lr"] == 0.2


def test_divergence_raises_with_the_finished_seeds(config_file):
    cfg = aedyn.Config.from_file(str(config_file("autoencoder")))
    cfg.set("training.lr", 500.0)
    cfg.set("output.t_max", 20.0)
    with pytest.raises(aedyn.DivergenceError) as e:
        aedyn.simulate(cfg, seeds=2)
    message = str(e.value)
    assert "seed 0 failed: simulation seed 0 diverged at t = " in message
    assert message.endswith("2 of 2 seeds failed")
    assert len(e.value.result) == 0
    assert [s["status"] for s in e.value.result.meta["status"]] == ["failed", "failed"]


def test_warnings_of_the_config_are_python_warnings():
    """Legal but outside the theory's regime (tied weights from O(1) weights): a
    `UserWarning` with the CLI's text, and the run still happens."""
    cfg = aedyn.default_config()
    cfg.set("network.tied", True)
    cfg.set("init.std", 1.0)
    cfg.set("output.points", 3)
    with pytest.warns(UserWarning, match="with tied weights"):
        assert len(aedyn.theory(cfg)) == 3
