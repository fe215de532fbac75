"""Translation text ↔ token ids in the TensorFlow graph: standardisation, vocabularies with
start/end tokens, bucketed training batches and detokenisation of decoded ids."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from data.bucketing import Batches, batch_by_length
from data.text_vectorizer import adapt_vectorizer, encode_texts, pad_batch, whitespace_vectorizer
from data.text_vectorizer import texts_to_ids as texts_to_ids  # the translation modules' import
from data.token_counts import TokenCounts
from data.whitespace_vectorizer import OOV, PADDING, WhitespaceVectorizer

PAD_ID, UNK_ID, START_ID, END_ID = 0, 1, 2, 3
START_TOKEN, END_TOKEN = "[START]", "[END]"
SPECIAL_TOKENS = ("", "[UNK]", START_TOKEN, END_TOKEN)

# Typographic spaces (no-break, narrow no-break before French ! ?, zero-width) → space:
# serving gets raw strings that did not go through the Python-side NFKC normalisation.
_SPACES = r"[\t\x{00A0}\x{2000}-\x{200B}\x{202F}\x{205F}\x{3000}\x{FEFF}]"
# Always their own token: opening marks, quotes, brackets (so "[START]" typed by a user is
# three tokens, never the start id).
_ALWAYS_SPLIT = r"([¿¡\"“”«»()\[\]{}…])"
# Sentence punctuation is split off only where a word ends (before a space or the end), so
# "3:30", "1,000" and "U.S" stay whole; "..." and "?!" stay one token.
_WORD_END_PUNCTUATION = r"([.,!?;:]+)(\s|$)"


def standardize(text: tf.Tensor, lowercase: bool = False) -> tf.Tensor:
    """Separates punctuation into tokens; keeps accents, apostrophes and hyphens in words,
    and case unless ``lowercase``."""
    text = tf.strings.regex_replace(text, _SPACES, " ")
    if lowercase:
        text = tf.strings.lower(text, encoding="utf-8")
    text = tf.strings.regex_replace(text, _ALWAYS_SPLIT, r" \1 ")
    return tf.strings.regex_replace(text, _WORD_END_PUNCTUATION, r" \1\2")


def _standardize_cased(text: tf.Tensor) -> tf.Tensor:
    return standardize(text, lowercase=False)


def _standardize_lowercase(text: tf.Tensor) -> tf.Tensor:
    return standardize(text, lowercase=True)


def tokenize(texts: tf.Tensor, lowercase: bool = False) -> tf.RaggedTensor:
    """Strings → ragged tokens as the vectorizer sees them (for display, e.g. heatmaps)."""
    return tf.strings.split(standardize(texts, lowercase))


def make_vectorizer(
    vocabulary_size: int | None, lowercase: bool, vocabulary: list[str] | None = None
) -> WhitespaceVectorizer:
    """Whitespace ``TextVectorization`` over :func:`standardize` (0 = padding, 1 = OOV).

    Pass a saved ``vocabulary`` to rebuild it exactly (its size is then the vocabulary's).
    """
    return whitespace_vectorizer(
        _standardize_lowercase if lowercase else _standardize_cased,
        None if vocabulary is not None else vocabulary_size,
        vocabulary,
    )


def learn_vocabulary(
    texts: list[str], vocabulary_size: int, lowercase: bool, special: bool
) -> list[str]:
    """The ``vocabulary_size`` most frequent tokens of ``texts`` (padding and OOV included);
    with ``special`` the start and end tokens take ids 2 and 3."""
    extra = 2 if special else 0
    learned = adapt_vectorizer(make_vectorizer(vocabulary_size - extra, lowercase), texts, 4096)
    if not special:
        return learned
    words = [t for t in learned[2:] if t not in (START_TOKEN, END_TOKEN)]
    return [*SPECIAL_TOKENS, *words]


def vocabulary_from_counts(counts: TokenCounts, vocabulary_size: int, special: bool) -> list[str]:
    """:func:`learn_vocabulary`'s vocabulary from token counts taken in a streaming pass
    (``data.source: stream``): the same tokens in the same order as adapting on the same
    texts would give."""
    extra = 2 if special else 0
    ranked = counts.ranked(drop=(PADDING.encode(), OOV.encode()))
    words = [token.decode("utf-8") for token, _ in ranked[: max(0, vocabulary_size - extra - 2)]]
    if not special:
        return [PADDING, OOV, *words]
    return [*SPECIAL_TOKENS, *(w for w in words if w not in (START_TOKEN, END_TOKEN))]


def encode_all(
    texts: list[str], vectorizer: WhitespaceVectorizer, chunk: int = 8192
) -> tf.RaggedTensor:
    """All ``texts`` → one ragged int32 tensor, vectorised once (not again every epoch),
    whole sentences (not cut)."""
    return encode_texts(texts, vectorizer, chunk=chunk)


def teacher_forcing_pair(target: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Target ids → (decoder input ``[START] w1 … wn``, decoder output ``w1 … wn [END]``)."""
    return (
        tf.concat([[START_ID], target], axis=0),
        tf.concat([target, [END_ID]], axis=0),
    )


@dataclass(frozen=True)
class EncodedPairs:
    """Sentence pairs as ragged int32 token ids, one row per pair."""

    source_ids: tf.RaggedTensor
    target_ids: tf.RaggedTensor

    def __len__(self) -> int:
        return int(self.source_ids.nrows())

    def lengths(self) -> np.ndarray:
        """Steps per pair: the longer side, the decoder side with its start token."""
        return np.maximum(
            self.source_ids.row_lengths().numpy(), self.target_ids.row_lengths().numpy() + 1
        )

    def subset(self, indices: np.ndarray) -> EncodedPairs:
        """The pairs at ``indices``, in that order."""
        return EncodedPairs(
            tf.gather(self.source_ids, indices), tf.gather(self.target_ids, indices)
        )


def pair_dataset(
    pairs: EncodedPairs, *, batch_size: int, shuffle_seed: int | None, bucket_by_length: bool
) -> Batches:
    """``((source_ids, target_in_ids), target_out_ids)`` batches padded with 0, and their count.

    With ``bucket_by_length`` a batch holds pairs of similar :meth:`EncodedPairs.lengths`, so
    the recurrent layers run over little padding.
    """
    ds = tf.data.Dataset.from_tensor_slices((pairs.source_ids, pairs.target_ids))
    if shuffle_seed is not None:
        ds = ds.shuffle(len(pairs), seed=shuffle_seed, reshuffle_each_iteration=True)
    return batch_by_length(
        ds.map(lambda s, t: (s, *teacher_forcing_pair(t))),
        pairs.lengths(),
        batch_size=batch_size,
        length_of=lambda s, ti, to: tf.maximum(tf.shape(s)[0], tf.shape(ti)[0]),
        padded_shapes=([None], [None], [None]),
        bucket_by_length=bucket_by_length,
        map_batch=lambda s, ti, to: ((pad_batch(s), ti), to),
    )


# Detokenisation: the inverse of ``standardize`` for what it splits off.
_SPACE_BEFORE = r" ([.,!?;:)\]}»”…])"
_SPACE_AFTER = r"([¿¡(\[{«“]) "
_QUOTED = r"\" (.*?) \""


def detokenize(ids: tf.Tensor, vocabulary: tf.Tensor) -> tf.Tensor:
    """Decoded ids (batch, length) → strings: tokens up to ``[END]`` joined, with punctuation
    re-attached as :func:`standardize` split it off. Special tokens other than OOV vanish."""
    ids = tf.convert_to_tensor(ids, tf.int32)
    ended = tf.cumsum(tf.cast(tf.equal(ids, END_ID), tf.int32), axis=1, exclusive=True) > 0
    keep = tf.logical_and(tf.logical_not(ended), tf.logical_or(ids == UNK_ID, ids > END_ID))
    tokens = tf.ragged.boolean_mask(tf.gather(vocabulary, ids), keep)
    text = tf.strings.reduce_join(tokens, axis=1, separator=" ")
    text = tf.strings.regex_replace(text, _SPACE_BEFORE, r"\1")
    text = tf.strings.regex_replace(text, _SPACE_AFTER, r"\1")
    return tf.strings.regex_replace(text, _QUOTED, r'"\1"')
