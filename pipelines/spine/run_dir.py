"""Run directories: ``runs/<task>/<timestamp>/`` with everything a run wrote."""

from __future__ import annotations

import itertools
import os
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]  # pipelines/spine/run_dir.py
CONFIG_FILE = "config.yaml"
INFO_FILE = "info.json"
BEST_CHECKPOINT = Path("checkpoints") / "best.keras"
HISTORY_FILE = "history.csv"
GRAD_NORMS_FILE = "grad_norms.csv"


class RunDirError(FileNotFoundError):
    """A run directory that is missing or lacks what a step needs."""


def runs_root() -> Path:
    """``$RUNS_DIR`` or ``runs/`` in the project."""
    return Path(os.environ.get("RUNS_DIR", PROJECT_ROOT / "runs"))


def new_run_dir(task: str) -> Path:
    """A fresh, timestamped run directory for ``task``; concurrent calls get distinct ones
    (``mkdir`` either creates the directory or fails, so no two processes share one)."""
    base = runs_root() / task
    stamp = time.strftime("%Y%m%d-%H%M%S")
    try:
        base.mkdir(parents=True, exist_ok=True)
        for suffix in itertools.count(1):
            path = base / (stamp if suffix == 1 else f"{stamp}-{suffix}")
            try:
                path.mkdir()
                return path
            except FileExistsError:  # another run started in the same second
                continue
    except OSError as err:
        raise RunDirError(f"{base}: cannot create a run directory ({err.strerror})") from None
    raise AssertionError("unreachable")


def latest_run_dir(task: str) -> Path:
    """The most recently started run of ``task`` that saved a checkpoint (by the time its
    config was written, so a hand-named run directory is ordered like a timestamped one)."""
    base = runs_root() / task
    runs = [p for p in base.glob("*") if (p / CONFIG_FILE).is_file()] if base.is_dir() else []
    trained = [p for p in runs if (p / BEST_CHECKPOINT).is_file()]
    if not trained:
        unfinished = f" ({len(runs)} without a checkpoint)" if runs else ""
        raise RunDirError(
            f"no trained runs of '{task}' in {base}{unfinished}: train first (make train-{task})"
        )
    return max(trained, key=lambda p: ((p / CONFIG_FILE).stat().st_mtime, p.name))


def require(run_dir: Path, relative: str | Path, hint: str) -> Path:
    """``run_dir / relative``, or a one-line error saying which step writes it."""
    path = run_dir / relative
    if not path.exists():
        raise RunDirError(f"{path}: missing ({hint})")
    return path
