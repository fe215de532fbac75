"""Sentiment's portable core: token ids → probability (the SavedModel's strings stay out)."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from data.text_vectorizer import pad_batch, texts_to_ids
from pipelines.sentiment.config import SentimentConfig, SentimentInfo
from pipelines.sentiment.serving import LABEL_NAMES, trained_vectorizer
from pipelines.spine.portable_model import PortableModel
from pipelines.spine.portable_part import PortablePart

EXAMPLE_TEXTS = [
    "a great movie, the best I have seen this year!",
    "dull and far too long. I left early",
    "",
]


def portable_classifier(
    model: keras.Model, cfg: SentimentConfig, info: SentimentInfo
) -> PortableModel:
    """``classifier``: ids [batch, time] int32 → probability [batch] float32, with the
    vocabulary file and the tokenising rules the ids must follow."""

    def classify(ids):
        return {"probability": tf.cast(model(ids, training=False), tf.float32)[:, 0]}

    vectorizer = trained_vectorizer(cfg, info)
    texts = tf.constant(EXAMPLE_TEXTS)
    ids = pad_batch(texts_to_ids(texts, vectorizer, cfg.data.max_length, cfg.data.keep))
    part = PortablePart(
        name="classifier",
        function=classify,
        inputs=(tf.TensorSpec([None, None], tf.int32, name="ids"),),
        example={"ids": np.asarray(ids, np.int32)},
    )
    d = cfg.data
    split = d.standardize == "split_punctuation"
    marks = "punctuation as separate tokens" if split else "punctuation removed"
    contract = {
        "ids": (
            f"standardize the text ({d.standardize}: lower-case, drop <br /> markup, {marks}; "
            "see data/text_vectorizer.py), split on whitespace, map each token to its line "
            "number in vocabulary.txt (0-based); unknown tokens are 1 ([UNK])"
        ),
        "length": (
            f"keep the {'first' if d.keep == 'head' else 'last'} {d.max_length} tokens; pad "
            "rows on the right with 0 (masked), at least one column"
        ),
        "probability": (
            f"of '{LABEL_NAMES[1]}'; the SavedModel's label is '{LABEL_NAMES[1]}' at >= 0.5, "
            f"else '{LABEL_NAMES[0]}'"
        ),
        "bounds": f"the SavedModel first cuts a text to serve.max_chars = {cfg.serve.max_chars}",
    }
    vocabulary = "".join(f"{token}\n" for token in info.vocabulary)
    return PortableModel(
        parts=(part,),
        contract=contract,
        files={"vocabulary.txt": vocabulary},
        outside="text standardisation, tokenising and the vocabulary lookup (string ops)",
    )
