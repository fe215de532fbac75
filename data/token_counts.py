"""Token frequencies counted over a stream in bounded memory (vocabularies of corpora that do
not fit in memory)."""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable

import tensorflow as tf


class TokenCounts:
    """How often each token occurs, over batches of tokens seen one at a time.

    At most ``cap`` distinct tokens are held: when a batch takes the count past it, only the
    ``cap // 2`` most frequent are kept (equal counts by descending bytes, so the result does
    not depend on arrival order within a batch), and a dropped token seen again counts from
    zero. The counts are therefore exact while the stream has at most ``cap`` distinct tokens;
    past that only rare tokens are undercounted, which moves the vocabulary's cut-off only
    where a vocabulary far smaller than ``cap`` would not reach. ``pruned`` says how many
    times it happened.
    """

    def __init__(self, cap: int) -> None:
        if cap < 2:
            raise ValueError(f"cap must be at least 2, got {cap}")
        self.cap = cap
        self.pruned = 0
        self._counts: Counter[bytes] = Counter()

    def add_tokens(self, tokens: tf.Tensor | tf.RaggedTensor) -> None:
        """Counts every string in ``tokens`` (e.g. a vectorizer's ragged tokens of a batch)."""
        flat = tokens.flat_values if isinstance(tokens, tf.RaggedTensor) else tokens
        unique, _, count = tf.unique_with_counts(tf.reshape(flat, [-1]))
        self.add(zip(unique.numpy().tolist(), count.numpy().tolist(), strict=True))

    def add(self, counted: Iterable[tuple[bytes, int]]) -> None:
        """Adds ``(token, count)`` pairs, then prunes if past ``cap``."""
        counts = self._counts
        for token, count in counted:
            counts[token] += int(count)
        if len(counts) > self.cap:
            kept = heapq.nlargest(self.cap // 2, counts.items(), key=_by_count_then_bytes)
            self._counts = Counter(dict(kept))
            self.pruned += 1

    def __len__(self) -> int:
        return len(self._counts)

    def ranked(self, drop: Iterable[bytes] = ()) -> list[tuple[bytes, int]]:
        """``(token, count)`` most frequent first, equal counts in descending byte order
        (``TextVectorization``'s and ``WhitespaceVectorizer``'s order), without ``drop``."""
        dropped = set(drop)
        items = [(t, c) for t, c in self._counts.items() if t not in dropped]
        return sorted(items, key=_by_count_then_bytes, reverse=True)


def _by_count_then_bytes(item: tuple[bytes, int]) -> tuple[int, bytes]:
    return item[1], item[0]
