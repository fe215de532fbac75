"""What POS adds to the shared tagging serving: the ``word/TAG`` form of a ``predict`` record."""

from __future__ import annotations

from typing import Any

from pipelines.tagging.serving import tagged_record


def pos_record(text: str, tokens: list[str], tags: list[str]) -> dict[str, Any]:
    """The ``predict`` record of one sentence: text, tokens, tags and ``tagged``, the
    sentence as ``word/TAG`` pairs (the form of the Penn Treebank's tagged files)."""
    tagged = " ".join(f"{token}/{tag}" for token, tag in zip(tokens, tags, strict=True))
    return {**tagged_record(text, tokens, tags), "tagged": tagged}
