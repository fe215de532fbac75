"""Speed section ``serving``: latency of ONE request to every signature of every task's
SavedModel, warm, in one process.

Each task's *sample* config (``configs/<task>_sample.yaml``: the demo's widths and vocabulary,
learned from the bundled data) is trained for a couple of steps — the weights do not matter to
latency, the sizes do — and exported; the SavedModel is loaded back as a server would load it,
each signature is called :data:`WARMUP` times, then timed call by call. ``serving_default``
gets the task's own export example (what ``export`` prints); the other signatures the
robustness suite's normal input. Figures are p50 and p99 in milliseconds: absolute times,
so they are context for this machine (and noisier when it is shared).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.speed_timing import percentiles, progress, time_call

ROOT = Path(__file__).resolve().parent.parent
TRAIN_SETS = ("train.epochs=1", "train.steps_per_epoch=2", "train.validation_steps=1")
# task → p50 goal of one serving_default request, ms (issue 14)
GOALS_MS = {"sentiment": 1.0, "ner": 3.0}
WARMUP = 20


say = progress("speed serving")


def trained_export(task_name: str, tmp: Path) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    """Trains the sample config a few steps, exports it: (run directory, example inputs of
    ``serving_default``, sizes)."""
    from pipelines.registry import get_task
    from pipelines.spine import runner
    from pipelines.spine.config import load_config

    task = get_task(task_name)
    config = ROOT / task.sample_config
    cfg = load_config(task.config_class, config, list(TRAIN_SETS))
    run_dir = runner.train(task, cfg, tmp / task_name)
    exported = runner.export(task, run_dir)
    summary = json.loads((run_dir / "train_summary.json").read_text(encoding="utf-8"))
    rnn = getattr(cfg.model, "rnn", None)
    sizes = {
        "config": str(config.relative_to(ROOT)),
        "config_sizes": "sample config widths (trained 2 steps: latency depends on sizes only)",
        "parameters": summary.get("parameters"),
        "rnn": (
            f"{rnn.cell} {rnn.layers}×{rnn.units}{' bidirectional' if rnn.bidirectional else ''}"
            if rnn is not None
            else None
        ),
    }
    return run_dir, exported["inputs"], sizes


def request(function, example: dict[str, Any] | None, info: dict[str, Any]) -> dict[str, Any]:
    """One request's tensors for ``function`` (a batch of one): the export example where it
    fits, else the robustness suite's normal input of each argument."""
    import tensorflow as tf

    from benchmarks.robustness_serving import normal_input  # the suite's normal values

    specs = dict(function.structured_input_signature[1])
    if example is not None and set(example) == set(specs):
        # one example: the first row of each batched input (the export example has two)
        return {
            k: tf.constant(v[:1] if isinstance(v, list) else v, specs[k].dtype)
            for k, v in example.items()
        }
    return {k: tf.constant(normal_input(k, spec, info), spec.dtype) for k, spec in specs.items()}


def time_signature(function, inputs: dict[str, Any], calls: int, budget_s: float) -> dict:
    """p50/p99 (ms) of up to ``calls`` one-request calls, stopping after ``budget_s`` seconds
    (at least 20 calls: a slow signature such as generation still gets a p50)."""
    for _ in range(WARMUP):
        function(**inputs)
    samples: list[float] = []
    started = time.perf_counter()
    while len(samples) < calls and (len(samples) < 20 or time.perf_counter() - started < budget_s):
        samples.append(time_call(lambda: function(**inputs)))
    ms = percentiles([1000.0 * s for s in samples], (50, 90, 99))
    return {
        "calls": len(samples),
        **{f"{k}_ms": round(v, 3) for k, v in ms.items()},
        "min_ms": round(1000.0 * min(samples), 3),
    }


def measure(quick: bool) -> dict[str, Any]:
    """Every task's signatures, p50/p99 of one request."""
    import tensorflow as tf

    from benchmarks.robustness_serving import serving_info  # forecast_rows' rows_needed
    from pipelines.registry import TASKS

    calls, budget = (200, 2.0) if quick else (2000, 15.0)
    tasks: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="speed-serving-") as tmp:
        for task_name in sorted(TASKS):
            say(f"{task_name}: training the sample config 2 steps and exporting")
            try:
                run_dir, example, sizes = trained_export(task_name, Path(tmp))
            except Exception as err:  # recorded per task; the others still run
                tasks[task_name] = {"error": f"{type(err).__name__}: {err}"}
                continue
            loaded = tf.saved_model.load(str(run_dir / "saved_model"))
            info = serving_info(
                loaded, json.loads((run_dir / "info.json").read_text(encoding="utf-8"))
            )
            signatures = {}
            for name in sorted(loaded.signatures):
                function = loaded.signatures[name]
                given = example if name == "serving_default" else None
                inputs = request(function, given, info)
                signatures[name] = {
                    "request": {k: list(v.shape) for k, v in inputs.items()},
                    **time_signature(function, inputs, calls, budget),
                }
                say(f"{task_name} {name}: p50 {signatures[name]['p50_ms']} ms")
            tasks[task_name] = {**sizes, "signatures": signatures}
    goals = []
    for task_name, target in GOALS_MS.items():
        default = tasks.get(task_name, {}).get("signatures", {}).get("serving_default", {})
        goals.append(
            {
                "name": f"{task_name} serving_default p50, one request",
                "value": default.get("p50_ms"),
                "op": "<=",
                "target": target,
                "unit": "ms",
            }
        )
    figures = [
        {
            "name": f"{t} {s} p50 / p99",
            "value": f"{v['p50_ms']:.3g} / {v['p99_ms']:.3g}",
            "unit": "ms",
        }
        for t, entry in tasks.items()
        for s, v in entry.get("signatures", {}).items()
    ]
    figures += [
        {"name": f"{t}: failed", "value": " ".join(e["error"].split())[:100]}
        for t, e in tasks.items()
        if "error" in e
    ]
    return {
        "tasks": tasks,
        "goals": goals,
        "figures": figures,
        "notes": (
            f"warm SavedModel in-process, {WARMUP} warm-up calls, then up to {calls} calls or "
            f"{budget:g} s per signature; sample-config sizes; absolute times (context only)"
        ),
    }
