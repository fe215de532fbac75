"""Binary metrics against hand computations."""

import math

import numpy as np
import pytest

from pipelines.sentiment.metrics import binary_metrics, roc_auc


def test_counts_by_hand():
    labels = np.array([1, 1, 1, 0, 0, 0, 0, 1])
    probs = np.array([0.9, 0.8, 0.3, 0.2, 0.6, 0.1, 0.4, 0.7])
    m = binary_metrics(labels, probs)
    # predicted 1 1 0 0 1 0 0 1 → tp=3, fp=1, fn=1, tn=3
    assert m["accuracy"] == pytest.approx(6 / 8)
    assert m["precision"] == pytest.approx(3 / 4)
    assert m["recall"] == pytest.approx(3 / 4)
    assert m["f1"] == pytest.approx(3 / 4)
    # positives 0.9 0.8 0.3 0.7 vs negatives 0.2 0.6 0.1 0.4: 4 + 4 + 2 + 4 = 14 of 16 pairs
    assert m["auc"] == pytest.approx(14 / 16)
    expected_loss = -np.mean(labels * np.log(probs) + (1 - labels) * np.log(1 - probs))
    assert m["log_loss"] == pytest.approx(expected_loss)


def test_auc_ties_count_half():
    assert roc_auc(np.array([1, 0]), np.array([0.5, 0.5])) == pytest.approx(0.5)
    assert roc_auc(np.array([1, 1, 0]), np.array([0.5, 0.9, 0.5])) == pytest.approx(0.75)
    assert math.isnan(roc_auc(np.array([1, 1]), np.array([0.2, 0.3])))


def test_no_positive_predictions_gives_zero_not_nan():
    m = binary_metrics(np.array([1, 0]), np.array([0.1, 0.2]))
    assert m["precision"] == 0.0 and m["f1"] == 0.0
