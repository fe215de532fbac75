"""Looking inside a trained char LM (Karpathy's "quote neuron"): colour a text by hidden units
and rank units by their correlation with simple predicates of the text.

    python -m pipelines.charlm.inspect [--run-dir RUN] [--text FILE] [--chars 5000]
        [--units 1:17,0:3] [--state hidden|cell] [--top 10] [--out DIR]

Writes ``units.html`` (the text once per chosen unit, every character coloured by the unit's
activation after reading it, red > 0 > blue), ``unit_<layer>_<index>.png`` per chosen unit and
``ranking.json``; prints the best units per predicate. Without ``--units`` the best unit of
every predicate is shown. The text defaults to the start of the run's validation split.
"""

from __future__ import annotations

import argparse
import html
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pipelines.spine.atomic import atomic_path, write_json, write_text

if TYPE_CHECKING:  # TensorFlow loads only when a model is inspected, not for --help
    from models.char_lm import CharLanguageModel

_SPEAKER_LINE = re.compile(r"^[A-Z][A-Za-z' ]*:[ \t]*$")


_OPEN_CLOSE = {"\u201c": ("double", True), "\u201d": ("double", False)}  # “ ”


def inside_quotes(text: str) -> np.ndarray:
    """1 from an opening quote up to (not including) its closing one: ASCII ``"`` toggles;
    typographic “ opens and ” closes; ‘ opens a single-quoted span that ’ closes (an ’ with no
    ‘ open is an apostrophe, as in “don’t”)."""
    flags = np.zeros(len(text))
    double = single = False
    for i, char in enumerate(text):
        if char == '"':
            double = not double
        elif char in _OPEN_CLOSE:
            double = _OPEN_CLOSE[char][1]
        elif char == "\u2018":
            single = True
        elif char == "\u2019" and single:
            single = False
        flags[i] = double or single
    return flags


def line_position(text: str) -> np.ndarray:
    """Column of each character in its line (0 for the first)."""
    columns, column = np.zeros(len(text)), 0
    for i, char in enumerate(text):
        columns[i] = column
        column = 0 if char == "\n" else column + 1
    return columns


def speaker_name(text: str) -> np.ndarray:
    """1 on the characters of a speaker line such as ``ROMEO:`` or ``First Citizen:``."""
    flags, start = np.zeros(len(text)), 0
    for line in text.split("\n"):
        if _SPEAKER_LINE.match(line):
            flags[start : start + len(line)] = 1
        start += len(line) + 1
    return flags


def in_word(text: str) -> np.ndarray:
    """1 on letters."""
    return np.array([char.isalpha() for char in text], dtype=float)


PREDICATES: dict[str, Callable[[str], np.ndarray]] = {
    "inside_quotes": inside_quotes,
    "line_position": line_position,
    "speaker_name": speaker_name,
    "in_word": in_word,
}


@dataclass(frozen=True)
class Unit:
    layer: int
    index: int

    @property
    def label(self) -> str:
        return f"{self.layer}:{self.index}"

    @classmethod
    def parse(cls, text: str, layers: int, units: int) -> Unit:
        match = re.fullmatch(r"(\d+):(\d+)", text.strip())
        if not match:
            raise ValueError(f"--units: {text!r} is not LAYER:INDEX (e.g. 1:17)")
        unit = cls(int(match.group(1)), int(match.group(2)))
        if unit.layer >= layers or unit.index >= units:
            raise ValueError(
                f"--units: {text} is outside the model ({layers} layers of {units} units)"
            )
        return unit


def unit_activations(
    model: CharLanguageModel, ids: np.ndarray, state: str = "hidden"
) -> np.ndarray:
    """(characters, layers, units) activations after reading each character, the state
    carried from the first: the hidden output, or tanh of the LSTM cell state (``cell``)."""
    import tensorflow as tf

    slot = 0 if state == "hidden" else 1
    if slot >= len(model.initial_states(1)[0]):
        cell = model.rnn["cell"]
        raise ValueError(f"--state cell: the {cell} cell has no cell state (use hidden)")

    @tf.function
    def run(ids):
        def step(states, char_id):
            _, states = model.step(char_id[None], states)
            return states

        return tf.scan(step, ids, initializer=model.initial_states(1))

    stacked = run(tf.constant(ids, tf.int32))  # per layer, per state: (characters, 1, units)
    values = np.stack([np.asarray(layer[slot])[:, 0, :] for layer in stacked], axis=1)
    return np.tanh(values) if state == "cell" else values


def correlations(activations: np.ndarray, target: np.ndarray) -> np.ndarray | None:
    """Pearson r of every unit (flattened layer-major) with ``target``; None when the
    predicate is constant on this text (r undefined)."""
    flat = activations.reshape(len(activations), -1)
    t = target - target.mean()
    if not np.any(t):
        return None
    a = flat - flat.mean(axis=0)
    norms = np.sqrt((a * a).sum(axis=0) * (t * t).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (a * t[:, None]).sum(axis=0) / norms
    return np.nan_to_num(r)


def rank_units(activations: np.ndarray, text: str, top: int) -> dict[str, dict]:
    """For every predicate, the ``top`` units by |r| (or why there is none)."""
    units = activations.shape[2]
    ranking = {}
    for name, predicate in PREDICATES.items():
        r = correlations(activations, predicate(text))
        if r is None:
            ranking[name] = {"units": [], "note": "constant on this text: correlation undefined"}
            continue
        order = np.argsort(-np.abs(r))[:top]
        ranking[name] = {
            "units": [
                {"unit": f"{i // units}:{i % units}", "r": round(float(r[i]), 4)} for i in order
            ]
        }
    return ranking


def _colour(value: float) -> str:
    """Red for positive, blue for negative activations, stronger with |value| (≤ 1)."""
    v = float(np.clip(value, -1.0, 1.0))
    rgb = (
        (255, int(255 * (1 - v)), int(255 * (1 - v)))
        if v >= 0
        else (int(255 * (1 + v)), int(255 * (1 + v)), 255)
    )
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def write_html(
    path: Path,
    text: str,
    activations: np.ndarray,
    units: list[Unit],
    notes: dict,
    constant: tuple[str, ...] = (),
) -> None:
    """One page, the text once per unit, each character coloured by that unit; ``constant``
    names the predicates that do not vary on this text (no unit is shown for them)."""
    sections = []
    for unit in units:
        values = activations[:, unit.layer, unit.index]
        spans = []
        for char, value in zip(text, values, strict=True):
            shown = "↵" if char == "\n" else html.escape(char)
            spans.append(
                f'<span style="background:{_colour(value)}" title="{value:+.3f}">{shown}</span>'
                + ("<br>" if char == "\n" else "")
            )
        sections.append(
            f"<h2>unit {unit.label}</h2><p>{html.escape(notes.get(unit.label, ''))}</p>"
            f'<div class="text">{"".join(spans)}</div>'
        )
    write_text(
        path,
        "<!doctype html><meta charset='utf-8'><title>char-LM units</title>"
        "<style>body{font-family:sans-serif}.text{font-family:monospace;white-space:pre-wrap;"
        "line-height:1.5}</style><h1>Hidden units</h1><p>Each character is coloured by the "
        "unit's activation after reading it: red positive, blue negative (hover for the "
        "value).</p>"
        + (
            f"<p>Not shown: {html.escape(', '.join(constant))} (constant on this text, so no "
            "unit can correlate with it).</p>"
            if constant
            else ""
        )
        + "".join(sections),
    )


def write_png(
    path: Path, text: str, values: np.ndarray, title: str, columns: int = 80, rows: int = 40
) -> None:
    """The first ``rows`` wrapped lines of ``text`` as a character grid coloured by ``values``."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    grid = np.full((rows, columns), np.nan)
    cells: list[tuple[int, int, str]] = []
    row = col = 0
    for char, value in zip(text, values, strict=True):
        if row >= rows:
            break
        grid[row, col] = value
        cells.append((row, col, "↵" if char == "\n" else char))
        col += 1
        if char == "\n" or col == columns:
            row, col = row + 1, 0
    figure = Figure(figsize=(columns * 0.11, rows * 0.2 + 0.5))
    ax = figure.add_subplot()
    ax.imshow(grid, cmap="bwr", vmin=-1, vmax=1, aspect="auto", interpolation="nearest")
    for r, c, char in cells:
        if not char.isspace():
            ax.text(c, r, char, ha="center", va="center", fontsize=7, family="monospace")
    ax.set_axis_off()
    ax.set_title(title, fontsize=9)
    figure.tight_layout()
    with atomic_path(path) as temp:
        figure.savefig(temp, dpi=110)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pipelines.charlm.inspect",
        description="Colour a text by a char LM's hidden units; rank units by predicates.",
    )
    parser.add_argument("--run-dir", type=Path, help="charlm run (default: the latest)")
    parser.add_argument("--text", type=Path, help="UTF-8 text file (default: validation split)")
    parser.add_argument("--chars", type=int, default=5000, help="characters read (from the start)")
    parser.add_argument(
        "--units", help="LAYER:INDEX list, e.g. 1:17,0:3 (default: best per predicate)"
    )
    parser.add_argument(
        "--state",
        choices=("hidden", "cell"),
        default="hidden",
        help="hidden output, or tanh of the LSTM cell state",
    )
    parser.add_argument("--top", type=int, default=10, help="units listed per predicate")
    parser.add_argument("--out", type=Path, help="output folder (default: RUN/inspect)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except Exception as err:
        from pipelines.spine.cli import _is_user_error

        if not _is_user_error(err):
            raise
        print(f"error: {err}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    from data.char_corpus import read_split_head
    from data.char_text import CharVocabulary, normalize_newlines
    from data.text_files import read_text
    from pipelines.registry import get_task
    from pipelines.spine import runner
    from pipelines.spine.run_dir import latest_run_dir

    if args.chars < 2:
        raise ValueError(f"--chars: must be at least 2, got {args.chars}")
    task = get_task("charlm")
    run_dir = args.run_dir or latest_run_dir("charlm")
    cfg, info = runner.load_run(task, run_dir)
    model = runner.load_best_model(run_dir)
    if args.text:  # read as training read its text
        text = read_text(args.text)
        text = normalize_newlines(text) if cfg.data.newlines == "normalize" else text
    else:
        text = read_split_head(cfg.data, "validation", args.chars)
    text = text[: args.chars]
    vocabulary = CharVocabulary.from_list(info.vocabulary)
    activations = unit_activations(model, vocabulary.encode(text), args.state)
    ranking = rank_units(activations, text, args.top)
    layers, width = activations.shape[1:]
    if args.units:
        units = [Unit.parse(u, layers, width) for u in args.units.split(",") if u.strip()]
    else:
        best = [entry["units"][0]["unit"] for entry in ranking.values() if entry["units"]]
        units = [Unit.parse(u, layers, width) for u in dict.fromkeys(best)]
    notes = {
        unit.label: ", ".join(
            f"{name} r={entry['r']:+.2f}"
            for name, rank in ranking.items()
            for entry in rank["units"]
            if entry["unit"] == unit.label
        )
        for unit in units
    }
    out = args.out or run_dir / "inspect"
    out.mkdir(parents=True, exist_ok=True)
    constant = tuple(name for name, rank in ranking.items() if not rank["units"])
    write_html(out / "units.html", text, activations, units, notes, constant)
    for unit in units:
        write_png(
            out / f"unit_{unit.layer}_{unit.index}.png",
            text,
            activations[:, unit.layer, unit.index],
            f"unit {unit.label} ({args.state})"
            + (f": {notes[unit.label]}" if notes[unit.label] else ""),
        )
    record = {
        "run_dir": str(run_dir),
        "characters": len(text),
        "state": args.state,
        "units_shown": [u.label for u in units],
        "ranking": ranking,
    }
    write_json(out / "ranking.json", record)
    for name, rank in ranking.items():
        shown = "  ".join(f"{e['unit']} {e['r']:+.2f}" for e in rank["units"][:5])
        print(f"{name:14s} {shown or rank.get('note', '')}")
    print(f"wrote {out / 'units.html'}, {len(units)} PNG(s) and {out / 'ranking.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
