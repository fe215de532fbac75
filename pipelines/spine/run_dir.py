"""Run directories: ``runs/<task>/<timestamp>/`` with everything a run wrote."""

from __future__ import annotations

import os
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]  # pipelines/spine/run_dir.py
CONFIG_FILE = "config.yaml"
INFO_FILE = "info.json"
BEST_CHECKPOINT = Path("checkpoints") / "best.keras"


class RunDirError(FileNotFoundError):
    """A run directory that is missing or lacks what a step needs."""


def runs_root() -> Path:
    """``$RUNS_DIR`` or ``runs/`` in the project."""
    return Path(os.environ.get("RUNS_DIR", PROJECT_ROOT / "runs"))


def new_run_dir(task: str) -> Path:
    """A fresh, timestamped run directory for ``task``."""
    base = runs_root() / task
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path, suffix = base / stamp, 1
    while path.exists():  # two runs in the same second
        suffix += 1
        path = base / f"{stamp}-{suffix}"
    path.mkdir(parents=True)
    return path


def latest_run_dir(task: str) -> Path:
    """The newest run of ``task`` that saved its config."""
    base = runs_root() / task
    runs = sorted(p for p in base.glob("*") if (p / CONFIG_FILE).is_file()) if base.is_dir() else []
    if not runs:
        raise RunDirError(f"no runs of '{task}' in {base}: train first (make train-{task})")
    return runs[-1]


def require(run_dir: Path, relative: str | Path, hint: str) -> Path:
    """``run_dir / relative``, or a one-line error saying which step writes it."""
    path = run_dir / relative
    if not path.exists():
        raise RunDirError(f"{path}: missing ({hint})")
    return path
