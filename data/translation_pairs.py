"""Sentence pairs for translation: Tatoeba/manythings files, Unicode normalisation, and a
deterministic train/validation/test split grouped by sentence."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from data.data_format_error import DataFormatError
from data.sources import carve_validation
from data.text_files import TextEncodingError, read_lines

Normalization = Literal["NFC", "NFKC"]
GroupBy = Literal["source", "connected"]

ENGLISH_COLUMN = 0  # manythings/Tatoeba files: english<TAB>other[<TAB>attribution ...]


class PairFormatError(DataFormatError):
    """A malformed pair line, reported as ``file:line: what is wrong``."""


@dataclass(frozen=True)
class SentencePairs:
    """Aligned source and target sentences.

    ``sources`` and ``targets`` are Unicode-normalised (what the model reads and learns);
    ``references`` are the target sentences exactly as the data gave them (what BLEU is
    computed against).
    """

    sources: list[str]
    targets: list[str]
    references: list[str]

    def __len__(self) -> int:
        return len(self.sources)

    def subset(self, indices: np.ndarray) -> SentencePairs:
        """The pairs at ``indices``, in that order."""
        columns = (self.sources, self.targets, self.references)
        return SentencePairs(*([column[i] for i in indices] for column in columns))


def normalize_text(text: str, form: Normalization) -> str:
    """Unicode ``form`` (NFC keeps compatibility characters, NFKC folds them: no-break spaces
    become spaces, ligatures letters); accents and case are kept, outer spaces dropped."""
    return unicodedata.normalize(form, text).strip()


def make_pairs(sources: list[str], targets: list[str], form: Normalization) -> SentencePairs:
    """Pairs from raw texts (e.g. TFDS): normalised copies plus the untouched references."""
    return SentencePairs(
        [normalize_text(s, form) for s in sources],
        [normalize_text(t, form) for t in targets],
        list(targets),
    )


def read_tab_pairs(
    path: str | Path, source_column: int, target_column: int, form: Normalization
) -> SentencePairs:
    """Reads ``english<TAB>other[<TAB>...]`` lines (plain or gzip, by content); further
    columns, such as Tatoeba attributions, are ignored. Blank lines carry no pair and are
    skipped; a line with fewer than two fields or an empty sentence, a byte that is not UTF-8
    and a truncated gzip file are errors naming the file (and ``file:line``)."""
    path = Path(path)
    sources: list[str] = []
    targets: list[str] = []
    for number, line in enumerate(read_lines(path), start=1):
        pair = parse_pair_line(line, path, number, source_column, target_column)
        if pair is not None:
            sources.append(pair[0])
            targets.append(pair[1])
    if not sources:
        raise PairFormatError(f"{path}: no sentence pairs found")
    return make_pairs(sources, targets, form)


def parse_pair_line(
    line: str, path: str | Path, number: int, source_column: int, target_column: int
) -> tuple[str, str] | None:
    """(source, target) fields of one ``english<TAB>other[<TAB>...]`` line, as written;
    ``None`` for a blank line; a line without a tab or with an empty sentence raises
    :class:`PairFormatError` naming ``path:number``."""
    if not line.strip():
        return None
    fields = line.split("\t")
    if len(fields) < 2:
        raise PairFormatError(f"{path}:{number}: expected english<TAB>translation, found no tab")
    for column in (source_column, target_column):
        if not fields[column].strip():
            raise PairFormatError(f"{path}:{number}: column {column + 1} is empty")
    return fields[source_column], fields[target_column]


def decode_pair_line(raw: bytes, path: str | Path, number: int) -> str:
    """One line of a pair file as text (a leading byte-order mark dropped, as
    :func:`data.text_files.read_text` drops it); a byte that is not UTF-8 raises
    :class:`~data.text_files.TextEncodingError` naming ``path:number``."""
    try:
        return raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as err:
        raise TextEncodingError(
            f"{path}:{number}: not UTF-8 (byte 0x{raw[err.start]:02x} at byte {err.start + 1} "
            f"of the line)"
        ) from None


def pair_groups(pairs: SentencePairs, by: GroupBy) -> np.ndarray:
    """A group id per pair for splitting.

    ``source``: pairs with the same source sentence share a group, so no source sentence is
    in two splits. ``connected``: pairs linked by a shared source *or* target sentence share a
    group (connected components), so no sentence on either side is in two splits.
    """
    if by == "source":
        _, ids = np.unique(np.array(pairs.sources, dtype=object), return_inverse=True)
        return ids.astype(np.int64)
    parent: dict[tuple[int, str], tuple[int, str]] = {}

    def root(node: tuple[int, str]) -> tuple[int, str]:
        parent.setdefault(node, node)
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for source, target in zip(pairs.sources, pairs.targets, strict=True):
        a, b = root((0, source)), root((1, target))
        if a != b:
            parent[a] = b
    roots: dict[tuple[int, str], int] = {}
    return np.array(
        [roots.setdefault(root((0, s)), len(roots)) for s in pairs.sources], dtype=np.int64
    )


def split_three_ways(
    n: int, validation_fraction: float, test_fraction: float, seed: int, groups: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Deterministic (train, validation, test) indices with whole groups on one side.

    Test is carved from all pairs first, then validation from the rest, each by
    ``data.sources.carve_validation`` (seeded order of groups), so changing the validation
    fraction never moves a pair into or out of test.
    """
    if validation_fraction + test_fraction >= 1.0:
        raise ValueError(
            f"validation_fraction + test_fraction must be below 1, got "
            f"{validation_fraction} + {test_fraction}"
        )
    rest, test = carve_validation(n, test_fraction, seed, groups)
    inner_fraction = validation_fraction / (1.0 - test_fraction)
    train, validation = carve_validation(len(rest), inner_fraction, seed + 1, groups[rest])
    return rest[train], rest[validation], test
