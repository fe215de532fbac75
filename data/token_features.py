"""Tokens → model features in the TensorFlow graph, shared by tf.data input and export.

Each token gives three features: a word id (the lower-cased word with digits replaced by 0,
so the vocabulary is not spent on case and number variants), a casing class (the case
information the word id dropped) and its characters' ids (for the character encoder).
Id 0 is padding and id 1 out-of-vocabulary in both lookups.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import keras
import numpy as np
import tensorflow as tf

from data.bucketing import Batches, batch_by_length

T = TypeVar("T")

FEATURES = ("word_ids", "casing_ids", "char_ids")

# Casing classes (after Reimers & Gurevych 2017); 0 is padding, the first rule that holds wins.
CASINGS = (
    "<pad>",
    "numeric",  # only digits
    "mainly_numeric",  # more than half digits
    "all_lower",  # has lower-case letters and no upper-case ones
    "all_upper",  # has upper-case letters and no lower-case ones
    "initial_upper",  # starts with an upper-case letter
    "contains_digit",
    "other",  # punctuation, symbols, mixed case
)
NUM_CASINGS = len(CASINGS)


def normalize_words(tokens: tf.Tensor, lowercase: bool, digits_to_zero: bool) -> tf.Tensor:
    """The word-vocabulary form of string tokens (any shape)."""
    if lowercase:
        tokens = tf.strings.lower(tokens, encoding="utf-8")
    if digits_to_zero:
        tokens = tf.strings.regex_replace(tokens, "[0-9]", "0")
    return tokens


def casing_ids(tokens: tf.Tensor) -> tf.Tensor:
    """The casing class (index into ``CASINGS``) of each string token (1-D)."""
    length = tf.maximum(tf.strings.length(tokens, unit="UTF8_CHAR"), 1)
    digits = tf.strings.length(tf.strings.regex_replace(tokens, "[^0-9]", ""))
    rules = [  # in priority order
        tf.strings.regex_full_match(tokens, "[0-9]+"),
        digits * 2 > length,
        tf.strings.regex_full_match(tokens, r"(?s)[^\p{Lu}]*\p{Ll}[^\p{Lu}]*"),
        tf.strings.regex_full_match(tokens, r"(?s)[^\p{Ll}]*\p{Lu}[^\p{Ll}]*"),
        tf.strings.regex_full_match(tokens, r"(?s)\p{Lu}.*"),
        digits > 0,
    ]
    ids = tf.fill(tf.shape(tokens), CASINGS.index("other"))
    for casing, holds in reversed(list(enumerate(rules, start=1))):
        ids = tf.where(holds, casing, ids)
    return tf.cast(ids, tf.int32)


def _lookup(vocabulary: Sequence[str]) -> keras.layers.StringLookup:
    return keras.layers.StringLookup(
        vocabulary=[str(v) for v in vocabulary if v not in ("", "[UNK]")],
        mask_token="",
        num_oov_indices=1,
    )


def count_vocabulary(counts: Counter[str], min_count: int, max_size: int | None) -> list[str]:
    """``["", "[UNK]", ...]``: padding, OOV, then items seen ``min_count`` times, most
    frequent first (ties alphabetical, so the result does not depend on reading order)."""
    kept = sorted(
        (item for item, n in counts.items() if n >= min_count and item),
        key=lambda w: (-counts[w], w),
    )
    if max_size is not None:
        kept = kept[: max(0, max_size - 2)]
    return ["", "[UNK]", *kept]


class TokenEncoder:
    """String tokens → ``word_ids``, ``casing_ids``, ``char_ids``; the same code runs in
    tf.data and inside the exported SavedModel."""

    def __init__(
        self,
        words: Sequence[str],
        chars: Sequence[str],
        *,
        lowercase: bool = True,
        digits_to_zero: bool = True,
        max_chars: int = 20,
    ):
        self.words = list(words)
        self.chars = list(chars)
        self.lowercase = lowercase
        self.digits_to_zero = digits_to_zero
        self.max_chars = max_chars
        self.word_lookup = _lookup(self.words)
        self.char_lookup = _lookup(self.chars)

    @classmethod
    def adapt(
        cls,
        sentences: Sequence[Sequence[str]],
        *,
        lowercase: bool = True,
        digits_to_zero: bool = True,
        max_chars: int = 20,
        min_word_count: int = 1,
        max_words: int | None = None,
        min_char_count: int = 1,
    ) -> TokenEncoder:
        """Vocabularies learned from training ``sentences`` (normalised by the graph code)."""
        flat = tf.constant([t for s in sentences for t in s] or [""], dtype=tf.string)
        normalized = normalize_words(flat, lowercase, digits_to_zero).numpy()
        word_counts = Counter(w.decode("utf-8") for w in normalized)
        chars = tf.strings.unicode_split(flat, "UTF-8", errors="replace")[:, :max_chars]
        char_counts = Counter(c.decode("utf-8") for c in chars.flat_values.numpy())
        words = count_vocabulary(word_counts, min_word_count, max_words)
        if len(words) == 2:
            raise ValueError(f"min_word_count={min_word_count}: no training word occurs as often")
        return cls(
            words,
            count_vocabulary(char_counts, min_char_count, None),
            lowercase=lowercase,
            digits_to_zero=digits_to_zero,
            max_chars=max_chars,
        )

    @property
    def resources(self) -> list[keras.layers.Layer]:
        """What an export must track so the lookup tables are saved."""
        return [self.word_lookup, self.char_lookup]

    def encode(self, tokens: tf.RaggedTensor) -> dict[str, tf.RaggedTensor]:
        """Ragged (batch, words) strings → ragged int32 features; chars (batch, words, chars)."""
        flat = tokens.flat_values
        words = normalize_words(flat, self.lowercase, self.digits_to_zero)
        chars = tf.strings.unicode_split(flat, "UTF-8", errors="replace")[:, : self.max_chars]
        char_ids = chars.with_flat_values(tf.cast(self.char_lookup(chars.flat_values), tf.int32))
        return {
            "word_ids": tokens.with_flat_values(tf.cast(self.word_lookup(words), tf.int32)),
            "casing_ids": tokens.with_flat_values(casing_ids(flat)),
            "char_ids": tokens.with_flat_values(char_ids),
        }

    def encode_padded(self, tokens: tf.RaggedTensor) -> dict[str, tf.Tensor]:
        """Like :meth:`encode`, padded with 0 to dense tensors at least one step wide."""
        return pad_features(self.encode(tokens))


def pad_features(features: dict[str, tf.RaggedTensor | tf.Tensor]) -> dict[str, tf.Tensor]:
    """Ragged or dense features → dense, padded with 0, no dimension of size 0.

    An empty batch or sentence still gets one (masked) word of one (masked) character, so
    the recurrent layers and the CRF never see zero steps.
    """
    out = {}
    for name, value in features.items():
        dense = value.to_tensor(default_value=0) if isinstance(value, tf.RaggedTensor) else value
        shape = tf.shape(dense)
        paddings = [[0, 0]] + [[0, tf.maximum(0, 1 - shape[i])] for i in range(1, len(dense.shape))]
        out[name] = tf.pad(dense, paddings)
    return out


def ragged_rows(rows: Sequence[Sequence], dtype: tf.DType) -> tf.RaggedTensor:
    """Python lists of rows → a (rows, None) RaggedTensor (much faster than
    ``tf.ragged.constant`` on corpora)."""
    flat = [item for row in rows for item in row]
    values = tf.constant(flat, dtype=dtype) if flat else tf.zeros([0], dtype=dtype)
    return tf.RaggedTensor.from_row_lengths(values, [len(row) for row in rows])


# Shapes of one example's features, padded per batch.
_PADDED_SHAPES = {
    "word_ids": [None],
    "casing_ids": [None],
    "char_ids": [None, None],
    "tags": [None],
}


def tagging_batches(
    tokens: Sequence[Sequence[str]],
    tag_ids: Sequence[Sequence[int]],
    encoder: TokenEncoder,
    *,
    batch_size: int,
    shuffle_seed: int | None,
    bucket_by_length: bool,
) -> Batches:
    """``(features, tags)`` batches and their exact count; ``features`` also holds ``tags``
    (the CRF's gold input).

    Features are computed once and cached; with ``bucket_by_length`` each batch holds
    sentences of similar length (``data.bucketing``), so the recurrent layers and the CRF run
    over little padding.
    """
    if not tokens:
        raise ValueError("no sentences to batch")
    features = encoder.encode(ragged_rows(tokens, tf.string))
    features["tags"] = ragged_rows(tag_ids, tf.int32)

    def densify(example):
        return {
            k: v.to_tensor() if isinstance(v, tf.RaggedTensor) else v for k, v in example.items()
        }

    ds = tf.data.Dataset.from_tensor_slices(features).map(densify).cache()
    if shuffle_seed is not None:
        ds = ds.shuffle(len(tokens), seed=shuffle_seed, reshuffle_each_iteration=True)
    return batch_by_length(
        ds,
        [len(s) for s in tokens],
        batch_size=batch_size,
        length_of=lambda example: tf.shape(example["word_ids"])[0],
        padded_shapes=_PADDED_SHAPES,
        bucket_by_length=bucket_by_length,
        map_batch=lambda example: (example, example["tags"]),
    )


@dataclass(frozen=True)
class OrderedBatches:
    """Batches of sentences sorted by length (little padding, always the same order) and
    that order: the ``i``-th sentence of the batches is sentence ``order[i]``."""

    batches: Batches
    order: np.ndarray

    def restore(self, rows: Sequence[T]) -> list[T]:
        """Per-sentence results in batch order → in the sentences' own order."""
        result: list[T] = list(rows)
        for position, index in enumerate(self.order):
            result[index] = rows[position]
        return result


def ordered_batches(
    tokens: Sequence[Sequence[str]],
    tag_ids: Sequence[Sequence[int]],
    encoder: TokenEncoder,
    *,
    batch_size: int,
) -> OrderedBatches:
    """Unshuffled, unbucketed batches, shortest sentences first (for validation and
    evaluation), and the order to put their predictions back in."""
    order = np.argsort([len(s) for s in tokens], kind="stable")
    batches = tagging_batches(
        [tokens[i] for i in order],
        [tag_ids[i] for i in order],
        encoder,
        batch_size=batch_size,
        shuffle_seed=None,
        bucket_by_length=False,
    )
    return OrderedBatches(batches, order)


def tag_strings(ids: np.ndarray, lengths: np.ndarray, tags: Sequence[str]) -> list[list[str]]:
    """Padded tag ids (batch, time) → per-sentence tag strings cut to ``lengths``."""
    table = np.asarray(tags, dtype=object)
    return [list(table[row[:n]]) for row, n in zip(ids, lengths, strict=True)]
