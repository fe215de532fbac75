"""Translation: recurrent encoder-decoder with attention, greedy and beam-search decoding.

Spanish→English on the Tatoeba/manythings pairs by default; the pair and the direction come
from ``data.source_language`` / ``data.target_language``. Text is Unicode-normalised in
Python when read; tokenisation, decoding and detokenisation run in the TensorFlow graph, so
the exported SavedModel's ``translate`` signature maps source strings to target strings.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import keras
import numpy as np
import tensorflow as tf

from data.sources import carve_validation, resolve_data_path, sample_path, tfds_load
from data.text_vectorizer import pad_batch
from data.translation_pairs import (
    ENGLISH_COLUMN,
    GroupBy,
    Normalization,
    SentencePairs,
    make_pairs,
    normalize_text,
    pair_groups,
    read_tab_pairs,
    split_three_ways,
)
from data.translation_text import (
    END_ID,
    PAD_ID,
    START_ID,
    UNK_ID,
    detokenize,
    encode_all,
    learn_vocabulary,
    make_vectorizer,
    pair_dataset,
    texts_to_ids,
    tokenize,
)
from models.seq2seq_translator import Seq2SeqTranslator
from models.sequence_crossentropy import SequenceCrossentropy
from pipelines.spine.config import ConfigError, param
from pipelines.spine.sections import CellName, RNNConfig, TrainConfig
from pipelines.spine.task import Prepared, Task, input_lines
from pipelines.translation.metrics import corpus_scores

SAMPLE_FILE = ("translation", "spa-eng.tsv")
SAMPLE_LANGUAGES = {"en", "es"}
REPORT_EXAMPLES = 20
HEATMAP_SENTENCES = 4
# Serving examples per source language (export's example call; saved_model_cli in tests).
EXAMPLE_SOURCES = {
    "es": ["Tengo hambre.", "¿Dónde está la estación?"],
    "en": ["I am hungry.", "Where is the station?"],
    "pt": ["Estou com fome.", "Onde fica a estação?"],
}


@dataclass(frozen=True)
class TranslationData:
    """Where the pairs come from, how they are split and how they become token ids."""

    source: Literal["sample", "files", "tfds"] = param("sample")
    source_language: str = param("es", doc="language code of the input side")
    target_language: str = param("en", doc="files: one side must be 'en' (english<TAB>other)")
    train_path: str = param("spa_eng/spa.txt.gz", doc="files: under DATA_ROOT or absolute")
    tfds_name: str = param("ted_hrlr_translate/pt_to_en", doc="features named by language")
    tfds_data_dir: str | None = param(None, doc="TFDS data dir; null = TFDS default")
    normalization: Normalization = param("NFKC", doc="Unicode form applied when reading")
    group_by: GroupBy = param(
        "source", doc="split unit: source sentence, or connected (shared source or target)"
    )
    validation_fraction: float = param(0.05, min=0.001, max=0.5, doc="carved from train")
    test_fraction: float = param(0.05, min=0.001, max=0.5, doc="files/sample (TFDS has test)")
    split_seed: int = param(13)
    max_train_examples: int | None = param(None, min=1, doc="random subset for quick runs")
    max_eval_examples: int | None = param(
        None, min=1, doc="random subset of validation and test pairs (quick runs)"
    )
    source_vocabulary_size: int = param(16000, min=4)
    target_vocabulary_size: int = param(12000, min=5, doc="[START] and [END] included")
    lowercase_source: bool = param(False, doc="targets always keep their case")
    max_train_length: int = param(
        40, min=2, doc="training pairs with more tokens on a side are dropped (counted)"
    )
    max_source_length: int = param(100, min=1, doc="source tokens read when translating")
    bucket_by_length: bool = param(True, doc="batch pairs of similar length together")


@dataclass(frozen=True)
class EncoderConfig(RNNConfig):
    """The encoder stack; the decoder is one layer of the same cell type."""

    cell: CellName = param("gru", doc="rnn | lstm | gru | ln_lstm | ln_gru (layer-normalised)")
    units: int = param(256, min=1, doc="units per direction")


@dataclass(frozen=True)
class TranslationModel:
    embedding_dim: int = param(256, min=1)
    embedding_dropout: float = param(0.1, min=0.0, max=0.95)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    decoder_units: int = param(512, min=1)
    attention: Literal["luong", "bahdanau"] = param(
        "luong", doc="luong: multiplicative; bahdanau: additive"
    )
    attention_units: int = param(256, min=1, doc="bahdanau score width")
    attentional_units: int | None = param(
        None, min=1, doc="width before the output layer; null = decoder_units"
    )
    output_dropout: float = param(0.2, min=0.0, max=0.95)
    label_smoothing: float = param(0.1, min=0.0, max=0.9)


@dataclass(frozen=True)
class TranslationDecoding:
    beam_size: int = param(5, min=1, doc="1 = greedy")
    length_penalty: float = param(0.6, min=0.0, doc="GNMT alpha; 0 = raw log-probability")
    max_length: int = param(50, min=1, doc="output tokens, end token included")
    allow_unknown: bool = param(False, doc="let the decoder emit [UNK]")
    batch_size: int = param(128, min=1, doc="sentences per decoding batch")
    validation_bleu_examples: int = param(
        0, min=0, doc="greedy val_bleu on this many validation pairs per epoch; 0 = off"
    )


@dataclass(frozen=True)
class TranslationConfig:
    task: Literal["translation"] = param("translation")
    seed: int = param(42)
    data: TranslationData = field(default_factory=TranslationData)
    model: TranslationModel = field(default_factory=TranslationModel)
    decoding: TranslationDecoding = field(default_factory=TranslationDecoding)
    train: TrainConfig = field(default_factory=TrainConfig)


@dataclass
class TranslationInfo:
    """Facts learned from the training pairs."""

    source_language: str
    target_language: str
    source_vocabulary: list[str]
    target_vocabulary: list[str]
    train_examples: int
    validation_examples: int
    dropped_long_pairs: int


# --- data ---


def _columns(data: TranslationData) -> tuple[int, int]:
    """(source, target) columns of an ``english<TAB>other`` file."""
    other = 1 - ENGLISH_COLUMN
    if data.target_language == "en" and data.source_language != "en":
        return other, ENGLISH_COLUMN
    if data.source_language == "en" and data.target_language != "en":
        return ENGLISH_COLUMN, other
    raise ConfigError(
        f"data.source_language/data.target_language: {data.source_language!r}→"
        f"{data.target_language!r}: pair files are english<TAB>other, so exactly one side "
        f"must be 'en'"
    )


def _tfds_pairs(data: TranslationData, split: str) -> SentencePairs:
    ds = tfds_load(data.tfds_name, split, data.tfds_data_dir)
    sources, targets = [], []
    for example in ds.as_numpy_iterator():
        for key in (data.source_language, data.target_language):
            if key not in example:
                raise ConfigError(
                    f"data.source_language/data.target_language: TFDS {data.tfds_name} has "
                    f"no feature {key!r} (features: {', '.join(sorted(example))})"
                )
        sources.append(example[data.source_language].decode("utf-8"))
        targets.append(example[data.target_language].decode("utf-8"))
    return make_pairs(sources, targets, data.normalization)


def _random_subset(indices: np.ndarray, limit: int | None, seed: int) -> np.ndarray:
    """At most ``limit`` of ``indices``, a seeded random choice in a seeded random order
    (pair files are sorted by length, so a prefix would be the shortest sentences)."""
    order = np.random.default_rng(seed).permutation(indices)
    return order if limit is None else order[:limit]


def load_split(data: TranslationData, split: str) -> SentencePairs:
    """The ``train``, ``validation`` or ``test`` pairs of the configured source."""
    if split not in ("train", "validation", "test"):
        raise ValueError(f"split must be train, validation or test, got {split!r}")
    if data.source == "tfds":
        if split == "test":
            pairs = _tfds_pairs(data, "test")
            chosen = _random_subset(np.arange(len(pairs)), data.max_eval_examples, data.split_seed)
            return pairs.subset(chosen)
        pairs = _tfds_pairs(data, "train")
        groups = pair_groups(pairs, data.group_by)
        train, validation = carve_validation(
            len(pairs), data.validation_fraction, data.split_seed, groups
        )
        indices = {"train": train, "validation": validation}
    else:
        if data.source == "sample":
            if {data.source_language, data.target_language} != SAMPLE_LANGUAGES:
                raise ConfigError(
                    "data.source_language/data.target_language: the bundled sample is "
                    "Spanish–English (es, en)"
                )
            path = sample_path(*SAMPLE_FILE)
        else:
            path = resolve_data_path(data.train_path)
        pairs = read_tab_pairs(path, *_columns(data), data.normalization)
        train, validation, test = split_three_ways(
            len(pairs),
            data.validation_fraction,
            data.test_fraction,
            data.split_seed,
            pair_groups(pairs, data.group_by),
        )
        indices = {"train": train, "validation": validation, "test": test}
    if split == "train":
        chosen = _random_subset(indices["train"], data.max_train_examples, data.split_seed)
        return pairs.subset(np.sort(chosen))
    return pairs.subset(_random_subset(indices[split], data.max_eval_examples, data.split_seed))


def _say(message: str) -> None:
    print(f"[translation] {message}", file=sys.stderr, flush=True)


# --- decoding in the graph (evaluation, export, predict) ---


def banned_ids(decoding: TranslationDecoding) -> tuple[int, ...]:
    """Ids the decoder never emits: padding and start, and OOV unless allowed."""
    return (PAD_ID, START_ID) if decoding.allow_unknown else (PAD_ID, START_ID, UNK_ID)


def make_translate_function(
    model: Seq2SeqTranslator,
    cfg: TranslationConfig,
    info: TranslationInfo,
    beam_size: int | None,
    vectorizer: keras.layers.TextVectorization | None = None,
):
    """A ``tf.function`` source strings (B,) → {translation (B,), score (B,), tokens (B, L)}:
    greedy when ``beam_size`` is None or 1, else beam search. Returns it with its source
    vectorizer (to track for export)."""
    if vectorizer is None:
        vectorizer = make_vectorizer(None, cfg.data.lowercase_source, info.source_vocabulary)
    vocabulary = tf.constant(info.target_vocabulary)
    d = cfg.decoding
    beam = None if beam_size is None or beam_size <= 1 else beam_size
    banned = banned_ids(d)

    spec = tf.TensorSpec([None], tf.string, name="source")

    # autograph=False: the decoding loops are explicit graph loops (keras.ops.while_loop).
    @tf.function(input_signature=[spec], autograph=False)
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


@dataclass
class Decoded:
    translations: list[str]
    scores: np.ndarray
    tokens: list[np.ndarray]
    seconds: float

    @property
    def sentences_per_second(self) -> float:
        return round(len(self.translations) / max(self.seconds, 1e-9), 1)


def decode_all(translate, sources: list[str], batch_size: int) -> Decoded:
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


class ValidationBLEU(keras.callbacks.Callback):
    """Greedy corpus BLEU on the first validation pairs as ``val_bleu`` each epoch.

    It is computed when validation ends, so with ``train.ema_momentum`` it scores the
    averaged weights like ``val_loss`` does, and written into the epoch logs before the
    checkpoint callback reads them (``train.monitor: val_bleu`` works).
    """

    def __init__(self, make_translate, sources: list[str], references: list[str], batch_size):
        super().__init__()
        self._make_translate = make_translate
        self._sources = sources
        self._references = references
        self._batch_size = batch_size
        self._translate = None
        self._bleu: float | None = None

    def on_test_end(self, logs=None):
        if self._translate is None:
            self._translate = self._make_translate(self.model)
        decoded = decode_all(self._translate, self._sources, self._batch_size)
        self._bleu = corpus_scores(decoded.translations, self._references)["bleu"]

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and self._bleu is not None:
            logs["val_bleu"] = self._bleu


class TranslationTask(Task):
    name = "translation"
    config_class = TranslationConfig
    info_class = TranslationInfo

    def __init__(self) -> None:
        self._decoders: tuple[Any, TranslationConfig, tuple[Any, Any]] | None = None

    def decoders(self, model, cfg: TranslationConfig, info: TranslationInfo):
        """(greedy, beam) translate functions for ``model``; the last pair is reused, so
        ``evaluate`` and ``write_reports`` on one checkpoint trace the graphs once."""
        if self._decoders is None or self._decoders[0] is not model or self._decoders[1] != cfg:
            greedy, vectorizer = make_translate_function(model, cfg, info, None)
            beam, _ = make_translate_function(model, cfg, info, cfg.decoding.beam_size, vectorizer)
            self._decoders = (model, cfg, (greedy, beam))
        return self._decoders[2]

    def prepare(self, cfg: TranslationConfig) -> Prepared:
        data = cfg.data
        train = load_split(data, "train")
        validation = load_split(data, "validation")
        source_vocabulary = learn_vocabulary(
            train.sources, data.source_vocabulary_size, data.lowercase_source, special=False
        )
        target_vocabulary = learn_vocabulary(
            train.targets, data.target_vocabulary_size, lowercase=False, special=True
        )
        source_vec = make_vectorizer(None, data.lowercase_source, source_vocabulary)
        target_vec = make_vectorizer(None, False, target_vocabulary)

        source_ids = encode_all(train.sources, source_vec)
        target_ids = encode_all(train.targets, target_vec)
        # The decoder reads [START] + target and predicts target + [END]: one more step.
        keep = np.flatnonzero(
            (source_ids.row_lengths().numpy() <= data.max_train_length)
            & (target_ids.row_lengths().numpy() + 1 <= data.max_train_length)
        )
        dropped = len(train) - len(keep)
        if dropped:
            _say(
                f"dropped {dropped} of {len(train)} training pairs longer than "
                f"{data.max_train_length} tokens (data.max_train_length)"
            )
        source_ids, target_ids = tf.gather(source_ids, keep), tf.gather(target_ids, keep)

        info = TranslationInfo(
            source_language=data.source_language,
            target_language=data.target_language,
            source_vocabulary=source_vocabulary,
            target_vocabulary=target_vocabulary,
            train_examples=len(keep),
            validation_examples=len(validation),
            dropped_long_pairs=dropped,
        )
        common = dict(batch_size=cfg.train.batch_size, bucket_by_length=data.bucket_by_length)
        train_ds = pair_dataset(source_ids, target_ids, shuffle_seed=cfg.seed, **common)
        validation_ds = pair_dataset(
            encode_all(validation.sources, source_vec),
            encode_all(validation.targets, target_vec),
            shuffle_seed=None,
            **common,
        )
        return Prepared(
            train=train_ds,
            validation=validation_ds,
            info=info,
            train_examples=len(keep),
            validation_examples=len(validation),
            probe_batch=next(iter(train_ds)),
        )

    def build_model(self, cfg: TranslationConfig, info: TranslationInfo) -> keras.Model:
        m, rnn = cfg.model, cfg.model.encoder
        return Seq2SeqTranslator(
            source_vocabulary_size=len(info.source_vocabulary),
            target_vocabulary_size=len(info.target_vocabulary),
            embedding_dim=m.embedding_dim,
            embedding_dropout=m.embedding_dropout,
            cell=rnn.cell,
            units=rnn.units,
            num_layers=rnn.layers,
            bidirectional=rnn.bidirectional,
            merge_mode=rnn.merge_mode,
            dropout=rnn.dropout,
            recurrent_dropout=rnn.recurrent_dropout,
            residual=rnn.residual,
            decoder_units=m.decoder_units,
            attention=m.attention,
            attention_units=m.attention_units,
            attentional_units=m.attentional_units,
            output_dropout=m.output_dropout,
            name="seq2seq_translator",
        )

    def compile_args(self, cfg: TranslationConfig, info: TranslationInfo) -> dict[str, Any]:
        return {
            "loss": SequenceCrossentropy(label_smoothing=cfg.model.label_smoothing),
            "metrics": [keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        }

    def callbacks(self, cfg: TranslationConfig, info: TranslationInfo, prepared: Prepared):
        count = cfg.decoding.validation_bleu_examples
        if not count:
            return []
        validation = load_split(cfg.data, "validation")
        return [
            ValidationBLEU(
                lambda model: make_translate_function(model, cfg, info, None)[0],
                validation.sources[:count],
                validation.references[:count],
                cfg.decoding.batch_size,
            )
        ]

    def evaluate(self, model, cfg: TranslationConfig, info: TranslationInfo, split: str):
        pairs = load_split(cfg.data, split)
        d = cfg.decoding
        greedy_fn, beam_fn = self.decoders(model, cfg, info)
        greedy = decode_all(greedy_fn, pairs.sources, d.batch_size)
        beam = decode_all(beam_fn, pairs.sources, d.batch_size)
        greedy_scores = corpus_scores(greedy.translations, pairs.references, prefix="greedy_")
        greedy_scores.pop("greedy_bleu_signature")
        return {
            "examples": len(pairs),
            **corpus_scores(beam.translations, pairs.references),
            **greedy_scores,
            "beam_size": d.beam_size,
            "length_penalty": d.length_penalty,
            "beam_sentences_per_second": beam.sentences_per_second,
            "greedy_sentences_per_second": greedy.sentences_per_second,
            "beam_mean_log_probability": round(float(beam.scores.mean()), 4),
            "greedy_mean_log_probability": round(float(greedy.scores.mean()), 4),
        }

    def write_reports(self, model, cfg: TranslationConfig, info: TranslationInfo, split, run_dir):
        """``translations_<split>.jsonl`` (20 pairs: source, reference, greedy, beam) and
        ``attention_<split>.png`` (heatmaps of the beam output for a few of them)."""
        from pipelines.translation.plots import plot_attention

        pairs = load_split(cfg.data, split)
        pairs = pairs.subset(np.arange(min(REPORT_EXAMPLES, len(pairs))))
        greedy_fn, beam_fn = self.decoders(model, cfg, info)
        greedy = decode_all(greedy_fn, pairs.sources, cfg.decoding.batch_size)
        beam = decode_all(beam_fn, pairs.sources, cfg.decoding.batch_size)
        translations = run_dir / f"translations_{split}.jsonl"
        with translations.open("w", encoding="utf-8") as handle:
            for i in range(len(pairs)):
                record = {
                    "source": pairs.sources[i],
                    "reference": pairs.references[i],
                    "greedy": greedy.translations[i],
                    "beam": beam.translations[i],
                    "beam_log_probability": round(float(beam.scores[i]), 4),
                }
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        vectorizer = make_vectorizer(None, cfg.data.lowercase_source, info.source_vocabulary)
        panels = [
            self._attention_panel(model, cfg, info, vectorizer, pairs.sources[i], beam.tokens[i])
            for i in range(min(HEATMAP_SENTENCES, len(pairs)))
        ]
        heatmap = plot_attention(
            run_dir / f"attention_{split}.png",
            panels,
            f"attention of the beam-search output over the source ({split} split)",
        )
        return [translations, heatmap]

    @staticmethod
    def _attention_panel(model, cfg, info, vectorizer, source: str, tokens: np.ndarray):
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

    def export(self, model, cfg: TranslationConfig, info: TranslationInfo, path: Path):
        beam_fn, vectorizer = make_translate_function(model, cfg, info, cfg.decoding.beam_size)
        greedy_fn, _ = make_translate_function(model, cfg, info, None, vectorizer)
        spec = tf.TensorSpec([None], tf.string, name="source")

        def endpoint(fn):
            @tf.function(input_signature=[spec], autograph=False)
            def serve(source):
                out = fn(source)
                return {"translation": out["translation"], "score": out["score"]}

            return serve

        translate, translate_greedy = endpoint(beam_fn), endpoint(greedy_fn)
        example = {"source": tf.constant(EXAMPLE_SOURCES.get(info.source_language, ["", "?"]))}
        translate(**example)  # traces the graphs, which builds the vectorizer for tracking
        translate_greedy(**example)
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.track(vectorizer)
        archive.add_endpoint("serving_default", translate)
        archive.add_endpoint("translate", translate)
        archive.add_endpoint("translate_greedy", translate_greedy)
        archive.write_out(str(path), verbose=False)
        return example

    def add_predict_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--input", help="file with one source sentence per line (default: stdin)"
        )
        parser.add_argument(
            "--beam-size", type=int, default=None, help="1 = greedy (default: decoding.beam_size)"
        )

    def predict(
        self, model, cfg: TranslationConfig, info: TranslationInfo, inputs: Iterable[str], args
    ) -> Iterator[dict[str, Any]]:
        beam_size = getattr(args, "beam_size", None) or cfg.decoding.beam_size
        translate, _ = make_translate_function(model, cfg, info, beam_size)
        batch: list[str] = []
        for line in input_lines(inputs, getattr(args, "input", None)):
            batch.append(line)
            if len(batch) == cfg.decoding.batch_size:
                yield from _predict_batch(translate, batch, cfg.data.normalization)
                batch = []
        if batch:
            yield from _predict_batch(translate, batch, cfg.data.normalization)


def _predict_batch(translate, batch: list[str], form: Normalization) -> Iterator[dict[str, Any]]:
    normalised = [normalize_text(line, form) for line in batch]
    out = translate(tf.constant(np.array(normalised, dtype=object)))
    for source, translation, score in zip(
        batch, out["translation"].numpy(), out["score"].numpy(), strict=True
    ):
        yield {
            "source": source,
            "translation": translation.decode("utf-8"),
            "log_probability": round(float(score), 4),
        }
