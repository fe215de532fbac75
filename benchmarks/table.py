"""The README results table, generated from ``benchmarks/results/*.json``.

``python -m benchmarks.table --write`` rewrites the block between the README markers; a test
checks that the README matches the result files, so no figure is ever typed in by hand.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from benchmarks.catalog import benchmarks  # the task classes: TensorFlow
from pipelines.spine.readme_blocks import read_block, replace_block

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
README = ROOT / "README.md"
START, END = "<!-- results:start -->", "<!-- results:end -->"


def _format(value: float) -> str:
    return f"{value:.4f}" if abs(value) < 10 else f"{value:.2f}"


def _short_name(dataset: str) -> str:
    """The dataset's name: text up to the first comma or semicolon outside parentheses."""
    depth = 0
    for i, char in enumerate(dataset):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0 and char in ",;":
            return dataset[:i]
    return dataset


def _beside(keys: tuple[str, ...], test: dict[str, Any]) -> str:
    return ", ".join(f"{key} {_format(test[key])}" for key in keys if key in test)


def table(results_dir: Path = RESULTS) -> str:
    """Markdown table, one row per result file (sorted by task): the test figure (the
    headline), the validation figure beside it, the baselines of the same evaluation, and the
    task's goals judged on test. A file written before the headline became test still shows
    its test figure here."""
    lines = [
        "| benchmark | dataset | metric | test | validation | beside it (test) | goals (test) "
        "| met | train time | commit |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    known = benchmarks()
    for path in sorted(results_dir.glob("*.json")):
        if path.stem not in known:  # robustness.json, speed.json: suites of their own
            continue
        r = json.loads(path.read_text())
        _, bench = known[path.stem]
        test, validation = r["test_metrics"], r["validation_metrics"]
        goals = bench.goals()
        met = "yes" if all(g.met(test) for g in goals) else "no"
        if len(goals) > 1:
            met = ", ".join("yes" if g.met(test) else "no" for g in goals)
        lines.append(
            f"| {path.stem} | {_short_name(r['dataset'])} | {r['metric']} "
            f"| {_format(test[r['metric']])} | {_format(validation[r['metric']])} "
            f"| {_beside(bench.baselines, test) or '—'} "
            f"| {'; '.join(g.describe() for g in goals)} | {met} "
            f"| {r['train_seconds'] / 60:.1f} min | `{r['commit'][:12]}` |"
        )
    if len(lines) == 2:
        lines.append("| (no benchmark has been run yet) | | | | | | | | | |")
    return "\n".join(lines)


def readme_block(text: str) -> str:
    """The current results block of the README text."""
    return read_block(text, START, END)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.table")
    parser.add_argument("--write", action="store_true", help="rewrite the README block")
    args = parser.parse_args(argv)
    generated = table()
    if args.write:
        replace_block(README, START, END, generated)
    print(generated)
    return 0


if __name__ == "__main__":
    sys.exit(main())
