"""What a task provides to the shared runner; every pipeline has this same shape."""

from __future__ import annotations

import abc
import argparse
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import keras

from data.text_files import read_lines


@dataclass
class Prepared:
    """Training data made ready by a task: batched datasets and the facts learned from them.

    ``info`` is the task's small info object (vocabulary, label set, statistics); it is saved
    as ``info.json`` in the run directory and handed back to every later step.
    """

    train: Any  # tf.data.Dataset of (inputs, targets)
    validation: Any
    info: Any
    train_examples: int
    validation_examples: int
    probe_batch: Any = None  # one (inputs, targets) batch for the gradient-norm monitor
    # Batches in one pass over ``train`` when known exactly (length bucketing makes more than
    # ceil(train_examples / batch_size)); None = that ceiling.
    train_batches: int | None = None


class Task(abc.ABC):
    """One pipeline: data → model → metrics → export, driven by ``pipelines.spine.runner``."""

    name: ClassVar[str]
    config_class: ClassVar[type]
    info_class: ClassVar[type]

    @abc.abstractmethod
    def prepare(self, cfg: Any) -> Prepared:
        """Loads train data, carves validation from it and learns the info object."""

    @abc.abstractmethod
    def build_model(self, cfg: Any, info: Any) -> keras.Model:
        """The trainable Keras model (backend-agnostic layers from ``models/``)."""

    @abc.abstractmethod
    def compile_args(self, cfg: Any, info: Any) -> dict[str, Any]:
        """``loss`` and ``metrics`` for ``model.compile``."""

    def callbacks(self, cfg: Any, info: Any, prepared: Prepared) -> list[keras.callbacks.Callback]:
        """Task callbacks that run before the shared ones (e.g. computing a ``val_f1``)."""
        return []

    @abc.abstractmethod
    def evaluate(self, model: keras.Model, cfg: Any, info: Any, split: str) -> dict[str, Any]:
        """Metrics on ``split`` (``test`` or ``validation``); must include ``examples``."""

    def write_reports(
        self, model: keras.Model, cfg: Any, info: Any, split: str, run_dir: Path
    ) -> list[Path]:
        """Optional files written into the run directory after ``evaluate`` (plots, prediction
        dumps); returns their paths, listed under ``reports`` in the metrics file."""
        return []

    @abc.abstractmethod
    def export(self, model: keras.Model, cfg: Any, info: Any, path: Path) -> dict[str, Any]:
        """Writes a SavedModel with plain string/number signatures; returns an example call."""

    def add_predict_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Extra ``predict`` options for this task (none by default)."""
        return None

    @abc.abstractmethod
    def predict(
        self, model: keras.Model, cfg: Any, info: Any, inputs: Iterable[str], args: Any
    ) -> Iterator[dict[str, Any]]:
        """Predictions for raw inputs, one JSON-ready dict per input."""


def input_lines(inputs: Iterable[str] | None, path: str | None) -> Iterator[str]:
    """``predict`` input, one text per line without its newline: from the file ``path`` if
    given (``--input``), else ``inputs``, else standard input."""
    if path is not None:
        lines = read_lines(path)
        yield from lines[:-1] if lines and not lines[-1] else lines  # no line after the last \n
    else:
        yield from (line.rstrip("\n") for line in (inputs if inputs is not None else sys.stdin))
