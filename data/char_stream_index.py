"""One bounded-memory pass over a streamed char-LM corpus (``data.source: stream``): which
files, where each file's train/validation/test parts lie (byte offsets), how many characters
each part holds, the training characters (the vocabulary) and a sparse character → byte index
from which :mod:`data.char_stream` starts reading anywhere without reading what comes before.

The split rule is by bytes of each file: a file's first 90% train, then 5% validation and 5%
test (``data.split: tfds``), or 90% train and the last 10% both validation and test
(``nanogpt``); each cut moves forward to the next character boundary (never inside a UTF-8
sequence or a ``\\r\\n``). A split is the parts of every file, in sorted path order. For one
ASCII file with ``\\n`` line ends that is exactly the character split of ``data.source:
files``.

The pass reads every byte once in blocks of :data:`PASS_BLOCK_BYTES`, checks that it is UTF-8
(an error names the file, line and byte offset), normalises line ends as the in-memory path
does (per part) and keeps, per block, one (character, byte) entry of the index: memory grows
with the distinct characters and one entry per MiB, never with the text.
"""

from __future__ import annotations

import bisect
import codecs
import itertools
import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from data.char_text import SPLIT_FRACTIONS, normalize_newlines
from data.data_format_error import DataFormatError
from data.sources import data_files
from data.text_files import GZIP_MAGIC

PASS_BLOCK_BYTES = 1 << 20  # bytes per read of the pass; one index entry per block
PROGRESS_BYTES = 1 << 30  # a progress line per GiB read
BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class _Part:
    """One file's part of one split: bytes ``[start, end)``, ``characters`` after line-end
    normalisation, and ``index``: (character, byte) pairs, character 0 at ``start`` first."""

    path: str
    size: int  # the file's size in bytes (the reader's footer is size - end)
    start: int
    end: int
    characters: int
    index: tuple[tuple[int, int], ...]


# Bytes ``[start, end)`` of the file ``path`` (``size`` bytes), read as one run of text.
Piece = tuple[str, int, int, int]  # (path, size, start, end)


@dataclass
class CharStreamIndex:
    """What one pass learned about the corpus: per split its parts in order, the training
    characters (capped by ``max_train_chars``) and the validation characters by count."""

    parts: dict[str, list[_Part]]
    train_characters: set[str] = field(default_factory=set)
    validation_counts: Counter = field(default_factory=Counter)
    newlines: str = "normalize"

    @classmethod
    def build(
        cls,
        path: str,
        split: str = "tfds",
        newlines: str = "normalize",
        max_train_chars: int | None = None,
        max_validation_chars: int | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> CharStreamIndex:
        """Reads every file of ``path`` (a file, a directory or a glob; see
        :func:`data.sources.data_files`) once; ``progress`` hears how far it got every
        :data:`PROGRESS_BYTES` (a large corpus takes minutes)."""
        index = cls({"train": [], "validation": [], "test": []}, newlines=newlines)
        seen = {"train": 0, "validation": 0}
        caps = {"train": max_train_chars, "validation": max_validation_chars}
        files = [str(f) for f in data_files(path, "data.path")]
        total = sum(os.path.getsize(f) for f in files)
        reading = {"done": 0, "told": 0}

        def read(blocks: int) -> None:  # progress inside files too: one file may be huge
            reading["done"] += blocks
            if progress and reading["done"] - reading["told"] >= PROGRESS_BYTES:
                progress(f"read {reading['done'] / 1e9:.1f} of {total / 1e9:.1f} GB")
                reading["told"] = reading["done"]

        for file in files:
            cuts = _cuts(file, split)
            names = split_names(split)
            line = 1  # where each part starts, so that an error names the file's own line
            for name, (start, end) in zip(names, itertools.pairwise(cuts), strict=True):
                if name in caps:  # train: the vocabulary; validation: its unknown characters
                    cap = caps[name]
                    room = None if cap is None else max(0, cap - seen[name])
                    keep = index.train_characters if name == "train" else index.validation_counts
                    part, line = _read_part(file, start, end, newlines, keep, room, line, read)
                    seen[name] += part.characters
                else:
                    part, line = _read_part(file, start, end, newlines, None, 0, line, read)
                index.parts[name].append(part)
            if split == "nanogpt":
                index.parts["test"].append(index.parts["validation"][-1])
        return index

    def characters(self, split: str, cap: int | None = None) -> int:
        """Characters of ``split`` (all files), at most ``cap``."""
        total = sum(part.characters for part in self.parts[split])
        return total if cap is None else min(total, cap)

    def pieces(self, split: str, first: int, count: int) -> tuple[list[Piece], int]:
        """Where characters ``[first, first + count)`` of ``split`` lie: the byte runs to read
        (the first starting at the index entry at or before ``first``) and how many characters
        of the first run come before ``first``. Runs end at part ends; the text past
        ``first + count`` in the last run is read only as far as the reader pulls it."""
        pieces: list[Piece] = []
        skip, offset = 0, 0
        for part in self.parts[split]:
            lo, hi = offset, offset + part.characters
            offset = hi
            if hi <= first or part.characters == 0:
                continue
            if lo >= first + count:
                break
            if not pieces:
                chars = [c for c, _ in part.index]
                at = bisect.bisect_right(chars, first - lo) - 1
                char, byte = part.index[at]
                skip = first - lo - char
                pieces.append((part.path, part.size, byte, part.end))
            else:
                pieces.append((part.path, part.size, part.start, part.end))
        return pieces, skip

    def head(self, split: str, limit: int) -> str:
        """The first ``limit`` characters of ``split`` (a small read: at most 4 bytes a
        character), line ends normalised as the reader does."""
        texts, need = [], limit
        for part in self.parts[split]:
            if need <= 0:
                break
            with open(part.path, "rb") as handle:
                handle.seek(part.start)
                data = handle.read(min(part.end - part.start, 4 * need + 4))
            decoder = codecs.getincrementaldecoder("utf-8")("strict")
            text = decoder.decode(data, final=part.start + len(data) >= part.end)
            if self.newlines == "normalize":
                text = normalize_newlines(text)
            texts.append(text[:need])
            need -= len(texts[-1])
        return "".join(texts)


def _cuts(path: str, split: str) -> list[int]:
    """Byte offsets that bound the file's parts: [body start, train end, ..., size]."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as handle:
            head = handle.read(3)
            if head[:2] == GZIP_MAGIC:
                raise DataFormatError(
                    f"{path}: gzip is not read by data.source stream (it cannot start "
                    f"reading in the middle); gunzip it"
                )
            body = len(BOM) if head == BOM else 0
            first, second = SPLIT_FRACTIONS[split]
            cut = _boundary(handle, body + int((size - body) * first), size)
            cuts = [body, cut]
            if second is not None:
                cuts.append(_boundary(handle, cut + int((size - cut) * second), size))
            return [*cuts, size]
    except OSError as err:
        raise DataFormatError(f"{path}: cannot read ({err.strerror or err})") from None


def _boundary(handle, offset: int, size: int) -> int:
    """``offset`` moved forward past UTF-8 continuation bytes and out of a ``\\r\\n``."""
    handle.seek(max(0, offset - 1))
    around = handle.read(6)
    at = offset - max(0, offset - 1)  # index of ``offset`` in ``around``
    while at < len(around) and offset < size:
        byte, before = around[at], around[at - 1] if at > 0 else None
        if 0x80 <= byte < 0xC0 or (byte == 0x0A and before == 0x0D):
            offset, at = offset + 1, at + 1
        else:
            break
    return offset


def _read_part(
    path: str,
    start: int,
    end: int,
    newlines: str,
    keep: set[str] | Counter | None,
    room: int | None,
    first_line: int = 1,
    read: Callable[[int], None] | None = None,
) -> tuple[_Part, int]:
    """Reads bytes ``[start, end)`` of ``path`` in blocks: checks UTF-8, counts characters
    after line-end normalisation, adds the first ``room`` characters (all with None) to
    ``keep`` and notes one index entry per block (never just after a ``\\r``). The part
    starts on line ``first_line`` of the file (for errors); ``read`` hears each block's
    size. Returns the part and the line the next part starts on."""
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    characters, lines, position, after_cr = 0, first_line, start, False
    index = [(0, start)]
    with open(path, "rb") as handle:
        handle.seek(start)
        while position < end:
            block = handle.read(min(PASS_BLOCK_BYTES, end - position))
            if not block:
                break
            pending = len(decoder.getstate()[0])
            try:
                text = decoder.decode(block, final=position + len(block) >= end)
            except UnicodeDecodeError as err:
                at = position - pending + err.start
                line = lines + (err.object[: err.start].count(b"\n"))
                raise DataFormatError(
                    f"{path}:{line}: not UTF-8 (byte 0x{err.object[err.start]:02x} at offset {at})"
                ) from None
            lines += block.count(b"\n")
            position += len(block)
            if read is not None:
                read(len(block))
            if newlines == "normalize" and text:
                if after_cr and text[0] == "\n":
                    text = text[1:]
                after_cr = text.endswith("\r")
                text = normalize_newlines(text)
            if keep is not None and (room is None or room > 0):
                kept = text if room is None else text[:room]
                keep.update(kept)
                if room is not None:
                    room -= len(kept)
            characters += len(text)
            if not after_cr and position < end:
                index.append((characters, position - len(decoder.getstate()[0])))
    return _Part(path, os.path.getsize(path), start, end, characters, tuple(index)), lines


def split_names(split: str) -> Sequence[str]:
    """The splits a file is cut into under ``data.split``."""
    return ("train", "validation", "test") if split == "tfds" else ("train", "validation")
