"""Char-LM data: the TFDS-like split, the vocabulary, and the window/lane batchings."""

import numpy as np
import pytest

from data.char_text import (
    UNKNOWN,
    CharVocabulary,
    evaluation_lanes,
    evaluation_windows,
    lane_windows,
    random_windows,
    split_text,
)
from data.text_files import TextEncodingError, read_text


def _batches(ds):
    return [(x.numpy(), y.numpy()) for x, y in ds]


def test_split_matches_tfds_arithmetic():
    text = "".join(chr(ord("a") + i % 26) for i in range(1_115_394))
    parts = split_text(text)
    # TFDS tiny_shakespeare: train = int(0.9 n), validation = int(0.5 rest), test = the rest.
    assert [len(parts[s]) for s in ("train", "validation", "test")] == [1_003_854, 55_770, 55_770]
    assert parts["train"] + parts["validation"] + parts["test"] == text
    small = split_text("0123456789abcdefghi")  # 19 characters: 17 / 1 / 1
    assert small == {"train": "0123456789abcdefg", "validation": "h", "test": "i"}


def test_vocabulary_ids_unknown_and_round_trip():
    vocabulary = CharVocabulary.from_text("hello\nworld é")
    assert vocabulary.as_list() == [UNKNOWN, "\n", " ", "d", "e", "h", "l", "o", "r", "w", "é"]
    assert len(vocabulary) == 11
    ids = vocabulary.encode("hé!\nz")
    assert ids.tolist() == [5, 10, 0, 1, 0]  # '!' and 'z' were not in train
    assert vocabulary.decode(ids) == "hé\ufffd\n\ufffd"
    assert CharVocabulary.from_list(vocabulary.as_list()) == vocabulary
    with pytest.raises(ValueError, match="must start with"):
        CharVocabulary.from_list(["a", "b"])


def test_read_text_names_file_and_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"line one\nline two\nthree \xff")
    with pytest.raises(TextEncodingError, match=rf"^{path}:3: not UTF-8 \(byte 0xff"):
        read_text(path)
    good = tmp_path / "good.txt"
    good.write_text("to be\n", encoding="utf-8")
    assert read_text(good) == "to be\n"


def test_lanes_continue_across_batches():
    ids = np.arange(203, dtype=np.int32)  # the id is the position: continuity is visible
    ds, steps = lane_windows(ids, lanes=4, window=10)
    batches = _batches(ds)
    # (203 - 1) // 4 // 10 * 10 = 50 characters per lane: 5 windows.
    assert steps == 5 and len(batches) == 5
    for x, y in batches:
        assert x.shape == (4, 10) and y.shape == (4, 10)
        np.testing.assert_array_equal(y, x + 1)  # the target is the next character
    for k in range(4):
        np.testing.assert_array_equal(batches[k + 1][0][:, 0], batches[k][0][:, -1] + 1)
    np.testing.assert_array_equal(batches[0][0][:, 0], [0, 50, 100, 150])  # lane starts


def test_lanes_move_by_a_random_offset_each_pass():
    ids = np.arange(500, dtype=np.int32)
    ds, steps = lane_windows(ids, lanes=3, window=8, seed=1)
    starts = []
    for _ in range(6):
        batches = _batches(ds)
        assert len(batches) == steps == (499 - 7) // 3 // 8
        first = batches[0][0]
        shift = first[0, 0]
        assert 0 <= shift < 8
        lane = steps * 8
        np.testing.assert_array_equal(first[:, 0], shift + lane * np.arange(3))
        starts.append(int(shift))
    assert len(set(starts)) > 1


def test_random_windows_are_text_slices_and_change_per_pass():
    ids = np.arange(1000, dtype=np.int32)
    ds, count = random_windows(ids, window=20, batch_size=8, seed=3)
    assert count == (999 // 20) // 8 * 8
    first, second = _batches(ds), _batches(ds)
    assert len(first) == count // 8
    for x, y in first:
        assert x.shape == (8, 20)
        np.testing.assert_array_equal(np.diff(x, axis=1), 1)  # contiguous slices
        np.testing.assert_array_equal(y, x + 1)
        assert x.min() >= 0 and y.max() <= 999
    assert not np.array_equal(first[0][0], second[0][0])


def test_evaluation_lanes_equal_windows_cover_almost_all():
    ids = np.arange(1001, dtype=np.int32)
    ds, scored = evaluation_lanes(ids, lanes=4, window=30)
    batches = _batches(ds)
    # 250 characters per lane, 9 windows of 27 (not 8 of 30 + a short one): 243 scored per lane.
    assert {x.shape for x, _ in batches} == {(4, 27)} and len(batches) == 9
    assert scored == 4 * 243 and 1000 - scored < 4 * 9
    np.testing.assert_array_equal(batches[0][0][:, 0], [0, 243, 486, 729])
    for k in range(8):
        np.testing.assert_array_equal(batches[k + 1][0][:, 0], batches[k][0][:, -1] + 1)


def test_evaluation_windows_non_overlapping():
    ids = np.arange(95, dtype=np.int32)
    ds, scored = evaluation_windows(ids, window=10, batch_size=4)
    x = np.concatenate([b[0] for b in _batches(ds)])
    assert scored == 90 and x.shape == (9, 10)
    np.testing.assert_array_equal(x.reshape(-1), np.arange(90))


def test_too_short_texts_fail_with_the_config_keys():
    with pytest.raises(ValueError, match=r"train.batch_size or data.window"):
        random_windows(np.arange(50, dtype=np.int32), window=10, batch_size=8, seed=0)
    with pytest.raises(ValueError, match=r"lanes \(train.batch_size\)"):
        lane_windows(np.arange(50, dtype=np.int32), lanes=8, window=10)
    with pytest.raises(ValueError, match="cannot fill 8 lanes"):
        evaluation_lanes(np.arange(5, dtype=np.int32), lanes=8, window=10)
