"""Generated blocks of the README: the text between a start and an end marker."""

from __future__ import annotations

from pathlib import Path


def _span(text: str, start: str, end: str) -> tuple[int, int]:
    """Where the block's text begins (after ``start``) and ends (at ``end``)."""
    return text.index(start) + len(start), text.index(end)


def read_block(text: str, start: str, end: str) -> str:
    """The block between the markers in ``text``, without the newlines around it."""
    first, last = _span(text, start, end)
    return text[first:last].strip("\n")


def replace_block(path: Path, start: str, end: str, body: str) -> None:
    """Rewrites ``path`` with ``body`` as its block, on lines of its own between the markers."""
    text = path.read_text(encoding="utf-8")
    first, last = _span(text, start, end)
    path.write_text(text[:first] + "\n" + body + "\n" + text[last:], encoding="utf-8")
