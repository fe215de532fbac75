"""The sentiment task's config (``configs/sentiment*.yaml``) and the facts learned from its data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from data.text_options import Keep, Standardize
from pipelines.spine.config import param
from pipelines.spine.sections import (
    MAX_VOCABULARY,
    MAX_WIDTH,
    RNNConfig,
    TaskConfig,
    epoch_metrics,
)


@dataclass(frozen=True)
class SentimentData:
    """Where the texts come from and how they become token ids."""

    source: Literal["sample", "files", "tfds"] = param(
        "sample", doc="sample: bundled; files: under DATA_ROOT; tfds: TensorFlow Datasets"
    )
    tfds_name: str = param("imdb_reviews", doc="TFDS dataset name (source: tfds)")
    tfds_data_dir: str | None = param(None, doc="TFDS data dir; null = TFDS default")
    files_format: Literal["aclimdb", "tsv"] = param(
        "aclimdb",
        doc="aclimdb: the aclImdb tree or its .tar.gz (read in place); tsv: `text<TAB>label` lines",
    )
    train_path: str = param(
        "imdb/aclImdb_v1_labeled.tar.gz",
        doc="under DATA_ROOT or absolute; aclimdb reads train and test from it",
    )
    test_path: str | None = param(None, doc="tsv only: the test file")
    validation_fraction: float = param(
        0.1, min=0.01, max=0.5, doc="carved from train; for aclImdb whole movies are held out"
    )
    split_seed: int = param(13, doc="seed of the validation carve")
    max_train_examples: int | None = param(None, min=1, doc="cap for quick runs")
    vocabulary_size: int = param(
        30000,
        min=3,
        max=MAX_VOCABULARY,
        doc="most frequent train tokens kept (padding and OOV included)",
    )
    max_length: int = param(400, min=1, max=1_000_000, doc="tokens kept per text")
    keep: Keep = param("head", doc="head: the first max_length tokens; tail: the last")
    standardize: Standardize = param(
        "split_punctuation",
        doc="lower-case, drop `<br />` markup; keep `! ? . ,` … as tokens (split) or strip them",
    )
    bucket_by_length: bool = param(
        True, doc="batch texts of similar length together (2–3× fewer RNN steps on IMDB)"
    )


@dataclass(frozen=True)
class SentimentModel:
    """Embedding → recurrent stack → pooling → head, optionally beside a bag of bigrams."""

    embedding_dim: int = param(128, min=1, max=MAX_WIDTH, doc="token embedding width")
    embedding_dropout: float = param(
        0.0, min=0.0, max=0.95, doc="dropout of whole embedding channels"
    )
    token_dropout: float = param(
        0.0, min=0.0, max=0.9, doc="share of words replaced by OOV while training"
    )
    rnn: RNNConfig = field(default_factory=RNNConfig)
    pooling: Literal["last", "mean", "max", "mean_max", "attention"] = param(
        "mean_max", doc="how the steps become one vector (last: final states); all mask-aware"
    )
    head_dropout: float = param(0.0, min=0.0, max=0.95, doc="dropout before the output layer")
    bigram_buckets: int = param(
        0,
        min=0,
        max=MAX_VOCABULARY,
        doc="0 = off; else rows for hashed bigrams of a fastText-style bag with its own head",
    )
    bigram_dim: int = param(32, min=1, max=MAX_WIDTH, doc="bigram bag embedding width")
    bigram_lr_multiplier: float = param(
        1.0, min=0.01, doc="the bag learns this many times faster than the RNN (IMDB benchmark: 3)"
    )
    solo_rate: float = param(
        1.0,
        min=0.0,
        max=1.0,
        doc="with the bag: share of training examples one random head predicts alone (0 = joint)",
    )


@dataclass(frozen=True)
class SentimentConfig(TaskConfig):
    """One sentiment run: data, model and training."""

    task: Literal["sentiment"] = param("sentiment", doc="the task this config is for")
    data: SentimentData = field(default_factory=SentimentData)
    model: SentimentModel = field(default_factory=SentimentModel)

    def logged_metrics(self) -> dict[str, Literal["min", "max"]]:
        return epoch_metrics({"accuracy": "max", "auc": "max"})  # SentimentTask.compile_args

    def estimated_parameters(self) -> int:
        m = self.model
        width = m.rnn.output_width()
        pooled = 2 * width if m.pooling == "mean_max" else width
        attention = width * width + 2 * width if m.pooling == "attention" else 0
        bag = m.bigram_buckets * m.bigram_dim + m.bigram_dim + 1 if m.bigram_buckets else 0
        return (
            self.data.vocabulary_size * m.embedding_dim
            + m.rnn.estimated_parameters(m.embedding_dim)
            + attention
            + pooled
            + 1  # the one-logit head
            + bag
        )


@dataclass
class SentimentInfo:
    """Facts learned from the training data."""

    vocabulary: list[str]
    train_examples: int
    validation_examples: int
    positive_fraction: float
