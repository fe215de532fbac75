"""Char-LM data: the TFDS-like split, the vocabulary, the window/lane batchings and their exact
batch counts, and the data path by config section (sources, modes)."""

from types import SimpleNamespace
from unittest import mock

import numpy as np
import pytest

from data import char_corpus, char_text
from data.char_corpus import evaluation_batches, read_split, read_splits, training_batches
from data.char_text import SPLITS, UNKNOWN, CharVocabulary, split_text
from data.text_files import TextEncodingError, read_text


def _batches(batches):
    """One pass over ``batches`` as numpy; its length must be the declared count."""
    ds = batches.dataset
    out = [(x.numpy(), y.numpy()) for x, y in ds]
    assert len(out) == batches.count == int(ds.cardinality())
    return out


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
    lanes = char_text.lane_windows(ids, lanes=4, window=10)
    batches = _batches(lanes)
    # (203 - 1) // 4 // 10 * 10 = 50 characters per lane: 5 windows.
    assert lanes.count == 5 and len(batches) == 5
    assert lanes.windows == 20 and lanes.characters == 200
    for x, y in batches:
        assert x.shape == (4, 10) and y.shape == (4, 10)
        np.testing.assert_array_equal(y, x + 1)  # the target is the next character
    for k in range(4):
        np.testing.assert_array_equal(batches[k + 1][0][:, 0], batches[k][0][:, -1] + 1)
    np.testing.assert_array_equal(batches[0][0][:, 0], [0, 50, 100, 150])  # lane starts


def test_lanes_move_by_a_random_offset_each_pass():
    ids = np.arange(500, dtype=np.int32)
    lanes = char_text.lane_windows(ids, lanes=3, window=8, seed=1)
    steps = lanes.count
    starts = []
    for _ in range(6):
        batches = _batches(lanes)
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
    windows = char_text.random_windows(ids, window=20, batch_size=8, seed=3)
    count = windows.windows
    assert count == (999 // 20) // 8 * 8 and windows.characters == count * 20
    first, second = _batches(windows), _batches(windows)
    assert len(first) == count // 8
    for x, y in first:
        assert x.shape == (8, 20)
        np.testing.assert_array_equal(np.diff(x, axis=1), 1)  # contiguous slices
        np.testing.assert_array_equal(y, x + 1)
        assert x.min() >= 0 and y.max() <= 999
    assert not np.array_equal(first[0][0], second[0][0])


def test_evaluation_lanes_equal_windows_cover_almost_all():
    ids = np.arange(1001, dtype=np.int32)
    lanes = char_text.evaluation_lanes(ids, lanes=4, window=30)
    scored = lanes.characters
    batches = _batches(lanes)
    # 250 characters per lane, 9 windows of 27 (not 8 of 30 + a short one): 243 scored per lane.
    assert {x.shape for x, _ in batches} == {(4, 27)} and len(batches) == 9
    assert scored == 4 * 243 and 1000 - scored < 4 * 9
    np.testing.assert_array_equal(batches[0][0][:, 0], [0, 243, 486, 729])
    for k in range(8):
        np.testing.assert_array_equal(batches[k + 1][0][:, 0], batches[k][0][:, -1] + 1)


def test_evaluation_windows_non_overlapping():
    ids = np.arange(95, dtype=np.int32)
    windows = char_text.evaluation_windows(ids, window=10, batch_size=4)
    scored = windows.characters
    x = np.concatenate([b[0] for b in _batches(windows)])  # 4 + 4 + 1 windows
    assert scored == 90 and x.shape == (9, 10) and windows.count == 3
    np.testing.assert_array_equal(x.reshape(-1), np.arange(90))


def test_too_short_texts_fail_with_the_config_keys():
    with pytest.raises(ValueError, match=r"train.batch_size or data.window"):
        char_text.random_windows(np.arange(50, dtype=np.int32), window=10, batch_size=8, seed=0)
    with pytest.raises(ValueError, match=r"lanes \(train.batch_size\)"):
        char_text.lane_windows(np.arange(50, dtype=np.int32), lanes=8, window=10)
    with pytest.raises(ValueError, match="cannot fill 8 lanes"):
        char_text.evaluation_lanes(np.arange(5, dtype=np.int32), lanes=8, window=10)


def _section(**changes):
    """A ``data`` config section (the fields ``data.char_corpus`` reads)."""
    defaults = dict(
        source="sample",
        tfds_name="tiny_shakespeare",
        tfds_data_dir=None,
        path="unused",
        mode="stateful",
        split="tfds",
        newlines="normalize",
        window=16,
        random_offset=True,
        max_train_chars=1200,
        max_eval_chars=600,
    )
    return SimpleNamespace(**{**defaults, **changes})


@pytest.mark.parametrize("mode", ["stateful", "windows"])
def test_batch_counts_are_one_pass(mode):
    """``count`` (what ``Prepared.train_batches`` reports) is the number of batches in one
    pass, for training and evaluation, in both modes and on every pass (as fit makes them)."""
    data = _section(mode=mode)
    train = read_split(data, "train")
    assert len(train) == 1200 and len(read_split(data, "validation")) == 600
    ids = CharVocabulary.from_text(train).encode(train)
    batches = training_batches(data, ids, batch_size=4, seed=7)
    for _ in range(3):
        assert {x.shape for x, _ in _batches(batches)} == {(4, 16)}
    if mode == "stateful":  # 4 lanes of (1199 - 15 offset room) // 4 // 16 windows
        assert batches.count == (1199 - 15) // 4 // 16 and batches.windows == 4 * batches.count
    else:  # 1199 // 16 windows, whole batches of 4
        assert batches.count == 1199 // 16 // 4 and batches.windows == 4 * batches.count
    _batches(evaluation_batches(data, ids[:600], batch_size=4))


def test_read_split_files_source_and_unknown_split(tmp_path):
    path = tmp_path / "play.txt"
    path.write_text("".join(chr(ord("a") + i % 26) for i in range(200)), encoding="utf-8")
    data = _section(source="files", path=str(path), max_train_chars=None, max_eval_chars=None)
    parts = [read_split(data, split) for split in ("train", "validation", "test")]
    assert "".join(parts) == path.read_text() and [len(p) for p in parts] == [180, 10, 10]
    with pytest.raises(ValueError, match="split must be"):
        read_split(data, "dev")


def test_read_splits_reads_the_text_once_and_equals_read_split(monkeypatch):
    data = _section()  # the bundled sample, capped
    one_by_one = [read_split(data, split) for split in SPLITS]
    reader = mock.Mock(wraps=char_corpus.read_text)
    monkeypatch.setattr(char_corpus, "read_text", reader)
    assert read_splits(data, SPLITS) == tuple(one_by_one)
    assert read_splits(data, ("validation", "train")) == (one_by_one[1], one_by_one[0])
    assert reader.call_count == 2  # once per read_splits call
    with pytest.raises(ValueError, match="split must be"):
        read_splits(data, ("train", "dev"))
    assert reader.call_count == 2  # a bad split fails before reading


def test_newlines_normalized_or_kept_and_the_nanogpt_split(tmp_path):
    path = tmp_path / "crlf.txt"
    lines = [f"line {i:03d}" for i in range(40)]
    path.write_bytes("\r\n".join(lines).encode() + b"\rend\r\n")
    data = _section(source="files", path=str(path), max_train_chars=None, max_eval_chars=None)
    normalized = "\n".join(lines) + "\nend\n"
    assert "".join(read_splits(data, SPLITS)) == normalized  # no \r left anywhere
    kept = _section(**{**vars(data), "newlines": "keep"})
    assert "".join(read_splits(kept, SPLITS)) == path.read_bytes().decode()
    nanogpt = _section(**{**vars(data), "split": "nanogpt"})
    train, validation, test = read_splits(nanogpt, SPLITS)
    cut = int(len(normalized) * 0.9)  # nanoGPT: first 90% train, last 10% validation
    assert (train, validation) == (normalized[:cut], normalized[cut:]) and test == validation
