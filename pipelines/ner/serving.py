"""What NER adds to the shared tagging serving: the entities of a ``predict`` record."""

from __future__ import annotations

from typing import Any

from data.tag_schemes import spans
from pipelines.tagging.serving import tagged_record


def entity_record(text: str, tokens: list[str], tags: list[str]) -> dict[str, Any]:
    """The ``predict`` record of one sentence: text, tokens, IOB2 tags and the entities they
    mark (``end`` exclusive)."""
    return {
        **tagged_record(text, tokens, tags),
        "entities": [
            {
                "type": span.type,
                "start": span.start,
                "end": span.end,
                "text": " ".join(tokens[span.start : span.end]),
            }
            for span in spans(tags)
        ],
    }
