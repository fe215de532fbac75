"""Speed section ``backends``: the train step of every task's benchmark model on the Keras JAX
backend against the TensorFlow backend (``train.backend``), as a ratio JAX / TensorFlow.

One process holds one Keras backend, so each task gets two worker processes, one per backend
(``python -m benchmarks.speed_backends --worker BACKEND TASK``). Each prepares the same config
with the same seed (the task's benchmark config with its overrides; ``--quick``: its sample
config), builds and compiles the model as ``train`` does, takes the first training batch and
warms up on it (tracing, JAX compilation), then waits. This process then times them in
interleaved rounds, the order alternating, only one worker busy at a time: each round asks
each worker for a few ``train_on_batch`` steps on its batch (the same shapes on both: checked)
and records the wall time. Both backends pad length batches as JAX does (up to the ×1.5 grid
of ``data/bucketing.py``), so their shapes match. Figures: the median of the per-round ratios,
and each backend's median step time as context.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.speed_timing import progress

ROOT = Path(__file__).resolve().parent.parent
BACKENDS = ("tensorflow", "jax")
READY_TIMEOUT = 1800  # preparing a benchmark config's data can take minutes
PREFIX = "@@ "  # the workers' answers on stdout; anything else there is ignored


say = progress("speed backends")


def _answer(record: dict[str, Any]) -> None:
    print(PREFIX + json.dumps(record), flush=True)


def worker(backend: str, task_name: str, quick: bool) -> None:
    """Builds ``task_name``'s model on ``backend``, warms it up on one batch, then answers
    ``steps`` lines on stdin with the wall seconds of that many train steps."""
    from pipelines.spine.backend import keep_tensorflow_off_accelerators, select_backend

    select_backend(backend)
    import data.bucketing
    from pipelines.spine import quiet

    # The same batches on both backends: JAX's few-shapes padding (data/bucketing.py) on
    # TensorFlow too, so the two steps run on the very same shapes.
    data.bucketing.compiles_per_shape = lambda: True

    quiet.configure(False)
    quiet.load_tensorflow(False)
    if backend != "tensorflow":
        keep_tensorflow_off_accelerators()  # as train does: TensorFlow runs tf.data only
    import keras
    import tensorflow as tf

    from pipelines.registry import get_task
    from pipelines.spine import devices
    from pipelines.spine.config import load_config
    from pipelines.spine.training import make_optimizer, steps_per_epoch

    task = get_task(task_name)
    if quick or task.benchmark is None:
        config, overrides = task.sample_config, []
    else:
        config, overrides = task.benchmark.config, list(task.benchmark.overrides)
    cfg = load_config(task.config_class, ROOT / config, overrides)
    devices.configure(cfg.train)
    keras.utils.set_random_seed(cfg.seed)
    prepared = task.prepare(cfg)
    model = task.build_model(cfg, prepared.info)
    model.compile(
        optimizer=make_optimizer(cfg.train, steps_per_epoch(cfg.train, prepared.train_batches)),
        **task.compile_args(cfg, prepared.info),
    )
    batch = tf.nest.map_structure(lambda t: t.numpy(), next(iter(prepared.train)))
    x, y = batch[0], batch[1]
    weights = batch[2] if len(batch) > 2 else None

    def steps(count: int) -> float:
        started = time.perf_counter()
        for _ in range(count):
            loss = model.train_on_batch(x, y, sample_weight=weights)
        float(loss if not isinstance(loss, list) else loss[0])  # waits for the last step
        return time.perf_counter() - started

    first = steps(2)  # tracing / compilation, and the optimizer's first-step slots
    shapes = [list(a.shape) for a in tf.nest.flatten(batch)]
    _answer(
        {
            "ready": True,
            "backend": keras.backend.backend(),
            "config": config,
            "overrides": overrides,
            "shapes": shapes,
            "parameters": model.count_params(),
            "first_two_steps_s": round(first, 2),
        }
    )
    for line in sys.stdin:
        if not line.strip():
            continue
        _answer({"seconds": steps(int(line))})


class _Worker:
    """One worker process and its answers."""

    def __init__(self, backend: str, task_name: str, quick: bool):
        args = [sys.executable, "-m", "benchmarks.speed_backends", "--worker", backend, task_name]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        env.pop("KERAS_BACKEND", None)  # the worker selects its own
        self.process = subprocess.Popen(
            [*args, *(["--quick"] if quick else [])],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    def read(self) -> dict[str, Any]:
        for line in self.process.stdout:
            if line.startswith(PREFIX):
                return json.loads(line[len(PREFIX) :])
        raise RuntimeError(f"worker exited with {self.process.wait()} before answering")

    def time_steps(self, count: int) -> float:
        self.process.stdin.write(f"{count}\n")
        self.process.stdin.flush()
        return self.read()["seconds"]

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def compare_task(task_name: str, quick: bool, rounds: int, steps: int) -> dict[str, Any]:
    """Both backends' workers for one task, timed in interleaved rounds."""
    workers = {backend: _Worker(backend, task_name, quick) for backend in BACKENDS}
    try:
        ready = {backend: w.read() for backend, w in workers.items()}
        shapes = {backend: r["shapes"] for backend, r in ready.items()}
        if shapes["tensorflow"] != shapes["jax"]:
            return {"error": f"different batch shapes: {shapes}"}
        times: dict[str, list[float]] = {backend: [] for backend in BACKENDS}
        for index in range(rounds):
            order = BACKENDS if index % 2 == 0 else BACKENDS[::-1]
            for backend in order:
                times[backend].append(workers[backend].time_steps(steps) / steps)
        ratios = [j / t for j, t in zip(times["jax"], times["tensorflow"], strict=True)]
        return {
            "config": ready["tensorflow"]["config"],
            "overrides": ready["tensorflow"]["overrides"],
            "parameters": ready["tensorflow"]["parameters"],
            "batch_shapes": shapes["tensorflow"],
            "backends_seen": {b: r["backend"] for b, r in ready.items()},
            "step_ms": {b: round(1000 * statistics.median(v), 2) for b, v in times.items()},
            # Tracing / compiling for one batch shape (JAX compiles again for every new one).
            "first_two_steps_s": {b: r.get("first_two_steps_s") for b, r in ready.items()},
            "ratio_jax_over_tensorflow": round(statistics.median(ratios), 3),
            "round_ratios": [round(r, 3) for r in ratios],
        }
    except (RuntimeError, OSError, ValueError) as err:
        return {"error": str(err)[:300]}
    finally:
        for w in workers.values():
            w.close()


def measure(quick: bool) -> dict[str, Any]:
    """Every task's JAX / TensorFlow train-step ratio, one task after another."""
    from pipelines.registry import TASKS

    rounds, steps = (3, 2) if quick else (7, 5)
    tasks = {}
    for task_name in sorted(TASKS):
        say(f"{task_name}: {'sample' if quick else 'benchmark'} config on both backends")
        tasks[task_name] = found = compare_task(task_name, quick, rounds, steps)
        say(
            f"{task_name}: "
            + (
                found["error"]
                if "error" in found
                else f"JAX/TF {found['ratio_jax_over_tensorflow']} "
                f"(step ms {found['step_ms']['jax']} vs {found['step_ms']['tensorflow']})"
            )
        )
    kind = "sample" if quick else "benchmark"
    return {
        "tasks": tasks,
        "figures": [
            {
                "name": f"{name} {kind} model: JAX / TensorFlow train step",
                "value": t.get("ratio_jax_over_tensorflow"),
                "unit": "×",
            }
            for name, t in tasks.items()
        ],
        "notes": (
            f"train_on_batch on the first training batch, each backend in its own process; "
            f"medians of {rounds} interleaved rounds of {steps} step(s); compilation excluded "
            "(first_two_steps_s: the first two steps of one batch shape, with it)"
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", nargs=2, metavar=("BACKEND", "TASK"), required=True)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    worker(args.worker[0], args.worker[1], args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
