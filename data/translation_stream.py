"""Pair corpora that do not fit in memory (``data.source: stream``): tf.data over many files.

``data.train_path`` names one pair file, a directory (every file in it, not hidden, by
name) or a glob; files are plain or gzip (by content), lines ``english<TAB>other[<TAB>...]``
as for ``files``. Nothing holds the whole corpus:

* **Split** — a pair's split is a function of its source sentence alone: a keyed hash
  (SipHash, ``tf.strings.to_hash_bucket_strong`` keyed by ``data.split_seed``) of the
  normalised source into :data:`HASH_BUCKETS` buckets; the first ``test_fraction`` of the
  buckets are test, the next ``validation_fraction`` validation, the rest train. So pairs
  sharing a source are always in one split (``group_by: source``), every line is in
  exactly one split whatever file or order it comes in, the rule is the same on every
  machine and in every process, and changing the validation fraction never moves a pair
  into or out of test. The fractions are of distinct source sentences, so the shares of
  pairs only come close to them (on the 10,000-pair sample at 5% each: validation 5.5%,
  test 4.6%); a larger corpus comes closer.
* **Scan** — :func:`scan_pairs` reads every file once, checking every line (one-line
  errors naming ``file:line``), counting the pairs of each split, the training tokens of
  each side (:class:`~data.token_counts.TokenCounts`, bounded) and a histogram of the
  training pairs' lengths, and keeping the splits asked for (validation for training, test
  for evaluation). Those two are held in memory, as the other sources hold them: they are
  the held-out fractions, and BLEU is scored on each whole (``data.max_eval_examples`` cuts
  them after the pass).
* **Training stream** — :func:`train_batches`: ``TextLineDataset`` over the files →
  parse → the train split → token ids → pairs up to ``data.max_train_length`` → shuffled
  in a buffer of ``data.shuffle_buffer`` pairs (files in a seeded order per epoch, read
  interleaved) → length buckets (:func:`data.bucketing.batch_by_length`), whose exact count
  comes from the scan's histogram.

Under ``train.distribution: data_parallel`` every process scans and streams every file
(reading is not sharded) and keeps its own rows of each global batch
(``pipelines.spine.data_parallel.local_rows``): the same seed gives every process the same
batches, so batch counts and shapes agree and the processes stay in step.
"""

from __future__ import annotations

import gzip
import zlib
from collections import Counter
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import tensorflow as tf

from data.bucketing import Batches, batch_by_length
from data.data_format_error import DataFormatError
from data.sources import data_files
from data.text_files import GZIP_MAGIC, gzip_error
from data.text_vectorizer import pad_batch
from data.token_counts import TokenCounts
from data.translation_pairs import (
    Normalization,
    SentencePairs,
    decode_pair_line,
    normalize_text,
    parse_pair_line,
)
from data.translation_text import make_vectorizer, teacher_forcing_pair
from data.whitespace_vectorizer import WhitespaceVectorizer

if TYPE_CHECKING:
    from pipelines.translation.config import TranslationData

SPLIT_CODES = {"train": 0, "validation": 1, "test": 2}
HASH_BUCKETS = 1 << 20  # split resolution: fractions are multiples of ~1e-6
READ_BATCH = 2048  # lines parsed per call: Python's per-call overhead is paid once per batch
FILES_READ_AT_ONCE = 8  # files interleaved line by line while training
# Distinct tokens a side's counts hold (TokenCounts' cap): this many times the vocabulary,
# at least COUNT_FLOOR (about 30 MB a side).
COUNT_PER_VOCABULARY, COUNT_FLOOR = 16, 250_000
PROGRESS_EVERY = 1_000_000  # lines between progress lines of a scan


def compression_of(path: Path) -> str:
    """``GZIP`` for a gzip file (by its first bytes, as the in-memory reader decides), else
    ``""``: ``TextLineDataset``'s ``compression_type``."""
    try:
        with path.open("rb") as handle:
            return "GZIP" if handle.read(2) == GZIP_MAGIC else ""
    except OSError as err:
        raise DataFormatError(f"{path}: cannot read ({err.strerror or err})") from None


def split_codes(
    sources: tf.Tensor, validation_fraction: float, test_fraction: float, seed: int
) -> tf.Tensor:
    """The split of each normalised source sentence (:data:`SPLIT_CODES`: 0 train,
    1 validation, 2 test) by the keyed-hash rule of the module docstring."""
    bucket = tf.strings.to_hash_bucket_strong(
        sources, HASH_BUCKETS, key=[seed & (2**63 - 1), 0x7472616E736C]
    )
    test_edge = round(test_fraction * HASH_BUCKETS)
    validation_edge = round((test_fraction + validation_fraction) * HASH_BUCKETS)
    return tf.where(
        bucket < test_edge,
        SPLIT_CODES["test"],
        tf.where(bucket < validation_edge, SPLIT_CODES["validation"], SPLIT_CODES["train"]),
    )


def _parse_lines(
    lines: np.ndarray,
    path: str | Path,
    first_number: int,
    columns: tuple[int, int],
    form: Normalization,
) -> tuple[list[str], list[str], list[str]]:
    """Normalised sources and targets of the pairs among ``lines`` (bytes, numbered from
    ``first_number`` in ``path``), and the targets as written (the references)."""
    sources, targets, references = [], [], []
    for offset, raw in enumerate(lines):
        number = first_number + offset
        pair = parse_pair_line(decode_pair_line(raw, path, number), path, number, *columns)
        if pair is not None:
            sources.append(normalize_text(pair[0], form))
            targets.append(normalize_text(pair[1], form))
            references.append(pair[1])
    return sources, targets, references


def _file_batches(files: list[Path]) -> Iterator[tuple[Path, int, np.ndarray]]:
    """``(file, number of the first line, lines)`` in batches of :data:`READ_BATCH` lines,
    file after file; a file tf.data cannot read (a truncated gzip) is a one-line error."""
    for path in files:
        compression = compression_of(path)
        lines = tf.data.TextLineDataset(str(path), compression_type=compression)
        number = 1
        try:
            for batch in lines.batch(READ_BATCH).as_numpy_iterator():
                yield path, number, batch
                number += len(batch)
        except tf.errors.OpError as err:
            detail = (err.message or type(err).__name__).strip().splitlines()[0]
            if compression:
                raise gzip_error(path, RuntimeError(detail)) from None
            raise DataFormatError(f"{path}: cannot read ({detail})") from None
        if compression:
            _check_gzip_end(path)


def _check_gzip_end(path: Path) -> None:
    """Fails naming ``path`` when its gzip stream is truncated or corrupt: tf.data's gzip
    reader stops silently at a cut, which would lose the rest of the file unnoticed.
    Decompresses in chunks (bounded memory), once per scan."""
    try:
        with gzip.open(path, "rb") as handle:
            while handle.read(1 << 20):
                pass
    except (EOFError, OSError, zlib.error) as err:  # BadGzipFile is an OSError
        raise gzip_error(path, err) from None


@dataclass(frozen=True)
class StreamScan:
    """What one pass over the pair files found (:func:`scan_pairs`).

    ``pairs``: pairs per split (train: those the training stream reads, after
    ``data.max_train_examples``); ``kept``: the splits asked for, in file order;
    ``source_counts``/``target_counts``: the training tokens of each side (empty unless
    counted); ``lengths``: training pairs of at most ``data.max_train_length`` tokens by
    length (the longer side, the target with its start token); ``dropped``: training pairs
    longer than that, ``shortest_dropped`` the shortest of them."""

    files: tuple[Path, ...]
    pairs: dict[str, int]
    kept: dict[str, SentencePairs]
    source_counts: TokenCounts
    target_counts: TokenCounts
    lengths: dict[int, int]
    dropped: int
    shortest_dropped: int | None

    @property
    def train_examples(self) -> int:
        """Training pairs the stream yields per epoch (not dropped for length)."""
        return sum(self.lengths.values())


def scan_pairs(
    data: TranslationData,
    columns: tuple[int, int],
    keep: Collection[str] = (),
    count_train: bool = False,
    progress: Callable[[str], None] | None = None,
) -> StreamScan:
    """One pass over ``data.train_path``'s files: every line checked, each split's pairs
    counted, the ``keep`` splits collected and, with ``count_train``, the training tokens
    and lengths counted (see :class:`StreamScan`). ``progress`` gets a line every
    :data:`PROGRESS_EVERY` lines."""
    files = data_files(data.train_path, "data.train_path")
    cap = data.max_train_examples
    tally = _TrainTally(data)
    kept: dict[str, tuple[list[str], list[str], list[str]]] = {s: ([], [], []) for s in keep}
    pairs = dict.fromkeys(SPLIT_CODES, 0)
    lines_read = 0
    for path, number, lines in _file_batches(files):
        parsed = _parse_lines(lines, path, number, columns, data.normalization)
        lines_read += len(lines)
        if progress and lines_read // PROGRESS_EVERY > (lines_read - len(lines)) // PROGRESS_EVERY:
            progress(f"{path}: read {lines_read:,} lines of {len(files)} file(s)")
        if not parsed[0]:
            continue
        codes = split_codes(
            tf.constant(parsed[0], tf.string),
            data.validation_fraction,
            data.test_fraction,
            data.split_seed,
        ).numpy()
        for split, code in SPLIT_CODES.items():
            chosen = np.flatnonzero(codes == code)
            if split == "train" and cap is not None:
                chosen = chosen[: max(0, cap - pairs["train"])]
            pairs[split] += len(chosen)
            if split in kept:
                for column, values in zip(kept[split], parsed, strict=True):
                    column.extend(values[i] for i in chosen)
            if split == "train" and count_train and len(chosen):
                tally.add([parsed[0][i] for i in chosen], [parsed[1][i] for i in chosen])
    if progress and lines_read >= PROGRESS_EVERY:
        progress(f"read {lines_read:,} lines of {len(files)} file(s): {_sizes(pairs)}")
    return StreamScan(
        files=tuple(files),
        pairs=pairs,
        kept={s: SentencePairs(*kept[s]) for s in kept},
        source_counts=tally.source_counts,
        target_counts=tally.target_counts,
        lengths=dict(sorted(tally.lengths.items())),
        dropped=tally.dropped,
        shortest_dropped=tally.shortest_dropped,
    )


class _TrainTally:
    """The training pairs' token counts and lengths, added batch by batch."""

    def __init__(self, data: TranslationData) -> None:
        self.limit = data.max_train_length
        self.source_tokens = make_vectorizer(None, data.lowercase_source)
        self.target_tokens = make_vectorizer(None, False)
        self.source_counts = TokenCounts(
            max(COUNT_FLOOR, COUNT_PER_VOCABULARY * data.source_vocabulary_size)
        )
        self.target_counts = TokenCounts(
            max(COUNT_FLOOR, COUNT_PER_VOCABULARY * data.target_vocabulary_size)
        )
        self.lengths: Counter[int] = Counter()
        self.dropped = 0
        self.shortest_dropped: int | None = None

    def add(self, sources: list[str], targets: list[str]) -> None:
        source = self.source_tokens.tokens(tf.constant(sources, tf.string))
        target = self.target_tokens.tokens(tf.constant(targets, tf.string))
        self.source_counts.add_tokens(source)
        self.target_counts.add_tokens(target)
        # The length the training stream filters and buckets by (EncodedPairs.lengths).
        length = np.maximum(source.row_lengths().numpy(), target.row_lengths().numpy() + 1)
        long = length > self.limit
        self.lengths.update(length[~long].tolist())
        if long.any():
            self.dropped += int(long.sum())
            low = int(length[long].min())
            self.shortest_dropped = min(low, self.shortest_dropped or low)


def _sizes(pairs: dict[str, int]) -> str:
    return ", ".join(f"{split} {count:,}" for split, count in pairs.items())


def train_batches(
    data: TranslationData,
    columns: tuple[int, int],
    scan: StreamScan,
    source_vocabulary: list[str],
    target_vocabulary: list[str],
    *,
    batch_size: int,
    shuffle_seed: int,
) -> Batches:
    """The training split streamed from the files as ``((source_ids, target_in_ids),
    target_out_ids)`` batches, bucketed as ``data.bucket_by_length`` says, and their exact
    count per pass (from ``scan``, which must have counted train).

    Every pass reads the files again; the same seed gives the same stream in every process
    (``train.distribution: data_parallel`` slices each process's rows of its batches)."""
    if not scan.lengths:
        raise ValueError("the scan found no training pairs to stream")
    files = tf.data.Dataset.from_tensor_slices(
        ([str(p) for p in scan.files], [compression_of(p) for p in scan.files])
    )
    capped = data.max_train_examples is not None
    if not capped and len(scan.files) > 1:  # the first N pairs are in file order
        files = files.shuffle(len(scan.files), seed=shuffle_seed, reshuffle_each_iteration=True)
    lines = files.interleave(
        lambda path, compression: tf.data.TextLineDataset(path, compression_type=compression),
        cycle_length=1 if capped else min(len(scan.files), FILES_READ_AT_ONCE),
        block_length=1,
    )
    form, origin = data.normalization, data.train_path

    def parse(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # Every line was checked by the scan; an error here means a file changed since.
        sources, targets, _ = _parse_lines(batch, origin, 0, columns, form)
        return np.array(sources, dtype=object), np.array(targets, dtype=object)

    def train_only(batch: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        sources, targets = tf.numpy_function(parse, [batch], (tf.string, tf.string))
        sources, targets = tf.ensure_shape(sources, [None]), tf.ensure_shape(targets, [None])
        codes = split_codes(sources, data.validation_fraction, data.test_fraction, data.split_seed)
        train = tf.equal(codes, SPLIT_CODES["train"])
        return tf.boolean_mask(sources, train), tf.boolean_mask(targets, train)

    pairs = lines.batch(READ_BATCH).map(train_only)
    if capped:
        pairs = pairs.unbatch().take(data.max_train_examples).batch(READ_BATCH)
    source_vectorizer = make_vectorizer(None, data.lowercase_source, source_vocabulary)
    target_vectorizer = make_vectorizer(None, False, target_vocabulary)
    ids = pairs.map(_encoder(source_vectorizer, target_vectorizer)).unbatch()
    ids = ids.map(lambda s, t: (tf.convert_to_tensor(s), tf.convert_to_tensor(t)))
    limit = data.max_train_length
    ids = ids.filter(lambda s, t: tf.maximum(tf.shape(s)[0], tf.shape(t)[0] + 1) <= limit)
    ids = ids.shuffle(data.shuffle_buffer, seed=shuffle_seed, reshuffle_each_iteration=True)
    return batch_by_length(
        ids.map(lambda s, t: (s, *teacher_forcing_pair(t))),
        np.array(list(scan.lengths), dtype=np.int64),
        counts=np.array(list(scan.lengths.values()), dtype=np.int64),
        batch_size=batch_size,
        length_of=lambda s, ti, to: tf.maximum(tf.shape(s)[0], tf.shape(ti)[0]),
        padded_shapes=([None], [None], [None]),
        bucket_by_length=data.bucket_by_length,
        map_batch=lambda s, ti, to: ((pad_batch(s), ti), to),
    )


def _encoder(
    source: WhitespaceVectorizer, target: WhitespaceVectorizer
) -> Callable[[tf.Tensor, tf.Tensor], tuple[tf.RaggedTensor, tf.RaggedTensor]]:
    """A map function: a batch of (sources, targets) → their ragged int32 ids. The
    dataset's functions capture the vectorizers' tables."""

    def encode(sources: tf.Tensor, targets: tf.Tensor) -> tuple[tf.RaggedTensor, tf.RaggedTensor]:
        return tf.cast(source(sources), tf.int32), tf.cast(target(targets), tf.int32)

    return encode
