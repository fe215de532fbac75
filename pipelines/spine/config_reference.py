"""The README's configuration reference, generated from the config dataclasses.

Every key's meaning is its ``param(doc=...)``, so code and documentation cannot drift:
``python -m pipelines.spine.config_reference --write`` rewrites the block between the README
markers and a test fails when the README and the code disagree.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any, get_type_hints

import yaml

from pipelines.spine.config import type_name
from pipelines.spine.readme_blocks import read_block, replace_block
from pipelines.spine.sections import RNNConfig, ServeConfig, TrainConfig

README = Path(__file__).resolve().parents[2] / "README.md"
START, END = "<!-- config:start -->", "<!-- config:end -->"
HEADER = ["| key | type | default | meaning |", "|---|---|---|---|"]


def _value(value: Any) -> str:
    """A default as it is written in YAML."""
    if isinstance(value, str) and not value.isprintable():
        return json.dumps(value)  # "\n", not a multi-line YAML scalar
    if isinstance(value, tuple):
        value = list(value)
    text = yaml.safe_dump(value, default_flow_style=True, width=1000).strip()
    return text.removesuffix("\n...").removesuffix("...").strip()


def _type(tp: Any, field: dataclasses.Field) -> str:
    lo, hi, above = (field.metadata.get(k) for k in ("min", "max", "above"))
    text = type_name(tp)
    if above is not None:  # an exclusive lower bound
        return f"{text} > {above}" + (f", ≤ {hi}" if hi is not None else "")
    if lo is not None and hi is not None:
        return f"{text}, {lo}–{hi}"
    if lo is not None:
        return f"{text} ≥ {lo}"
    if hi is not None:
        return f"{text} ≤ {hi}"
    return text


def _cell(text: str) -> str:
    """Table-cell text: pipes escaped; ``<`` outside code spans as ``&lt;`` (else Markdown
    reads ``<TAB>`` as an HTML tag)."""
    parts = text.replace("|", "\\|").split("`")
    return "`".join(part if i % 2 else part.replace("<", "&lt;") for i, part in enumerate(parts))


def rows(cls: type, prefix: str = "", shared: bool = False) -> list[str]:
    """One table row per leaf key of ``cls``. In a task's table (``shared=False``) the shared
    ``train`` and ``serve`` sections are left out and a task's own stack or serving section
    is one row giving only the defaults that differ from the shared ones."""
    lines = []
    hints = get_type_hints(cls)
    for field in dataclasses.fields(cls):
        dotted = f"{prefix}.{field.name}" if prefix else field.name
        tp = hints[field.name]
        if dataclasses.is_dataclass(tp):
            if not shared and tp is TrainConfig:
                continue
            if not shared and issubclass(tp, RNNConfig):
                lines.append(_shared_row(RNNConfig, tp, dotted, "model.rnn"))
                continue
            if not shared and issubclass(tp, ServeConfig):
                if tp is not ServeConfig:
                    lines.append(_shared_row(ServeConfig, tp, dotted, "serve"))
                continue
            lines.extend(rows(tp, dotted, shared))
            continue
        default = "(required)" if field.default is dataclasses.MISSING else _value(field.default)
        doc = field.metadata.get("doc", "")
        lines.append(
            f"| `{dotted}` | {_cell(_type(tp, field))} | `{_cell(default)}` | {_cell(doc)} |"
        )
    return lines


def _shared_row(base_cls: type, cls: type, dotted: str, shared_key: str) -> str:
    """One row for a task's version of a shared section: the defaults it changes."""
    base, own = base_cls(), cls()
    changed = [
        f"`{f.name}: {_value(getattr(own, f.name))}`"
        for f in dataclasses.fields(cls)
        if getattr(own, f.name) != getattr(base, f.name)
    ]
    defaults = ", ".join(changed) if changed else "the shared defaults"
    first_line = (cls.__doc__ or "").strip().splitlines()[0].rstrip(".")
    doc = "the recurrent stack" if cls is RNNConfig else first_line
    kind = "stack" if base_cls is RNNConfig else "section"
    return f"| `{dotted}.*` | {kind} | {defaults} | {_cell(doc)}; keys as `{shared_key}.*` above |"


def reference() -> str:
    """The whole generated block: the shared sections, then one table per task."""
    from pipelines.registry import TASKS, config_class  # config classes only: no TensorFlow

    parts = [
        "#### Shared: `train.*` (every task)",
        "",
        *HEADER,
        *rows(TrainConfig, "train", shared=True),
        "",
        "#### Shared: the recurrent stack, `model.rnn.*` (defaults; a task may change them)",
        "",
        *HEADER,
        *rows(RNNConfig, "model.rnn", shared=True),
        "",
        "#### Shared: serving bounds, `serve.*` (every task; see Serving limits)",
        "",
        *HEADER,
        *rows(ServeConfig, "serve", shared=True),
    ]
    for name in TASKS:
        cls = config_class(name)
        module = cls.__module__.replace(".", "/") + ".py"
        parts += ["", f"#### `{name}` (`{module}`)", "", *HEADER, *rows(cls)]
    return "\n".join(parts)


def readme_block(text: str) -> str:
    """The generated part of the README."""
    return read_block(text, START, END)


def write(path: Path = README) -> None:
    """Rewrites the README's configuration reference from the config classes."""
    replace_block(path, START, END, reference())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.spine.config_reference")
    parser.add_argument("--write", action="store_true", help="rewrite the README block")
    args = parser.parse_args(argv)
    if args.write:
        write()
    else:
        print(reference())
    return 0


if __name__ == "__main__":
    sys.exit(main())
