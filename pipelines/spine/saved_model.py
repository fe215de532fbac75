"""Writing a task's SavedModel: what it tracks and which traced functions it serves."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import keras


def write_saved_model(path: Path, tracked: Iterable[Any], endpoints: Mapping[str, Any]) -> None:
    """Writes a SavedModel at ``path`` serving ``endpoints`` (name → traced ``tf.function``;
    the first is also ``serving_default`` unless that name is given). ``tracked``: the model
    and every resource the functions use (vectorizers, lookup tables), so they are saved."""
    archive = keras.export.ExportArchive()
    for item in tracked:
        archive.track(item)
    for name, function in endpoints.items():
        archive.add_endpoint(name, function)
    archive.write_out(str(path), verbose=False)
