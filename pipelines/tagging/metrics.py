"""What every tagging task scores: token accuracy, and the per-epoch validation-scores callback."""

from __future__ import annotations

import abc
import sys
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import keras

TagLists = Sequence[Sequence[str]]


def check_aligned(gold: TagLists, predicted: TagLists) -> None:
    """Fails unless ``predicted`` has one tag per gold tag, sentence by sentence."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold sentences but {len(predicted)} predicted ones")
    for index, (g, p) in enumerate(zip(gold, predicted, strict=True)):
        if len(g) != len(p):
            raise ValueError(f"sentence {index}: {len(g)} gold tags but {len(p)} predicted ones")


def token_accuracy(gold: TagLists, predicted: TagLists) -> float:
    """Share of tokens whose predicted tag equals the gold one (0 when there are none)."""
    check_aligned(gold, predicted)
    tokens = sum(len(g) for g in gold)
    right = sum(
        a == b for g, p in zip(gold, predicted, strict=True) for a, b in zip(g, p, strict=True)
    )
    return right / tokens if tokens else 0.0


class ValidationScores(keras.callbacks.Callback, abc.ABC):
    """Adds ``val_<key>`` for each of ``keys`` (from :meth:`score`) to the epoch logs, so the
    shared checkpoint and early stopping can monitor them.

    ``predict(model)`` tags the validation sentences with the model's current weights. It
    runs when validation ends (``on_test_end``), i.e. with the same weights the validation
    loss saw — the averaged ones when EMA swaps them in — and the scores reach the logs at
    epoch end. Task callbacks run before the shared ones, so the checkpoint sees the new keys.
    """

    keys: ClassVar[tuple[str, ...]]

    def __init__(
        self, predict: Callable[[keras.Model], TagLists], gold: TagLists, verbose: bool = True
    ):
        super().__init__()
        self.predict = predict
        self.gold = gold
        self.verbose = verbose
        self._pending: dict[str, Any] | None = None

    @abc.abstractmethod
    def score(self, gold: TagLists, predicted: TagLists) -> dict[str, Any]:
        """The scores of ``predicted`` against ``gold``; must hold every one of ``keys``."""

    @abc.abstractmethod
    def describe(self, scores: dict[str, Any]) -> str:
        """The progress line's text after ``epoch N: ``."""

    def on_epoch_begin(self, epoch, logs=None):
        self._pending = None

    def on_test_end(self, logs=None):
        self._pending = self.score(self.gold, self.predict(self.model))

    def on_epoch_end(self, epoch, logs=None):
        scores = self._pending
        if scores is None:  # no validation pass this epoch
            scores = self.score(self.gold, self.predict(self.model))
        self._pending = None
        if logs is not None:
            for key in self.keys:
                logs[f"val_{key}"] = scores[key]
        if self.verbose:
            print(f"epoch {epoch + 1}: {self.describe(scores)}", file=sys.stderr, flush=True)


def accuracy_metrics(gold: TagLists, predicted: TagLists) -> dict[str, Any]:
    """Token accuracy and the number of tokens: a tagging task's metrics by default."""
    return {"accuracy": token_accuracy(gold, predicted), "tokens": sum(len(g) for g in gold)}


class TokenAccuracy(ValidationScores):
    """Logs ``val_accuracy``, the validation sentences' token accuracy, every epoch."""

    keys = ("accuracy",)

    def score(self, gold: TagLists, predicted: TagLists) -> dict[str, Any]:
        return accuracy_metrics(gold, predicted)

    def describe(self, scores: dict[str, Any]) -> str:
        return f"validation token accuracy {scores['accuracy']:.4f}"
