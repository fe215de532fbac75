"""Text → token ids in TensorFlow alone, whichever Keras backend the process runs.

Keras' ``TextVectorization`` gives ragged ids only on the TensorFlow backend (on JAX it
refuses ``ragged=True`` and hands a callable standardizer NumPy strings instead of tensors),
but the input pipeline is tf.data on every backend. This is the same vectorizer built from
TensorFlow ops: standardize, split on whitespace, look each token up in a static hash table
(0 = padding, 1 = out of vocabulary). The vocabulary it learns equals ``TextVectorization``'s
(most frequent first, ties in descending byte order), so runs trained before it keep their
ids, and it is a ``tf.Module``, so a SavedModel that tracks it saves its table.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import tensorflow as tf

PADDING, OOV = "", "[UNK]"


class WhitespaceVectorizer(tf.Module):
    """``standardize`` then whitespace split then vocabulary lookup, as ragged int64 ids.

    ``max_tokens`` caps the learned vocabulary (padding and OOV included); a given
    ``vocabulary`` (as :meth:`get_vocabulary` returns it) is used as is."""

    def __init__(
        self,
        standardize: Callable[[tf.Tensor], tf.Tensor],
        max_tokens: int | None = None,
        vocabulary: Sequence[str] | None = None,
    ):
        super().__init__()
        self._standardize = standardize
        self.max_tokens = max_tokens
        self._vocabulary: list[str] = [PADDING, OOV]
        self.table: tf.lookup.StaticHashTable | None = None
        if vocabulary is not None:
            self.set_vocabulary(vocabulary)

    def tokens(self, texts: tf.Tensor) -> tf.RaggedTensor:
        """Strings (batch,) → ragged string tokens, as they are looked up."""
        return tf.strings.split(self._standardize(tf.convert_to_tensor(texts, tf.string)))

    def __call__(self, texts: tf.Tensor) -> tf.RaggedTensor:
        if self.table is None:
            raise ValueError("vectorizer: no vocabulary yet (adapt or set_vocabulary first)")
        return tf.ragged.map_flat_values(self.table.lookup, self.tokens(texts))

    def adapt(self, batches: Iterable[tf.Tensor]) -> None:
        """Learns the vocabulary from batches of strings: the most frequent tokens first,
        equal counts in descending byte order (``TextVectorization``'s order)."""
        counts: Counter[bytes] = Counter()
        for batch in batches:
            unique, _, count = tf.unique_with_counts(self.tokens(batch).flat_values)
            counts.update(dict(zip(unique.numpy().tolist(), count.numpy().tolist(), strict=True)))
        for special in (PADDING, OOV):
            counts.pop(special.encode(), None)
        ranked = sorted(counts.items(), key=lambda item: (item[1], item[0]), reverse=True)
        if self.max_tokens:
            ranked = ranked[: max(0, self.max_tokens - 2)]
        self.set_vocabulary([PADDING, OOV, *(token.decode("utf-8") for token, _ in ranked)])

    def set_vocabulary(self, vocabulary: Sequence[str]) -> None:
        """Uses ``vocabulary`` (with or without the leading padding and OOV entries)."""
        words = [str(w) for w in vocabulary if w not in (PADDING, OOV)]
        if len(set(words)) != len(words):
            raise ValueError("vectorizer: the vocabulary has repeated tokens")
        self._vocabulary = [PADDING, OOV, *words]
        keys = tf.constant(np.array(words, dtype=object), tf.string)
        values = tf.range(2, len(words) + 2, dtype=tf.int64)
        self.table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(keys, values), default_value=1
        )

    def get_vocabulary(self) -> list[str]:
        """Padding, OOV, then the tokens by id."""
        return list(self._vocabulary)

    def vocabulary_size(self) -> int:
        return len(self._vocabulary)
