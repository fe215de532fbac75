"""Binary classification metrics from labels and probabilities (NumPy, hand-checkable),
and the classifier's scores they are computed from."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # the metrics themselves stay NumPy-only
    from models.rnn_classifier import RNNClassifier


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve = P(score of a positive > score of a negative), ties half."""
    labels = np.asarray(labels).astype(bool)
    scores = np.asarray(scores, dtype=np.float64)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype=np.float64)
    sorted_scores = scores[order]
    # Average ranks over ties (Mann–Whitney U).
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    for start, count in zip(first, counts, strict=True):
        ranks[order[start : start + count]] = start + (count + 1) / 2.0
    u = ranks[labels].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def binary_metrics(
    labels: np.ndarray, probabilities: np.ndarray, threshold: float = 0.5
) -> dict[str, float]:
    """Accuracy, precision, recall, F1 (positive class), ROC AUC and log loss."""
    labels = np.asarray(labels).astype(int).reshape(-1)
    probabilities = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    predicted = (probabilities >= threshold).astype(int)
    tp = int(((predicted == 1) & (labels == 1)).sum())
    fp = int(((predicted == 1) & (labels == 0)).sum())
    fn = int(((predicted == 0) & (labels == 1)).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    clipped = np.clip(probabilities, 1e-7, 1 - 1e-7)
    log_loss = -np.mean(labels * np.log(clipped) + (1 - labels) * np.log(1 - clipped))
    return {
        "accuracy": float((predicted == labels).mean()),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "auc": roc_auc(labels, probabilities),
        "log_loss": float(log_loss),
    }


def classifier_metrics(
    model: RNNClassifier, batches: Iterable[tuple[Any, Any]]
) -> dict[str, float]:
    """:func:`binary_metrics` of ``model`` over the ``(ids, label)`` ``batches`` (a
    ``tf.data.Dataset``); with the bigram bag also the accuracy of each head of the ensemble
    alone, to show what each contributes."""
    with_heads = model.bigram_bag is not None
    scorer = model.with_head_logits() if with_heads else model
    outputs, labels = [], []
    for ids, y in batches:
        out = scorer.predict_on_batch(ids)
        out = out if isinstance(out, list) else [out]
        outputs.append(np.concatenate([o.reshape(-1, 1) for o in out], axis=1))
        labels.append(y.numpy())
    # Columns: the output probability, then (with the bag) the RNN and bag heads' logits.
    scores, gold = np.concatenate(outputs), np.concatenate(labels).astype(int)
    metrics = binary_metrics(gold, scores[:, 0])
    if with_heads:
        metrics["rnn_head_accuracy"] = float(np.mean((scores[:, 1] > 0) == gold))
        metrics["bag_head_accuracy"] = float(np.mean((scores[:, 2] > 0) == gold))
    return metrics
