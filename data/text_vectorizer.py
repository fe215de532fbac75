"""Text → token ids in the TensorFlow graph, shared by tf.data training input and export."""

from __future__ import annotations

from typing import Literal

import keras
import numpy as np
import tensorflow as tf

from data.dataset_options import without_autotune

Standardize = Literal["split_punctuation", "strip_punctuation"]
Keep = Literal["head", "tail"]

_MARKUP = r"<[^>]{0,40}>"  # IMDB reviews carry <br /> tags; they are layout, not words
_PUNCTUATION_TOKENS = r"([!?.,;:()\"])"
_OTHER_SYMBOLS = r"[^\pL\pN\s'!?.,;:()\"]"


def standardize_split_punctuation(text: tf.Tensor) -> tf.Tensor:
    """Lower-cases, drops markup and keeps ``! ? . , ; : ( ) "`` as separate tokens."""
    text = tf.strings.lower(text, encoding="utf-8")
    text = tf.strings.regex_replace(text, _MARKUP, " ")
    text = tf.strings.regex_replace(text, _OTHER_SYMBOLS, " ")
    return tf.strings.regex_replace(text, _PUNCTUATION_TOKENS, r" \1 ")


def standardize_strip_punctuation(text: tf.Tensor) -> tf.Tensor:
    """Lower-cases, drops markup and all punctuation except apostrophes inside words."""
    text = tf.strings.lower(text, encoding="utf-8")
    text = tf.strings.regex_replace(text, _MARKUP, " ")
    return tf.strings.regex_replace(text, r"[^\pL\pN\s']", " ")


_STANDARDIZERS = {
    "split_punctuation": standardize_split_punctuation,
    "strip_punctuation": standardize_strip_punctuation,
}


def make_vectorizer(
    standardize: Standardize, vocabulary_size: int, vocabulary: list[str] | None = None
) -> keras.layers.TextVectorization:
    """A whitespace-splitting ``TextVectorization`` (id 0 = padding, 1 = out of vocabulary).

    Pass the ``vocabulary`` saved by training (``get_vocabulary()``) to rebuild it exactly.
    """
    vectorizer = keras.layers.TextVectorization(
        max_tokens=vocabulary_size,
        standardize=_STANDARDIZERS[standardize],
        split="whitespace",
        output_mode="int",
        ragged=True,
    )
    if vocabulary is not None:
        vectorizer.set_vocabulary(vocabulary)
    return vectorizer


def _text_batches(texts: list[str]) -> tf.data.Dataset:
    # Large batches: the vectorizer's per-call overhead dominates on single texts.
    return tf.data.Dataset.from_tensor_slices(np.array(texts, dtype=object)).batch(1024)


def adapt_vectorizer(vectorizer: keras.layers.TextVectorization, texts: list[str]) -> list[str]:
    """Learns the vocabulary from ``texts`` (train only) and returns it."""
    vectorizer.adapt(_text_batches(texts))
    return vectorizer.get_vocabulary()


def texts_to_ids(
    texts: tf.Tensor, vectorizer: keras.layers.TextVectorization, max_length: int, keep: Keep
) -> tf.RaggedTensor:
    """Batch of strings → ragged int32 ids, each row cut to ``max_length`` tokens.

    ``keep="tail"`` keeps the last tokens (reviews often end with the verdict).
    """
    ids = vectorizer(texts)
    ids = ids[:, :max_length] if keep == "head" else ids[:, -max_length:]
    return tf.cast(ids, tf.int32)


def pad_batch(ids: tf.RaggedTensor | tf.Tensor) -> tf.Tensor:
    """Ids → dense (batch, time) padded with 0, at least one step wide.

    The one step keeps an all-empty batch from reaching the RNN with zero time steps; it is a
    padding id, so the mask hides it.
    """
    dense = ids.to_tensor(default_value=0) if isinstance(ids, tf.RaggedTensor) else ids
    missing = tf.maximum(0, 1 - tf.shape(dense)[1])
    return tf.pad(dense, [[0, 0], [0, missing]])


def _bucket_boundaries(max_length: int) -> list[int]:
    # Geometric (x1.2 from 8 tokens): each batch pads at most ~20% at any length, while
    # reviews run from 10 to 2,700 tokens with most under 300.
    boundaries, edge = set(), 8.0
    while edge < max_length:
        boundaries.add(int(edge))
        edge *= 1.2
    return sorted(boundaries)


def bucketed_batch_count(lengths: np.ndarray, max_length: int, batch_size: int) -> int:
    """Batches in one pass of ``text_classification_dataset(bucket_by_length=True)``.

    Each length bucket ends with its own partial batch, so a pass has more batches than
    ``ceil(examples / batch_size)`` (366 instead of 352 on IMDB): learning-rate schedules and
    progress lines need the true count.
    """
    lengths = np.minimum(np.asarray(lengths), max_length)
    # tf.data's bucket i holds boundaries[i-1] <= length < boundaries[i].
    buckets = np.searchsorted(_bucket_boundaries(max_length), lengths, side="right")
    sizes = np.bincount(buckets)
    return int(np.sum(-(-sizes // batch_size)))


def token_counts(texts: list[str], vectorizer: keras.layers.TextVectorization) -> np.ndarray:
    """Number of tokens of each text (before any cut to a maximum length)."""
    counts = [vectorizer(batch).row_lengths().numpy() for batch in _text_batches(texts)]
    return np.concatenate(counts) if counts else np.zeros(0, np.int64)


def text_classification_dataset(
    texts: list[str],
    labels: np.ndarray,
    vectorizer: keras.layers.TextVectorization,
    *,
    max_length: int,
    keep: Keep,
    batch_size: int,
    shuffle_seed: int | None,
    bucket_by_length: bool,
) -> tf.data.Dataset:
    """(padded ids, label) batches. With ``bucket_by_length`` each batch holds texts of
    similar length, so the RNN runs over little padding (2–3× fewer steps on IMDB)."""
    ds = tf.data.Dataset.from_tensor_slices((np.array(texts, dtype=object), labels))
    if shuffle_seed is not None:
        ds = ds.shuffle(len(texts), seed=shuffle_seed, reshuffle_each_iteration=True)
    if bucket_by_length:

        def to_padded(t, y):
            ids = texts_to_ids(t, vectorizer, max_length, keep)
            return ids.to_tensor(), ids.row_lengths(), y

        # Vectorise in large batches (fast), then split back into variable-length examples.
        ds = ds.batch(1024).map(to_padded).unbatch().map(lambda ids, n, y: (ids[:n], y))
        boundaries = _bucket_boundaries(max_length)
        ds = ds.bucket_by_sequence_length(
            element_length_func=lambda ids, y: tf.shape(ids)[0],
            bucket_boundaries=boundaries,
            bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
            padded_shapes=([None], []),
        )
        ds = ds.map(lambda ids, y: (pad_batch(ids), y))
    else:
        ds = ds.batch(batch_size).map(
            lambda t, y: (pad_batch(texts_to_ids(t, vectorizer, max_length, keep)), y)
        )
    return without_autotune(ds.prefetch(2))
