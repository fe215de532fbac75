"""Entity-level NER metrics (seqeval, conlleval rules) and the validation-F1 callback."""

from __future__ import annotations

from typing import Any

from seqeval.metrics import classification_report

from pipelines.tagging.metrics import TagLists, ValidationScores, check_aligned, token_accuracy


def entity_metrics(gold: TagLists, predicted: TagLists) -> dict[str, Any]:
    """Micro precision / recall / F1 over entities, the per-type table and token accuracy.

    Tags are IOB2 strings per sentence. An entity counts as found only with the same type
    and exactly the same span (the CoNLL shared-task definition, as conlleval scores it).
    """
    check_aligned(gold, predicted)
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
        "token_accuracy": token_accuracy(gold, predicted),
        "macro_f1": float(macro["f1-score"]),
        "entities": int(micro["support"]),
        "tokens": sum(len(g) for g in gold),
        "per_type": per_type,
    }


class EntityF1(ValidationScores):
    """Logs ``val_f1``, ``val_precision``, ``val_recall`` and ``val_token_accuracy`` (entity
    scores of the validation sentences) every epoch; see ``ValidationScores``."""

    keys = ("f1", "precision", "recall", "token_accuracy")

    def score(self, gold: TagLists, predicted: TagLists) -> dict[str, Any]:
        return entity_metrics(gold, predicted)

    def describe(self, scores: dict[str, Any]) -> str:
        return (
            f"validation entity F1 {scores['f1']:.4f} "
            f"(P {scores['precision']:.4f}, R {scores['recall']:.4f}, "
            f"token accuracy {scores['token_accuracy']:.4f})"
        )
