"""Helpers the pipeline tests share: the project CLI and ``saved_model_cli run`` (subprocesses),
and one whole tiny run in-process."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args: str, stdin: str | None = None, env: dict[str, str] | None = None):
    """``python -m pipelines <args>`` from the repository root, output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "pipelines", *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})},
    )


def saved_model_cli_run(saved_model: str | Path, signature: str, input_exprs: str) -> str:
    """The real ``saved_model_cli run`` on one signature; returns its stdout (asserts success)."""
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "saved_model_cli"),
            "run",
            "--dir",
            str(saved_model),
            "--tag_set",
            "serve",
            "--signature_def",
            signature,
            "--input_exprs",
            input_exprs,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def train_evaluate_export(task_name: str, config: str | Path, run_dir: Path):
    """One whole run in this process, for a module-scoped fixture: ``task_name`` trained with
    ``config`` into ``run_dir``, evaluated on test and exported; returns
    ``(task, run_dir, metrics, exported)``."""
    from pipelines.registry import get_task
    from pipelines.spine import runner
    from pipelines.spine.config import load_config

    task = get_task(task_name)
    runner.train(task, load_config(task.config_class, config), run_dir)
    metrics = runner.evaluate(task, run_dir, "test")
    return task, run_dir, metrics, runner.export(task, run_dir)
