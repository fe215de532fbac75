"""``benchmarks/results/robustness.json`` and its tables: counts per category, the cases behind
them, and the README block (between :data:`START` and :data:`END`)."""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.provenance import commit
from pipelines.spine.readme_blocks import read_block, replace_block

ROOT = Path(__file__).resolve().parent.parent
RESULTS_FILE = ROOT / "benchmarks" / "results" / "robustness.json"
README = ROOT / "README.md"
START, END = "<!-- robustness:start -->", "<!-- robustness:end -->"

# category → (what is counted, what passing means, the minimum number of cases)
CATEGORIES: dict[str, tuple[str, str, int]] = {
    "configs": ("bad configs", "one-line error naming the key or file", 40),
    "data": ("bad data files", "one-line error naming the file, or handled and reported", 40),
    "serving": ("serving fuzz inputs", "bounded (< 1 s) and correct, or a clean rejection", 10),
    "kills": ("kill points (train, evaluate, export)", "recovered with nothing lost", 9),
}


@dataclass
class CaseResult:
    """One case of the suite: what was tried and what happened."""

    category: str
    name: str
    task: str
    passed: bool
    what: str
    seconds: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)


def summary(
    category: str, cases: Sequence[CaseResult], seconds: float, command: str
) -> dict[str, Any]:
    """The counts of one category's run."""
    title, passing, minimum = CATEGORIES[category]
    tried, passed = len(cases), sum(c.passed for c in cases)
    result: dict[str, Any] = {
        "title": title,
        "pass_means": passing,
        "tried": tried,
        "passed": passed,
        "percent": round(100.0 * passed / tried, 1) if tried else 0.0,
        "minimum": minimum,
        "seconds": round(seconds, 1),
        "command": command,
        "commit": commit(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if any("tensorflow_imported" in c.details for c in cases):  # errors before TensorFlow
        result["passed_before_tensorflow"] = sum(
            c.passed and c.details.get("tensorflow_imported") is False for c in cases
        )
    if category == "serving":  # the minimum is per signature
        per_signature: dict[str, int] = {}
        for case in cases:
            if "signature" in case.details:
                key = f"{case.task}/{case.details['signature']}"
                per_signature[key] = per_signature.get(key, 0) + 1
        result["per_signature"] = per_signature
        result["meets_minimum"] = bool(per_signature) and min(per_signature.values()) >= minimum
    elif category == "kills":
        verbs = {c.details.get("verb") for c in cases}
        result["meets_minimum"] = tried >= minimum and {"train", "evaluate", "export"} <= verbs
    else:
        result["meets_minimum"] = tried >= minimum
    return result


def merged(
    previous: dict[str, Any] | None,
    categories: dict[str, dict[str, Any]],
    cases: Iterable[CaseResult],
    command: str,
    seconds: float,
) -> dict[str, Any]:
    """The results record: this run's categories replace those of ``previous`` (a run of
    ``--only configs`` keeps the other categories' counts and cases, each with its own
    commit, date and command)."""
    old_categories = dict((previous or {}).get("categories", {}))
    old_cases = [c for c in (previous or {}).get("cases", []) if c["category"] not in categories]
    all_categories = {**old_categories, **categories}
    ordered = {name: all_categories[name] for name in CATEGORIES if name in all_categories}
    return {
        "command": command,
        "commit": commit(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "seconds": round(seconds, 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, {platform.system()}",
        "complete": set(ordered) == set(CATEGORIES),
        "totals": {
            name: {"tried": c["tried"], "passed": c["passed"], "percent": c["percent"]}
            for name, c in ordered.items()
        },
        "categories": ordered,
        "cases": old_cases + [asdict(c) for c in cases],
    }


def load(path: Path = RESULTS_FILE) -> dict[str, Any] | None:
    """The results record at ``path``, or None when there is none."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


def console_table(record: dict[str, Any]) -> str:
    """A plain table of the counts, for the terminal."""
    lines = [f"{'category':<10} {'tried':>6} {'passed':>7} {'%':>6}  minimum"]
    for name, c in record["categories"].items():
        met = "met" if c.get("meets_minimum") else "NOT met"
        lines.append(
            f"{name:<10} {c['tried']:>6} {c['passed']:>7} {c['percent']:>6.1f}  "
            f"{c['minimum']} ({met})"
        )
    return "\n".join(lines)


def table(record: dict[str, Any] | None) -> str:
    """The README table: category | tried | passed | %, one row per category."""
    lines = ["| category | tried | passed | % |", "|---|---|---|---|"]
    for name, c in (record or {}).get("categories", {}).items():
        title, passing, _ = CATEGORIES[name]
        lines.append(f"| {title}: {passing} | {c['tried']} | {c['passed']} | {c['percent']:.1f} |")
    if len(lines) == 2:
        lines.append("| (the robustness suite has not been run yet) | | | |")
    runs = {
        (c["command"], c["commit"], c["date"][:10]): name
        for name, c in (record or {}).get("categories", {}).items()
    }
    if runs:  # where the figures come from: one run, or one per category
        lines.append("")
        for (command, commit_, date), name in runs.items():
            prefix = f"- {name}: " if len(runs) > 1 else ""
            lines.append(f"{prefix}`{command}` at `{commit_}`, {date}.")
    return "\n".join(lines)


def readme_block(text: str) -> str:
    """The current robustness block of the README text."""
    return read_block(text, START, END)


def write_readme(record: dict[str, Any] | None, readme: Path = README) -> None:
    """Rewrites the README's robustness block from ``record``."""
    replace_block(readme, START, END, table(record))
