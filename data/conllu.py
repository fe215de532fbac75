"""CoNLL-U files (Universal Dependencies): words and their UPOS or XPOS tags.

Ten tab-separated columns ``ID FORM LEMMA UPOS XPOS FEATS HEAD DEPREL DEPS MISC``, ``#``
comment lines before each sentence, a blank line after it. A tagger scores the syntactic
words only: the integer-ID lines. Multiword-token lines (range IDs like ``1-2``, whose surface
form the words after them split up) and empty nodes (decimal IDs like ``8.1``, enhanced-graph
nodes with no surface form) are skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import numpy as np

from data.conll import ConllFormatError, TaggedSentences
from data.text_files import read_lines

TagColumn = Literal["upos", "xpos"]
TAG_COLUMNS: dict[str, int] = {"upos": 3, "xpos": 4}
COLUMNS = 10

_WORD_ID = re.compile(r"[1-9][0-9]*")
_RANGE_ID = re.compile(r"[1-9][0-9]*-[1-9][0-9]*")
_EMPTY_NODE_ID = re.compile(r"(?:0|[1-9][0-9]*)\.[1-9][0-9]*")
_NEWDOC = re.compile(r"#\s*newdoc(?:\s|$)")


class ConlluFormatError(ConllFormatError):
    """A malformed CoNLL-U line, reported as ``file:line: what is wrong`` (one line)."""


def _blocks(path: Path) -> Iterator[list[tuple[int, str]]]:
    """The numbered lines of each run of non-blank lines (one sentence with its comments)."""
    block: list[tuple[int, str]] = []
    for number, line in enumerate(read_lines(path), start=1):
        if line.strip():
            block.append((number, line))
        elif block:
            yield block
            block = []
    if block:  # no blank line after the last sentence
        yield block


def _line_problem(parts: list[str], expected_id: int, column: TagColumn) -> str | None:
    """What is wrong with the fields of a token line, or None."""
    if len(parts) != COLUMNS:
        return f"expected {COLUMNS} tab-separated columns, found {len(parts)}"
    ident = parts[0]
    if not _WORD_ID.fullmatch(ident):
        if _RANGE_ID.fullmatch(ident) or _EMPTY_NODE_ID.fullmatch(ident):
            return None
        return f"ID {ident!r} is not a word number, a range (1-2) or a decimal (8.1)"
    if int(ident) != expected_id:
        return f"word id {ident} out of order (expected {expected_id})"
    if not parts[1].strip():
        return "empty FORM"
    tag = parts[TAG_COLUMNS[column]]
    if not tag.strip() or tag == "_":  # "_" is CoNLL-U's "not given"; every word needs a tag
        return f"no {column.upper()} tag ({tag!r})"
    return None


def read_conllu(path: str | Path, column: TagColumn = "upos") -> TaggedSentences:
    """Reads ``path`` (plain or gzip) into sentences of words with their ``column`` tags.

    Documents come from ``# newdoc`` comments: sentences before the first one are document 0
    and each one starts the next document. A file without any is read as one document per
    sentence, so a grouped validation split still works sentence by sentence. A line with
    other than 10 tab-separated columns, an ID that is neither an integer, a range nor a
    decimal, a word ID out of sequence, an empty FORM, a missing tag or a ``# newdoc`` after
    token lines raises :class:`ConlluFormatError` naming ``file:line``.
    """
    if column not in TAG_COLUMNS:
        raise ValueError(f"column must be one of {', '.join(TAG_COLUMNS)}, got {column!r}")
    tag_column = TAG_COLUMNS[column]
    path = Path(path)
    tokens: list[list[str]] = []
    tags: list[list[str]] = []
    documents: list[int] = []
    document = 0
    saw_newdoc = False
    for block in _blocks(path):
        words: list[str] = []
        labels: list[str] = []
        token_lines = 0
        for number, line in block:
            problem = None
            if line.startswith("#"):
                if not _NEWDOC.match(line):
                    continue
                if token_lines:
                    problem = "'# newdoc' inside a sentence (no blank line before it)"
                saw_newdoc = True
                document += 1
            else:
                parts = line.split("\t")
                problem = _line_problem(parts, len(words) + 1, column)
                token_lines += 1
                if problem is None and _WORD_ID.fullmatch(parts[0]):
                    words.append(parts[1])
                    labels.append(parts[tag_column])
            if problem is not None:
                raise ConlluFormatError(f"{path}:{number}: {problem}")
        if words:
            tokens.append(words)
            tags.append(labels)
            documents.append(document)
    if not tokens:
        raise ConlluFormatError(f"{path}: no sentences found")
    groups = np.array(documents if saw_newdoc else range(len(tokens)), dtype=np.int64)
    return TaggedSentences(tokens, tags, groups)
