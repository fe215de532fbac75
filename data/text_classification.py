"""Labelled texts: readers for the aclImdb tree (directory or .tar.gz) and TSV files, the
choice between the bundled sample, DATA_ROOT files and TFDS, and the validation carve."""

from __future__ import annotations

import re
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from data.data_format_error import DataFormatError
from data.sources import carve_validation, resolve_data_path, sample_path, tfds_load
from data.text_files import decode_utf8, read_bytes, read_lines, read_text

_LABEL_WORDS = {"0": 0, "1": 1, "neg": 0, "pos": 1, "negative": 0, "positive": 1}
_ACLIMDB_MEMBER = re.compile(r"(?:^|/)aclImdb/(train|test)/(pos|neg)/(\d+)_\d+\.txt$")
_ACLIMDB_URLS = re.compile(r"(?:^|/)aclImdb/(train|test)/urls_(pos|neg)\.txt$")


class TextFormatError(DataFormatError):
    """A malformed input line, reported as ``file:line: what is wrong``."""


@dataclass(frozen=True)
class LabelledTexts:
    """Texts with binary labels (1 = positive) and, where known, a group per text (e.g. the
    movie a review is about) so that validation can be carved without sharing groups."""

    texts: list[str]
    labels: np.ndarray  # int32, shape (n,)
    groups: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices: np.ndarray) -> LabelledTexts:
        groups = None if self.groups is None else self.groups[indices]
        return LabelledTexts([self.texts[i] for i in indices], self.labels[indices], groups)


def read_aclimdb(path: str | Path, split: str) -> LabelledTexts:
    """Reads ``split`` (``train``/``test``) of the Large Movie Review dataset.

    ``path`` is the ``.tar.gz`` (read in place, not extracted), the ``aclImdb`` directory or
    a directory containing it. Only the labelled ``pos``/``neg`` reviews are read; files are
    taken in sorted order so the result does not depend on the archive's order. Where the
    ``urls_{pos,neg}.txt`` files are present, ``groups`` holds each review's movie URL (line
    ``<id>`` of the file for review ``<id>_<rating>.txt``).
    """
    if split not in ("train", "test"):
        raise ValueError(f"aclImdb split must be 'train' or 'test', got {split!r}")
    path = Path(path)
    items: list[tuple[str, str, int, bytes]] = []  # (name for errors, label, number, bytes)
    urls: dict[str, list[str]] = {}
    if path.is_file():
        items, urls = _read_aclimdb_archive(path, split)
    else:
        root = path / "aclImdb" if (path / "aclImdb").is_dir() else path
        for label in ("pos", "neg"):
            folder = root / split / label
            if not folder.is_dir():
                raise TextFormatError(f"{folder}: missing (expected an aclImdb tree at {root})")
            for file in folder.glob("*.txt"):
                review = _ACLIMDB_MEMBER.search(file.as_posix())
                if review:
                    items.append((str(file), label, int(review.group(3)), read_bytes(file)))
            listing = root / split / f"urls_{label}.txt"
            if listing.is_file():
                urls[label] = read_text(listing).split()
    if not items:
        raise TextFormatError(f"{path}: no aclImdb/{split}/{{pos,neg}}/*.txt reviews found")
    items.sort(key=lambda item: item[0])
    texts = [decode_utf8(data, name) for name, *_, data in items]
    labels = np.array([1 if label == "pos" else 0 for _, label, _, _ in items], dtype=np.int32)
    groups = None
    if {"pos", "neg"} <= urls.keys():
        try:
            groups = np.array([urls[label][number] for _, label, number, _ in items])
        except IndexError:
            raise TextFormatError(f"{path}: urls_*.txt lists fewer reviews than {split}/") from None
    return LabelledTexts(texts, labels, groups)


def _read_aclimdb_archive(
    path: Path, split: str
) -> tuple[list[tuple[str, str, int, bytes]], dict[str, list[str]]]:
    """The ``split`` reviews and URL listings of an aclImdb tar archive (any compression); a
    truncated, corrupt or non-tar file is one line naming it, a review that is not UTF-8
    names the archive and member."""
    items: list[tuple[str, str, int, bytes]] = []
    urls: dict[str, list[str]] = {}
    try:
        with tarfile.open(path, "r:*") as archive:
            for member in archive:
                if not member.isfile():
                    continue
                review = _ACLIMDB_MEMBER.search(member.name)
                listing = _ACLIMDB_URLS.search(member.name)
                name = f"{path}: {member.name}"
                if review and review.group(1) == split:
                    data = archive.extractfile(member).read()
                    items.append((name, review.group(2), int(review.group(3)), data))
                elif listing and listing.group(1) == split:
                    text = decode_utf8(archive.extractfile(member).read(), name)
                    urls[listing.group(2)] = text.split()
            archive.fileobj.read()  # to the end of the stream, so gzip checks its CRC
    except (tarfile.TarError, EOFError, OSError, zlib.error) as err:
        read_bytes(path)  # a truncated or corrupt gzip stream is named as such
        # tarfile's "could not be opened" message lists every method tried, one per line
        first = str(err).splitlines()[0].rstrip(":") if str(err) else type(err).__name__
        raise TextFormatError(
            f"{path}: not a readable tar archive ({first}); give the aclImdb .tar.gz, the "
            f"aclImdb directory or a directory holding it"
        ) from None
    return items, urls


def read_labelled_lines(path: str | Path) -> LabelledTexts:
    """Reads ``text<TAB>label`` lines (label 0/1, neg/pos or negative/positive; gz or plain).

    Lines are split on ``\\n`` only: some corpora contain U+0085, which ``str.splitlines``
    would treat as a line break. Blank lines are skipped; anything else malformed fails with
    the file and line.
    """
    path = Path(path)
    texts, labels = [], []
    for number, line in enumerate(read_lines(path), start=1):
        if not line.strip():
            continue
        text, sep, label = line.rpartition("\t")
        if not sep:
            raise TextFormatError(f"{path}:{number}: expected 'text<TAB>label', found no tab")
        key = label.strip().lower()
        if key not in _LABEL_WORDS:
            raise TextFormatError(
                f"{path}:{number}: label {label.strip()!r} is not one of {', '.join(_LABEL_WORDS)}"
            )
        texts.append(text.strip())
        labels.append(_LABEL_WORDS[key])
    if not texts:
        raise TextFormatError(f"{path}: no labelled lines")
    return LabelledTexts(texts, np.array(labels, dtype=np.int32))


class TextSource(Protocol):
    """The ``data`` config keys read here (``pipelines.sentiment.config.SentimentData``)."""

    source: str  # sample | files | tfds
    tfds_name: str
    tfds_data_dir: str | None
    files_format: str  # aclimdb | tsv
    train_path: str
    test_path: str | None
    validation_fraction: float
    split_seed: int
    max_train_examples: int | None


def load_texts(data: TextSource, split: str) -> LabelledTexts:
    """The ``train`` or ``test`` texts of the configured source: the bundled sample
    (``data/samples/sentiment/<split>.tsv``), TFDS, or files (aclImdb or TSV)."""
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


def train_validation(data: TextSource) -> tuple[LabelledTexts, LabelledTexts]:
    """The training texts split into (train, validation); the same split every call."""
    texts = load_texts(data, "train")
    # IMDB's test reviews are of other movies than train: validation holds out whole movies
    # too, or it overrates models that memorise titles and names (~2.5 points on IMDB).
    train_idx, val_idx = carve_validation(
        len(texts), data.validation_fraction, data.split_seed, texts.groups
    )
    if data.max_train_examples is not None:
        train_idx = train_idx[: data.max_train_examples]
    return texts.subset(train_idx), texts.subset(val_idx)


def evaluation_texts(data: TextSource, split: str) -> LabelledTexts:
    """The texts ``evaluate`` scores: the source's ``test`` texts, or the ``validation``
    texts carved from train exactly as in training."""
    if split == "test":
        return load_texts(data, "test")
    if split == "validation":
        return train_validation(data)[1]
    raise ValueError(f"split must be 'test' or 'validation', got {split!r}")
