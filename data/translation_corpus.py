"""The translation data path in a few calls: read → split → ids.

:func:`load_splits` reads the configured source (bundled sample, pair file or TFDS) once and
returns the pairs of the splits asked for (:func:`load_split`: one split);
:func:`learn_vocabularies` learns both vocabularies from train; :func:`training_pairs` and
:meth:`Vocabularies.encode` turn pairs into token ids, which
:func:`data.translation_text.pair_dataset` batches.

``data.source: stream`` never holds the training pairs: :func:`scan_training` reads the
files once (counts, vocabularies, validation pairs) and :func:`streamed_batches` reads
them again every epoch through tf.data (see :mod:`data.translation_stream`);
:func:`load_splits` still gives validation and test, collected from the same files.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from data.bucketing import Batches
from data.data_config_error import DataConfigError
from data.data_format_error import DataFormatError
from data.sources import carve_validation, resolve_data_path, sample_path, tfds_load
from data.translation_pairs import (
    ENGLISH_COLUMN,
    PairFormatError,
    SentencePairs,
    make_pairs,
    pair_groups,
    read_tab_pairs,
    split_three_ways,
)
from data.translation_stream import StreamScan, scan_pairs, train_batches
from data.translation_text import (
    EncodedPairs,
    encode_all,
    learn_vocabulary,
    make_vectorizer,
    vocabulary_from_counts,
)

if TYPE_CHECKING:
    from pipelines.translation.config import TranslationData

SAMPLE_FILE = ("translation", "spa-eng.tsv")
SAMPLE_LANGUAGES = {"en", "es"}
SPLITS = ("train", "validation", "test")


def load_split(data: TranslationData, split: str) -> SentencePairs:
    """The ``train``, ``validation`` or ``test`` pairs of the configured source (see
    :func:`load_splits`, which reads the source once for several splits)."""
    (pairs,) = load_splits(data, (split,))
    return pairs


def load_splits(data: TranslationData, splits: Sequence[str]) -> tuple[SentencePairs, ...]:
    """The pairs of each of ``splits`` (``train``, ``validation``, ``test``), in that order,
    from one read of the configured source: split grouped by ``data.group_by``, then cut to
    the ``max_*_examples`` caps. Every call gives the same pairs in the same order."""
    for split in splits:
        if split not in SPLITS:
            raise ValueError(f"split must be train, validation or test, got {split!r}")
    if data.source == "stream":
        return _streamed_splits(data, splits)
    read: tuple[SentencePairs, dict[str, np.ndarray]] | None = None
    by_split = []
    for split in splits:
        if data.source == "tfds" and split == "test":  # TFDS test is read on its own
            pairs = _tfds_pairs(data, "test")
            indices = np.arange(len(pairs))
        else:
            if read is None:  # the pair file (or TFDS train), read once for every split
                read = _split_pairs(data)
            pairs, indices = read[0], read[1][split]
        by_split.append(_capped(pairs, indices, split, data))
    return tuple(by_split)


def _capped(
    pairs: SentencePairs, indices: np.ndarray, split: str, data: TranslationData
) -> SentencePairs:
    """``split``'s pairs at ``indices`` cut to its cap (train back in file order)."""
    if split == "train":
        chosen = _random_subset(indices, data.max_train_examples, data.split_seed)
        return pairs.subset(np.sort(chosen))
    return pairs.subset(_random_subset(indices, data.max_eval_examples, data.split_seed))


def _split_pairs(data: TranslationData) -> tuple[SentencePairs, dict[str, np.ndarray]]:
    """All pairs the training side is read from, and each split's indices into them (train
    and validation never empty: an error naming the source says how many pairs are needed)."""
    if data.source == "tfds":  # TFDS has its own test split: validation comes from train
        pairs = _tfds_pairs(data, "train")
        train, validation = carve_validation(
            len(pairs), data.validation_fraction, data.split_seed, pair_groups(pairs, data.group_by)
        )
        splits = {"train": train, "validation": validation}
    else:
        pairs = read_tab_pairs(_pair_file(data), *_columns(data), data.normalization)
        train, validation, test = split_three_ways(
            len(pairs),
            data.validation_fraction,
            data.test_fraction,
            data.split_seed,
            pair_groups(pairs, data.group_by),
        )
        splits = {"train": train, "validation": validation, "test": test}
    _require_train_and_validation(pairs_origin(data), len(pairs), splits)
    return pairs, splits


def _require_train_and_validation(origin: str, total: int, splits: dict[str, Any]) -> None:
    """Fails naming ``origin`` when the split left train or validation without a pair (a
    model cannot be trained and checked on nothing); ``splits``: indices or counts."""
    counts = {name: v if isinstance(v, int) else len(v) for name, v in splits.items()}
    if all(counts[name] for name in ("train", "validation")):
        return
    sizes = ", ".join(f"{name} {count}" for name, count in counts.items())
    fractions = "data.validation_fraction" + (", data.test_fraction" if "test" in splits else "")
    need = (
        f"give at least {len(splits)} pairs"  # one per split: the smallest file that splits
        if total < len(splits)
        else f"give more pairs or lower {fractions}"
    )
    raise DataFormatError(
        f"{origin}: {total} pair(s) split into {sizes} ({fractions}); train and validation "
        f"each need at least one pair: {need}"
    )


def pairs_origin(data: TranslationData) -> str:
    """Where the configured pairs come from, as errors and reports name it: the pair file,
    or the TFDS dataset."""
    if data.source == "tfds":
        return f"TFDS {data.tfds_name}"
    if data.source == "stream":
        return data.train_path
    return str(_pair_file(data))


def _pair_file(data: TranslationData) -> Path:
    """The pair file of ``files`` or ``sample`` (whose languages are fixed)."""
    if data.source == "files":
        return resolve_data_path(data.train_path)
    if {data.source_language, data.target_language} != SAMPLE_LANGUAGES:
        raise DataConfigError(
            "data.source_language/data.target_language: the bundled sample is "
            "Spanish–English (es, en)"
        )
    return sample_path(*SAMPLE_FILE)


def _columns(data: TranslationData) -> tuple[int, int]:
    """(source, target) columns of an ``english<TAB>other`` file."""
    other = 1 - ENGLISH_COLUMN
    if data.target_language == "en" and data.source_language != "en":
        return other, ENGLISH_COLUMN
    if data.source_language == "en" and data.target_language != "en":
        return ENGLISH_COLUMN, other
    raise DataConfigError(
        f"data.source_language/data.target_language: {data.source_language!r}→"
        f"{data.target_language!r}: pair files are english<TAB>other, so exactly one side "
        f"must be 'en'"
    )


def _streamed_splits(data: TranslationData, splits: Sequence[str]) -> tuple[SentencePairs, ...]:
    """``stream``: the validation and test pairs asked for, collected in one pass over the
    files and cut to ``data.max_eval_examples`` as the other sources' are; train is never
    collected (it is streamed: :func:`scan_training`)."""
    if "train" in splits:
        raise ValueError("data.source stream: the training pairs are streamed, not loaded")
    scan = scan_pairs(data, _columns(data), keep=splits)
    _require_pairs(data, scan)
    return tuple(
        _capped(scan.kept[split], np.arange(len(scan.kept[split])), split, data) for split in splits
    )


def _require_pairs(data: TranslationData, scan: StreamScan) -> None:
    """A stream with no pair at all, or none in train or validation, fails naming it."""
    total = sum(scan.pairs.values())
    if total == 0:
        raise PairFormatError(f"{pairs_origin(data)}: no sentence pairs found")
    _require_train_and_validation(pairs_origin(data), total, scan.pairs)


def _tfds_pairs(data: TranslationData, split: str) -> SentencePairs:
    """A TFDS split's pairs, its features named by language."""
    ds = tfds_load(data.tfds_name, split, data.tfds_data_dir)
    sources, targets = [], []
    for example in ds.as_numpy_iterator():
        for key in (data.source_language, data.target_language):
            if key not in example:
                raise DataConfigError(
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


@dataclass(frozen=True)
class Vocabularies:
    """Both sides' vocabularies (id 0 padding, 1 OOV; target ids 2 and 3 start and end)."""

    source: list[str]
    target: list[str]
    lowercase_source: bool

    def encode(self, pairs: SentencePairs) -> EncodedPairs:
        """``pairs`` as token ids (whole sentences, not cut)."""
        return EncodedPairs(
            encode_all(pairs.sources, make_vectorizer(None, self.lowercase_source, self.source)),
            encode_all(pairs.targets, make_vectorizer(None, False, self.target)),
        )


def learn_vocabularies(train: SentencePairs, data: TranslationData) -> Vocabularies:
    """The ``data.*_vocabulary_size`` most frequent tokens of each side of ``train``."""
    return Vocabularies(
        source=learn_vocabulary(
            train.sources, data.source_vocabulary_size, data.lowercase_source, special=False
        ),
        target=learn_vocabulary(
            train.targets, data.target_vocabulary_size, lowercase=False, special=True
        ),
        lowercase_source=data.lowercase_source,
    )


def scan_training(
    data: TranslationData, progress: Callable[[str], None] | None = None
) -> tuple[StreamScan, Vocabularies, SentencePairs]:
    """``stream``: one pass over the files for training: what it found (pair counts, the
    training lengths the batches are counted from), both vocabularies learned from the
    training tokens counted on the way (as :func:`learn_vocabularies` learns them from the
    same pairs), and the validation pairs (cut to ``data.max_eval_examples``). No training
    pair of at most ``data.max_train_length`` tokens is an error naming the files and key."""
    scan = scan_pairs(
        data, _columns(data), keep=("validation",), count_train=True, progress=progress
    )
    _require_pairs(data, scan)
    if not scan.lengths:
        raise DataFormatError(
            f"{pairs_origin(data)}: all {scan.dropped} training pairs are longer than "
            f"data.max_train_length={data.max_train_length} tokens (the shortest has "
            f"{scan.shortest_dropped} on its longer side, the target counting its start "
            f"token); raise data.max_train_length"
        )
    vocabularies = Vocabularies(
        source=vocabulary_from_counts(
            scan.source_counts, data.source_vocabulary_size, special=False
        ),
        target=vocabulary_from_counts(
            scan.target_counts, data.target_vocabulary_size, special=True
        ),
        lowercase_source=data.lowercase_source,
    )
    validation = scan.kept["validation"]
    capped = _capped(validation, np.arange(len(validation)), "validation", data)
    return scan, vocabularies, capped


def streamed_batches(
    data: TranslationData,
    scan: StreamScan,
    vocabularies: Vocabularies,
    *,
    batch_size: int,
    shuffle_seed: int,
) -> Batches:
    """``stream``: the training batches read from the files every epoch
    (:func:`data.translation_stream.train_batches`), as :func:`training_pairs` and
    :func:`~data.translation_text.pair_dataset` make them from pairs in memory."""
    return train_batches(
        data,
        _columns(data),
        scan,
        vocabularies.source,
        vocabularies.target,
        batch_size=batch_size,
        shuffle_seed=shuffle_seed,
    )


def training_pairs(
    train: SentencePairs, vocabularies: Vocabularies, max_length: int, origin: str
) -> tuple[EncodedPairs, int]:
    """``train`` as ids without the pairs longer than ``max_length`` tokens on either side
    (the decoder side counts its start token), and how many were dropped. When none is left
    the error names ``origin`` (:func:`pairs_origin`) and ``data.max_train_length``."""
    encoded = vocabularies.encode(train)
    lengths = encoded.lengths()
    keep = np.flatnonzero(lengths <= max_length)
    if len(keep) == 0:
        raise DataFormatError(
            f"{origin}: all {len(train)} training pairs are longer than "
            f"data.max_train_length={max_length} tokens (the shortest has {int(lengths.min())} "
            f"on its longer side, the target counting its start token); raise "
            f"data.max_train_length"
        )
    return encoded.subset(keep), len(train) - len(keep)
