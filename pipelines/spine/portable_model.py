"""What a task hands the portable export: its numeric graphs and the input contract."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipelines.spine.portable_part import PortablePart


@dataclass(frozen=True)
class PortableModel:
    """A task's numeric core for ONNX and TFLite.

    The SavedModel signatures take and return strings, and string ops (text vectorisation,
    tag names, decoding loops over them) do not convert. So a portable export holds the graphs
    from numbers to numbers (``parts``), writes ``files`` (name → text: vocabularies, label
    lists) beside them, and ``contract`` says in the manifest what the caller must do before
    and after (tokenising, ids, decoding). ``outside`` names what the SavedModel does in its
    graph that the portable export leaves to the caller (e.g. the beam search).
    """

    parts: tuple[PortablePart, ...]
    contract: dict[str, Any]
    files: dict[str, str] = field(default_factory=dict)
    outside: str | None = None
