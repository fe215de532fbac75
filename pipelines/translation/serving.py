"""Decoding in the TensorFlow graph, strings in and strings out: the functions behind the
SavedModel signatures (``translate`` = ``serving_default``, ``translate_greedy``), evaluation
and ``predict``."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import keras
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
)
from models.seq2seq_translator import Seq2SeqTranslator
from pipelines.spine.saved_model import write_saved_model
from pipelines.spine.task import batched
from pipelines.translation.config import TranslationConfig, TranslationDecoding, TranslationInfo

# source strings (B,) → {"translation": (B,) strings, "score": (B,), "tokens": (B, L)}
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


def source_vectorizer(
    cfg: TranslationConfig, info: TranslationInfo
) -> keras.layers.TextVectorization:
    """The source side's ``TextVectorization`` with the trained vocabulary."""
    return make_vectorizer(None, cfg.data.lowercase_source, info.source_vocabulary)


def make_translate_function(
    model: Seq2SeqTranslator,
    cfg: TranslationConfig,
    info: TranslationInfo,
    beam_size: int | None,
    vectorizer: keras.layers.TextVectorization | None = None,
) -> tuple[Translate, keras.layers.TextVectorization]:
    """A ``tf.function`` source strings (B,) → {translation (B,), score (B,), tokens (B, L)}:
    greedy when ``beam_size`` is None or 1, else beam search. Returns it with its source
    vectorizer (to track for export)."""
    if vectorizer is None:
        vectorizer = source_vectorizer(cfg, info)
    vocabulary = tf.constant(info.target_vocabulary)
    d = cfg.decoding
    beam = None if beam_size is None or beam_size <= 1 else beam_size
    banned = banned_ids(d)

    # autograph=False: the decoding loops are explicit graph loops (keras.ops.while_loop).
    @tf.function(input_signature=[SOURCE_SPEC], autograph=False)
    def translate(source):
        ids = pad_batch(texts_to_ids(source, vectorizer, cfg.data.max_source_length))
        out = model.generate(
            ids,
            start_id=START_ID,
            end_id=END_ID,
            max_length=d.max_length,
            beam_size=beam,
            length_penalty=d.length_penalty,
            banned_ids=banned,
        )
        return {
            "translation": detokenize(out["tokens"], vocabulary),
            "score": out["scores"],
            "tokens": out["tokens"],
        }

    return translate, vectorizer


def translate_functions(
    model: Seq2SeqTranslator,
    cfg: TranslationConfig,
    info: TranslationInfo,
    vectorizer: keras.layers.TextVectorization | None = None,
) -> tuple[Translate, Translate]:
    """(greedy, beam search with ``decoding.beam_size``) translate functions over one source
    vectorizer: what evaluate scores and export serves."""
    greedy, vectorizer = make_translate_function(model, cfg, info, None, vectorizer)
    beam, _ = make_translate_function(model, cfg, info, cfg.decoding.beam_size, vectorizer)
    return greedy, beam


def _endpoint(translate: Translate):
    """A serving signature: only ``translation`` and ``score`` (no token ids)."""

    @tf.function(input_signature=[SOURCE_SPEC], autograph=False)
    def serve(source):
        out = translate(source)
        return {"translation": out["translation"], "score": out["score"]}

    return serve


def export_translator(
    model: Seq2SeqTranslator, cfg: TranslationConfig, info: TranslationInfo, path: Path
) -> dict[str, Any]:
    """Writes the SavedModel with ``translate`` (= ``serving_default``) and
    ``translate_greedy``; returns the example call's inputs."""
    vectorizer = source_vectorizer(cfg, info)
    greedy, beam = (_endpoint(fn) for fn in translate_functions(model, cfg, info, vectorizer))
    example = {"source": tf.constant(EXAMPLE_SOURCES.get(info.source_language, ["", "?"]))}
    for serve in (beam, greedy):
        serve(**example)  # traces the graphs, which builds the vectorizer for tracking
    endpoints = {"serving_default": beam, "translate": beam, "translate_greedy": greedy}
    write_saved_model(path, (model, vectorizer), endpoints)
    return example


def predict_translations(
    model: Seq2SeqTranslator,
    cfg: TranslationConfig,
    info: TranslationInfo,
    lines: Iterable[str],
    beam_size: int,
) -> Iterator[dict[str, Any]]:
    """``{source, translation, log_probability}`` per line, in ``decoding.batch_size``
    batches; lines are normalised like the training text, ``source`` is the line as given."""
    translate, _ = make_translate_function(model, cfg, info, beam_size)
    for batch in batched(lines, cfg.decoding.batch_size):
        normalised = [normalize_text(line, cfg.data.normalization) for line in batch]
        out = translate(tf.constant(np.array(normalised, dtype=object)))
        for source, translation, score in zip(
            batch, out["translation"].numpy(), out["score"].numpy(), strict=True
        ):
            yield {
                "source": source,
                "translation": translation.decode("utf-8"),
                "log_probability": round(float(score), 4),
            }
