"""Sentiment: many-to-one bidirectional RNN over IMDB reviews (or any labelled texts)."""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import keras
import numpy as np
import tensorflow as tf

from data.sources import carve_validation, resolve_data_path, sample_path, tfds_load
from data.text_classification import LabelledTexts, read_aclimdb, read_labelled_lines
from data.text_vectorizer import (
    Keep,
    Standardize,
    adapt_vectorizer,
    bucketed_batch_count,
    make_vectorizer,
    pad_batch,
    text_classification_dataset,
    texts_to_ids,
    token_counts,
)
from models.rnn_classifier import RNNClassifier
from pipelines.sentiment.metrics import binary_metrics
from pipelines.spine.config import param
from pipelines.spine.sections import RNNConfig, TrainConfig
from pipelines.spine.task import Prepared, Task, input_lines

LABEL_NAMES = ("negative", "positive")


@dataclass(frozen=True)
class SentimentData:
    """Where the texts come from and how they become token ids."""

    source: Literal["sample", "files", "tfds"] = param("sample")
    tfds_name: str = param("imdb_reviews")
    tfds_data_dir: str | None = param(None, doc="TFDS data dir; null = TFDS default")
    files_format: Literal["aclimdb", "tsv"] = param(
        "aclimdb", doc="aclimdb: tree or .tar.gz; tsv: text<TAB>label lines"
    )
    train_path: str = param("imdb/aclImdb_v1_labeled.tar.gz", doc="under DATA_ROOT or absolute")
    test_path: str | None = param(None, doc="tsv only; aclimdb reads test from train_path")
    validation_fraction: float = param(
        0.1, min=0.01, max=0.5, doc="carved from train, by movie where the data says"
    )
    split_seed: int = param(13)
    max_train_examples: int | None = param(None, min=1, doc="cap for quick runs")
    vocabulary_size: int = param(30000, min=3)
    max_length: int = param(400, min=1, doc="tokens kept per text")
    keep: Keep = param("head", doc="head: first tokens; tail: last tokens")
    standardize: Standardize = param("split_punctuation")
    bucket_by_length: bool = param(True, doc="batch texts of similar length together")


@dataclass(frozen=True)
class SentimentModel:
    embedding_dim: int = param(128, min=1)
    embedding_dropout: float = param(0.0, min=0.0, max=0.95, doc="whole embedding channels")
    token_dropout: float = param(0.0, min=0.0, max=0.9, doc="words replaced by OOV in training")
    rnn: RNNConfig = field(default_factory=RNNConfig)
    pooling: Literal["last", "mean", "max", "mean_max", "attention"] = param("mean_max")
    head_dropout: float = param(0.0, min=0.0, max=0.95)
    bigram_buckets: int = param(
        0, min=0, doc="0 = off; else a bag of words + hashed bigrams beside the RNN"
    )
    bigram_dim: int = param(32, min=1, doc="bigram bag embedding width")
    bigram_lr_multiplier: float = param(
        1.0, min=0.01, doc="how many times faster the bag learns than the RNN"
    )
    solo_rate: float = param(
        1.0,
        min=0.0,
        max=1.0,
        doc="with the bag: share of training examples one head predicts alone",
    )


@dataclass(frozen=True)
class SentimentConfig:
    task: Literal["sentiment"] = param("sentiment")
    seed: int = param(42)
    data: SentimentData = field(default_factory=SentimentData)
    model: SentimentModel = field(default_factory=SentimentModel)
    train: TrainConfig = field(default_factory=TrainConfig)


@dataclass
class SentimentInfo:
    """Facts learned from the training data."""

    vocabulary: list[str]
    train_examples: int
    validation_examples: int
    positive_fraction: float


def load_texts(data: SentimentData, split: str) -> LabelledTexts:
    """The ``train`` or ``test`` texts of the configured source."""
    if data.source == "sample":
        return read_labelled_lines(sample_path("sentiment", f"{split}.tsv"))
    if data.source == "tfds":
        ds = tfds_load(data.tfds_name, split, data.tfds_data_dir, as_supervised=True)
        texts, labels = [], []
        for text, label in ds.as_numpy_iterator():
            texts.append(text.decode("utf-8"))
            labels.append(int(label))
        return LabelledTexts(texts, np.array(labels, dtype=np.int32))
    if data.files_format == "aclimdb":
        return read_aclimdb(resolve_data_path(data.train_path), split)
    path = data.train_path if split == "train" else data.test_path
    if path is None:
        raise ValueError("data.test_path: required for files_format tsv (the test split file)")
    return read_labelled_lines(resolve_data_path(path))


def _train_validation(data: SentimentData) -> tuple[LabelledTexts, LabelledTexts]:
    texts = load_texts(data, "train")
    # IMDB's test reviews are of other movies than train: validation holds out whole movies
    # too, or it overrates models that memorise titles and names (~2.5 points on IMDB).
    train_idx, val_idx = carve_validation(
        len(texts), data.validation_fraction, data.split_seed, texts.groups
    )
    if data.max_train_examples is not None:
        train_idx = train_idx[: data.max_train_examples]
    return texts.subset(train_idx), texts.subset(val_idx)


class SentimentTask(Task):
    name = "sentiment"
    config_class = SentimentConfig
    info_class = SentimentInfo

    def _dataset(self, cfg: SentimentConfig, texts: LabelledTexts, vectorizer, shuffle: bool):
        return text_classification_dataset(
            texts.texts,
            texts.labels.astype(np.float32),
            vectorizer,
            max_length=cfg.data.max_length,
            keep=cfg.data.keep,
            batch_size=cfg.train.batch_size,
            shuffle_seed=cfg.seed if shuffle else None,
            bucket_by_length=cfg.data.bucket_by_length,
        )

    def prepare(self, cfg: SentimentConfig) -> Prepared:
        train, validation = _train_validation(cfg.data)
        vectorizer = make_vectorizer(cfg.data.standardize, cfg.data.vocabulary_size)
        vocabulary = adapt_vectorizer(vectorizer, train.texts)
        info = SentimentInfo(
            vocabulary=vocabulary,
            train_examples=len(train),
            validation_examples=len(validation),
            positive_fraction=float(train.labels.mean()),
        )
        train_ds = self._dataset(cfg, train, vectorizer, shuffle=True)
        train_batches = (
            bucketed_batch_count(
                token_counts(train.texts, vectorizer), cfg.data.max_length, cfg.train.batch_size
            )
            if cfg.data.bucket_by_length
            else None
        )
        return Prepared(
            train=train_ds,
            validation=self._dataset(cfg, validation, vectorizer, shuffle=False),
            info=info,
            train_examples=len(train),
            validation_examples=len(validation),
            probe_batch=next(iter(train_ds)),
            train_batches=train_batches,
        )

    def build_model(self, cfg: SentimentConfig, info: SentimentInfo) -> keras.Model:
        m = cfg.model
        return RNNClassifier(
            vocabulary_size=len(info.vocabulary),
            embedding_dim=m.embedding_dim,
            embedding_dropout=m.embedding_dropout,
            token_dropout=m.token_dropout,
            cell=m.rnn.cell,
            units=m.rnn.units,
            num_layers=m.rnn.layers,
            bidirectional=m.rnn.bidirectional,
            merge_mode=m.rnn.merge_mode,
            dropout=m.rnn.dropout,
            recurrent_dropout=m.rnn.recurrent_dropout,
            residual=m.rnn.residual,
            pooling=m.pooling,
            head_dropout=m.head_dropout,
            num_classes=1,
            bigram_buckets=m.bigram_buckets,
            bigram_dim=m.bigram_dim,
            bigram_lr_multiplier=m.bigram_lr_multiplier,
            solo_rate=m.solo_rate,
            name="sentiment_classifier",
        )

    def compile_args(self, cfg: SentimentConfig, info: SentimentInfo) -> dict[str, Any]:
        return {
            "loss": keras.losses.BinaryCrossentropy(),
            "metrics": [
                keras.metrics.BinaryAccuracy(name="accuracy"),
                keras.metrics.AUC(name="auc"),
            ],
        }

    def evaluate(self, model, cfg: SentimentConfig, info: SentimentInfo, split: str):
        if split == "test":
            texts = load_texts(cfg.data, "test")
        elif split == "validation":
            texts = _train_validation(cfg.data)[1]
        else:
            raise ValueError(f"split must be 'test' or 'validation', got {split!r}")
        vectorizer = make_vectorizer(
            cfg.data.standardize, cfg.data.vocabulary_size, info.vocabulary
        )
        ds = self._dataset(cfg, texts, vectorizer, shuffle=False)
        with_heads = model.bigram_bag is not None
        scorer = model.with_head_logits() if with_heads else model
        outputs, labels = [], []
        for ids, y in ds:
            out = scorer.predict_on_batch(ids)
            out = out if isinstance(out, list) else [out]
            outputs.append(np.concatenate([o.reshape(-1, 1) for o in out], axis=1))
            labels.append(y.numpy())
        scores, gold = np.concatenate(outputs), np.concatenate(labels).astype(int)
        metrics = {"examples": len(texts), **binary_metrics(gold, scores[:, 0])}
        if with_heads:  # each head of the ensemble alone, to show what each contributes
            metrics["rnn_head_accuracy"] = float(np.mean((scores[:, 1] > 0) == gold))
            metrics["bag_head_accuracy"] = float(np.mean((scores[:, 2] > 0) == gold))
        return metrics

    def serving_function(self, model, cfg: SentimentConfig, info: SentimentInfo):
        """Raw strings → {probability, label}, with the vectorizer inside the graph."""
        vectorizer = make_vectorizer(
            cfg.data.standardize, cfg.data.vocabulary_size, info.vocabulary
        )
        max_length, keep = cfg.data.max_length, cfg.data.keep

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
        def serve(text):
            ids = pad_batch(texts_to_ids(text, vectorizer, max_length, keep))
            probability = tf.cast(model(ids, training=False), tf.float32)[:, 0]
            label = tf.where(probability >= 0.5, LABEL_NAMES[1], LABEL_NAMES[0])
            return {"probability": probability, "label": label}

        return serve, vectorizer

    def export(self, model, cfg: SentimentConfig, info: SentimentInfo, path: Path):
        serve, vectorizer = self.serving_function(model, cfg, info)
        example = {"text": tf.constant(["a great movie", ""])}
        serve(**example)  # traces the graph, which builds the vectorizer for tracking
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.track(vectorizer)
        archive.add_endpoint("serving_default", serve)
        archive.write_out(str(path), verbose=False)
        return example

    def add_predict_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--input", help="file with one text per line (default: stdin)")

    def predict(
        self, model, cfg: SentimentConfig, info: SentimentInfo, inputs: Iterable[str], args: Any
    ) -> Iterator[dict[str, Any]]:
        serve, _ = self.serving_function(model, cfg, info)
        batch: list[str] = []
        for line in input_lines(inputs, getattr(args, "input", None)):
            batch.append(line)
            if len(batch) == 64:
                yield from _predict_batch(serve, batch)
                batch = []
        if batch:
            yield from _predict_batch(serve, batch)


def _predict_batch(serve, batch: list[str]) -> Iterator[dict[str, Any]]:
    outputs = serve(tf.constant(batch))
    for text, probability, label in zip(
        batch, outputs["probability"].numpy(), outputs["label"].numpy(), strict=True
    ):
        yield {"text": text, "probability": round(float(probability), 6), "label": label.decode()}
