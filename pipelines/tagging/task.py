"""The flow every sequence-tagging task shares; a task (NER, POS) fills in a few hooks.

Data: read → split (``data.tagged_corpus``) → token ids and batches (``data.token_features``).
Model: ``models.sequence_tagger.SequenceTagger`` (word + casing + char features, recurrent
stack, CRF or softmax), which adds its own loss. Serving: ``pipelines.tagging.serving``.

A task implements :meth:`TaggingTask.corpus_format` (how its corpus reads from each source)
and :meth:`TaggingTask.tag_set` (the tags the model predicts, from the training sentences),
and may override :meth:`TaggingTask.training_tags` (gold tags → the tags trained on),
:meth:`TaggingTask.metrics` and :meth:`TaggingTask.validation_callback` (what is scored; token
accuracy by default) and :meth:`TaggingTask.predict_record` (a ``predict`` line's JSON).
"""

from __future__ import annotations

import abc
import argparse
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import keras

from data.bucketing import Batches
from data.conll import TaggedSentences
from data.tagged_corpus import (
    CorpusFormat,
    TrainValidation,
    read_evaluation,
    read_train_validation,
)
from data.token_features import (
    NUM_CASINGS,
    OrderedBatches,
    TokenEncoder,
    ordered_batches,
    tagging_batches,
)
from models.sequence_tagger import SequenceTagger
from pipelines.spine.portable_model import PortableModel
from pipelines.spine.sections import model_settings
from pipelines.spine.task import Evaluation, Prepared, Task, check_split, input_lines
from pipelines.tagging.config import TaggingConfig, TaggingData, TaggingInfo, TaggingModel
from pipelines.tagging.metrics import TagLists, TokenAccuracy, accuracy_metrics
from pipelines.tagging.serving import (
    SentenceTagger,
    batches_tagger,
    export_tagger,
    predict_records,
    serving_functions,
    tagged_record,
)

ConfigT = TypeVar("ConfigT", bound=TaggingConfig)
InfoT = TypeVar("InfoT", bound=TaggingInfo)


@dataclass(frozen=True)
class TagSet:
    """The tags a task learns from its training sentences (:meth:`TaggingTask.tag_set`)."""

    tags: list[str]  # model tag id → tag the model trains on (training_tags' strings)
    output_tags: list[str] | None = None  # model tag id → output/metrics tag; None = tags
    info_fields: dict[str, Any] = field(default_factory=dict)  # the task's own info fields
    note: str = ""  # said after the vocabulary sizes, e.g. the scheme and entity types


@dataclass(frozen=True)
class TaggingValidation:
    """``Prepared.extra`` of a tagging task: the validation batches in a known order and the
    gold output tags, for the validation-scores callback."""

    batches: OrderedBatches
    gold: list[list[str]]


@dataclass(frozen=True)
class Predictions:
    """``Evaluation.details`` of a tagging task: the sentences and their predicted tags."""

    sentences: TaggedSentences
    predicted: list[list[str]]


class TaggingTask(Task[ConfigT, InfoT]):
    """A sequence-tagging pipeline over :class:`TaggedSentences` (one tag per token)."""

    # The export's example call (serving_default) and the tag_tokens trace.
    example_sentences: ClassVar[tuple[str, ...]] = (
        "EU rejects German call to boycott British lamb .",
        "",
    )
    example_tokens: ClassVar[tuple[tuple[str, ...], ...]] = (
        ("Peter", "Blackburn"),
        ("BRUSSELS", ""),
    )

    # ------------------------------------------------------------------------ hooks

    @abc.abstractmethod
    def corpus_format(self, cfg: ConfigT) -> CorpusFormat:
        """How the task's corpus reads from each source: the bundled sample files and their
        reader, the reader of the configured files (``cfg.data``), the TFDS tag feature."""

    @abc.abstractmethod
    def tag_set(self, cfg: ConfigT, train: TaggedSentences) -> TagSet:
        """The model's tags (id 0 first: padding decodes to it, unknown tags train as it),
        learned from the training sentences."""

    def training_tags(self, cfg: ConfigT, tags: Sequence[str]) -> Sequence[str]:
        """One sentence's gold tags as the model trains on them (e.g. IOB2 → BIOES)."""
        return tags

    def metrics(self, info: InfoT, gold: TagLists, predicted: TagLists) -> dict[str, Any]:
        """Evaluation metrics of the predicted output tags (``examples`` and ``skipped_lines``
        are added around them); by default ``accuracy`` (per token) and ``tokens``."""
        return accuracy_metrics(gold, predicted)

    def validation_callback(
        self, info: InfoT, predict: Callable[[keras.Model], TagLists], gold: TagLists
    ) -> keras.callbacks.Callback:
        """The callback that logs ``val_<score>`` each epoch (``predict(model)`` tags the
        validation sentences): a ``ValidationScores``; by default ``val_accuracy``."""
        return TokenAccuracy(predict, gold)

    def predict_record(self, text: str, tokens: list[str], tags: list[str]) -> dict[str, Any]:
        """The ``predict`` JSON record of one input line."""
        return tagged_record(text, tokens, tags)

    # ------------------------------------------------------------------------ data

    def encoder(self, cfg: ConfigT, info: InfoT) -> TokenEncoder:
        return TokenEncoder(info.words, info.chars, **cfg.data.encoder_settings())

    def tag_ids(self, cfg: ConfigT, info: InfoT, sentences: TaggedSentences) -> list[list[int]]:
        # Tags never seen in training have no id: they train as tag 0, and the metrics
        # still count them as missed (they compare the gold strings).
        index = {tag: i for i, tag in enumerate(info.tags)}
        return [[index.get(t, 0) for t in self.training_tags(cfg, tags)] for tags in sentences.tags]

    def batches(
        self,
        cfg: ConfigT,
        info: InfoT,
        encoder: TokenEncoder,
        sentences: TaggedSentences,
        shuffle: bool = True,
    ) -> Batches:
        """Training batches (bucketed by length as configured) and their exact count."""
        return tagging_batches(
            sentences.tokens,
            self.tag_ids(cfg, info, sentences),
            encoder,
            batch_size=cfg.train.batch_size,
            shuffle_seed=cfg.seed if shuffle else None,
            bucket_by_length=cfg.data.bucket_by_length,
        )

    def ordered_batches(
        self, cfg: ConfigT, info: InfoT, encoder: TokenEncoder, sentences: TaggedSentences
    ) -> OrderedBatches:
        """Batches in a known order (shortest sentences first) and that order."""
        ids = self.tag_ids(cfg, info, sentences)
        return ordered_batches(sentences.tokens, ids, encoder, batch_size=cfg.train.batch_size)

    def learn_info(self, cfg: ConfigT, corpus: TrainValidation, encoder: TokenEncoder) -> InfoT:
        """The info object: the encoder's vocabularies, the task's tag set, the counts."""
        tag_set = self.tag_set(cfg, corpus.train)
        info = self.info_class(
            words=encoder.words,
            chars=encoder.chars,
            tags=tag_set.tags,
            output_tags=tag_set.output_tags or tag_set.tags,
            train_examples=len(corpus.train),
            validation_examples=len(corpus.validation),
            skipped_lines=corpus.skipped_lines,
            **tag_set.info_fields,
        )
        self.say(
            f"{len(encoder.words)} words, {len(encoder.chars)} chars, {len(info.tags)} tags"
            + (f" {tag_set.note}" if tag_set.note else "")
        )
        return info

    def prepare(self, cfg: ConfigT) -> Prepared[InfoT]:
        corpus = read_train_validation(cfg.data, self.corpus_format(cfg), self.say)
        train, validation = corpus.train, corpus.validation
        encoder = adapt_encoder(cfg.data, train)
        info = self.learn_info(cfg, corpus, encoder)
        train_batches = self.batches(cfg, info, encoder, train)
        ordered = self.ordered_batches(cfg, info, encoder, validation)
        # A fixed batch of real training sentences (drawing it from the training batches
        # would first fill the whole shuffle buffer).
        probe = self.batches(cfg, info, encoder, train.head(cfg.train.batch_size), shuffle=False)
        return Prepared(
            train=train_batches.dataset,
            validation=ordered.batches.dataset,
            info=info,
            train_examples=len(train),
            validation_examples=len(validation),
            train_batches=train_batches.count,
            probe_batch=next(iter(probe.dataset)),
            extra=TaggingValidation(ordered, validation.tags),
        )

    # ------------------------------------------------------------------------ model

    def build_model(self, cfg: ConfigT, info: InfoT) -> keras.Model:
        return SequenceTagger(
            word_vocabulary_size=len(info.words),
            char_vocabulary_size=len(info.chars),
            casing_vocabulary_size=NUM_CASINGS,
            num_tags=len(info.tags),
            **model_settings(cfg.model, exclude=task_model_keys(cfg.model)),
            name=f"{self.name}_tagger",
        )

    def compile_args(self, cfg: ConfigT, info: InfoT) -> dict[str, Any]:
        # The CRF / softmax output layer adds the loss itself (add_loss); nothing to compile.
        return {"loss": None}

    def callbacks(
        self, cfg: ConfigT, info: InfoT, prepared: Prepared[InfoT]
    ) -> list[keras.callbacks.Callback]:
        validation: TaggingValidation = prepared.extra
        predict = batches_tagger(validation.batches, info.output_tags)
        return [self.validation_callback(info, predict, validation.gold)]

    # ------------------------------------------------------------------------ evaluation

    def evaluate(self, model: keras.Model, cfg: ConfigT, info: InfoT, split: str) -> Evaluation:
        check_split(split)
        sentences = read_evaluation(cfg.data, self.corpus_format(cfg), split, self.say)
        ordered = self.ordered_batches(cfg, info, self.encoder(cfg, info), sentences)
        predicted = SentenceTagger(model, info.output_tags).tag(ordered)
        metrics = {
            "examples": len(sentences),
            **self.metrics(info, sentences.tags, predicted),
            "skipped_lines": sentences.skipped_lines,
        }
        return Evaluation(metrics=metrics, details=Predictions(sentences, predicted))

    # ------------------------------------------------------------------------ serving

    def serving_functions(self, model: keras.Model, cfg: ConfigT, info: InfoT) -> dict[str, Any]:
        """See ``pipelines.tagging.serving.serving_functions``."""
        return serving_functions(model, self.encoder(cfg, info), info.output_tags, cfg.serve)

    def export(self, model: keras.Model, cfg: ConfigT, info: InfoT, path: Path) -> dict[str, Any]:
        fns = self.serving_functions(model, cfg, info)
        return export_tagger(fns, model, path, self.example_sentences, self.example_tokens)

    def portable(self, model: keras.Model, cfg: ConfigT, info: InfoT) -> PortableModel:
        from pipelines.tagging.portable import portable_tagger

        sentences = [*self.example_sentences, *(" ".join(t) for t in self.example_tokens)]
        return portable_tagger(model, self.encoder(cfg, info), info.output_tags, sentences)

    def add_predict_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--input",
            help="file with one sentence per line, tokens separated by spaces (default: stdin)",
        )

    def predict(
        self, model: keras.Model, cfg: ConfigT, info: InfoT, inputs: Iterable[str], args: Any
    ) -> Iterator[dict[str, Any]]:
        tag_text = self.serving_functions(model, cfg, info)["tag_text"]
        lines = input_lines(inputs, getattr(args, "input", None))
        yield from predict_records(tag_text, lines, self.predict_record, cfg.serve.max_batch)


def task_model_keys(model: TaggingModel) -> tuple[str, ...]:
    """A task's own model keys, which are not ``SequenceTagger`` arguments (NER's
    ``tag_scheme``)."""
    shared = {f.name for f in fields(TaggingModel)}
    return tuple(f.name for f in fields(model) if f.name not in shared)


def adapt_encoder(data: TaggingData, train: TaggedSentences) -> TokenEncoder:
    """The token encoder with vocabularies learned from the training sentences."""
    return TokenEncoder.adapt(
        train.tokens,
        **data.encoder_settings(),
        min_word_count=data.min_word_count,
        max_words=data.max_words,
    )
