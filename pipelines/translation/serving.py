"""Decoding in the TensorFlow graph, strings in and strings out: the functions behind the
SavedModel signatures (``translate`` = ``serving_default``, ``translate_greedy``), evaluation
and ``predict``.

Bounds (``cfg.serve``, applied by the signatures and ``predict``; evaluation reads its own
data unbounded): a source is cut to its first ``max_chars`` characters, then to its first
``max_tokens`` tokens (and ``data.max_source_length``, as always); a translation is at most
``max_generate`` tokens (and ``decoding.max_length``) long. A batch over ``max_batch`` is
rejected; ``predict`` translates at most ``max_batch`` sentences a call and marks a cut source
``"truncated": true``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from data.text_vectorizer import pad_batch
from data.translation_pairs import normalize_text
from data.translation_text import (
    END_ID,
    PAD_ID,
    START_ID,
    UNK_ID,
    detokenize,
    make_vectorizer,
    texts_to_ids,
    tokenize,
)
from data.whitespace_vectorizer import WhitespaceVectorizer
from models.seq2seq_translator import Seq2SeqTranslator
from pipelines.spine.backend import graph_function
from pipelines.spine.saved_model import write_saved_model
from pipelines.spine.sections import ServeConfig
from pipelines.spine.serve_bounds import check_batch, cut_text
from pipelines.spine.task import batched
from pipelines.translation.config import TranslationConfig, TranslationDecoding, TranslationInfo

# source strings (B,) → {"translation": (B,) strings, "score": (B,), "tokens": (B, L),
# "truncated": (B,) whether the source was cut}
Translate = Callable[[tf.Tensor], dict[str, tf.Tensor]]

# Serving examples per source language (export's example call; saved_model_cli in tests).
EXAMPLE_SOURCES = {
    "es": ["Tengo hambre.", "¿Dónde está la estación?"],
    "en": ["I am hungry.", "Where is the station?"],
    "pt": ["Estou com fome.", "Onde fica a estação?"],
}
SOURCE_SPEC = tf.TensorSpec([None], tf.string, name="source")


def banned_ids(decoding: TranslationDecoding) -> tuple[int, ...]:
    """Ids the decoder never emits: padding and start, and OOV unless allowed."""
    return (PAD_ID, START_ID) if decoding.allow_unknown else (PAD_ID, START_ID, UNK_ID)


def source_vectorizer(cfg: TranslationConfig, info: TranslationInfo) -> WhitespaceVectorizer:
    """The source side's ``TextVectorization`` with the trained vocabulary."""
    return make_vectorizer(None, cfg.data.lowercase_source, info.source_vocabulary)


def make_translate_function(
    model: Seq2SeqTranslator,
    cfg: TranslationConfig,
    info: TranslationInfo,
    beam_size: int | None,
    vectorizer: WhitespaceVectorizer | None = None,
    bounds: ServeConfig | None = None,
) -> tuple[Translate, WhitespaceVectorizer]:
    """A ``tf.function`` source strings (B,) → {translation (B,), score (B,), tokens (B, L),
    truncated (B,)}: greedy when ``beam_size`` is None or 1, else beam search; within
    ``bounds`` when given (see the module doc). Returns it with its source vectorizer (to
    track for export)."""
    if vectorizer is None:
        vectorizer = source_vectorizer(cfg, info)
    vocabulary = tf.constant(info.target_vocabulary)
    d = cfg.decoding
    beam = None if beam_size is None or beam_size <= 1 else beam_size
    banned = banned_ids(d)
    source_tokens, max_length = cfg.data.max_source_length, d.max_length
    if bounds is not None:
        source_tokens = min(source_tokens, bounds.max_tokens)
        max_length = min(max_length, bounds.max_generate)

    # autograph=False: the decoding loops are explicit graph loops (keras.ops.while_loop).
    def translate(source):
        cut = tf.zeros(tf.shape(source), tf.bool)
        if bounds is not None:
            source, cut = cut_text(source, bounds.max_chars)
        every = texts_to_ids(source, vectorizer)
        ids = pad_batch(every[:, :source_tokens])
        out = model.generate(
            ids,
            start_id=START_ID,
            end_id=END_ID,
            max_length=max_length,
            beam_size=beam,
            length_penalty=d.length_penalty,
            banned_ids=banned,
        )
        out = tf.nest.map_structure(tf.convert_to_tensor, out)  # arrays of another backend
        return {
            "translation": detokenize(out["tokens"], vocabulary),
            "score": out["scores"],
            "tokens": out["tokens"],
            "truncated": tf.logical_or(cut, every.row_lengths() > source_tokens),
        }

    # Eager on a backend other than TensorFlow (validation BLEU while training on JAX).
    return graph_function(translate, input_signature=[SOURCE_SPEC], autograph=False), vectorizer


def translate_functions(
    model: Seq2SeqTranslator,
    cfg: TranslationConfig,
    info: TranslationInfo,
    vectorizer: WhitespaceVectorizer | None = None,
    bounds: ServeConfig | None = None,
) -> tuple[Translate, Translate]:
    """(greedy, beam search with ``decoding.beam_size``) translate functions over one source
    vectorizer: what evaluate scores and (within ``bounds``) export serves."""
    greedy, vectorizer = make_translate_function(model, cfg, info, None, vectorizer, bounds)
    beam, _ = make_translate_function(model, cfg, info, cfg.decoding.beam_size, vectorizer, bounds)
    return greedy, beam


def _endpoint(translate: Translate, max_batch: int):
    """A serving signature: only ``translation`` and ``score`` (no token ids); a batch over
    ``max_batch`` is rejected."""

    @tf.function(input_signature=[SOURCE_SPEC], autograph=False)
    def serve(source):
        out = translate(check_batch(source, max_batch))
        return {"translation": out["translation"], "score": out["score"]}

    return serve


def attention_function(
    model: Seq2SeqTranslator,
    cfg: TranslationConfig,
    info: TranslationInfo,
    translate: Translate,
    vectorizer: WhitespaceVectorizer,
    bounds: ServeConfig,
):
    """The ``attention`` signature: sources (B,) → ``translation`` (B,) as ``translate`` gives
    it, ``source_tokens`` (B, S) and ``target_tokens`` (B, T) (the output tokens up to and
    including ``[END]``; ``""`` pads both) and ``weights`` (B, T, S): each output token's
    attention over the source tokens, teacher-forcing the decoder with its own output (the
    weights it computed step by step). Rows of real output tokens sum to 1; padding is 0.
    Bounded like ``translate`` (the same cut source, the same batch limit)."""
    vocabulary = tf.constant(info.target_vocabulary)
    source_tokens = min(cfg.data.max_source_length, bounds.max_tokens)

    @tf.function(input_signature=[SOURCE_SPEC], autograph=False)
    def attention(source):
        source = check_batch(source, bounds.max_batch)
        out = translate(source)
        cut, _ = cut_text(source, bounds.max_chars)
        ids = pad_batch(texts_to_ids(cut, vectorizer)[:, :source_tokens])
        shown = tokenize(cut, cfg.data.lowercase_source)[:, :source_tokens].to_tensor("")
        tokens = out["tokens"]
        # Output tokens up to and including the first [END] (beam search pads after it).
        ended = tf.cumsum(tf.cast(tokens == END_ID, tf.int32), axis=1, exclusive=True) > 0
        real = tf.logical_and(tf.logical_not(ended), tokens != PAD_ID)
        output = tf.where(real, tokens, PAD_ID)
        start = tf.fill([tf.shape(output)[0], 1], START_ID)
        _, weights = model.teacher_forced(ids, tf.concat([start, output[:, :-1]], axis=1))
        weights = tf.cast(weights, tf.float32) * tf.cast(real, tf.float32)[:, :, None]
        return {
            "translation": out["translation"],
            "source_tokens": shown,
            "target_tokens": tf.where(real, tf.gather(vocabulary, output), ""),
            "weights": weights[:, :, : tf.shape(shown)[1]],
        }

    return attention


def export_translator(
    model: Seq2SeqTranslator, cfg: TranslationConfig, info: TranslationInfo, path: Path
) -> dict[str, Any]:
    """Writes the SavedModel with ``translate`` (= ``serving_default``), ``translate_greedy``
    and ``attention`` (the beam output's attention weights); returns the example call's
    inputs."""
    vectorizer = source_vectorizer(cfg, info)
    functions = translate_functions(model, cfg, info, vectorizer, cfg.serve)
    greedy, beam = (_endpoint(fn, cfg.serve.max_batch) for fn in functions)
    attention = attention_function(model, cfg, info, functions[1], vectorizer, cfg.serve)
    example = {"source": tf.constant(EXAMPLE_SOURCES.get(info.source_language, ["", "?"]))}
    for serve in (beam, greedy, attention):
        serve(**example)  # traces the graphs, which builds the vectorizer for tracking
    endpoints = {
        "serving_default": beam,
        "translate": beam,
        "translate_greedy": greedy,
        "attention": attention,
    }
    write_saved_model(path, (model, vectorizer), endpoints)
    return example


def predict_translations(
    model: Seq2SeqTranslator,
    cfg: TranslationConfig,
    info: TranslationInfo,
    lines: Iterable[str],
    beam_size: int,
) -> Iterator[dict[str, Any]]:
    """``{source, translation, log_probability}`` per line (and ``"truncated": true`` when the
    source was cut to ``serve``'s bounds), in ``decoding.batch_size`` batches of at most
    ``serve.max_batch``; lines are normalised like the training text, ``source`` is the line
    as given."""
    translate, _ = make_translate_function(model, cfg, info, beam_size, bounds=cfg.serve)
    for batch in batched(lines, min(cfg.decoding.batch_size, cfg.serve.max_batch)):
        normalised = [normalize_text(line, cfg.data.normalization) for line in batch]
        out = translate(tf.constant(np.array(normalised, dtype=object)))
        outputs = (out[key].numpy() for key in ("translation", "score", "truncated"))
        for source, translation, score, truncated in zip(batch, *outputs, strict=True):
            record = {
                "source": source,
                "translation": translation.decode("utf-8"),
                "log_probability": round(float(score), 4),
            }
            yield {**record, "truncated": True} if truncated else record
