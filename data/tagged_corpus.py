"""A tagging task's sentences from its configured source, split for training and evaluation.

A task says once how its corpus reads (:class:`CorpusFormat`: the bundled sample files, the
reader for configured files, the TFDS tag feature); its config's data section says which
source and which files. :func:`read_train_validation` and :func:`read_evaluation` are all a
task calls: they dispatch on ``data.source`` (``sample | files | tfds``), carve validation
from train by whole documents when there is no validation file, and apply the caps.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from data.conll import TaggedSentences
from data.sources import carve_validation, resolve_data_path, sample_path, tfds_load

Say = Callable[[str], None]
TFDS_SPLITS = {"train": "train", "validation": "dev", "test": "test"}


class TaggedDataSection(Protocol):
    """The keys of a tagging data section read here (``pipelines.tagging.config.TaggingData``)."""

    source: str
    tfds_name: str
    tfds_data_dir: str | None
    train_path: str
    validation_path: str | None
    test_path: str
    validation_fraction: float
    split_seed: int
    max_train_examples: int | None
    max_validation_examples: int | None


@dataclass(frozen=True)
class CorpusFormat:
    """How one task's corpus reads from each source.

    ``sample_files``: split → bundled file under ``data/samples`` (``source: sample``), read
    with ``read_sample``; ``read_file`` reads the configured files (``source: files``).
    ``tfds_tags``: the TFDS feature holding each token's tag (a sequence of class labels),
    whose names ``from_tfds`` turns into the task's tags (e.g. into IOB2).
    """

    sample_files: Mapping[str, str]
    read_sample: Callable[[Path], TaggedSentences]
    read_file: Callable[[Path], TaggedSentences]
    tfds_tags: str
    from_tfds: Callable[[list[str]], list[str]] = list
    tfds_splits: Mapping[str, str] = field(default_factory=lambda: dict(TFDS_SPLITS))
    tfds_tokens: str = "tokens"
    # Which positions of a TFDS example are tokens to tag (example, tag names → one bool per
    # position); None = all. UD's builder also yields multiword tokens and empty nodes.
    tfds_keep: Callable[[dict, list[str]], list[bool]] | None = None


@dataclass(frozen=True)
class TrainValidation:
    """Training and validation sentences, and the malformed lines skipped reading them."""

    train: TaggedSentences
    validation: TaggedSentences
    skipped_lines: int


def read_split(
    data: TaggedDataSection, fmt: CorpusFormat, split: str, say: Say | None = None
) -> TaggedSentences:
    """All ``train``, ``validation`` or ``test`` sentences of the configured source."""
    if data.source == "tfds":
        return _read_tfds(data, fmt, split)
    if data.source == "sample":
        path, read = sample_path(fmt.sample_files[split]), fmt.read_sample
    else:
        configured = {
            "train": data.train_path,
            "validation": data.validation_path,
            "test": data.test_path,
        }[split]
        if configured is None:
            raise ValueError(f"data.{split}_path: not set")
        path, read = resolve_data_path(configured), fmt.read_file
    sentences = read(path)
    if sentences.skipped_lines and say is not None:
        say(
            f"{path}: skipped {sentences.skipped_lines} malformed line(s) "
            f"(data.skip_malformed_lines), first: {sentences.skipped_examples[0]}"
        )
    return sentences


def read_train_validation(
    data: TaggedDataSection, fmt: CorpusFormat, say: Say | None = None
) -> TrainValidation:
    """Train and validation sentences, capped; validation carved from train when the files
    source has no validation file."""
    train = read_split(data, fmt, "train", say)
    skipped = train.skipped_lines
    if data.source == "files" and data.validation_path is None:
        # Whole documents go to validation: sentences of one news story share names.
        train_idx, val_idx = carve_validation(
            len(train), data.validation_fraction, data.split_seed, train.documents
        )
        train, validation = train.subset(train_idx), train.subset(val_idx)
    else:
        validation = read_split(data, fmt, "validation", say)
        skipped += validation.skipped_lines
    return TrainValidation(
        train.head(data.max_train_examples),
        validation.head(data.max_validation_examples),
        skipped,
    )


def read_evaluation(
    data: TaggedDataSection, fmt: CorpusFormat, split: str, say: Say | None = None
) -> TaggedSentences:
    """``test`` sentences, or the ``validation`` ones exactly as training saw them (carved
    from train only when the files source has no validation file)."""
    if split == "validation" and data.source == "files" and data.validation_path is None:
        return read_train_validation(data, fmt, say).validation
    sentences = read_split(data, fmt, split, say)
    return sentences.head(data.max_validation_examples) if split == "validation" else sentences


def _read_tfds(data: TaggedDataSection, fmt: CorpusFormat, split: str) -> TaggedSentences:
    ds, info = tfds_load(data.tfds_name, fmt.tfds_splits[split], data.tfds_data_dir, with_info=True)
    names = info.features[fmt.tfds_tags].feature.names
    tokens, tags = [], []
    for example in ds.as_numpy_iterator():
        words = [t.decode("utf-8") for t in example[fmt.tfds_tokens]]
        labels = [names[i] for i in example[fmt.tfds_tags]]
        if fmt.tfds_keep is not None:
            keep = fmt.tfds_keep(example, names)
            words = [w for w, k in zip(words, keep, strict=True) if k]
            labels = [t for t, k in zip(labels, keep, strict=True) if k]
        if not words:  # the CoNLL builder yields an empty last example (STACK.md)
            continue
        tokens.append(words)
        tags.append(fmt.from_tfds(labels))
    return TaggedSentences(tokens, tags, np.arange(len(tokens)))
