"""One numeric graph of a task's portable export (ONNX, TFLite)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PortablePart:
    """A graph with numeric inputs and outputs only, which converters can take.

    ``function(*tensors) -> {name: tensor}`` runs the trained weights (TensorFlow, inference
    mode) on tensors given in the order of ``inputs``, named ``tf.TensorSpec``s (batch axis
    first, ``None``); ``example`` (name → numpy array) holds a few input rows that the
    export checks the converted graph on.
    """

    name: str
    function: Callable[..., dict[str, Any]]
    inputs: tuple[Any, ...]  # tf.TensorSpec, each with a name
    example: dict[str, Any]
