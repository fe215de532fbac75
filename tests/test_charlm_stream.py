"""The char LM's streaming data path (``data.source: stream``): the very batches of the
in-memory path for the same text, read in records that cut characters and ``\\r\\n`` apart;
each process's rows; bad input; and a corpus 20× Tiny Shakespeare trained through the CLI, its
peak RSS against the in-memory path's on the same file."""

import dataclasses
import gzip
import sys

import numpy as np
import pytest

from data import char_stream, char_stream_index
from data.char_corpus import (
    evaluation_batches,
    read_splits,
    stream_evaluation,
    stream_index,
    stream_training,
    training_batches,
)
from data.char_stream_index import CharStreamIndex
from data.char_text import CharVocabulary, evaluation_windows, lane_windows, normalize_newlines
from data.data_config_error import DataConfigError
from data.data_format_error import DataFormatError
from data.sources import DataUnavailableError, sample_path
from pipelines.charlm.config import CharLMData
from tests.cli_helpers import run_with_peak_rss, tiny_config

SHAKESPEARE = sample_path("charlm", "input.txt").read_text(encoding="utf-8")


def _passes(batches, passes=1):
    """``passes`` passes over ``batches`` as numpy pairs, each of the declared length."""
    out = []
    for _ in range(passes):
        one = [(x.numpy(), y.numpy()) for x, y in batches.dataset]
        assert len(one) == batches.count
        out.extend(one)
    return out


def _assert_same(a, b):
    assert len(a) == len(b)
    for (xa, ya), (xb, yb) in zip(a, b, strict=True):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)


def _vocabulary(index):
    return CharVocabulary(tuple(sorted(index.train_characters)))


@pytest.mark.parametrize("mode", ["stateful", "windows"])
def test_stream_gives_the_in_memory_batches_of_one_file(tmp_path, mode):
    path = tmp_path / "text.txt"
    path.write_text(SHAKESPEARE[:12_000], encoding="utf-8")
    memory = CharLMData(source="files", path=str(path), mode=mode, window=16)
    stream = dataclasses.replace(memory, source="stream")
    train, validation, test = read_splits(memory, ("train", "validation", "test"))
    index = stream_index(stream)
    vocabulary = _vocabulary(index)
    assert vocabulary == CharVocabulary.from_text(train)  # learned by the pass
    counts = [index.characters(s) for s in ("train", "validation", "test")]
    assert counts == [len(train), len(validation), len(test)] == [10_800, 600, 600]
    nanogpt = stream_index(dataclasses.replace(stream, split="nanogpt"))
    texts = read_splits(dataclasses.replace(memory, split="nanogpt"), ("validation", "test"))
    assert [nanogpt.head(s, 2000) for s in ("validation", "test")] == list(texts)
    assert nanogpt.characters("train") == 10_800
    for split, text in (("validation", validation), ("test", test)):
        expected = evaluation_batches(memory, vocabulary.encode(text), 4)
        got = stream_evaluation(stream, index, vocabulary, split, 4)
        assert (got.count, got.windows, got.characters) == (
            expected.count,
            expected.windows,
            expected.characters,
        )
        _assert_same(_passes(got), _passes(expected))
    expected = training_batches(memory, vocabulary.encode(train), 4, seed=5)
    got = stream_training(stream, index, vocabulary, 4, seed=5)
    assert (got.count, got.windows, got.characters) == (
        expected.count,
        expected.windows,
        expected.characters,
    )
    if mode == "stateful":  # three passes, each from the in-memory path's random lane offset
        _assert_same(_passes(got, 3), _passes(expected, 3))
    else:  # a shuffled tiling from a random offset, not random draws: real text windows
        windows = _windows_of(vocabulary.encode(train), 17)
        offsets = set(range(16))
        for x, y in _passes(got):
            np.testing.assert_array_equal(x[:, 1:], y[:, :-1])
            for row in np.concatenate([x, y[:, -1:]], axis=1):
                where = np.flatnonzero(np.all(windows == row, axis=1))
                assert len(where), "a window that is not in the training text"
                offsets &= set(where % 16)
        assert offsets  # one offset for the whole pass: non-overlapping windows


@pytest.mark.parametrize("global_seed", [0, 2**31 - 1, 7])
def test_windows_stream_under_any_global_seed(tmp_path, global_seed):
    """``seed: 0`` made TensorFlow test a tensor seed in Python while tracing the pass."""
    import tensorflow as tf

    path = tmp_path / "text.txt"
    path.write_text(SHAKESPEARE[:12_000], encoding="utf-8")
    stream = CharLMData(source="stream", path=str(path), mode="windows", window=16)
    index = stream_index(stream)
    vocabulary = _vocabulary(index)
    windows = _windows_of(vocabulary.encode(SHAKESPEARE[:10_800]), 17)
    passes = []
    for _ in range(2):
        tf.random.set_seed(global_seed)
        passes.append(_passes(stream_training(stream, index, vocabulary, 4, seed=5)))
    _assert_same(*passes)  # the same seeds, the same windows
    for x, y in passes[0]:
        for row in np.concatenate([x, y[:, -1:]], axis=1):
            assert np.all(windows == row, axis=1).any(), "a window not in the training text"


def _windows_of(ids, width):
    return np.lib.stride_tricks.sliding_window_view(ids, width)


def _body(path) -> bytes:
    data = path.read_bytes()
    return data[3:] if data.startswith(b"\xef\xbb\xbf") else data


@pytest.mark.parametrize("newlines", ["normalize", "keep"])
def test_records_cut_characters_and_crlf_yet_the_text_is_whole(tmp_path, monkeypatch, newlines):
    # Records of 7 bytes cut 2-, 3- and 4-byte characters and \r\n; 64-byte pass blocks give
    # many index entries, so lanes start mid-file from an entry and skip to their character.
    monkeypatch.setattr(char_stream, "READ_BYTES", 7)
    monkeypatch.setattr(char_stream_index, "PASS_BLOCK_BYTES", 64)
    a = tmp_path / "corpus" / "a.txt"
    a.parent.mkdir()
    a.write_bytes(b"\xef\xbb\xbf" + "héllo wörld €uro 𝄞 clef\r\n".encode() * 40 + b"old\rmac\r")
    b = tmp_path / "corpus" / "b.txt"
    b.write_text("ünïcödé línes\n" * 50 + "crlf\r\nend\r\n" * 20, encoding="utf-8", newline="")
    data = CharLMData(source="stream", path=str(tmp_path / "corpus" / "*.txt"), window=8)
    data = dataclasses.replace(data, newlines=newlines)
    index = stream_index(data)
    texts = {}
    for split in ("train", "validation", "test"):
        parts = index.parts[split]
        assert [p.path for p in parts] == [str(a), str(b)]  # sorted, one part per file
        text = ""
        for part in parts:  # every cut is a character boundary: each part decodes alone
            raw = (a if part.path == str(a) else b).read_bytes()
            part_text = raw[part.start : part.end].decode("utf-8")
            part_text = normalize_newlines(part_text) if newlines == "normalize" else part_text
            assert part.characters == len(part_text)
            text += part_text
        texts[split] = text
    for path in (a, b):  # the three parts are the whole file, BOM aside
        bounds = [p for s in ("train", "validation", "test") for p in index.parts[s]]
        mine = sorted((p.start, p.end) for p in bounds if p.path == str(path))
        assert mine[0][1] == mine[1][0] and mine[1][1] == mine[2][0]
        assert mine[2][1] - mine[0][0] == len(_body(path))
    first = index.parts["train"][0].characters
    for split, limit in (("train", first + 30), ("validation", 25)):  # what inspect reads
        assert index.head(split, limit) == texts[split][:limit]
    vocabulary = _vocabulary(index)
    assert vocabulary == CharVocabulary.from_text(texts["train"])
    assert ("\r" in vocabulary.characters) == (newlines == "keep")
    ids = vocabulary.encode(texts["train"])
    expected = lane_windows(ids, 3, 8, seed=11)
    got = stream_training(data, index, vocabulary, 3, seed=11)
    _assert_same(_passes(got, 2), _passes(expected, 2))
    windows = dataclasses.replace(data, mode="windows")
    got = stream_evaluation(windows, index, vocabulary, "validation", 3)
    expected = evaluation_windows(vocabulary.encode(texts["validation"]), 8, 3)
    _assert_same(_passes(got), _passes(expected))


@pytest.mark.parametrize("mode", ["stateful", "windows"])
def test_each_process_reads_its_own_rows_in_lockstep(tmp_path, monkeypatch, mode):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(3):
        (corpus / f"part{i}.txt").write_text(SHAKESPEARE[i * 5000 : i * 5000 + 4000])
    data = CharLMData(source="stream", path=str(corpus), mode=mode, window=10)
    monkeypatch.setattr(char_stream_index, "PROGRESS_BYTES", 7000)  # one line: 12,000 bytes
    said = []
    index = stream_index(data, said.append)
    assert said == ["read 0.0 of 0.0 GB"]
    vocabulary = _vocabulary(index)
    whole = stream_training(data, index, vocabulary, 4, seed=3)
    shares = [stream_training(data, index, vocabulary, 4, 3, (p, 2)) for p in range(2)]
    assert [s.count for s in shares] == [whole.count] * 2  # the same number of steps
    rows = [_passes(s, 2) for s in shares]
    assert {x.shape for r in rows for x, _ in r} == {(2, 10)}  # the same shapes
    if mode == "stateful":  # process p's rows are rows [2p, 2p+2) of the global batch
        joined = [
            (np.concatenate([x0, x1]), np.concatenate([y0, y1]))
            for (x0, y0), (x1, y1) in zip(*rows, strict=True)
        ]
        _assert_same(joined, _passes(whole, 2))
        validation = [
            stream_evaluation(data, index, vocabulary, "validation", 4, (p, 2)) for p in (0, 1)
        ]
        joined = [
            (np.concatenate([x0, x1]), np.concatenate([y0, y1]))
            for (x0, y0), (x1, y1) in zip(*map(_passes, validation), strict=True)
        ]
        _assert_same(joined, _passes(stream_evaluation(data, index, vocabulary, "validation", 4)))
    else:  # each process's windows come from its own half of the training text
        ids = vocabulary.encode("".join(SHAKESPEARE[i * 5000 : i * 5000 + 3600] for i in range(3)))
        span = (len(ids) - 1) // 2
        for p, passes in enumerate(rows):
            half = _windows_of(ids[p * span : (p + 1) * span + 1], 11)
            for x, y in passes:
                for row in np.concatenate([x, y[:, -1:]], axis=1):
                    assert np.any(np.all(half == row, axis=1))


def test_bad_input_is_one_line_naming_the_file_or_key(tmp_path):
    with pytest.raises(DataUnavailableError, match=r"^data.path: .*nowhere.txt: not found"):
        CharStreamIndex.build(str(tmp_path / "nowhere.txt"))
    with pytest.raises(DataUnavailableError, match=r"^data.path: no file matches .*\*.txt"):
        CharStreamIndex.build(str(tmp_path / "*.txt"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataUnavailableError, match=r"^data.path: .*empty: directory has no files"):
        CharStreamIndex.build(str(tmp_path / "empty"))
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"to be\nor not \xff to be\n" * 3)
    with pytest.raises(DataFormatError, match=rf"^{bad}:2: not UTF-8 \(byte 0xff at offset 13\)$"):
        CharStreamIndex.build(str(bad))
    late = tmp_path / "late.txt"  # a bad byte in the test part: the file's own line number
    late.write_bytes(b"to be or not to be\n" * 100 + b"or not \xff\n" + b"to be\n" * 5)
    with pytest.raises(
        DataFormatError, match=rf"^{late}:101: not UTF-8 \(byte 0xff at offset 1907\)$"
    ):
        CharStreamIndex.build(str(late))
    packed = tmp_path / "packed.txt.gz"
    packed.write_bytes(gzip.compress(b"text\n" * 10))
    with pytest.raises(DataFormatError, match=rf"^{packed}: gzip is not read by data.source"):
        CharStreamIndex.build(str(packed))
    short = tmp_path / "short.txt"
    short.write_text(SHAKESPEARE[:400])
    data = CharLMData(source="stream", path=str(short), window=100)
    index = stream_index(data)
    for mode in ("stateful", "windows"):
        with pytest.raises(DataConfigError, match=r"^data: 360 training characters are too few"):
            stream_training(dataclasses.replace(data, mode=mode), index, _vocabulary(index), 4, 1)
    with pytest.raises(DataConfigError, match=r"^data: 20 validation characters .*data\.window"):
        stream_evaluation(
            dataclasses.replace(data, mode="windows"), index, _vocabulary(index), "validation", 4
        )


def _history(run_dir) -> np.ndarray:
    """``history.csv``'s rows (epoch, accuracy, loss, val_accuracy, val_loss)."""
    lines = (run_dir / "history.csv").read_text().splitlines()
    assert lines[0] == "epoch,accuracy,loss,val_accuracy,val_loss"
    return np.loadtxt(lines[1:], delimiter=",", ndmin=2)


def _train_measured(tmp_path, name: str, *args: str) -> tuple[str, int]:
    """Trains the tiny config with ``args`` in a child process; returns its output and the
    peak RSS in bytes of it and its descendants (the ``--workers`` launcher's workers)."""
    command = [sys.executable, "-m", "pipelines", "train", "charlm"]
    command += ["--config", str(tiny_config("charlm")), "--run-dir", str(tmp_path / name)]
    code, text, peak = run_with_peak_rss([*command, *args], tmp_path / f"{name}.log")
    assert code == 0, text[-3000:]
    return text, peak


def test_twenty_shakespeares_two_workers_stream_their_lanes_in_bounded_memory(tmp_path):
    # JAX (both): one process on the in-memory path against two processes, each streaming
    # only its own lanes (the runner slices nothing): the same global batches, so the same
    # losses and the same checkpoint, and each process's peak RSS far below the in-memory one.
    from pipelines.registry import get_task
    from pipelines.spine import runner

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    path = corpus / "shakespeare_x20.txt"
    path.write_text(SHAKESPEARE * 20, encoding="utf-8")
    size = path.stat().st_size
    common = ["data.max_train_chars=null", "data.max_eval_chars=2000", "train.steps_per_epoch=3"]
    common = [arg for setting in common for arg in ("--set", setting)]
    log, stream_rss = _train_measured(
        tmp_path,
        "stream",
        *("--set", "data.source=stream", "--set", f"data.path={corpus}/*.txt"),
        *("--workers", "2", *common),
    )
    assert "20,077,092 train / 2,000 validation characters in 1 file(s)" in log
    assert "process 0 of 2 reads its own rows" in log
    _, memory_rss = _train_measured(
        tmp_path,
        "memory",
        *("--set", "data.source=files", "--set", f"data.path={path}"),
        *("--set", "train.backend=jax", *common),
    )
    print(
        f"\n{size / 1e6:.1f} MB corpus: peak RSS {stream_rss / 1e6:.0f} MB streamed (the larger "
        f"of two processes), {memory_rss / 1e6:.0f} MB in memory (one process)"
    )
    # The in-memory path holds the text and its UTF-32 copy, int64 code points and int32 ids
    # (at least 21 bytes per ASCII character at once); the stream holds a few records per lane.
    assert memory_rss - stream_rss > 4 * size
    histories = [_history(tmp_path / name) for name in ("stream", "memory")]
    assert histories[0].shape == (2, 5)  # two epochs (the tiny config's)
    np.testing.assert_allclose(histories[0], histories[1], rtol=1e-5)
    task = get_task("charlm")
    scores = [runner.evaluate(task, tmp_path / name, "test") for name in ("stream", "memory")]
    assert scores[0]["examples"] == scores[1]["examples"] > 0
    assert scores[0]["nats_per_char"] == pytest.approx(scores[1]["nats_per_char"], rel=1e-5)
