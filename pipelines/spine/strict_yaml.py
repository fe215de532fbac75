"""The YAML reader of config files and ``--set`` values: PyYAML's safe loader, stricter.

Two changes to ``yaml.SafeLoader``: a key given twice in one mapping is an error naming the
line of both (the safe loader keeps the last silently), and ``1e-3`` / ``2E5`` read as numbers
(YAML 1.1 wants a dot and a signed exponent, so they would read as strings and fail later as
"expected a number, got '1e-3'").
"""

from __future__ import annotations

import re
from typing import Any

import yaml

MERGE_TAG = "tag:yaml.org,2002:merge"
FLOAT_TAG = "tag:yaml.org,2002:float"
# Exponent forms YAML 1.1 leaves as strings: 1e-3, 2E5, 1.5e3, .5e-2 (YAML 1.2 floats).
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


def load(text: str) -> Any:
    """The one YAML document in ``text`` (a config file, or a ``--set`` value)."""
    return yaml.load(text, Loader=StrictLoader)  # StrictLoader is a SafeLoader
