"""Entity-level NER metrics (seqeval, conlleval rules) and the validation-F1 callback."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

import keras
from seqeval.metrics import accuracy_score, classification_report

TagLists = Sequence[Sequence[str]]


def entity_metrics(gold: TagLists, predicted: TagLists) -> dict[str, Any]:
    """Micro precision / recall / F1 over entities, the per-type table and token accuracy.

    Tags are IOB2 strings per sentence. An entity counts as found only with the same type
    and exactly the same span (the CoNLL shared-task definition, as conlleval scores it).
    """
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold sentences but {len(predicted)} predicted ones")
    for index, (g, p) in enumerate(zip(gold, predicted, strict=True)):
        if len(g) != len(p):
            raise ValueError(f"sentence {index}: {len(g)} gold tags but {len(p)} predicted ones")
    report = classification_report(
        [list(g) for g in gold], [list(p) for p in predicted], output_dict=True, zero_division=0
    )
    micro = report.pop("micro avg")
    macro = report.pop("macro avg")
    report.pop("weighted avg", None)
    per_type = {
        kind: {
            "precision": float(row["precision"]),
            "recall": float(row["recall"]),
            "f1": float(row["f1-score"]),
            "support": int(row["support"]),
        }
        for kind, row in sorted(report.items())
    }
    return {
        "f1": float(micro["f1-score"]),
        "precision": float(micro["precision"]),
        "recall": float(micro["recall"]),
        "token_accuracy": float(
            accuracy_score([list(g) for g in gold], [list(p) for p in predicted])
        )
        if any(len(g) for g in gold)
        else 0.0,
        "macro_f1": float(macro["f1-score"]),
        "entities": int(micro["support"]),
        "tokens": sum(len(g) for g in gold),
        "per_type": per_type,
    }


class EntityF1(keras.callbacks.Callback):
    """Adds ``val_f1``, ``val_precision``, ``val_recall`` and ``val_token_accuracy`` to the
    epoch logs, so the shared checkpoint and early stopping can monitor ``val_f1``.

    ``predict(model)`` tags the validation sentences with the model's current weights. It runs when
    validation ends (``on_test_end``), i.e. with the same weights the validation loss saw —
    the averaged ones when EMA swaps them in — and the scores reach the logs at epoch end.
    Task callbacks run before the shared ones, so the checkpoint sees the new keys.
    """

    def __init__(
        self, predict: Callable[[keras.Model], TagLists], gold: TagLists, verbose: bool = True
    ):
        super().__init__()
        self.predict = predict
        self.gold = gold
        self.verbose = verbose
        self._pending: dict[str, Any] | None = None

    def _score(self) -> dict[str, Any]:
        return entity_metrics(self.gold, self.predict(self.model))

    def on_epoch_begin(self, epoch, logs=None):
        self._pending = None

    def on_test_end(self, logs=None):
        self._pending = self._score()

    def on_epoch_end(self, epoch, logs=None):
        scores = self._pending if self._pending is not None else self._score()
        self._pending = None
        if logs is not None:
            for key in ("f1", "precision", "recall", "token_accuracy"):
                logs[f"val_{key}"] = scores[key]
        if self.verbose:
            print(
                f"epoch {epoch + 1}: validation entity F1 {scores['f1']:.4f} "
                f"(P {scores['precision']:.4f}, R {scores['recall']:.4f}, "
                f"token accuracy {scores['token_accuracy']:.4f})",
                file=sys.stderr,
                flush=True,
            )
