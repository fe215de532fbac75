"""POS tagging metrics: token accuracy, per-tag recall and whole-sentence accuracy."""

from __future__ import annotations

from collections import Counter
from typing import Any

from pipelines.tagging.metrics import TagLists, accuracy_metrics


def tag_accuracy(gold: TagLists, predicted: TagLists) -> dict[str, Any]:
    """Accuracy of ``predicted`` tags against ``gold``, one tag list per sentence.

    ``accuracy`` is over all tokens; ``per_tag`` gives, for each gold tag, the share of its
    tokens tagged right (its recall) and its ``support``; ``sentence_accuracy`` is the share
    of sentences with every tag right; ``tokens`` is the token count. Sentences must pair up
    one to one with equal lengths.
    """
    overall = accuracy_metrics(gold, predicted)  # checks the alignment first
    support: Counter[str] = Counter()
    correct: Counter[str] = Counter()
    whole_right = 0
    for g, p in zip(gold, predicted, strict=True):
        hits = [gold_tag for gold_tag, tag in zip(g, p, strict=True) if gold_tag == tag]
        support.update(g)
        correct.update(hits)
        whole_right += len(hits) == len(g)
    return {
        "accuracy": overall["accuracy"],
        "sentence_accuracy": whole_right / len(gold) if gold else 0.0,
        "tokens": overall["tokens"],
        "per_tag": {
            tag: {"accuracy": correct[tag] / count, "support": count}
            for tag, count in sorted(support.items())
        },
    }
