"""NER config sections (the shared tagging ones plus CoNLL columns and tag schemes) and info."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from data.conll import ConllFormat
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
class NERData(TaggingData):
    """CoNLL column files or TFDS ``conll2003``; tags are converted to IOB2 when read."""

    source: Literal["sample", "files", "tfds"] = source_param("WNUT-17 (token<TAB>tag, IOB2)")
    tfds_name: str = tfds_name_param("conll2003")
    train_path: str = train_path_param("conll2003/train.txt.gz")
    validation_path: str | None = validation_path_param("conll2003/valid.txt.gz")
    test_path: str = test_path_param("conll2003/test.txt.gz")
    separator: Literal["whitespace", "tab"] = param("whitespace", doc="column separator")
    token_column: int = param(0, doc="column of the token (negative: from the end)")
    tag_column: int = param(-1, doc="column of the entity tag (negative: from the end)")
    tag_scheme: Literal["iob1", "iob2", "bioes"] = param(
        "iob2", doc="scheme of the file's tags (converted to IOB2 when read)"
    )
    skip_malformed_lines: bool = param(
        False,
        doc="skip and count bad lines (skipped_lines in info.json, metrics) instead of failing",
    )

    def conll_format(self) -> ConllFormat:
        """How the configured files read."""
        return ConllFormat(
            separator=self.separator,
            token_column=self.token_column,
            tag_column=self.tag_column,
            scheme=self.tag_scheme,
            skip_malformed=self.skip_malformed_lines,
        )


@dataclass(frozen=True)
class NERModel(TaggingModel):
    """The shared tagger, predicting entity tags in ``tag_scheme``."""

    tag_scheme: Literal["iob2", "bioes"] = param(
        "iob2", doc="scheme the model predicts in; outputs and metrics are IOB2"
    )


@dataclass(frozen=True)
class NERConfig(TaskConfig):
    """One NER run: data, model and training."""

    task: Literal["ner"] = param("ner", doc="the task this config is for")
    data: NERData = field(default_factory=NERData)
    model: NERModel = field(default_factory=NERModel)

    def logged_metrics(self) -> dict[str, Literal["min", "max"]]:
        # The CRF / softmax layer adds the loss; pipelines.ner.metrics.EntityF1 the rest.
        scores = ("val_f1", "val_precision", "val_recall", "val_token_accuracy")
        return epoch_metrics({}, dict.fromkeys(scores, "max"))

    def estimated_parameters(self) -> int:
        tags = 4 * 4 + 1  # BIOES tags of four entity types and O (CoNLL-2003)
        return self.model.estimated_parameters(self.data.max_words or TYPICAL_WORDS, tags)


@dataclass(kw_only=True)
class NERInfo(TaggingInfo):
    """Facts learned from the training data; ``tags`` are in ``model.tag_scheme``,
    ``output_tags`` their IOB2 forms."""

    entity_types: list[str]  # sorted, from the training tags
