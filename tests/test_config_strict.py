"""Strict configs, early: every bad config is one line naming the file or key, raised before
TensorFlow is imported; NaN/inf, duplicate keys, absurd sizes and unlogged monitors fail."""

import dataclasses
import json
import subprocess
import sys
import textwrap
import types
import typing
from pathlib import Path

import pytest

from pipelines.registry import TASKS, config_class
from pipelines.spine.config import ConfigError, apply_overrides, from_dict, load_config
from pipelines.spine.sections import RNNConfig, TrainConfig

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "configs" / "charlm_tiny.yaml"


def _load(tmp_path, text: str, name: str = "charlm", overrides=()):
    path = tmp_path / "c.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return load_config(config_class(name), path, list(overrides)), path


def _error(tmp_path, text: str, name: str = "charlm", overrides=()) -> str:
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, text, name, overrides)
    message = str(err.value)
    assert "\n" not in message
    return message


# --- the YAML file itself --------------------------------------------------------------------


def test_duplicate_keys_name_file_line_and_key(tmp_path):
    message = _error(tmp_path, "task: charlm\ntrain:\n  epochs: 2\n  batch_size: 4\n  epochs: 3\n")
    assert message == (
        f"{tmp_path / 'c.yaml'}:5: invalid YAML: duplicate key 'epochs' (first given on line 3)"
    )
    flow = _error(tmp_path, "task: charlm\nmodel:\n  rnn: {units: 8, units: 9}\n")
    assert flow.endswith(":3: invalid YAML: duplicate key 'units' (first given on line 3)")
    top = _error(tmp_path, "task: charlm\nseed: 1\nseed: 2\n")
    assert top.endswith(":3: invalid YAML: duplicate key 'seed' (first given on line 2)")


def test_alias_bombs_and_self_references_are_refused_before_expanding(tmp_path):
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for prev, name in zip("abcdefg", "bcdefgh", strict=True):  # 9**8 values once expanded
        lines.append(f"{name}: &{name} [{', '.join(['*' + prev] * 9)}]")
    bomb = _error(tmp_path, "\n".join(lines) + "\n")
    assert bomb.endswith(
        "invalid YAML: aliases expand the document to more than 100,000 values; "
        "write the values out"
    )
    loop = _error(tmp_path, "a: &a\n  - *a\n")
    assert loop.endswith("invalid YAML: an alias refers to the block that contains it")
    from pipelines.spine.strict_yaml import expanded_size

    shared = [1, 2]
    assert expanded_size({"x": shared, "y": [shared, shared]}) == 1 + 2 * 1 + 3 + (1 + 3 + 3)


def test_usage_mistakes_are_one_error_line():
    result = subprocess.run(
        [sys.executable, "-m", "pipelines", "train", "pos", "--data", "web"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "error: argument --data: invalid choice: 'web' "
        "(choose from 'sample', 'files', 'tfds', 'stream') (python -m pipelines --help)"
    ]


def test_merge_keys_may_still_be_overridden(tmp_path):
    cfg, _ = _load(
        tmp_path,
        """\
        task: charlm
        model:
          rnn:
            <<: {cell: gru, units: 8, bidirectional: false}
            units: 16
        """,
    )
    assert (cfg.model.rnn.cell, cfg.model.rnn.units) == ("gru", 16)


def test_exponent_numbers_read_as_numbers(tmp_path):
    cfg, _ = _load(tmp_path, TINY.read_text() + "\n", overrides=["train.learning_rate=1e-3"])
    assert cfg.train.learning_rate == 0.001
    cfg, _ = _load(
        tmp_path,
        "task: charlm\nmodel: {rnn: {bidirectional: false}}\ntrain:\n"
        "  learning_rate: 2E-4\n  grad_vanish_threshold: 1e-7\n",
    )
    assert (cfg.train.learning_rate, cfg.train.grad_vanish_threshold) == (2e-4, 1e-7)


def test_file_problems_are_one_line_naming_the_file(tmp_path):
    with pytest.raises(ConfigError, match=rf"^{tmp_path}: is a directory, not a config file$"):
        load_config(config_class("charlm"), tmp_path)
    missing = tmp_path / "missing.yaml"
    with pytest.raises(ConfigError, match=rf"^{missing}: config file not found$"):
        load_config(config_class("charlm"), missing)
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"task: charlm\n# caf\xe9\n")
    with pytest.raises(ConfigError, match=rf"^{latin}:2: not UTF-8 text \(byte 0xe9\)$"):
        load_config(config_class("charlm"), latin)
    for text, what in [
        ("", "the config file is empty"),
        ("# only a comment\n", "the config file is empty"),
        ("- task: charlm\n", "expected a mapping of keys at the top level, got a list"),
        ("charlm\n", "expected a mapping of keys at the top level, got a string"),
    ]:
        assert _error(tmp_path, text).startswith(f"{tmp_path / 'c.yaml'}: {what}")


def test_unknown_keys_and_bad_overrides(tmp_path):
    assert "unknown key 'trian'" in _error(tmp_path, "task: charlm\ntrian: {}\n")
    message = _error(tmp_path, TINY.read_text(), overrides=["train.epochz=3"])
    assert "unknown key 'train.epochz' (allowed in train: epochs," in message
    assert "max_parameters" in message
    with pytest.raises(ConfigError, match=r"^--set train\.epochs\.x: 'train\.epochs' is not a"):
        apply_overrides({"train": {"epochs": 1}}, ["train.epochs.x=1"])
    with pytest.raises(ConfigError, match=r"^--set seed\.x: 'seed' is not a section"):
        apply_overrides({"seed": 3}, ["seed.x=1"])
    with pytest.raises(ConfigError, match=r"^--set train\.epochs: cannot read value"):
        apply_overrides({}, ["train.epochs=[1,"])
    with pytest.raises(ConfigError, match=r"^--set train: cannot read value .*duplicate key"):
        apply_overrides({}, ["train={epochs: 1, epochs: 2}"])


# --- values ----------------------------------------------------------------------------------


def _float_keys(cls: type, prefix: str = "") -> list[str]:
    """Every key of ``cls`` that holds a float (alone, optional or in a list)."""
    keys = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp, dotted = hints[f.name], f"{prefix}{f.name}"
        if dataclasses.is_dataclass(tp):
            keys += _float_keys(tp, dotted + ".")
            continue
        args = (
            typing.get_args(tp) if typing.get_origin(tp) in (typing.Union, types.UnionType) else ()
        )
        if tp is float or float in args:
            keys.append(dotted)
        elif typing.get_origin(tp) is tuple and typing.get_args(tp)[0] is float:
            keys.append(dotted + "[]")
    return keys


FLOAT_KEYS = [(name, key) for name in TASKS for key in _float_keys(config_class(name))]


def test_every_task_has_float_keys_to_check():
    assert {name for name, _ in FLOAT_KEYS} == set(TASKS)
    assert ("charlm", "train.learning_rate") in FLOAT_KEYS
    assert ("forecasting", "data.split[]") in FLOAT_KEYS


@pytest.mark.parametrize(("name", "key"), FLOAT_KEYS)
@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf", ".NaN"])
def test_nan_and_inf_are_rejected_for_every_float(name, key, value):
    path = ROOT / "configs" / f"{name}_tiny.yaml"
    if key.endswith("[]"):  # a list of floats: one bad item
        key, override = key[:-2], f"{key[:-2]}=[0.5, {value}, 0.25]"
        dotted = f"{key}[1]"
    else:
        override, dotted = f"{key}={value}", key
    with pytest.raises(ConfigError) as err:
        load_config(config_class(name), path, [override])
    assert str(err.value).startswith(f"{path}: {dotted}: expected a finite number, got ")


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.epochs=1e23", "train.epochs: expected an integer, got 1e+23"),
        ("train.epochs=2.0", "train.epochs: expected an integer, got 2.0"),
        ("train.epochs=.inf", "train.epochs: expected an integer, got inf"),
        (
            "train.epochs=1000000000000",
            "train.epochs: 1000000000000 is out of range (allowed: 1 to 100000)",
        ),
        (
            "train.epochs=100000000000000000000000",
            "train.epochs: 100000000000000000000000 does not fit in a 64-bit integer",
        ),
        (
            "train.max_parameters=100000000000000000000000",
            "train.max_parameters: 100000000000000000000000 does not fit in a 64-bit integer",
        ),
        ("train.epochs=0", "train.epochs: 0 is out of range (allowed: 1 to 100000)"),
        ("train.batch_size=-1", "train.batch_size: -1 is out of range (allowed: 1 to 1000000)"),
        ("train.steps_per_epoch=0", "train.steps_per_epoch: 0 is out of range"),
        (
            "train.learning_rate=0",
            "train.learning_rate: 0.0 is out of range (allowed: above 0.0 to 10.0)",
        ),
        ("train.learning_rate=-0.1", "train.learning_rate: -0.1 is out of range"),
        ("train.clipnorm=0", "train.clipnorm: 0.0 is out of range (allowed: above 0.0 to inf)"),
        ("train.early_stopping_patience=-1", "train.early_stopping_patience: -1 is out of range"),
        ("seed=-1", "seed: -1 is out of range (allowed: 0 to 4294967295)"),
        ("model.rnn.units=0", "model.rnn.units: 0 is out of range (allowed: 1 to 100000)"),
        ("model.rnn.units=100000000", "model.rnn.units: 100000000 is out of range"),
        ("model.embedding_dim=10000000", "model.embedding_dim: 10000000 is out of range"),
        ("data.window=1", "data.window: 1 is out of range (allowed: 2 to 1000000)"),
        ("sampling.length=100000000", "sampling.length: 100000000 is out of range"),
    ],
)
def test_bad_numbers_name_the_key(override, message):
    with pytest.raises(ConfigError) as err:
        load_config(config_class("charlm"), TINY, [override])
    assert str(err.value).startswith(f"{TINY}: {message}")


def test_numbers_in_the_file_are_read_like_overrides(tmp_path):
    text = TINY.read_text().replace("epochs: 2", "epochs: 1e23")
    assert _error(tmp_path, text) == (
        f"{tmp_path / 'c.yaml'}: train.epochs: expected an integer, got 1e+23"
    )


def test_tuple_items_of_sizes_are_checked(tmp_path):
    message = _error(tmp_path, "task: forecasting\nmodel: {conv_filters: [16, 0]}\n", "forecasting")
    assert message.endswith("model.conv_filters[1]: 0 is out of range (allowed: 1 to 100000)")


# --- what training logs: train.monitor and train.monitor_mode --------------------------------


@pytest.mark.parametrize("name", list(TASKS))
def test_monitor_must_be_a_logged_metric(tmp_path, name):
    path = ROOT / "configs" / f"{name}_tiny.yaml"
    cls = config_class(name)
    logged = load_config(cls, path).logged_metrics()
    assert {"loss", "val_loss"} <= set(logged) and all(v in ("min", "max") for v in logged.values())
    with pytest.raises(ConfigError) as err:
        load_config(cls, path, ["train.monitor=val_bogus"])
    assert str(err.value) == (
        f"{path}: train.monitor: 'val_bogus' is not logged by {name} training with this config "
        f"(allowed: {', '.join(logged)})"
    )


def test_each_task_logs_its_metrics():
    def logged(name, *overrides):
        return load_config(config_class(name), None, list(overrides)).logged_metrics()

    assert logged("ner")["val_f1"] == "max" and "val_token_accuracy" in logged("ner")
    assert logged("pos")["val_accuracy"] == "max" and "accuracy" not in logged("pos")
    assert logged("sentiment")["val_auc"] == "max"
    assert logged("forecasting")["val_mae"] == "min"
    assert "val_bleu" not in logged("translation")  # only with the callback on
    assert logged("translation", "decoding.validation_bleu_examples=10")["val_bleu"] == "max"
    assert list(logged("charlm", "model.rnn.bidirectional=false")) == [
        "loss",
        "accuracy",
        "val_loss",
        "val_accuracy",
    ]


def test_monitor_mode_must_match_the_metric():
    path = ROOT / "configs" / "ner_tiny.yaml"
    with pytest.raises(ConfigError) as err:
        load_config(config_class("ner"), path, ["train.monitor_mode=min"])
    assert str(err.value) == (
        f"{path}: train.monitor_mode: 'min' picks the worst epoch: val_f1 is better higher; use max"
    )
    with pytest.raises(ConfigError, match="val_loss is better lower; use min"):
        load_config(config_class("ner"), path, ["train.monitor=val_loss"])
    cfg = load_config(
        config_class("ner"), path, ["train.monitor=val_loss", "train.monitor_mode=min"]
    )
    assert cfg.train.monitor == "val_loss"


# --- model size --------------------------------------------------------------------------------


def test_stack_estimate_is_the_hand_count():
    # layer 1: 2 directions x 4 gates x (5 inputs + 10 units + 1 bias) x 10 units = 1280;
    # layer 2 reads both directions concatenated (20): 2 x 4 x (20 + 10 + 1) x 10 = 2480.
    stack = RNNConfig(cell="lstm", units=10, layers=2, bidirectional=True)
    assert stack.estimated_parameters(5) == 1280 + 2480
    assert RNNConfig(cell="gru", units=10, bidirectional=False).estimated_parameters(5) == 480
    summed = RNNConfig(units=10, layers=2, merge_mode="sum")
    assert summed.output_width() == 10 and summed.estimated_parameters(5) == 1280 + 1680


def test_absurd_model_sizes_are_refused_with_the_estimate():
    path = TINY
    cls = config_class("charlm")
    with pytest.raises(ConfigError) as err:
        load_config(cls, path, ["model.rnn.units=60000"])
    # embedding 100 x 8; two LSTM layers 4 x (8 + 60000 + 1) x 60000 and
    # 4 x (60000 + 60000 + 1) x 60000; head (60000 + 1) x 100
    expected = 100 * 8 + 4 * 60009 * 60000 + 4 * 120001 * 60000 + 60001 * 100
    assert str(err.value) == (
        f"{path}: model: about {expected:,} parameters (estimated from the config) is more than "
        "train.max_parameters (200,000,000); make the model smaller or raise the limit"
    )
    big = ["model.rnn.units=4000", "model.rnn.layers=1"]  # about 64M parameters
    assert load_config(cls, path, big).model.rnn.units == 4000
    with pytest.raises(ConfigError, match=r"about 64,\d{3},\d{3} parameters .* \(10,000,000\)"):
        load_config(cls, path, [*big, "train.max_parameters=10000000"])
    for name in TASKS:  # every task's limit applies to its own model
        with pytest.raises(ConfigError, match=r"^\S+: model: about [\d,]+ parameters"):
            load_config(
                config_class(name),
                ROOT / "configs" / f"{name}_tiny.yaml",
                ["train.max_parameters=10"],
            )


def test_shared_train_section_has_limits():
    cfg = TrainConfig()
    assert cfg.max_parameters == 200_000_000
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    for key in ("epochs", "batch_size", "steps_per_epoch", "learning_rate", "warmup_steps"):
        assert fields[key].metadata["max"] is not None, key
    assert from_dict(TrainConfig, {"learning_rate": 10}).learning_rate == 10.0


def test_estimates_are_within_twice_the_built_models():
    """The estimate from the config alone against ``count_params`` of each task's sample
    model, built on its sample data (vocabularies as learned); the compiled metric names
    are among the logged ones."""
    import keras

    from pipelines.registry import get_task

    for name in TASKS:
        task = get_task(name)
        assert task.config_class is config_class(name)  # declared in one place each
        cfg = load_config(config_class(name), ROOT / task.sample_config)
        keras.utils.set_random_seed(0)
        prepared = task.prepare(cfg)
        built = task.build_model(cfg, prepared.info).count_params()
        estimate = cfg.estimated_parameters()
        assert built / 2 <= estimate <= built * 2, (name, estimate, built)
        compiled = task.compile_args(cfg, prepared.info).get("metrics") or []
        for metric in compiled:
            assert {metric.name, f"val_{metric.name}"} <= set(cfg.logged_metrics()), name
    from pipelines.ner.metrics import EntityF1
    from pipelines.tagging.metrics import TokenAccuracy

    ner = load_config(config_class("ner"), None).logged_metrics()
    assert {f"val_{k}" for k in EntityF1.keys} <= set(ner)
    pos = load_config(config_class("pos"), None).logged_metrics()
    assert {f"val_{k}" for k in TokenAccuracy.keys} <= set(pos)


# --- the CLI: one line, before TensorFlow ------------------------------------------------------

CLI_PROBE = """
import contextlib, io, json, sys
from pipelines.spine.cli import main
results = []
for argv in json.loads(sys.argv[1]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(argv)
    results.append([code, err.getvalue()])
print(json.dumps({"results": results, "tensorflow": "tensorflow" in sys.modules,
                  "keras": "keras" in sys.modules}))
"""


def test_cli_config_errors_come_before_tensorflow(tmp_path):
    dup = tmp_path / "dup.yaml"
    dup.write_text("task: charlm\ntrain:\n  epochs: 2\n  epochs: 3\n")
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"task: charlm\nseed: 1 # \xff\n")
    tiny = str(TINY)
    cases = [
        (["--config", str(dup)], f"{dup}:4: invalid YAML: duplicate key 'epochs'"),
        (["--config", str(tmp_path)], f"{tmp_path}: is a directory, not a config file"),
        (["--config", str(latin)], f"{latin}:2: not UTF-8 text (byte 0xff)"),
        (["--config", tiny, "--set", "train.learning_rate=.nan"], "expected a finite number"),
        (["--config", tiny, "--set", "train.epochs=1e23"], "train.epochs: expected an integer"),
        (["--config", tiny, "--set", "train.monitor=val_bogus"], "'val_bogus' is not logged"),
        (["--config", tiny, "--set", "model.rnn.units=100000000"], "model.rnn.units: 100000000"),
        (["--config", tiny, "--set", "model.rnn.units=60000"], "model: about "),
        (["--config", tiny, "--set", "model.rnn.bidirectional=true"], "model.rnn.bidirectional"),
        (["--config", tiny, "--set", "train.epochz=1"], "unknown key 'train.epochz'"),
        (["--config", tiny, "--set", "seed.x=1"], "--set seed.x: 'seed' is not a section"),
    ]
    argvs = [["train", "charlm", *args, "--run-dir", str(tmp_path / "never")] for args, _ in cases]
    probe = subprocess.run(
        [sys.executable, "-c", CLI_PROBE, json.dumps(argvs)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert probe.returncode == 0, probe.stderr[-2000:]
    report = json.loads(probe.stdout)
    for (code, stderr), (_, expected) in zip(report["results"], cases, strict=True):
        assert code == 1 and stderr.count("\n") == 1, stderr
        assert stderr.startswith("error: ") and expected in stderr, stderr
    assert not report["tensorflow"] and not report["keras"]
    assert not (tmp_path / "never").exists()


def test_cli_bad_config_is_exactly_one_stderr_line(tmp_path):
    """The real entry point, as a user runs it: one ``error:`` line, nothing else."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipelines",
            "train",
            "charlm",
            "--config",
            str(TINY),
            "--set",
            "train.learning_rate=.inf",
            "--run-dir",
            str(tmp_path / "run"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"error: {TINY}: train.learning_rate: expected a finite number, got inf"
    ]
    assert result.stdout == ""
