"""The YAML reader of config files and ``--set`` values: PyYAML's safe loader, stricter.

Three changes to ``yaml.SafeLoader``: a key given twice in one mapping is an error naming the
line of both (the safe loader keeps the last silently); ``1e-3`` / ``2E5`` read as numbers
(YAML 1.1 wants a dot and a signed exponent, so they would read as strings and fail later as
"expected a number, got '1e-3'"); and a document whose aliases expand to more than
``MAX_VALUES`` values (a "billion laughs" file of a few hundred bytes) or refer to themselves is
refused, before anything copies it out.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

MERGE_TAG = "tag:yaml.org,2002:merge"
FLOAT_TAG = "tag:yaml.org,2002:float"
# Exponent forms YAML 1.1 leaves as strings: 1e-3, 2E5, 1.5e3, .5e-2 (YAML 1.2 floats).
MAX_VALUES = 100_000  # far above any real config, far below what exhausts memory
EXPONENT_FLOAT = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)[eE][-+]?[0-9]+$")


class StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that rejects duplicate keys and reads ``1e-3`` as a float."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first_line: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == MERGE_TAG:  # `<<: *defaults` may be overridden on purpose
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                seen = first_line.get(key)
            except TypeError:  # an unhashable key: the safe loader reports it
                continue
            if seen is not None:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r} (first given on line {seen})",
                    key_node.start_mark,
                )
            first_line[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


StrictLoader.add_implicit_resolver(FLOAT_TAG, EXPONENT_FLOAT, list("-+0123456789."))


class ExpansionError(yaml.YAMLError):
    """Aliases that expand past ``MAX_VALUES`` values or contain themselves."""


def load(text: str) -> Any:
    """The one YAML document in ``text`` (a config file, or a ``--set`` value)."""
    data = yaml.load(text, Loader=StrictLoader)  # StrictLoader is a SafeLoader
    if expanded_size(data) > MAX_VALUES:
        raise ExpansionError(
            f"aliases expand the document to more than {MAX_VALUES:,} values; write the values out"
        )
    return data


def expanded_size(data: Any) -> int:
    """How many values ``data`` holds once every alias is copied out (a shared object counts
    each time it is used; computed once per object, so a huge expansion costs nothing)."""
    sizes: dict[int, int] = {}
    open_: set[int] = set()

    def size(value: Any) -> int:
        if not isinstance(value, dict | list):
            return 1
        key = id(value)
        if key in sizes:
            return sizes[key]
        if key in open_:
            raise ExpansionError("an alias refers to the block that contains it")
        open_.add(key)
        children = [*value.keys(), *value.values()] if isinstance(value, dict) else value
        total = 1
        for child in children:
            total += size(child)
            if total > MAX_VALUES:
                break
        open_.discard(key)
        sizes[key] = total
        return total

    return size(data)
