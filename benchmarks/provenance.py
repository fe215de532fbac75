"""Where a benchmark figure came from: the commit it ran at."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def commit() -> str:
    """HEAD, marked ``-dirty`` when tracked code differs from it (results files aside)."""
    head = _git("rev-parse", "HEAD")
    changed = [
        line
        for line in _git("status", "--porcelain", "--untracked-files=no").splitlines()
        if "benchmarks/results/" not in line
    ]
    return head + ("-dirty" if changed else "")
