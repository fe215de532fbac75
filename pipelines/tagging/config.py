"""Config sections and the info object that every tagging task (NER, POS) shares.

A task's data section subclasses :class:`TaggingData`, giving its corpus keys their
defaults with the ``*_param`` helpers (so each key means the same in every task) and adding
its reader's keys; its model section is :class:`TaggingModel` (plus what only it has).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from pipelines.spine.config import param
from pipelines.spine.sections import MAX_VOCABULARY, MAX_WIDTH, RNNConfig, TrainConfig

# Sizes the data decides, for the model-size estimate when no config key caps them.
TYPICAL_WORDS = 10_000  # word vocabulary with data.max_words null (CoNLL-2003 has ~21k)
TYPICAL_CHARS = 100  # distinct characters of a corpus
CASINGS = 8  # casing classes (data.token_features.CASINGS)

# A task's corpus keys: the defaults are the task's, the meaning (doc) is shared.


def source_param(sample_corpus: str) -> Any:
    """``data.source``, defaulting to the bundled sample, ``sample_corpus`` (what it is)."""
    return param(
        "sample",
        doc=f"sample: bundled {sample_corpus} (file keys ignored); files: under DATA_ROOT; tfds",
    )


def tfds_name_param(default: str) -> Any:
    return param(default, doc="TFDS dataset (splits train / dev / test), for source tfds")


def train_path_param(default: str) -> Any:
    return param(default, doc="train file, under DATA_ROOT or absolute")


def validation_path_param(default: str | None) -> Any:
    return param(default, doc="validation file; null = carve it from train, whole documents")


def test_path_param(default: str) -> Any:
    return param(default, doc="test file, under DATA_ROOT or absolute")


@dataclass(frozen=True, kw_only=True)
class TaggingData:
    """Where a tagging task's sentences come from, how train is split and capped, how tokens
    become ids and how sentences are batched. The corpus keys (``source``, ``tfds_name``,
    ``*_path``) have no default here: each task sets its own with the ``*_param`` helpers."""

    source: Literal["sample", "files", "tfds"]
    tfds_name: str
    tfds_data_dir: str | None = param(None, doc="TFDS data dir; null = TFDS default")
    train_path: str
    validation_path: str | None
    test_path: str
    validation_fraction: float = param(
        0.1, min=0.01, max=0.5, doc="share of train carved out as validation (no validation file)"
    )
    split_seed: int = param(13, doc="seed of the validation carve")
    max_train_examples: int | None = param(None, min=1, doc="cap for quick runs")
    max_validation_examples: int | None = param(None, min=1, doc="cap for quick runs")
    lowercase: bool = param(True, doc="lower-case word ids (casing is its own feature)")
    digits_to_zero: bool = param(True, doc="map every digit to 0 in word ids")
    min_word_count: int = param(1, min=1, doc="train occurrences a word needs for an id")
    max_words: int | None = param(None, min=3, max=MAX_VOCABULARY, doc="cap on the word vocabulary")
    max_chars_per_token: int = param(
        20, min=1, max=10_000, doc="characters seen by the char encoder"
    )
    bucket_by_length: bool = param(True, doc="batch sentences of similar length together")

    def encoder_settings(self) -> dict[str, Any]:
        """``TokenEncoder`` keyword arguments: how tokens become ids (training and serving)."""
        return {
            "lowercase": self.lowercase,
            "digits_to_zero": self.digits_to_zero,
            "max_chars": self.max_chars_per_token,
        }


@dataclass(frozen=True)
class TaggingModel:
    """The tagger (``models.sequence_tagger.SequenceTagger``): word, casing and char features
    → recurrent stack → CRF or softmax."""

    word_embedding_dim: int = param(100, min=1, max=MAX_WIDTH, doc="word embedding width")
    casing_embedding_dim: int = param(
        8, min=0, max=MAX_WIDTH, doc="casing embedding width; 0 = no casing feature"
    )
    char_encoder: Literal["cnn", "lstm", "none"] = param(
        "cnn",
        doc="char encoder (Ma & Hovy 2016 CNN, Lample et al. 2016 BiLSTM); none = no char features",
    )
    char_embedding_dim: int = param(25, min=1, max=MAX_WIDTH, doc="char embedding width")
    char_units: int = param(
        50, min=1, max=MAX_WIDTH, doc="char CNN filters, or char LSTM units per direction"
    )
    char_kernel_size: int = param(3, min=1, max=1_000, doc="char CNN window in characters")
    word_dropout: float = param(0.05, min=0.0, max=0.9, doc="words replaced by OOV in training")
    feature_dropout: float = param(
        0.5, min=0.0, max=0.95, doc="dropout on the concatenated features"
    )
    rnn: RNNConfig = field(default_factory=RNNConfig)
    output_dropout: float = param(0.5, min=0.0, max=0.95, doc="dropout before the output layer")
    output: Literal["crf", "softmax"] = param(
        "crf", doc="output layer: linear-chain CRF (Viterbi decoding) or per-token softmax"
    )

    def estimated_parameters(self, words: int, tags: int) -> int:
        """About how many weights the tagger has with ``words`` word ids and ``tags`` tags
        (``models.sequence_tagger.SequenceTagger``)."""
        char_width, char_weights = 0, 0
        if self.char_encoder != "none":
            units, dim = self.char_units, self.char_embedding_dim
            char_weights = TYPICAL_CHARS * dim
            if self.char_encoder == "cnn":
                char_width = units
                char_weights += self.char_kernel_size * dim * units + units
            else:  # a BiLSTM over each word's characters
                char_width = 2 * units
                char_weights += 2 * 4 * (dim + units + 1) * units
        features = self.word_embedding_dim + self.casing_embedding_dim + char_width
        crf = tags * tags + 2 * tags if self.output == "crf" else 0
        return (
            words * self.word_embedding_dim
            + CASINGS * self.casing_embedding_dim
            + char_weights
            + self.rnn.estimated_parameters(features)
            + (self.rnn.output_width() + 1) * tags
            + crf
        )


class TaggingConfig(Protocol):
    """What the shared tagging flow reads from a task's config (``XConfig`` dataclasses with
    ``data``/``model`` sections subclassing :class:`TaggingData` / :class:`TaggingModel`)."""

    @property
    def seed(self) -> int: ...

    @property
    def data(self) -> TaggingData: ...

    @property
    def model(self) -> TaggingModel: ...

    @property
    def train(self) -> TrainConfig: ...


@dataclass
class TaggingInfo:
    """Facts learned from the training data (``info.json``)."""

    words: list[str]
    chars: list[str]
    tags: list[str]  # model tag id → tag the model is trained on
    output_tags: list[str]  # model tag id → tag in outputs and metrics
    train_examples: int
    validation_examples: int
    skipped_lines: int = 0  # malformed lines skipped reading train and validation
