"""A tagger's graphs: tagging feature batches (validation, evaluation) and raw strings (export,
``predict``), with the token encoder inside the graph so both paths tag alike.

Export signatures: ``serving_default(sentences)``: sentences of space-separated tokens →
``tags`` (space-joined output tags per sentence) and ``num_tokens``; ``tag_tokens(tokens)``:
pre-tokenised sentences padded with ``""`` (batch, words) → ``tags`` (batch, words read),
``""`` on padding (trailing ``""``; an inner ``""`` is tagged as an unknown word), and
``num_tokens``.

Bounds (``ServeConfig``): a sentence is cut to its first ``max_chars`` characters, then to its
first ``max_tokens`` tokens; ``tags`` are the tags of the tokens read and ``num_tokens`` says
how many. ``tag_tokens`` reads the first ``max_tokens`` columns (its ``tags`` are that wide at
most) and the first ``max_chars`` characters of each token. A batch over ``max_batch`` is
rejected; ``predict`` tags at most ``max_batch`` sentences a call and marks a cut sentence
``"truncated": true``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from data.token_features import OrderedBatches, TokenEncoder, tag_strings
from models.sequence_tagger import FEATURE_INPUTS
from pipelines.spine.saved_model import write_saved_model
from pipelines.spine.sections import ServeConfig
from pipelines.spine.serve_bounds import check_batch, cut_text
from pipelines.spine.task import batched

FEATURE_SPECS = {
    "word_ids": tf.TensorSpec([None, None], tf.int32),
    "casing_ids": tf.TensorSpec([None, None], tf.int32),
    "char_ids": tf.TensorSpec([None, None, None], tf.int32),
}
PREDICT_BATCH = 64  # sentences per serving call in ``predict``
# What a predict record is made of: the input line, its tokens and their output tags.
RecordFn = Callable[[str, list[str], list[str]], dict[str, Any]]


class SentenceTagger:
    """A model's inference graph over batches of features (one tf.function, any shapes)."""

    def __init__(self, model: keras.Model, output_tags: Sequence[str]):
        tagger = model.tagging_model()
        self.output_tags = list(output_tags)

        if keras.backend.backend() == "tensorflow":

            @tf.function(input_signature=[FEATURE_SPECS])  # one trace for every batch shape
            def tag(features):
                return tagger(features, training=False)

            self._tag = tag
        else:  # validation while training on JAX: the backend's compiled predict step
            self._tag = lambda features: tagger.predict_on_batch(
                {k: v.numpy() for k, v in features.items()}
            )

    def tag(self, ordered: OrderedBatches) -> list[list[str]]:
        """Output tags for the sentences of ordered batches, back in their own order."""
        predicted: list[list[str]] = []
        for features, _ in ordered.batches.dataset:
            ids = keras.ops.convert_to_numpy(self._tag({k: features[k] for k in FEATURE_INPUTS}))
            lengths = np.count_nonzero(features["word_ids"].numpy(), axis=1)
            predicted.extend(tag_strings(ids, lengths, self.output_tags))
        return ordered.restore(predicted)


def batches_tagger(
    ordered: OrderedBatches, output_tags: Sequence[str]
) -> Callable[[keras.Model], list[list[str]]]:
    """``predict(model)`` → the output tags of ``ordered``'s sentences (for the validation
    callback), tracing one graph per model rather than one per call."""
    taggers: dict[int, SentenceTagger] = {}

    def predict(model: keras.Model) -> list[list[str]]:
        if id(model) not in taggers:
            taggers[id(model)] = SentenceTagger(model, output_tags)
        return taggers[id(model)].tag(ordered)

    return predict


def serving_functions(
    model: keras.Model, encoder: TokenEncoder, output_tags: Sequence[str], bounds: ServeConfig
) -> dict[str, Any]:
    """tf.functions over raw strings within ``bounds``: ``serving_default`` and ``tag_tokens``
    (the export signatures, see the module doc), ``tag_text`` (``serving_default`` returning
    the ragged tokens and tags read and whether the sentence was cut, for ``predict``) and
    ``encoder`` (its lookup tables an export tracks)."""
    tagger = model.tagging_model()
    names = tf.constant(list(output_tags))
    max_chars, max_tokens = bounds.max_chars, bounds.max_tokens

    def tag_ragged(tokens: tf.RaggedTensor) -> tf.RaggedTensor:
        ids = tagger(encoder.encode_padded(tokens), training=False)
        return tf.RaggedTensor.from_tensor(tf.gather(names, ids), lengths=tokens.row_lengths())

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="sentences")])
    def tag_text(sentences):
        text, cut = cut_text(check_batch(sentences, bounds.max_batch), max_chars)
        every = tf.strings.split(text)
        tokens = every[:, :max_tokens]
        truncated = tf.logical_or(cut, every.row_lengths() > max_tokens)
        return {"tokens": tokens, "tags": tag_ragged(tokens), "truncated": truncated}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="sentences")])
    def serving_default(sentences):
        tagged = tag_text(sentences)
        return {
            "tags": tf.strings.reduce_join(tagged["tags"], axis=1, separator=" "),
            "num_tokens": tf.cast(tagged["tokens"].row_lengths(), tf.int32),
        }

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.string, name="tokens")])
    def tag_tokens(tokens):
        tokens = check_batch(tokens, bounds.max_batch)[:, :max_tokens]
        flat, _ = cut_text(tf.reshape(tokens, [-1]), max_chars)
        tokens = tf.reshape(flat, tf.shape(tokens))
        ragged = tf.RaggedTensor.from_tensor(tokens, padding="")
        # Only trailing "" are padding. An inner "" is a word never seen in training (a
        # space: out of vocabulary), not padding, which would cut a hole in the mask.
        ragged = tf.ragged.map_flat_values(lambda t: tf.where(t == "", " ", t), ragged)
        tags = tag_ragged(ragged)
        return {
            "tags": tags.to_tensor(default_value="", shape=tf.shape(tokens)),
            "num_tokens": tf.cast(ragged.row_lengths(), tf.int32),
        }

    return {
        "serving_default": serving_default,
        "tag_tokens": tag_tokens,
        "tag_text": tag_text,
        "encoder": encoder,
    }


def export_tagger(
    fns: dict[str, Any],
    model: keras.Model,
    path: Path,
    sentences: Sequence[str],
    tokens: Sequence[Sequence[str]],
) -> dict[str, Any]:
    """Writes the SavedModel of :func:`serving_functions` ``fns``; returns the example call
    (``sentences``; ``tokens`` only traces ``tag_tokens``)."""
    example = {"sentences": tf.constant(list(sentences))}
    fns["serving_default"](**example)  # traces the graph, which builds the lookups for tracking
    fns["tag_tokens"](tf.constant([list(row) for row in tokens]))
    endpoints = {name: fns[name] for name in ("serving_default", "tag_tokens")}
    write_saved_model(path, [model.tagging_model(), *fns["encoder"].resources], endpoints)
    return example


def tagged_record(text: str, tokens: list[str], tags: list[str]) -> dict[str, Any]:
    """The ``predict`` record of one line: the text, its tokens and their tags."""
    return {"text": text, "tokens": tokens, "tags": tags}


def predict_records(
    tag_text: Callable[[tf.Tensor], dict[str, tf.Tensor]],
    lines: Iterable[str],
    record: RecordFn = tagged_record,
    max_batch: int = PREDICT_BATCH,
) -> Iterator[dict[str, Any]]:
    """One ``record`` per line (the tokens read and their tags; ``"truncated": true`` added
    when ``tag_text`` cut the line), tagging ``PREDICT_BATCH`` lines, at most ``max_batch``,
    per call of ``tag_text``."""
    for batch in batched(lines, min(PREDICT_BATCH, max_batch)):
        out = tag_text(tf.constant(batch))
        cut = out["truncated"].numpy() if "truncated" in out else [False] * len(batch)
        for text, tokens, tags, truncated in zip(
            batch, out["tokens"].to_list(), out["tags"].to_list(), cut, strict=True
        ):
            tagged = record(
                text, [t.decode("utf-8") for t in tokens], [t.decode("utf-8") for t in tags]
            )
            yield {**tagged, "truncated": True} if truncated else tagged
