"""Raw text in, sentiment out: the tf.function behind ``serving_default`` and ``predict``, and
the SavedModel that exports it.

Bounds (``cfg.serve``): each text is cut to ``max_chars`` characters before it is tokenised,
its first ones, or its last ones when ``data.keep`` is ``tail`` (the end the model reads);
then to ``data.max_length`` tokens as in training. A batch over ``max_batch`` is rejected.
``predict`` serves at most ``max_batch`` texts a call and marks a cut text ``"truncated": true``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from data.text_vectorizer import make_vectorizer, pad_batch, texts_to_ids
from data.whitespace_vectorizer import WhitespaceVectorizer
from pipelines.sentiment.config import SentimentConfig, SentimentInfo
from pipelines.spine.saved_model import write_saved_model
from pipelines.spine.sections import ServeConfig
from pipelines.spine.serve_bounds import check_batch, cut_text
from pipelines.spine.task import batched

LABEL_NAMES = ("negative", "positive")
PREDICT_BATCH = 64  # texts per serving call in ``predict``

Serve = Callable[[tf.Tensor], dict[str, tf.Tensor]]


def trained_vectorizer(cfg: SentimentConfig, info: SentimentInfo) -> WhitespaceVectorizer:
    """The vectorizer of a trained run: its settings, the vocabulary learned in training."""
    return make_vectorizer(cfg.data.standardize, cfg.data.vocabulary_size, info.vocabulary)


def serving_function(
    model: keras.Model, cfg: SentimentConfig, info: SentimentInfo
) -> tuple[Serve, WhitespaceVectorizer]:
    """Raw strings → {probability, label}, with the vectorizer inside the graph and the
    bounds of ``cfg.serve`` (see the module doc); also returns the vectorizer, which an
    export must track."""
    vectorizer = trained_vectorizer(cfg, info)
    max_length, keep, bounds = cfg.data.max_length, cfg.data.keep, cfg.serve

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def serve(text):
        text, _ = cut_text(check_batch(text, bounds.max_batch), bounds.max_chars, keep)
        ids = pad_batch(texts_to_ids(text, vectorizer, max_length, keep))
        probability = tf.cast(model(ids, training=False), tf.float32)[:, 0]
        label = tf.where(probability >= 0.5, LABEL_NAMES[1], LABEL_NAMES[0])
        return {"probability": probability, "label": label}

    return serve, vectorizer


def export_classifier(
    model: keras.Model, cfg: SentimentConfig, info: SentimentInfo, path: Path
) -> dict[str, Any]:
    """Writes the SavedModel with :func:`serving_function` as ``serving_default``; returns the
    example call's inputs."""
    serve, vectorizer = serving_function(model, cfg, info)
    example = {"text": tf.constant(["a great movie", ""])}
    serve(**example)  # traces the graph, which builds the vectorizer for tracking
    write_saved_model(path, (model, vectorizer), {"serving_default": serve})
    return example


def predictions(
    serve: Serve, texts: Iterable[str], bounds: ServeConfig
) -> Iterator[dict[str, Any]]:
    """One ``{text, probability, label}`` per text (and ``"truncated": true`` when the text
    is longer than ``bounds.max_chars``), served in batches of ``PREDICT_BATCH`` at most
    ``bounds.max_batch``."""
    for batch in batched(texts, min(PREDICT_BATCH, bounds.max_batch)):
        outputs = serve(tf.constant(batch))
        for text, probability, label in zip(
            batch, outputs["probability"].numpy(), outputs["label"].numpy(), strict=True
        ):
            record = {
                "text": text,
                "probability": round(float(probability), 6),
                "label": label.decode(),
            }
            yield {**record, "truncated": True} if len(text) > bounds.max_chars else record
