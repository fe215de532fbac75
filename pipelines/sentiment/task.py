"""Sentiment: many-to-one bidirectional RNN over IMDB reviews (or any labelled texts)."""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import keras
import numpy as np

from data.bucketing import Batches
from data.text_classification import LabelledTexts, evaluation_texts, train_validation
from data.text_vectorizer import adapt_vectorizer, make_vectorizer, text_classification_batches
from data.whitespace_vectorizer import WhitespaceVectorizer
from models.rnn_classifier import RNNClassifier
from pipelines.sentiment.config import SentimentConfig, SentimentInfo
from pipelines.sentiment.metrics import classifier_metrics
from pipelines.sentiment.serving import (
    export_classifier,
    predictions,
    serving_function,
    trained_vectorizer,
)
from pipelines.spine.portable_model import PortableModel
from pipelines.spine.sections import model_settings
from pipelines.spine.task import (
    Benchmark,
    BenchmarkGoal,
    Evaluation,
    Prepared,
    Task,
    check_split,
    input_lines,
)


def _batches(
    cfg: SentimentConfig,
    texts: LabelledTexts,
    vectorizer: WhitespaceVectorizer,
    shuffle: bool,
) -> Batches:
    """``texts`` as (padded ids, label) batches the way ``cfg`` says; shuffled for training."""
    return text_classification_batches(
        texts.texts,
        texts.labels.astype(np.float32),
        vectorizer,
        max_length=cfg.data.max_length,
        keep=cfg.data.keep,
        batch_size=cfg.train.batch_size,
        shuffle_seed=cfg.seed if shuffle else None,
        bucket_by_length=cfg.data.bucket_by_length,
    )


class SentimentTask(Task[SentimentConfig, SentimentInfo]):
    """Positive or negative: texts → token ids → ``RNNClassifier`` → a probability."""

    name = "sentiment"
    benchmark = Benchmark(
        dataset="IMDB Large Movie Review v1 (Maas et al. 2011), DATA_ROOT/imdb; "
        "25,000 train (10% carved for validation, whole movies) / 25,000 test",
        metric="accuracy",
        goal=0.92,
        higher_is_better=True,
        baselines=("rnn_head_accuracy", "bag_head_accuracy"),
        extra_goals=(BenchmarkGoal("rnn_head_accuracy", ">=", 0.905),),
    )

    def prepare(self, cfg: SentimentConfig) -> Prepared[SentimentInfo]:
        train, validation = train_validation(cfg.data)
        vectorizer = make_vectorizer(cfg.data.standardize, cfg.data.vocabulary_size)
        info = SentimentInfo(
            vocabulary=adapt_vectorizer(vectorizer, train.texts),  # from train only
            train_examples=len(train),
            validation_examples=len(validation),
            positive_fraction=float(train.labels.mean()),
        )
        train_batches = _batches(cfg, train, vectorizer, shuffle=True)
        return Prepared(
            train=train_batches.dataset,
            validation=_batches(cfg, validation, vectorizer, shuffle=False).dataset,
            info=info,
            train_examples=len(train),
            validation_examples=len(validation),
            train_batches=train_batches.count,
            probe_batch=next(iter(train_batches.dataset)),
        )

    def build_model(self, cfg: SentimentConfig, info: SentimentInfo) -> keras.Model:
        return RNNClassifier(
            vocabulary_size=len(info.vocabulary),
            num_classes=1,
            **model_settings(cfg.model),
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

    def evaluate(
        self, model: keras.Model, cfg: SentimentConfig, info: SentimentInfo, split: str
    ) -> Evaluation:
        check_split(split)
        texts = evaluation_texts(cfg.data, split)
        batches = _batches(cfg, texts, trained_vectorizer(cfg, info), shuffle=False)
        return Evaluation({"examples": len(texts), **classifier_metrics(model, batches.dataset)})

    def export(
        self, model: keras.Model, cfg: SentimentConfig, info: SentimentInfo, path: Path
    ) -> dict[str, Any]:
        return export_classifier(model, cfg, info, path)

    def portable(
        self, model: keras.Model, cfg: SentimentConfig, info: SentimentInfo
    ) -> PortableModel:
        from pipelines.sentiment.portable import portable_classifier

        return portable_classifier(model, cfg, info)

    def add_predict_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--input", help="file with one text per line (default: stdin)")

    def predict(
        self,
        model: keras.Model,
        cfg: SentimentConfig,
        info: SentimentInfo,
        inputs: Iterable[str],
        args: Any,
    ) -> Iterator[dict[str, Any]]:
        serve, _ = serving_function(model, cfg, info)
        lines = input_lines(inputs, getattr(args, "input", None))
        yield from predictions(serve, lines, cfg.serve)
