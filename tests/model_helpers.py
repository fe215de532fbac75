"""Helpers the model tests share: the recurrent stack's full settings, old flat configs."""

from typing import Any

# RNNStack's own defaults for the stack settings, written out (what the configs must hold).
STACK_SETTINGS = {
    "cell": "lstm",
    "units": 64,
    "num_layers": 1,
    "bidirectional": False,
    "merge_mode": "concat",
    "dropout": 0.0,
    "recurrent_dropout": 0.0,
    "residual": False,
}


def stack_settings(**settings: Any) -> dict[str, Any]:
    """Every stack setting: ``STACK_SETTINGS`` with ``settings`` over them."""
    return {**STACK_SETTINGS, **settings}


def flat_config(config: dict[str, Any]) -> dict[str, Any]:
    """A model config as checkpoints saved it before the stack became one ``rnn`` entry: the
    stack's settings at the top level."""
    return {key: value for key, value in config.items() if key != "rnn"} | config["rnn"]
