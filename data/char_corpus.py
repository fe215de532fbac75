"""The char-LM data path in three calls: :func:`read_splits` (the splits' text, one read),
:func:`training_batches` and :func:`evaluation_batches` (the windows a model reads, in the
order its ``data.mode`` needs, with their exact count). ``data.source: stream`` never holds
the text: :func:`stream_index` (one pass over the files), then :func:`stream_training` and
:func:`stream_evaluation` (the same batches, read from the files as they are consumed)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from data.char_stream import stream_evaluation_batches, stream_training_batches
from data.char_stream_index import CharStreamIndex
from data.char_text import (
    SPLITS,
    CharBatches,
    CharVocabulary,
    evaluation_lanes,
    evaluation_windows,
    lane_windows,
    normalize_newlines,
    random_windows,
    split_text,
)
from data.data_format_error import DataFormatError
from data.sources import resolve_data_path, sample_path, tfds_load
from data.text_files import read_text

# The shortest text whose 90/5/5 split (``split_text``) gives every split two characters.
MIN_TEXT_CHARACTERS = 31

# How evaluation reads a split, by data.mode (reported as ``protocol`` in the metrics).
PROTOCOLS = {
    "stateful": "consecutive windows, state carried per lane",
    "windows": "non-overlapping windows, each from a zero state",
}


class CharDataSettings(Protocol):
    """The ``data`` config keys this module reads (``pipelines.charlm.config.CharLMData``)."""

    source: str  # sample | files | tfds | stream
    tfds_name: str
    tfds_data_dir: str | None
    path: str
    mode: str  # stateful | windows
    split: str  # tfds | nanogpt
    newlines: str  # normalize | keep
    window: int
    random_offset: bool
    max_train_chars: int | None
    max_eval_chars: int | None


def read_split(data: CharDataSettings, split: str) -> str:
    """The ``train``, ``validation`` or ``test`` text of the configured source (see
    :func:`read_splits`, which reads the source once for several splits)."""
    (text,) = read_splits(data, (split,))
    return text


def read_splits(data: CharDataSettings, splits: Sequence[str]) -> tuple[str, ...]:
    """The text of each of ``splits`` (``train``, ``validation``, ``test``), in that order,
    capped by ``max_train_chars`` / ``max_eval_chars``. TFDS has the three splits; the bundled
    sample and a file are read once and split 90/5/5 by characters as TFDS
    ``tiny_shakespeare`` is."""
    for split in splits:
        if split not in SPLITS:
            raise ValueError(f"split must be 'train', 'validation' or 'test', got {split!r}")
    if data.source == "stream":
        raise ValueError("data.source stream is never read whole: use stream_index")
    if data.source == "tfds":  # TFDS stores each split apart
        texts = [_newlines(_tfds_text(data, split), data) for split in splits]
    else:  # one text, read once and cut into the three splits
        path = sample_path("charlm", "input.txt") if data.source == "sample" else None
        path = path or resolve_data_path(data.path)
        text = _newlines(read_text(path), data)
        if len(text) < MIN_TEXT_CHARACTERS:
            raise DataFormatError(
                f"{path}: {len(text)} character(s) is too short for a char-LM text: at least "
                f"{MIN_TEXT_CHARACTERS}, so that each of the 90/5/5 train/validation/test "
                f"splits holds a character and the next one (training needs far more: "
                f"train.batch_size windows of data.window)"
            )
        parts = split_text(text, data.split)
        texts = [parts[split] for split in splits]
    return tuple(_capped(text, split, data) for text, split in zip(texts, splits, strict=True))


def read_split_head(data: CharDataSettings, split: str, limit: int) -> str:
    """The first ``limit`` characters of ``split`` (within its cap), of any source. A stream
    is indexed first (one pass over every file: the split's start depends on every file's
    size and characters), then only those characters are read."""
    if data.source == "stream":
        cap = data.max_train_chars if split == "train" else data.max_eval_chars
        return stream_index(data).head(split, limit if cap is None else min(cap, limit))
    return read_split(data, split)[:limit]


def _tfds_text(data: CharDataSettings, split: str) -> str:
    ds = tfds_load(data.tfds_name, split, data.tfds_data_dir)
    return "".join(example["text"].decode("utf-8") for example in ds.as_numpy_iterator())


def _newlines(text: str, data: CharDataSettings) -> str:
    return normalize_newlines(text) if data.newlines == "normalize" else text


def _capped(text: str, split: str, data: CharDataSettings) -> str:
    cap = data.max_train_chars if split == "train" else data.max_eval_chars
    return text[:cap] if cap is not None else text


def training_batches(
    data: CharDataSettings, ids: np.ndarray, batch_size: int, seed: int
) -> CharBatches:
    """One pass of training batches: ``batch_size`` lanes of consecutive windows (stateful;
    a new random offset per pass with ``random_offset``) or random windows."""
    if data.mode == "stateful":
        return lane_windows(ids, batch_size, data.window, seed if data.random_offset else None)
    return random_windows(ids, data.window, batch_size, seed)


def evaluation_batches(data: CharDataSettings, ids: np.ndarray, batch_size: int) -> CharBatches:
    """A whole split read the way the model was trained to read (see :data:`PROTOCOLS`)."""
    if data.mode == "stateful":
        return evaluation_lanes(ids, batch_size, data.window)
    return evaluation_windows(ids, data.window, batch_size)


def stream_index(
    data: CharDataSettings, progress: Callable[[str], None] | None = None
) -> CharStreamIndex:
    """One pass over the files of ``data.path`` (``data.source: stream``): the splits' byte
    ranges and character counts, the training characters and the validation characters'
    counts (each within its cap); ``progress`` hears how far it got on a large corpus."""
    return CharStreamIndex.build(
        data.path,
        data.split,
        data.newlines,
        data.max_train_chars,
        data.max_eval_chars,
        progress,
    )


def stream_training(
    data: CharDataSettings,
    index: CharStreamIndex,
    vocabulary: CharVocabulary,
    batch_size: int,
    seed: int,
    share: tuple[int, int] = (0, 1),
) -> CharBatches:
    """:func:`training_batches` read from the files, only this process's rows
    (``share = (process, processes)``)."""
    random = data.random_offset or data.mode == "windows"
    return stream_training_batches(
        index,
        vocabulary,
        data.mode,
        data.window,
        batch_size,
        seed if random else None,
        data.max_train_chars,
        share,
    )


def stream_evaluation(
    data: CharDataSettings,
    index: CharStreamIndex,
    vocabulary: CharVocabulary,
    split: str,
    batch_size: int,
    share: tuple[int, int] = (0, 1),
) -> CharBatches:
    """:func:`evaluation_batches` of ``split`` read from the files (``stateful``: this
    process's lanes; ``windows``: every batch whole, as validation is never sliced)."""
    return stream_evaluation_batches(
        index, vocabulary, split, data.mode, data.window, batch_size, data.max_eval_chars, share
    )
