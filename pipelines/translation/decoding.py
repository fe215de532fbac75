"""Decoding a whole split: timed batches of greedy and beam-search translations, and the
attention of the beam output, which ``evaluate`` hands to ``write_reports``."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from data.text_vectorizer import pad_batch
from data.translation_pairs import SentencePairs
from data.translation_text import END_ID, START_ID, texts_to_ids, tokenize
from data.whitespace_vectorizer import WhitespaceVectorizer
from models.seq2seq_translator import Seq2SeqTranslator
from pipelines.spine.atomic import atomic_path
from pipelines.translation.config import TranslationConfig, TranslationInfo
from pipelines.translation.serving import Translate, source_vectorizer, translate_functions

REPORT_EXAMPLES = 20  # pairs in translations_<split>.jsonl
HEATMAP_SENTENCES = 4  # panels in attention_<split>.png

# (source tokens, output tokens, weights (outputs, sources)): one heatmap.
Panel = tuple[list[str], list[str], np.ndarray]


@dataclass
class Decoded:
    """Translations of a list of sources, in its order, and the time decoding took."""

    translations: list[str]
    scores: np.ndarray  # log-probability of each output
    tokens: list[np.ndarray]  # output ids, end token included, then padding
    seconds: float

    @property
    def sentences_per_second(self) -> float:
        return round(len(self.translations) / max(self.seconds, 1e-9), 1)


def decode_all(translate: Translate, sources: list[str], batch_size: int) -> Decoded:
    """Translates ``sources`` in batches of similar length (early loop exit works best when
    a batch finishes together); the timing excludes the first call's graph tracing."""
    if sources:
        translate(tf.constant(sources[:1]))  # trace outside the timing
    order = np.argsort([len(s) for s in sources], kind="stable")
    translations: list[str] = [""] * len(sources)
    scores = np.zeros(len(sources), dtype=np.float32)
    tokens: list[np.ndarray] = [np.zeros(0, np.int32)] * len(sources)
    started = time.perf_counter()
    for begin in range(0, len(sources), batch_size):
        chosen = order[begin : begin + batch_size]
        out = translate(tf.constant(np.array([sources[i] for i in chosen], dtype=object)))
        for row, i in enumerate(chosen):
            translations[i] = out["translation"][row].numpy().decode("utf-8")
            scores[i] = out["score"][row].numpy()
            tokens[i] = out["tokens"][row].numpy()
    return Decoded(translations, scores, tokens, time.perf_counter() - started)


@dataclass
class SplitTranslations:
    """A split decoded greedily and by beam search, with the attention heatmap panels of
    the first beam outputs: ``Evaluation.details``."""

    pairs: SentencePairs
    greedy: Decoded
    beam: Decoded
    attention: list[Panel]


def translate_split(
    model: Seq2SeqTranslator, cfg: TranslationConfig, info: TranslationInfo, pairs: SentencePairs
) -> SplitTranslations:
    """Decodes every source of ``pairs`` both ways (each graph traced once)."""
    greedy_fn, beam_fn = translate_functions(model, cfg, info)
    greedy = decode_all(greedy_fn, pairs.sources, cfg.decoding.batch_size)
    beam = decode_all(beam_fn, pairs.sources, cfg.decoding.batch_size)
    vectorizer = source_vectorizer(cfg, info)
    panels = [
        attention_panel(model, cfg, info, vectorizer, pairs.sources[i], beam.tokens[i])
        for i in range(min(HEATMAP_SENTENCES, len(pairs)))
    ]
    return SplitTranslations(pairs, greedy, beam, panels)


def attention_panel(
    model: Seq2SeqTranslator,
    cfg: TranslationConfig,
    info: TranslationInfo,
    vectorizer: WhitespaceVectorizer,
    source: str,
    tokens: np.ndarray,
) -> Panel:
    """(source tokens, output tokens, weights) of one sentence, teacher-forcing the
    model's own output (the same weights the decoder computed step by step)."""
    source_ids = pad_batch(
        texts_to_ids(tf.constant([source]), vectorizer, cfg.data.max_source_length)
    )
    ends = np.flatnonzero(tokens == END_ID)
    length = int(ends[0]) + 1 if len(ends) else int(np.count_nonzero(tokens))
    output = tokens[:length]
    target_in = np.concatenate([[START_ID], output[:-1]]).astype(np.int32)[None]
    _, weights = model.teacher_forced(source_ids, target_in)
    split = tokenize(tf.constant([source]), cfg.data.lowercase_source)[0].numpy()
    source_tokens = [t.decode("utf-8") for t in split][: cfg.data.max_source_length]
    output_tokens = [info.target_vocabulary[t] for t in output]
    weights = np.asarray(weights)[0, : len(output_tokens), : len(source_tokens)]
    return source_tokens or [""], output_tokens, weights


def write_translations(
    path: Path, translations: SplitTranslations, count: int = REPORT_EXAMPLES
) -> Path:
    """The first ``count`` pairs as JSON lines: source, reference, greedy, beam and the beam
    output's log-probability."""
    pairs, greedy, beam = translations.pairs, translations.greedy, translations.beam
    with atomic_path(path) as temp, temp.open("w", encoding="utf-8") as handle:
        for i in range(min(count, len(pairs))):
            record = {
                "source": pairs.sources[i],
                "reference": pairs.references[i],
                "greedy": greedy.translations[i],
                "beam": beam.translations[i],
                "beam_log_probability": round(float(beam.scores[i]), 4),
            }
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path
