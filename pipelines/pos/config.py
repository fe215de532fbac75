"""POS config sections (the shared tagging ones plus the CoNLL-U tag column) and info."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from data.conllu import TagColumn
from pipelines.spine.config import param
from pipelines.spine.sections import TaskConfig, epoch_metrics
from pipelines.tagging.config import (
    TYPICAL_WORDS,
    TaggingData,
    TaggingInfo,
    TaggingModel,
    source_param,
    test_path_param,
    tfds_name_param,
    train_path_param,
    validation_path_param,
)


@dataclass(frozen=True, kw_only=True)
class POSData(TaggingData):
    """CoNLL-U files (Universal Dependencies) or TFDS ``universal_dependencies/en_ewt``."""

    source: Literal["sample", "files", "tfds"] = source_param("UD English-EWT excerpt (CoNLL-U)")
    tfds_name: str = tfds_name_param("universal_dependencies/en_ewt")
    train_path: str = train_path_param("ud_english_ewt/en_ewt-ud-train.conllu.gz")
    validation_path: str | None = validation_path_param("ud_english_ewt/en_ewt-ud-dev.conllu.gz")
    test_path: str = test_path_param("ud_english_ewt/en_ewt-ud-test.conllu.gz")
    tag_column: TagColumn = param(
        "upos", doc="upos: the 17 universal tags; xpos: the treebank's own (Penn for EWT)"
    )

    def check(self) -> tuple[str, str] | None:
        if self.source == "tfds" and self.tag_column == "xpos":
            return "tag_column", "xpos with source tfds: TFDS keeps XPOS as free text; use files"
        return None


@dataclass(frozen=True)
class POSModel(TaggingModel):
    """The shared tagger with a per-token softmax by default: UPOS tags depend little on the
    neighbouring tags once the BiLSTM has read the sentence, and softmax trains faster."""

    output: Literal["crf", "softmax"] = param(
        "softmax", doc="output layer: per-token softmax or linear-chain CRF (Viterbi decoding)"
    )


@dataclass(frozen=True)
class POSConfig(TaskConfig):
    """One POS-tagging run: data, model and training."""

    task: Literal["pos"] = param("pos", doc="the task this config is for")
    data: POSData = field(default_factory=POSData)
    model: POSModel = field(default_factory=POSModel)

    def logged_metrics(self) -> dict[str, Literal["min", "max"]]:
        # The output layer adds the loss; pipelines.tagging.metrics.TokenAccuracy val_accuracy.
        return epoch_metrics({}, {"val_accuracy": "max"})

    def estimated_parameters(self) -> int:
        tags = 17 if self.data.tag_column == "upos" else 50  # UPOS; Penn XPOS has ~50
        return self.model.estimated_parameters(self.data.max_words or TYPICAL_WORDS, tags)


@dataclass(kw_only=True)
class POSInfo(TaggingInfo):
    """Facts learned from the training data; ``tags`` are the training sentences' tags."""
