"""Entity tag schemes (IOB1, IOB2, BIOES): tag checks, entity spans and conversions.

Spans are read with the conlleval rules (the definition seqeval's default mode and the
CoNLL shared tasks score with), so any scheme — and any slightly invalid sequence, such as
an ``I-`` tag after ``O`` — gives the entities conlleval would count. Writing spans back out
in a scheme is exact, which makes every conversion "read spans, write spans".
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal, NamedTuple

Scheme = Literal["iob1", "iob2", "bioes"]
SCHEMES: tuple[str, ...] = ("iob1", "iob2", "bioes")

# The prefixes each scheme may use on an entity tag ("O" stands alone).
SCHEME_PREFIXES: dict[str, str] = {"iob1": "BI", "iob2": "BI", "bioes": "BIES"}

_TAG = re.compile(r"^(?P<prefix>[A-Z])-(?P<type>\S+)$")


class Span(NamedTuple):
    """An entity: its type and token range ``[start, end)``."""

    type: str
    start: int
    end: int


def tag_error(tag: str, scheme: str) -> str | None:
    """Why ``tag`` is not a valid ``scheme`` tag, or None when it is."""
    if tag == "O":
        return None
    match = _TAG.match(tag)
    allowed = SCHEME_PREFIXES[scheme]
    if match is None or match["prefix"] not in allowed:
        forms = ", ".join(f"{p}-TYPE" for p in allowed)
        return f"tag {tag!r} is not O or {forms} ({scheme})"
    return None


def _split(tag: str) -> tuple[str, str]:
    if tag == "O" or "-" not in tag:
        return "O", ""
    prefix, _, kind = tag.partition("-")
    return prefix, kind


def _ends(prev: str, prev_type: str, tag: str, kind: str) -> bool:
    """conlleval's ``endOfChunk``: does an entity end before this tag?"""
    if prev in ("E", "S"):
        return True
    if prev in ("B", "I") and tag in ("B", "S", "O"):
        return True
    return prev != "O" and prev_type != kind


def _starts(prev: str, prev_type: str, tag: str, kind: str) -> bool:
    """conlleval's ``startOfChunk``: does an entity start at this tag?"""
    if tag in ("B", "S"):
        return True
    if prev in ("E", "S", "O") and tag in ("I", "E"):
        return True
    return tag != "O" and prev_type != kind


def spans(tags: Sequence[str]) -> list[Span]:
    """The entities of one sentence's tags, in any of the schemes (conlleval rules)."""
    result: list[Span] = []
    prev, prev_type, start = "O", "", 0
    for index, tag in enumerate([*tags, "O"]):
        prefix, kind = _split(tag)
        if _ends(prev, prev_type, prefix, kind):
            result.append(Span(prev_type, start, index))
        if _starts(prev, prev_type, prefix, kind):
            start = index
        prev, prev_type = prefix, kind
    return result


def from_spans(entities: Sequence[Span], length: int, scheme: str) -> list[str]:
    """Tags of a ``length``-token sentence holding ``entities`` (non-overlapping)."""
    tags = ["O"] * length
    previous: Span | None = None
    for span in sorted(entities, key=lambda s: s.start):
        size = span.end - span.start
        if scheme == "bioes":
            if size == 1:
                tags[span.start] = f"S-{span.type}"
            else:
                tags[span.start] = f"B-{span.type}"
                tags[span.start + 1 : span.end - 1] = [f"I-{span.type}"] * (size - 2)
                tags[span.end - 1] = f"E-{span.type}"
        else:
            first = "B"
            if scheme == "iob1":
                # IOB1 marks B- only where an entity directly follows one of the same type.
                adjacent = previous is not None and previous.end == span.start
                first = "B" if adjacent and previous.type == span.type else "I"
            tags[span.start] = f"{first}-{span.type}"
            tags[span.start + 1 : span.end] = [f"I-{span.type}"] * (size - 1)
        previous = span
    return tags


def convert(tags: Sequence[str], scheme: str) -> list[str]:
    """``tags`` (any scheme) rewritten in ``scheme`` with the same entities."""
    return from_spans(spans(tags), len(tags), scheme)


def to_iob2_tag(tag: str) -> str:
    """One BIOES or IOB2 tag as its IOB2 form (S→B, E→I): exact for valid sequences."""
    prefix, kind = _split(tag)
    if prefix == "O":
        return "O"
    return f"{'B' if prefix in ('B', 'S') else 'I'}-{kind}"


def scheme_tags(entity_types: Sequence[str], scheme: str) -> list[str]:
    """All tags of ``scheme`` over ``entity_types``: ``O`` first, then by type."""
    prefixes = "BIES" if scheme == "bioes" else "BI"
    return ["O", *(f"{p}-{t}" for t in entity_types for p in prefixes)]
