"""Typed configs: strict keys, types, ranges, overrides, round trip."""

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

import pytest

from pipelines.sentiment.config import SentimentConfig
from pipelines.spine.config import (
    ConfigError,
    apply_overrides,
    from_dict,
    load_config,
    param,
    save_config,
)
from pipelines.spine.sections import RNNConfig, TrainConfig


@dataclass(frozen=True)
class Inner:
    size: int = param(4, min=1, max=10)
    mode: Literal["a", "b"] = param("a")
    rate: float = param(0.5, min=0.0, max=1.0)
    names: tuple[str, ...] = param(())
    optional: int | None = param(None)


@dataclass(frozen=True)
class Outer:
    flag: bool = param(False)
    inner: Inner = field(default_factory=Inner)


def test_defaults_and_nested_values():
    cfg = from_dict(Outer, {"inner": {"size": 7, "names": ["x", "y"], "rate": 1}})
    assert cfg.inner.size == 7
    assert cfg.inner.names == ("x", "y")
    assert cfg.inner.rate == 1.0 and isinstance(cfg.inner.rate, float)
    assert cfg.flag is False and cfg.inner.mode == "a"


def test_unknown_key_names_key_and_allowed():
    with pytest.raises(ConfigError) as err:
        from_dict(Outer, {"inner": {"sise": 3}})
    assert str(err.value) == (
        "unknown key 'inner.sise' (allowed in inner: size, mode, rate, names, optional)"
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"inner": {"size": "abc"}}, "inner.size: expected an integer, got 'abc'"),
        ({"inner": {"size": True}}, "inner.size: expected an integer, got True"),
        ({"inner": {"size": 11}}, "inner.size: 11 is out of range (allowed: 1 to 10)"),
        ({"inner": {"mode": "c"}}, "inner.mode: 'c' is not allowed (allowed: a, b)"),
        ({"flag": "yes"}, "flag: expected true or false, got 'yes'"),
        ({"inner": {"names": "x"}}, "inner.names: expected a list, got 'x'"),
        ({"inner": 3}, "inner: expected a mapping of keys, got 3"),
        ({"inner": {"optional": 1.5}}, "inner.optional: expected int | null, got 1.5"),
    ],
)
def test_bad_values_fail_with_one_line(data, message):
    with pytest.raises(ConfigError) as err:
        from_dict(Outer, data)
    assert str(err.value) == message
    assert "\n" not in str(err.value)


def test_overrides_are_typed_like_the_file():
    raw = apply_overrides({"inner": {"size": 2}}, ["inner.size=5", "flag=true", "inner.mode=b"])
    cfg = from_dict(Outer, raw)
    assert (cfg.inner.size, cfg.flag, cfg.inner.mode) == (5, True, "b")
    with pytest.raises(ConfigError, match=r"inner.size: expected an integer, got 'abc'"):
        from_dict(Outer, apply_overrides({}, ["inner.size=abc"]))
    with pytest.raises(ConfigError, match="expected key=value"):
        apply_overrides({}, ["inner.size"])
    with pytest.raises(ConfigError, match="'flag' is not a section"):
        apply_overrides({"flag": True}, ["flag.x=1"])


def test_overrides_do_not_mutate_input():
    raw = {"inner": {"size": 2}}
    apply_overrides(raw, ["inner.size=5"])
    assert raw == {"inner": {"size": 2}}


def test_configs_are_frozen():
    cfg = from_dict(Outer, {})
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.flag = True


def test_load_names_file_and_round_trips(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  rnn:\n    cells: 3\n")
    with pytest.raises(ConfigError) as err:
        load_config(SentimentConfig, path)
    assert str(err.value).startswith(
        f"{path}: unknown key 'model.rnn.cells' (allowed in model.rnn:"
    )
    assert "units" in str(err.value)

    cfg = load_config(SentimentConfig, "configs/sentiment.yaml", ["train.epochs=1"])
    assert cfg.train.epochs == 1 and cfg.model.rnn.bidirectional is True
    out = tmp_path / "resolved.yaml"
    save_config(cfg, out)
    assert load_config(SentimentConfig, out) == cfg


def test_yaml_syntax_error_names_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("train:\n  epochs: 1\n  batch_size: [1,\n")
    with pytest.raises(ConfigError, match=rf"^{path}:\d+: invalid YAML"):
        load_config(SentimentConfig, path)


@pytest.mark.parametrize(
    "path",
    ["configs/sentiment.yaml", "configs/sentiment_sample.yaml", "configs/sentiment_tiny.yaml"],
)
def test_shipped_configs_load(path):
    assert load_config(SentimentConfig, path).task == "sentiment"


def test_shared_sections_have_sane_defaults():
    assert RNNConfig().cell == "lstm"
    assert TrainConfig().clipnorm == 1.0


def test_cross_key_rule_names_the_dotted_key():
    with pytest.raises(ConfigError, match=r"^model\.rnn\.recurrent_dropout: supported by"):
        from_dict(
            SentimentConfig, {"model": {"rnn": {"cell": "ln_lstm", "recurrent_dropout": 0.2}}}
        )
    assert from_dict(RNNConfig, {"cell": "lstm", "recurrent_dropout": 0.2}).recurrent_dropout == 0.2


def test_model_settings_are_the_section_keys_with_the_stack_as_rnn():
    from pipelines.spine.sections import model_settings

    @dataclass(frozen=True)
    class Model:
        width: int = 3
        encoder: RNNConfig = field(default_factory=lambda: RNNConfig(units=5, layers=2))
        smoothing: float = 0.1

    settings = model_settings(Model(), exclude=("smoothing",))
    assert settings == {"width": 3, "rnn": RNNConfig(units=5, layers=2).stack()}
    assert settings["rnn"]["num_layers"] == 2 and settings["rnn"]["units"] == 5


def test_stack_section_is_exactly_the_stack_settings():
    from models.rnn_stack import STACK_KEYS

    stack = RNNConfig(cell="gru", layers=3, residual=True).stack()
    assert list(stack) == list(STACK_KEYS)
    assert stack["num_layers"] == 3 and stack["cell"] == "gru" and stack["residual"] is True
