"""Character-level text: the TFDS-like 90/5/5 split, the character vocabulary and the two
batchings of a character language model (random windows; consecutive windows per lane), each
with its exact number of batches per pass."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from data.bucketing import Batches
from data.dataset_options import without_autotune

UNKNOWN = "[UNK]"  # id 0: characters not seen in train (several characters, so never a real one)
SPLITS = ("train", "validation", "test")
# By data.split: (train's share of the text, validation's share of the rest; None: the rest
# is validation and test alike). Cut by characters here, by bytes per file when streamed.
SPLIT_FRACTIONS = {"tfds": (0.9, 0.5), "nanogpt": (0.9, None)}


def split_text(text: str, protocol: str = "tfds") -> dict[str, str]:
    """Train/validation/test by characters. ``tfds``: exactly as TFDS ``tiny_shakespeare``
    does, the first 90% train, the next half of the rest validation, the remainder test.
    ``nanogpt``: nanoGPT's ``shakespeare_char`` split, the first 90% train and the last 10%
    validation; it has no test split of its own, so test is that same last 10%."""
    train_share, validation_share = SPLIT_FRACTIONS[protocol]
    cut = int(len(text) * train_share)
    train, rest = text[:cut], text[cut:]
    if validation_share is None:
        return {"train": train, "validation": rest, "test": rest}
    cut = int(len(rest) * validation_share)
    return {"train": train, "validation": rest[:cut], "test": rest[cut:]}


def normalize_newlines(text: str) -> str:
    """Windows (``\r\n``) and old Mac (``\r``) line ends as ``\n``: kept, a ``\r`` is a
    character of its own that makes every ``\n`` after it nearly free to predict."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


@dataclass(frozen=True)
class CharVocabulary:
    """Characters by id; id 0 stands for every character not in the list."""

    characters: tuple[str, ...]  # id 1, 2, ...

    @classmethod
    def from_text(cls, text: str) -> CharVocabulary:
        return cls(tuple(sorted(set(text))))

    @classmethod
    def from_list(cls, vocabulary: list[str]) -> CharVocabulary:
        """The inverse of :meth:`as_list` (the form saved in ``info.json``)."""
        if not vocabulary or vocabulary[0] != UNKNOWN:
            raise ValueError(f"vocabulary: must start with {UNKNOWN!r}")
        return cls(tuple(vocabulary[1:]))

    def as_list(self) -> list[str]:
        return [UNKNOWN, *self.characters]

    def __len__(self) -> int:
        return len(self.characters) + 1

    @property
    def code_points(self) -> np.ndarray:
        """Unicode code points of ids 1.. in increasing order (ids 1.. are sorted)."""
        return np.array([ord(c) for c in self.characters], dtype=np.int32)

    def encode(self, text: str) -> np.ndarray:
        """Character ids (int32) of ``text``; unseen characters become 0."""
        points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
        known = self.code_points
        if len(known) == 0:
            return np.zeros(len(points), dtype=np.int32)
        index = np.clip(np.searchsorted(known, points), 0, len(known) - 1)
        return np.where(known[index] == points, index + 1, 0).astype(np.int32)

    def decode(self, ids: np.ndarray | list[int]) -> str:
        """Text of ``ids``; id 0 (unknown) becomes U+FFFD."""
        table = ["\ufffd", *self.characters]
        return "".join(table[int(i)] for i in ids)


@dataclass(frozen=True)
class CharBatches(Batches):
    """Batches of (input, next-character target) windows: ``count`` batches, ``windows``
    windows and ``characters`` predicted characters in one pass."""

    windows: int
    characters: int


def random_windows(ids: np.ndarray, window: int, batch_size: int, seed: int) -> CharBatches:
    """Teacher-forcing batches of windows at uniformly random offsets, new ones every pass.

    One pass holds ``(len(ids) - 1) // window`` windows rounded down to whole batches, so an
    epoch sees about as many characters as the text has.
    """
    count = max(0, (len(ids) - 1) // window // batch_size * batch_size)
    if count == 0:
        raise ValueError(
            f"data: {len(ids)} training characters are too few for one batch of "
            f"{batch_size} windows of {window} (at least {batch_size * window + 1}; lower "
            f"train.batch_size or data.window)"
        )
    table = tf.constant(ids, dtype=tf.int32)
    last_start = len(ids) - window - 1

    def window_at(value):
        start = tf.cast(value % (last_start + 1), tf.int32)
        chunk = table[start : start + window + 1]
        return chunk[:-1], chunk[1:]

    ds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).take(count)
    ds = ds.map(window_at).batch(batch_size, drop_remainder=True).prefetch(2)
    return CharBatches(without_autotune(ds), count // batch_size, count, count * window)


def lane_windows(ids: np.ndarray, lanes: int, window: int, seed: int | None = None) -> CharBatches:
    """Truncated-BPTT batches: the text cut into ``lanes`` parallel lanes, batch ``k`` holding
    the ``k``-th window of every lane, so row ``i`` of consecutive batches continues lane ``i``.

    With ``seed`` the lanes start at a random offset in ``[0, window)`` on every pass, so window
    boundaries move between epochs; every pass has the same number of batches.
    """
    shift_room = window - 1 if seed is not None else 0
    lane_length = max(0, (len(ids) - 1 - shift_room) // lanes // window * window)
    if lane_length == 0:
        raise ValueError(
            f"data: {len(ids)} training characters are too few for {lanes} lanes "
            f"(train.batch_size) of one window of {window} (at least "
            f"{lanes * window + 1 + shift_room}; lower one of them)"
        )
    steps = lane_length // window
    table = tf.constant(ids, dtype=tf.int32)
    used = lanes * lane_length

    def batches_from(shift):
        def cut(offset):
            chunk = tf.reshape(table[offset : offset + used], [lanes, steps, window])
            return tf.transpose(chunk, [1, 0, 2])  # (steps, lanes, window)

        return tf.data.Dataset.from_tensor_slices((cut(shift), cut(shift + 1)))

    if seed is None:
        ds = batches_from(tf.constant(0, tf.int32))
    else:
        shifts = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).take(1)
        ds = shifts.flat_map(lambda v: batches_from(tf.cast(v % window, tf.int32)))
        # flat_map hides the length; Keras warns about a dataset that "ran out" without it.
        ds = ds.apply(tf.data.experimental.assert_cardinality(steps))
    return CharBatches(without_autotune(ds.prefetch(2)), steps, steps * lanes, used)


def evaluation_lanes(ids: np.ndarray, lanes: int, window: int) -> CharBatches:
    """Consecutive windows per lane for scoring a stateful model on a whole split.

    Windows of one split must all be the same length (the mean of Keras' validation loss
    weights batches equally), so the window is shortened to divide the lane with less than
    one character per window left over.
    """
    lane_length = max(0, (len(ids) - 1) // lanes)
    if lane_length == 0:  # (and no division by zero steps below)
        raise ValueError(
            f"data: {len(ids)} characters cannot fill {lanes} lanes (train.batch_size; at "
            f"least {lanes + 1})"
        )
    steps = math.ceil(lane_length / window)
    window = lane_length // steps
    return lane_windows(ids[: lanes * steps * window + 1], lanes, window)


def evaluation_windows(ids: np.ndarray, window: int, batch_size: int) -> CharBatches:
    """Non-overlapping windows from the start, each scored from a zero state (how a model
    trained on random windows reads); the last batch may be short."""
    count = max(0, (len(ids) - 1) // window)
    if count == 0:
        raise ValueError(
            f"data: {len(ids)} characters are shorter than one window ({window}) and its next "
            f"character (at least {window + 1})"
        )
    x = ids[: count * window].reshape(count, window)
    y = ids[1 : count * window + 1].reshape(count, window)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size)
    batches = -(-count // batch_size)
    return CharBatches(without_autotune(ds), batches, count, count * window)
