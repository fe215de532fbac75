"""Speed section ``throughput``: examples/s, CPU utilisation (cores busy) and peak RSS of every
task's benchmark config while it trains, each in a process of its own.

Each config runs through the real runner (callbacks, checkpoints and all) on the data it would
use (``configs/<task>.yaml`` with the task's benchmark overrides, data under ``DATA_ROOT``;
``--quick``: the sample configs on the bundled data), for one epoch cut short: a callback starts
the clock after :data:`WARM_STEPS` steps (tracing and tf.data start-up excluded) and stops
training once :data:`SECONDS` (full) or :data:`QUICK_SECONDS` have passed. Cores busy = the
process's CPU time (every thread: TensorFlow's pools, tf.data) / wall time over those steps;
peak RSS is the process's whole life (data preparation included). The issue's goal: ≥ 1.6 of
2 cores busy while training.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.speed_timing import MachineLoad, peak_rss_mb, progress

ROOT = Path(__file__).resolve().parent.parent
WARM_STEPS = 5
SECONDS, QUICK_SECONDS = 60.0, 10.0
MAX_STEPS = 1_000_000  # the clock stops training long before
CORES_GOAL = 1.6
PROCESS_TIMEOUT = 1800  # data preparation of a benchmark config can take minutes


say = progress("speed throughput")


def _meter(seconds: float, batch_size: int):
    """A callback timing training steps after the warm ones; it ends training after
    ``seconds`` of timed steps. Its ``figures()`` are the section's per-config numbers."""
    import keras

    class Meter(keras.callbacks.Callback):
        """Wall and CPU time of the timed steps (validation falls outside them)."""

        def __init__(self) -> None:
            super().__init__()
            self.steps = 0
            self.timed = 0
            self.start: tuple[float, float] | None = None
            self.end: tuple[float, float] | None = None
            self.load = MachineLoad()

        def on_train_batch_end(self, batch, logs=None):
            self.steps += 1
            now = (time.perf_counter(), time.process_time())
            if self.steps == WARM_STEPS:
                self.start = now
                self.load.start()
            elif self.start is not None and self.end is None:
                self.timed += 1
                if now[0] - self.start[0] >= seconds:
                    self.end = now
                    self.load.stop()
                    self.model.stop_training = True

        def on_train_end(self, logs=None):
            if self.start is not None and self.end is None:  # the data ran out first
                self.end = (time.perf_counter(), time.process_time())
                self.load.stop()

        def figures(self) -> dict[str, Any]:
            if self.start is None or self.end is None or not self.timed:
                return {"error": f"only {self.steps} steps: too few to time"}
            wall, cpu = self.end[0] - self.start[0], self.end[1] - self.start[1]
            return {
                "steps_timed": self.timed,
                "batch_size": batch_size,
                "seconds_timed": round(wall, 2),
                "examples_per_s": round(self.timed * batch_size / wall, 1),
                "step_ms": round(1000.0 * wall / self.timed, 2),
                "cores_busy": round(cpu / wall, 3),
                "machine_load": self.load.as_dict(),
            }

    return Meter()


def worker(task_name: str, quick: bool, seconds: float, tmp: Path) -> dict[str, Any]:
    """Trains ``task_name``'s benchmark (or, quick, sample) config for ``seconds`` of timed
    steps in this process and returns its figures."""
    from pipelines.registry import get_task
    from pipelines.spine import quiet

    quiet.configure(False)
    quiet.load_tensorflow(False)
    from pipelines.spine import runner
    from pipelines.spine.config import load_config

    task = get_task(task_name)
    if quick or task.benchmark is None:
        config, overrides = task.sample_config, []
    else:
        config, overrides = task.benchmark.config, list(task.benchmark.overrides)
    overrides += ["train.epochs=1", f"train.steps_per_epoch={MAX_STEPS}"]
    overrides += ["train.validation_steps=1"]
    cfg = load_config(task.config_class, ROOT / config, overrides)
    meter = _meter(seconds, cfg.train.batch_size)
    task_callbacks = task.callbacks
    task.callbacks = lambda *a, **k: [*task_callbacks(*a, **k), meter]  # this instance only
    run_dir = runner.train(task, cfg, tmp / task_name)
    summary = json.loads((run_dir / "train_summary.json").read_text(encoding="utf-8"))
    return {
        "config": config,
        "overrides": overrides,
        "parameters": summary.get("parameters"),
        **meter.figures(),
        "peak_rss_mb": peak_rss_mb(),
    }


def run_task(task_name: str, quick: bool, tmp: Path) -> dict[str, Any]:
    """One config's figures from a process of its own (its own peak RSS and thread pools)."""
    out = tmp / f"{task_name}.json"
    args = [sys.executable, "-m", "benchmarks.speed_throughput", task_name, "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RUNS_DIR": str(tmp / "runs")}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        done = subprocess.run(
            [*args, *(["--quick"] if quick else [])],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            timeout=PROCESS_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"no result after {PROCESS_TIMEOUT} s"}
    try:
        return json.loads(out.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        return {"error": (lines[-1] if lines else f"exit {done.returncode}")[:300]}


def measure(quick: bool) -> dict[str, Any]:
    """Every task's config, one after another."""
    from pipelines.registry import TASKS

    tasks = {}
    with tempfile.TemporaryDirectory(prefix="speed-throughput-") as tmp:
        for task_name in sorted(TASKS):
            say(f"{task_name}: {'sample' if quick else 'benchmark'} config")
            tasks[task_name] = run_task(task_name, quick, Path(tmp))
            t = tasks[task_name]
            say(
                f"{task_name}: "
                + (
                    t["error"]
                    if "error" in t
                    else f"{t['examples_per_s']} examples/s, {t['cores_busy']} cores busy, "
                    f"peak RSS {t['peak_rss_mb']} MB"
                )
            )
    kind = "sample" if quick else "benchmark"
    goals = [
        {
            "name": f"{name} {kind} config: cores busy while training",
            "value": t.get("cores_busy"),
            "op": ">=",
            "target": CORES_GOAL,
            "unit": "cores",
        }
        for name, t in tasks.items()
    ]
    figures = [
        {
            "name": f"{name} {kind} config: examples/s, peak RSS",
            "value": f"{t['examples_per_s']:,.0f} /s, {t['peak_rss_mb']:,.0f} MB",
        }
        for name, t in tasks.items()
        if "error" not in t
    ]
    figures += [
        {"name": f"{name}: failed", "value": " ".join(t["error"].split())[:100]}
        for name, t in tasks.items()
        if "error" in t
    ]
    return {
        "tasks": tasks,
        "goals": goals,
        "figures": figures,
        "notes": (
            f"{kind} configs through the runner, one epoch cut after "
            f"{QUICK_SECONDS if quick else SECONDS:g} s of steps (the first {WARM_STEPS} not "
            f"timed); cores busy = process CPU time / wall time; {os.cpu_count()} cores"
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.speed_throughput")
    parser.add_argument("task")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    from pipelines.spine.atomic import write_json

    with tempfile.TemporaryDirectory(prefix=f"speed-{args.task}-") as tmp:
        seconds = QUICK_SECONDS if args.quick else SECONDS
        write_json(args.out, worker(args.task, args.quick, seconds, Path(tmp)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
