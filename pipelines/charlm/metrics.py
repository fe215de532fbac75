"""Next-character scores of a whole split: nats, bits and perplexity per character, accuracy."""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np

from data.char_text import CharBatches


def next_character_metrics(model: keras.Model, batches: CharBatches) -> dict[str, Any]:
    """Scores every predicted character of ``batches`` in float64, read in order with the
    carried state zeroed before and after (a stateful model reads its lanes as in ``fit``).
    ``examples`` is the number of characters scored."""
    model.reset_states()
    nats, correct, unknown = 0.0, 0, 0
    for x, y in batches.dataset:
        logits = model.predict_on_batch(x).astype(np.float64)
        log_probs = logits - _logsumexp(logits)
        y = y.numpy()
        nats -= float(np.take_along_axis(log_probs, y[..., None], axis=-1).sum())
        correct += int(np.sum(logits.argmax(-1) == y))
        unknown += int(np.sum(y == 0))
    model.reset_states()
    loss = nats / batches.characters
    return {
        "examples": batches.characters,  # characters scored
        "nats_per_char": loss,
        "bits_per_char": loss / math.log(2.0),
        "perplexity": math.exp(loss),
        "accuracy": correct / batches.characters,
        "unknown_characters": unknown,
    }


def _logsumexp(x: np.ndarray) -> np.ndarray:
    top = x.max(axis=-1, keepdims=True)
    return top + np.log(np.exp(x - top).sum(axis=-1, keepdims=True))
