"""The char-LM data path in three calls: :func:`read_splits` (the splits' text, one read),
:func:`training_batches` and :func:`evaluation_batches` (the windows a model reads, in the
order its ``data.mode`` needs, with their exact count)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from data.char_text import (
    SPLITS,
    CharBatches,
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

    source: str  # sample | files | tfds
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
