"""Char-LM batches read from files through tf.data (``data.source: stream``), never whole.

Each run of bytes (a :data:`~data.char_stream_index.Piece`) is read in records of
:data:`READ_BYTES` (``FixedLengthRecordDataset``; its header/footer select the run), decoded
from UTF-8 in the graph with the bytes of a character cut by a record carried to the next,
line ends normalised as :func:`data.char_text.normalize_newlines` does, and mapped to ids.

The batches are those of :mod:`data.char_text` for the same characters: ``stateful`` lanes
(lane ``i`` starts at character ``i * lane_length`` of the split, read from the index entry
before it) give the very batches of :func:`~data.char_text.lane_windows` /
:func:`~data.char_text.evaluation_lanes`, random offset per pass included; ``windows``
evaluation gives those of :func:`~data.char_text.evaluation_windows`. ``windows`` training
differs: the in-memory path draws windows at random offsets from the whole text; here each
pass cuts non-overlapping windows from a random offset and shuffles them in a buffer of
:data:`SHUFFLE_WINDOWS` (the same number of windows per pass).

``share = (process, processes)``: the batches hold only this process's rows. For lanes that
is its block of lanes (``local_rows``' block), and each process reads only those lanes' bytes;
for random windows, each process cuts its windows from its own contiguous ``1/processes`` of
the training text. Every process has the same number of batches of the same shape.
"""

from __future__ import annotations

import math

import tensorflow as tf

from data.char_stream_index import CharStreamIndex, Piece
from data.char_text import CharBatches, CharVocabulary
from data.data_config_error import DataConfigError
from data.dataset_options import without_autotune

READ_BYTES = 1 << 16  # bytes per record read (per lane: memory is lanes × a few of these)
SHUFFLE_WINDOWS = 4096  # windows-mode shuffle buffer (windows, not characters)
DEFAULT_GRAPH_SEED = 87654321  # TensorFlow's graph seed when no global seed is set


def stream_training_batches(
    index: CharStreamIndex,
    vocabulary: CharVocabulary,
    mode: str,
    window: int,
    batch_size: int,
    seed: int | None,
    cap: int | None,
    share: tuple[int, int] = (0, 1),
) -> CharBatches:
    """One pass of training batches of the ``train`` split (``seed`` None: no random offset,
    stateful only)."""
    n_chars = index.characters("train", cap)
    if mode == "stateful":
        shift_room = window - 1 if seed is not None else 0
        lane_length = max(0, (n_chars - 1 - shift_room) // batch_size // window * window)
        if lane_length == 0:
            raise DataConfigError(
                f"data: {n_chars} training characters are too few for {batch_size} lanes "
                f"(train.batch_size) of one window of {window} (data.window; at least "
                f"{batch_size * window + 1 + shift_room})"
            )
        return _lanes(
            index, vocabulary, "train", batch_size, window, lane_length, seed, share, n_chars
        )
    count = max(0, (n_chars - 1) // window // batch_size * batch_size)
    if count == 0:
        raise DataConfigError(
            f"data: {n_chars} training characters are too few for one batch of {batch_size} "
            f"windows of {window} (at least {batch_size * window + 1}; lower train.batch_size "
            f"or data.window)"
        )
    return _shuffled_windows(
        index, vocabulary, window, batch_size, count, n_chars, seed or 0, share
    )


def stream_evaluation_batches(
    index: CharStreamIndex,
    vocabulary: CharVocabulary,
    split: str,
    mode: str,
    window: int,
    batch_size: int,
    cap: int | None,
    share: tuple[int, int] = (0, 1),
) -> CharBatches:
    """A whole split read as training reads it (see :func:`data.char_corpus.evaluation_batches`);
    in ``windows`` mode every process reads every batch whole (validation is not sliced)."""
    n_chars = index.characters(split, cap)
    if mode == "stateful":
        lane_length = max(0, (n_chars - 1) // batch_size)
        if lane_length == 0:
            raise DataConfigError(
                f"data: {n_chars} {split} characters cannot fill {batch_size} lanes "
                f"(train.batch_size; at least {batch_size + 1})"
            )
        steps = math.ceil(lane_length / window)
        window = lane_length // steps
        return _lanes(
            index, vocabulary, split, batch_size, window, steps * window, None, share, n_chars
        )
    count = max(0, (n_chars - 1) // window)
    if count == 0:
        raise DataConfigError(
            f"data: {n_chars} {split} characters are shorter than one window (data.window "
            f"{window}) and its next character (at least {window + 1})"
        )
    pieces, skip = index.pieces(split, 0, count * window + 1)
    windows = _pairs(_characters(pieces, skip, vocabulary, index), window, count)
    ds = windows.batch(batch_size).map(_shaped(None, window))
    return CharBatches(without_autotune(ds), -(-count // batch_size), count, count * window)


def _lanes(
    index: CharStreamIndex,
    vocabulary: CharVocabulary,
    split: str,
    lanes: int,
    window: int,
    lane_length: int,
    seed: int | None,
    share: tuple[int, int],
    n_chars: int,
) -> CharBatches:
    """Lane ``i`` reads characters ``[i * lane_length + shift, ... + lane_length + 1)``."""
    process, processes = share
    mine = range(process * lanes // processes, (process + 1) * lanes // processes)
    steps = lane_length // window
    reads = [index.pieces(split, i * lane_length, lane_length + 2 * window) for i in mine]
    table = _piece_table([pieces for pieces, _ in reads])
    skips = tf.constant([skip for _, skip in reads], tf.int64)

    def lane_windows(shift):
        def lane(k):
            characters = _characters_of(table, k, skips[k] + shift, vocabulary, index)
            return _pairs(characters, window, steps)

        rows = tf.data.Dataset.range(len(mine)).interleave(
            lane, cycle_length=len(mine), block_length=1
        )
        return rows.batch(len(mine), drop_remainder=True)

    if seed is None:
        ds = lane_windows(tf.constant(0, tf.int64))
    else:  # a new shift each pass, drawn as data.char_text.lane_windows draws it
        shifts = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).take(1)
        ds = shifts.flat_map(lambda v: lane_windows(tf.cast(v % window, tf.int64)))
    ds = ds.apply(tf.data.experimental.assert_cardinality(steps))
    ds = ds.map(_shaped(len(mine), window)).prefetch(2)
    return CharBatches(without_autotune(ds), steps, steps * lanes, lanes * lane_length)


def _shuffled_windows(
    index: CharStreamIndex,
    vocabulary: CharVocabulary,
    window: int,
    batch_size: int,
    count: int,
    n_chars: int,
    seed: int,
    share: tuple[int, int],
) -> CharBatches:
    """``count / processes`` non-overlapping windows from a random offset of this process's
    ``1/processes`` of the text, shuffled in a buffer; ``count / batch_size`` batches."""
    process, processes = share
    span = (n_chars - 1) // processes
    local = count // processes
    room = span - local * window  # >= 0: local * window <= (n_chars - 1) / processes
    pieces, skip = index.pieces("train", process * span, span + 1)
    table = _piece_table([pieces])
    rows = batch_size // processes

    def one_pass(v):
        shift = v % (room + 1)
        characters = _characters_of(table, 0, skip + shift, vocabulary, index)
        windows = _pairs(characters, window, local)
        _usable_graph_seed()
        return windows.shuffle(SHUFFLE_WINDOWS, seed=v).batch(rows, drop_remainder=True)

    shifts = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).take(1)
    ds = shifts.flat_map(one_pass)
    steps = count // batch_size
    ds = ds.apply(tf.data.experimental.assert_cardinality(steps))
    ds = ds.map(_shaped(rows, window)).prefetch(2)
    return CharBatches(without_autotune(ds), steps, count, count * window)


def _usable_graph_seed() -> None:
    """Lets an op in the function being traced take a tensor seed. TensorFlow pairs it with
    the graph's seed (the global one) and then tests the pair against ``(0, 0)`` in Python,
    which fails on a tensor when that seed is 0 (``seed: 0``; 2³¹ − 1 alike). Such a graph
    gets TensorFlow's default graph seed, the one it uses when no global seed is set; any
    other seed is left as it is (the same windows as before)."""
    graph = tf.compat.v1.get_default_graph()
    if graph.seed is not None and graph.seed % (2**31 - 1) == 0:
        tf.compat.v1.set_random_seed(DEFAULT_GRAPH_SEED)


def _piece_table(lanes: list[list[Piece]]) -> dict[str, tf.Tensor]:
    """Each lane's runs as rows of equal length (padded; ``count`` says how many are real)."""
    width = max(len(pieces) for pieces in lanes)
    padded = [pieces + [("", 0, 0, 0)] * (width - len(pieces)) for pieces in lanes]
    return {
        "path": tf.constant([[p[0] for p in row] for row in padded], tf.string),
        "size": tf.constant([[p[1] for p in row] for row in padded], tf.int64),
        "start": tf.constant([[p[2] for p in row] for row in padded], tf.int64),
        "end": tf.constant([[p[3] for p in row] for row in padded], tf.int64),
        "count": tf.constant([len(pieces) for pieces in lanes], tf.int64),
    }


def _characters(
    pieces: list[Piece], skip: int, vocabulary: CharVocabulary, index: CharStreamIndex
) -> tf.data.Dataset:
    return _characters_of(_piece_table([pieces]), 0, skip, vocabulary, index)


def _characters_of(
    table: dict[str, tf.Tensor],
    row,
    skip,
    vocabulary: CharVocabulary,
    index: CharStreamIndex,
) -> tf.data.Dataset:
    """The ids of row ``row``'s runs, in chunks (int32 vectors), the first ``skip`` dropped."""
    count = table["count"][row]
    runs = tf.data.Dataset.from_tensor_slices(
        tuple(table[key][row][:count] for key in ("path", "size", "start", "end"))
    )
    known = tf.constant(vocabulary.code_points, tf.int32)
    normalize = index.newlines == "normalize"

    def run_ids(path, size, start, end):
        chunks = _records(path, size, start, end)
        points = chunks.scan((tf.constant(""), tf.constant(False)), _decoder(normalize))
        return points.map(lambda p: _ids(p, known))

    def drop(left, ids):
        n = tf.cast(tf.size(ids), tf.int64)
        return tf.maximum(left - n, 0), ids[tf.minimum(left, n) :]

    ids = runs.flat_map(run_ids).scan(tf.cast(skip, tf.int64), drop)
    return ids.filter(lambda ids: tf.size(ids) > 0)


def _records(path, size, start, end) -> tf.data.Dataset:
    """Bytes ``[start, end)`` of ``path`` as records of ``READ_BYTES`` and one shorter last."""
    length = end - start
    body = length // READ_BYTES * READ_BYTES
    tail = length - body
    whole = tf.data.FixedLengthRecordDataset(
        path, READ_BYTES, header_bytes=start, footer_bytes=size - start - body
    )
    last = tf.data.FixedLengthRecordDataset(
        path, tf.maximum(tail, 1), header_bytes=start + body, footer_bytes=size - end
    )
    return whole.concatenate(last)  # with tail 0 the second reads 0 bytes: no record


def _decoder(normalize: bool):
    """A ``scan`` step: (bytes of a character cut by the last record, whether the last text
    ended in ``\\r``) and a record → code points of the whole characters."""

    def step(state, record):
        carry, after_cr = state
        data = tf.strings.join([carry, record])
        raw = tf.io.decode_raw(data, tf.uint8)
        n = tf.size(raw)
        tail = tf.cast(raw[tf.maximum(n - 4, 0) :], tf.int32)
        width = tf.size(tail)
        at = tf.range(width)
        lead = tf.not_equal(tf.bitwise.bitwise_and(tail, 0xC0), 0x80)
        need = tf.where(tail < 0x80, 1, tf.where(tail < 0xE0, 2, tf.where(tail < 0xF0, 3, 4)))
        cut_at = tf.where(lead & (at + need > width), at, width)
        cut = n - width + tf.reduce_min(tf.concat([cut_at, [width]], 0))
        text = tf.strings.substr(data, 0, cut)
        carry = tf.strings.substr(data, cut, n - cut)
        if normalize:  # as the index pass does; "\r" + "\n" across records is one "\n"
            empty = tf.equal(tf.strings.length(text), 0)
            strip = after_cr & tf.strings.regex_full_match(text, "(?s)\n.*")
            text = tf.where(strip, tf.strings.regex_replace(text, "^\n", ""), text)
            ends_cr = tf.strings.regex_full_match(text, "(?s).*\r")
            after_cr = tf.where(empty, after_cr, ends_cr)
            text = tf.strings.regex_replace(text, "\r\n?", "\n")
        return (carry, after_cr), tf.strings.unicode_decode(text, "UTF-8")

    return step


def _ids(points: tf.Tensor, known: tf.Tensor) -> tf.Tensor:
    """Vocabulary ids of code points (``CharVocabulary.encode`` in the graph)."""
    at = tf.clip_by_value(tf.searchsorted(known, points), 0, tf.size(known) - 1)
    return tf.where(tf.gather(known, at) == points, at + 1, 0)


def _pairs(characters: tf.data.Dataset, window: int, count: int) -> tf.data.Dataset:
    """The first ``count`` windows of ``characters`` as (input, next-character target)."""
    windows = characters.rebatch(window).take(count + 1)

    def pair(previous, current):
        return current, (previous, tf.concat([previous[1:], current[:1]], 0))

    start = tf.zeros([window], tf.int32)
    return windows.scan(start, pair).skip(1)


def _shaped(rows: int | None, window: int):
    def shaped(x, y):
        return tf.ensure_shape(x, [rows, window]), tf.ensure_shape(y, [rows, window])

    return shaped
