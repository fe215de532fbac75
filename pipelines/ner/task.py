"""NER: many-to-many BiLSTM tagger (word, casing and char features, CRF) over CoNLL files."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import keras
import numpy as np
import tensorflow as tf

from data.conll import ConllFormat, TaggedSentences, read_conll
from data.sources import carve_validation, resolve_data_path, sample_path, tfds_load
from data.tag_schemes import convert, scheme_tags, spans, to_iob2_tag
from data.token_features import NUM_CASINGS, TokenEncoder, tag_strings, tagging_dataset
from models.ner_tagger import FEATURE_INPUTS, NERTagger
from pipelines.ner.metrics import EntityF1, entity_metrics
from pipelines.spine.config import param
from pipelines.spine.sections import RNNConfig, TrainConfig
from pipelines.spine.task import Prepared, Task, input_lines

# The bundled sample (WNUT-17) has its own layout, whatever the config says about files.
SAMPLE_FILES = {"train": "train.conll.gz", "validation": "dev.conll.gz", "test": "test.conll.gz"}
SAMPLE_FORMAT = ConllFormat(separator="tab", token_column=0, tag_column=1, scheme="iob2")
TFDS_SPLITS = {"train": "train", "validation": "dev", "test": "test"}
FEATURE_SPECS = {
    "word_ids": tf.TensorSpec([None, None], tf.int32),
    "casing_ids": tf.TensorSpec([None, None], tf.int32),
    "char_ids": tf.TensorSpec([None, None, None], tf.int32),
}


@dataclass(frozen=True)
class NERData:
    """Where the tagged sentences come from, how to read them, and how tokens become ids."""

    source: Literal["sample", "files", "tfds"] = param("sample")
    tfds_name: str = param("conll2003")
    tfds_data_dir: str | None = param(None, doc="TFDS data dir; null = TFDS default")
    train_path: str = param("conll2003/train.txt.gz", doc="under DATA_ROOT or absolute")
    validation_path: str | None = param(
        "conll2003/valid.txt.gz", doc="null = carve validation from train, by document"
    )
    test_path: str = param("conll2003/test.txt.gz")
    separator: Literal["whitespace", "tab"] = param("whitespace", doc="column separator")
    token_column: int = param(0, doc="column of the token (negative: from the end)")
    tag_column: int = param(-1, doc="column of the entity tag (negative: from the end)")
    tag_scheme: Literal["iob1", "iob2", "bioes"] = param("iob2", doc="scheme of the file tags")
    skip_malformed_lines: bool = param(False, doc="skip and count bad lines instead of failing")
    validation_fraction: float = param(0.1, min=0.01, max=0.5, doc="when carving from train")
    split_seed: int = param(13)
    max_train_examples: int | None = param(None, min=1, doc="cap for quick runs")
    max_validation_examples: int | None = param(None, min=1, doc="cap for quick runs")
    lowercase: bool = param(True, doc="lower-case word ids (casing is its own feature)")
    digits_to_zero: bool = param(True, doc="map every digit to 0 in word ids")
    min_word_count: int = param(1, min=1, doc="train occurrences a word needs for an id")
    max_words: int | None = param(None, min=3, doc="cap on the word vocabulary")
    max_chars_per_token: int = param(20, min=1, doc="chars seen by the char encoder")
    bucket_by_length: bool = param(True, doc="batch sentences of similar length together")

    def conll_format(self) -> ConllFormat:
        return ConllFormat(
            separator=self.separator,
            token_column=self.token_column,
            tag_column=self.tag_column,
            scheme=self.tag_scheme,
            skip_malformed=self.skip_malformed_lines,
        )


@dataclass(frozen=True)
class NERModel:
    word_embedding_dim: int = param(100, min=1)
    casing_embedding_dim: int = param(8, min=0, doc="0 = no casing feature")
    char_encoder: Literal["cnn", "lstm", "none"] = param("cnn")
    char_embedding_dim: int = param(25, min=1)
    char_units: int = param(50, min=1, doc="CNN filters, or LSTM units per direction")
    char_kernel_size: int = param(3, min=1, doc="CNN window in chars")
    word_dropout: float = param(0.05, min=0.0, max=0.9, doc="words replaced by OOV in training")
    feature_dropout: float = param(0.5, min=0.0, max=0.95, doc="on the concatenated features")
    rnn: RNNConfig = field(default_factory=RNNConfig)
    output_dropout: float = param(0.5, min=0.0, max=0.95)
    output: Literal["crf", "softmax"] = param("crf")
    tag_scheme: Literal["iob2", "bioes"] = param(
        "iob2", doc="scheme the model predicts in; outputs and metrics are IOB2"
    )


@dataclass(frozen=True)
class NERConfig:
    task: Literal["ner"] = param("ner")
    seed: int = param(42)
    data: NERData = field(default_factory=NERData)
    model: NERModel = field(default_factory=NERModel)
    train: TrainConfig = field(default_factory=TrainConfig)


@dataclass
class NERInfo:
    """Facts learned from the training data."""

    words: list[str]
    chars: list[str]
    tags: list[str]  # model tag id → tag in model.tag_scheme
    output_tags: list[str]  # model tag id → IOB2 tag (outputs and metrics)
    entity_types: list[str]
    train_examples: int
    validation_examples: int
    skipped_lines: int = 0


def _say(message: str) -> None:
    print(f"[ner] {message}", file=sys.stderr, flush=True)


def _read(path: str | Path, fmt: ConllFormat) -> TaggedSentences:
    sentences = read_conll(path, fmt)
    if sentences.skipped_lines:
        _say(
            f"{path}: skipped {sentences.skipped_lines} malformed line(s) "
            f"(data.skip_malformed_lines), first: {sentences.skipped_examples[0]}"
        )
    return sentences


def _read_tfds(data: NERData, split: str) -> TaggedSentences:
    ds, info = tfds_load(data.tfds_name, TFDS_SPLITS[split], data.tfds_data_dir, with_info=True)
    names = info.features["ner"].feature.names
    tokens, tags = [], []
    for example in ds.as_numpy_iterator():
        words = [t.decode("utf-8") for t in example["tokens"]]
        if not words:  # the CoNLL builder yields an empty last example (STACK.md)
            continue
        tokens.append(words)
        tags.append(convert([names[i] for i in example["ner"]], "iob2"))
    return TaggedSentences(tokens, tags, np.arange(len(tokens)))


def load_sentences(data: NERData, split: str) -> TaggedSentences:
    """``train``, ``validation`` (None when it is carved from train) or ``test`` sentences."""
    if data.source == "sample":
        return _read(sample_path("ner", SAMPLE_FILES[split]), SAMPLE_FORMAT)
    if data.source == "tfds":
        return _read_tfds(data, split)
    path = {"train": data.train_path, "validation": data.validation_path, "test": data.test_path}
    if path[split] is None:
        raise ValueError(f"data.{split}_path: not set")
    return _read(resolve_data_path(path[split]), data.conll_format())


def _train_validation(data: NERData) -> tuple[TaggedSentences, TaggedSentences, int]:
    """Train and validation sentences, and how many malformed lines reading them skipped."""
    train = load_sentences(data, "train")
    skipped = train.skipped_lines
    if data.source == "files" and data.validation_path is None:
        # Whole documents go to validation: sentences of one news story share names.
        train_idx, val_idx = carve_validation(
            len(train), data.validation_fraction, data.split_seed, train.documents
        )
        train, validation = train.subset(train_idx), train.subset(val_idx)
    else:
        validation = load_sentences(data, "validation")
        skipped += validation.skipped_lines
    if data.max_train_examples is not None:
        train = train.subset(np.arange(min(len(train), data.max_train_examples)))
    if data.max_validation_examples is not None:
        keep = min(len(validation), data.max_validation_examples)
        validation = validation.subset(np.arange(keep))
    return train, validation, skipped


class NERTask(Task):
    name = "ner"
    config_class = NERConfig
    info_class = NERInfo

    # --------------------------------------------------------------------------- data

    def encoder(self, cfg: NERConfig, info: NERInfo) -> TokenEncoder:
        return TokenEncoder(
            info.words,
            info.chars,
            lowercase=cfg.data.lowercase,
            digits_to_zero=cfg.data.digits_to_zero,
            max_chars=cfg.data.max_chars_per_token,
        )

    def _tag_ids(self, cfg: NERConfig, info: NERInfo, sentences: TaggedSentences):
        # Entity types never seen in training have no tag id: they train as O, and the
        # metrics still count them as missed (they use the IOB2 gold strings).
        index = {tag: i for i, tag in enumerate(info.tags)}
        return [
            [index.get(t, 0) for t in convert(tags, cfg.model.tag_scheme)]
            for tags in sentences.tags
        ]

    def _dataset(self, cfg, info, encoder, sentences: TaggedSentences, shuffle: bool):
        return tagging_dataset(
            sentences.tokens,
            self._tag_ids(cfg, info, sentences),
            encoder,
            batch_size=cfg.train.batch_size,
            shuffle_seed=cfg.seed if shuffle else None,
            bucket_by_length=cfg.data.bucket_by_length,
        )

    def _ordered_dataset(self, cfg, info, encoder, sentences: TaggedSentences):
        """Batches in a known order (shortest sentences first, little padding) and that order."""
        order = np.argsort([len(s) for s in sentences.tokens], kind="stable")
        ordered = sentences.subset(order)
        ds = tagging_dataset(
            ordered.tokens,
            self._tag_ids(cfg, info, ordered),
            encoder,
            batch_size=cfg.train.batch_size,
            shuffle_seed=None,
            bucket_by_length=False,
        )
        return ds, order

    def prepare(self, cfg: NERConfig) -> Prepared:
        train, validation, skipped = _train_validation(cfg.data)
        d = cfg.data
        encoder = TokenEncoder.adapt(
            train.tokens,
            lowercase=d.lowercase,
            digits_to_zero=d.digits_to_zero,
            max_chars=d.max_chars_per_token,
            min_word_count=d.min_word_count,
            max_words=d.max_words,
        )
        types = sorted({span.type for tags in train.tags for span in spans(tags)})
        tags = scheme_tags(types, cfg.model.tag_scheme)
        info = NERInfo(
            words=encoder.words,
            chars=encoder.chars,
            tags=tags,
            output_tags=[to_iob2_tag(t) for t in tags],
            entity_types=types,
            train_examples=len(train),
            validation_examples=len(validation),
            skipped_lines=skipped,
        )
        _say(
            f"{len(encoder.words)} words, {len(encoder.chars)} chars, {len(tags)} tags "
            f"({cfg.model.tag_scheme}) for types {', '.join(types)}"
        )
        train_ds = self._dataset(cfg, info, encoder, train, shuffle=True)
        validation_ds, order = self._ordered_dataset(cfg, info, encoder, validation)
        self._validation = (validation_ds, order, validation.tags)  # for the F1 callback
        probe = train.subset(np.arange(min(len(train), cfg.train.batch_size)))
        return Prepared(
            train=train_ds,
            validation=validation_ds,
            info=info,
            train_examples=len(train),
            validation_examples=len(validation),
            # A fixed batch of real training sentences (drawing it from train_ds would first
            # fill the whole shuffle buffer).
            probe_batch=next(iter(self._dataset(cfg, info, encoder, probe, shuffle=False))),
        )

    # --------------------------------------------------------------------------- model

    def build_model(self, cfg: NERConfig, info: NERInfo) -> keras.Model:
        m = cfg.model
        return NERTagger(
            word_vocabulary_size=len(info.words),
            char_vocabulary_size=len(info.chars),
            casing_vocabulary_size=NUM_CASINGS,
            num_tags=len(info.tags),
            word_embedding_dim=m.word_embedding_dim,
            casing_embedding_dim=m.casing_embedding_dim,
            char_encoder=m.char_encoder,
            char_embedding_dim=m.char_embedding_dim,
            char_units=m.char_units,
            char_kernel_size=m.char_kernel_size,
            word_dropout=m.word_dropout,
            feature_dropout=m.feature_dropout,
            cell=m.rnn.cell,
            units=m.rnn.units,
            num_layers=m.rnn.layers,
            bidirectional=m.rnn.bidirectional,
            merge_mode=m.rnn.merge_mode,
            dropout=m.rnn.dropout,
            recurrent_dropout=m.rnn.recurrent_dropout,
            residual=m.rnn.residual,
            output_dropout=m.output_dropout,
            output=m.output,
            name="ner_tagger",
        )

    def compile_args(self, cfg: NERConfig, info: NERInfo) -> dict[str, Any]:
        # The CRF / softmax output layer adds the loss itself (add_loss); nothing to compile.
        return {"loss": None}

    def callbacks(self, cfg: NERConfig, info: NERInfo, prepared: Prepared):
        ds, order, gold = self._validation

        taggers: dict[int, SentenceTagger] = {}  # one traced graph per model

        def predict(model: keras.Model) -> list[list[str]]:
            if id(model) not in taggers:
                taggers[id(model)] = SentenceTagger(model, info)
            return taggers[id(model)].tag_dataset(ds, order)

        return [EntityF1(predict, gold)]

    # --------------------------------------------------------------------------- evaluation

    def evaluate(self, model, cfg: NERConfig, info: NERInfo, split: str) -> dict[str, Any]:
        if split == "test":
            sentences = load_sentences(cfg.data, "test")
        elif split == "validation":
            sentences = _train_validation(cfg.data)[1]
        else:
            raise ValueError(f"split must be 'test' or 'validation', got {split!r}")
        ds, order = self._ordered_dataset(cfg, info, self.encoder(cfg, info), sentences)
        predicted = SentenceTagger(model, info).tag_dataset(ds, order)
        metrics = entity_metrics(sentences.tags, predicted)
        unseen = sorted(set(metrics["per_type"]) - set(info.entity_types))
        return {
            "examples": len(sentences),
            **metrics,
            "types_not_in_train": unseen,
            "skipped_lines": sentences.skipped_lines,
        }

    # --------------------------------------------------------------------------- serving

    def serving_functions(self, model, cfg: NERConfig, info: NERInfo) -> dict[str, Any]:
        """tf.functions over raw strings, with the token encoder inside the graph.

        ``serve(sentences)``: sentences of space-separated tokens → ``tags`` (space-joined
        IOB2 tags per sentence) and ``num_tokens``. ``tag_tokens(tokens)``: pre-tokenised
        sentences padded with ``""`` (batch, words) → ``tags`` (batch, words), ``""`` on
        padding (trailing ``""``; an inner ``""`` is tagged as an unknown word). ``tag_text``
        is ``serve`` returning the ragged tokens and tags (for ``predict``). ``encoder`` holds
        the lookup tables an export must track.
        """
        encoder = self.encoder(cfg, info)
        tagger = model.tagging_model()
        names = tf.constant(info.output_tags)

        def tag_ragged(tokens: tf.RaggedTensor) -> tf.RaggedTensor:
            ids = tagger(encoder.encode_padded(tokens), training=False)
            return tf.RaggedTensor.from_tensor(tf.gather(names, ids), lengths=tokens.row_lengths())

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="sentences")])
        def tag_text(sentences):
            tokens = tf.strings.split(sentences)
            return {"tokens": tokens, "tags": tag_ragged(tokens)}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="sentences")])
        def serve(sentences):
            tagged = tag_text(sentences)
            return {
                "tags": tf.strings.reduce_join(tagged["tags"], axis=1, separator=" "),
                "num_tokens": tf.cast(tagged["tokens"].row_lengths(), tf.int32),
            }

        @tf.function(input_signature=[tf.TensorSpec([None, None], tf.string, name="tokens")])
        def tag_tokens(tokens):
            ragged = tf.RaggedTensor.from_tensor(tokens, padding="")
            # Only trailing "" are padding. An inner "" is a word never seen in training (a
            # space: out of vocabulary), not padding, which would cut a hole in the mask.
            ragged = tf.ragged.map_flat_values(lambda t: tf.where(t == "", " ", t), ragged)
            tags = tag_ragged(ragged)
            return {"tags": tags.to_tensor(default_value="", shape=tf.shape(tokens))}

        return {"serve": serve, "tag_tokens": tag_tokens, "tag_text": tag_text, "encoder": encoder}

    def export(self, model, cfg: NERConfig, info: NERInfo, path: Path) -> dict[str, Any]:
        fns = self.serving_functions(model, cfg, info)
        example = {
            "sentences": tf.constant(["EU rejects German call to boycott British lamb .", ""])
        }
        fns["serve"](**example)  # traces the graph, which builds the lookups for tracking
        fns["tag_tokens"](tf.constant([["Peter", "Blackburn"], ["BRUSSELS", ""]]))
        archive = keras.export.ExportArchive()
        archive.track(model.tagging_model())
        for resource in fns["encoder"].resources:
            archive.track(resource)
        archive.add_endpoint("serving_default", fns["serve"])
        archive.add_endpoint("tag_tokens", fns["tag_tokens"])
        archive.write_out(str(path), verbose=False)
        return example

    def add_predict_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--input",
            help="file with one sentence per line, tokens separated by spaces (default: stdin)",
        )

    def predict(
        self, model, cfg: NERConfig, info: NERInfo, inputs: Iterable[str], args: Any
    ) -> Iterator[dict[str, Any]]:
        tag_text = self.serving_functions(model, cfg, info)["tag_text"]
        batch: list[str] = []
        for line in input_lines(inputs, getattr(args, "input", None)):
            batch.append(line)
            if len(batch) == 64:
                yield from _predict_batch(tag_text, batch)
                batch = []
        if batch:
            yield from _predict_batch(tag_text, batch)


class SentenceTagger:
    """A model's inference graph over batches of features (one tf.function, any shapes)."""

    def __init__(self, model: keras.Model, info: NERInfo):
        tagger = model.tagging_model()
        self.output_tags = info.output_tags

        @tf.function(input_signature=[FEATURE_SPECS])  # one trace for every batch shape
        def tag(features):
            return tagger(features, training=False)

        self._tag = tag

    def tag_dataset(self, ds: tf.data.Dataset, order: np.ndarray) -> list[list[str]]:
        """IOB2 tags for the sentences of an ordered dataset, back in their original order."""
        predicted: list[list[str]] = []
        for features, _ in ds:
            ids = self._tag({k: features[k] for k in FEATURE_INPUTS}).numpy()
            lengths = np.count_nonzero(features["word_ids"].numpy(), axis=1)
            predicted.extend(tag_strings(ids, lengths, self.output_tags))
        result: list[list[str]] = [[] for _ in predicted]
        for position, index in enumerate(order):
            result[index] = predicted[position]
        return result


def _predict_batch(tag_text, batch: list[str]) -> Iterator[dict[str, Any]]:
    out = tag_text(tf.constant(batch))
    for text, tokens, tags in zip(
        batch, out["tokens"].to_list(), out["tags"].to_list(), strict=True
    ):
        tokens = [t.decode("utf-8") for t in tokens]
        tags = [t.decode("utf-8") for t in tags]
        yield {
            "text": text,
            "tokens": tokens,
            "tags": tags,
            "entities": [
                {
                    "type": span.type,
                    "start": span.start,
                    "end": span.end,
                    "text": " ".join(tokens[span.start : span.end]),
                }
                for span in spans(tags)
            ],
        }
