"""CoNLL column files: one token per line, sentences separated by blank lines.

Works for CoNLL-2003 (``token POS chunk NER``, space-separated, ``-DOCSTART-`` lines),
WNUT-17 (``token<TAB>tag``, some sentence breaks written as a lone tab) and any other
layout given the separator, the token and tag columns and the tag scheme. Tags are read in
IOB1, IOB2 or BIOES and returned in IOB2, the one scheme used inside the pipeline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np

from data.data_format_error import DataFormatError
from data.tag_schemes import SCHEMES, convert, tag_error
from data.text_files import read_lines

Separator = Literal["whitespace", "tab"]
DOCSTART = "-DOCSTART-"


class ConllFormatError(DataFormatError):
    """A malformed line, reported as ``file:line: what is wrong`` (one line)."""


@dataclass(frozen=True)
class ConllFormat:
    """How to read one corpus: which columns hold what, and in which tag scheme."""

    separator: Separator = "whitespace"
    token_column: int = 0
    tag_column: int = -1  # negative counts from the last column
    scheme: str = "iob2"
    skip_malformed: bool = False  # skip (and count) bad lines instead of failing

    def __post_init__(self) -> None:
        if self.scheme not in SCHEMES:
            raise ValueError(f"tag scheme must be one of {', '.join(SCHEMES)}, got {self.scheme!r}")


@dataclass
class TaggedSentences:
    """Sentences of tokens with one tag per token (IOB2 from :func:`read_conll`; any tag
    strings from other readers, e.g. UPOS), the document each came from, and what was skipped."""

    tokens: list[list[str]]
    tags: list[list[str]]
    documents: np.ndarray  # int, one per sentence: index of its -DOCSTART- document
    skipped_lines: int = 0
    skipped_examples: list[str] = field(default_factory=list)  # the first few "file:line: why"

    def __len__(self) -> int:
        return len(self.tokens)

    def subset(self, indices: Sequence[int] | np.ndarray) -> TaggedSentences:
        """The sentences at ``indices``, in that order (what was skipped is kept as read)."""
        indices = np.asarray(indices, dtype=np.int64)
        return replace(
            self,
            tokens=[self.tokens[i] for i in indices],
            tags=[self.tags[i] for i in indices],
            documents=self.documents[indices],
        )

    def head(self, limit: int | None) -> TaggedSentences:
        """The first ``limit`` sentences (all of them when ``limit`` is None)."""
        return self if limit is None else self.subset(np.arange(min(len(self), limit)))


def _fields(line: str, separator: Separator) -> list[str]:
    if separator == "tab":
        return [part.strip() for part in line.split("\t")]
    return line.split()


def read_conll(path: str | Path, fmt: ConllFormat = ConllFormat()) -> TaggedSentences:
    """Reads ``path`` into sentences with tags converted to IOB2.

    Blank and whitespace-only lines end a sentence; ``-DOCSTART-`` lines end it too and
    start a new document. The column count of the first token line is the file's; a line
    with another count, or with a tag that is not of ``fmt.scheme``, is malformed: it raises
    :class:`ConllFormatError` naming ``file:line``, or with ``fmt.skip_malformed`` is skipped
    and counted.
    """
    path = Path(path)
    tokens: list[list[str]] = []
    tags: list[list[str]] = []
    documents: list[int] = []
    sentence_tokens: list[str] = []
    sentence_tags: list[str] = []
    document = 0
    columns: int | None = None
    skipped = 0
    examples: list[str] = []

    def flush() -> None:
        if sentence_tokens:
            tokens.append(list(sentence_tokens))
            tags.append(convert(sentence_tags, "iob2"))
            documents.append(document)
            sentence_tokens.clear()
            sentence_tags.clear()

    for number, line in enumerate(read_lines(path), start=1):
        if not line.strip():
            flush()
            continue
        parts = _fields(line, fmt.separator)
        token = parts[fmt.token_column] if -len(parts) <= fmt.token_column < len(parts) else ""
        if DOCSTART in (parts[0], token):
            flush()
            document += 1
            continue
        columns = len(parts) if columns is None else columns
        problem = None
        if len(parts) != columns:
            problem = f"expected {columns} columns (as on the first token line), found {len(parts)}"
        elif not (-columns <= fmt.tag_column < columns and -columns <= fmt.token_column < columns):
            problem = (
                f"token column {fmt.token_column} / tag column {fmt.tag_column} do not exist "
                f"in {columns} columns"
            )
        else:
            problem = tag_error(parts[fmt.tag_column], fmt.scheme)
            if problem is None and not parts[fmt.token_column]:
                problem = "empty token"
        if problem is not None:
            message = f"{path}:{number}: {problem}"
            if not fmt.skip_malformed:
                raise ConllFormatError(message)
            skipped += 1
            if len(examples) < 3:
                examples.append(message)
            continue
        sentence_tokens.append(parts[fmt.token_column])
        sentence_tags.append(parts[fmt.tag_column])
    flush()
    if not tokens:
        raise ConllFormatError(f"{path}: no sentences found")
    return TaggedSentences(tokens, tags, np.array(documents, dtype=np.int64), skipped, examples)
