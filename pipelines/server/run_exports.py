"""Which run directories hold an export, and of which task, read without TensorFlow."""

from __future__ import annotations

from pathlib import Path

from pipelines.registry import TASKS
from pipelines.spine.config import read_yaml
from pipelines.spine.run_dir import CONFIG_FILE, RunDirError, runs_root

EXPORT = "saved_model"
VERSION = "1"  # one export per run directory; TF Serving clients still name a version


def export_path(run_dir: Path) -> Path:
    """Where ``export`` writes a run's SavedModel."""
    return run_dir / EXPORT


def is_exported(run_dir: Path) -> bool:
    """Whether ``run_dir`` has a config and an exported SavedModel."""
    return (run_dir / CONFIG_FILE).is_file() and (export_path(run_dir) / "saved_model.pb").is_file()


def run_task(run_dir: Path) -> str:
    """The task of an exported run (its config's ``task``); a one-line :class:`RunDirError`
    when ``run_dir`` is not a run directory or has no export."""
    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: no such run directory")
    config = run_dir / CONFIG_FILE
    if not config.is_file():
        raise RunDirError(f"{config}: missing (not a run directory)")
    task = read_yaml(config).get("task")
    if task not in TASKS:
        raise RunDirError(f"{config}: 'task' is {task!r}, not one of {', '.join(sorted(TASKS))}")
    if not is_exported(run_dir):
        raise RunDirError(
            f"{export_path(run_dir)}: no export (run: python -m pipelines export {task} "
            f"--run-dir {run_dir})"
        )
    return task


def latest_exports() -> list[Path]:
    """The latest exported run (by the time its config was written) of every task that has
    one, in task-name order."""
    found = []
    for task in sorted(TASKS):
        base = runs_root() / task
        exported = [p for p in base.glob("*") if is_exported(p)] if base.is_dir() else []
        if exported:
            found.append(max(exported, key=lambda p: ((p / CONFIG_FILE).stat().st_mtime, p.name)))
    return found
