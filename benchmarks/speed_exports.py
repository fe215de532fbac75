"""Speed section ``exports``: the portable exports (ONNX with onnxruntime, TFLite with its
interpreter) against the SavedModel, per task: file sizes and the latency of ONE request.

Each task's sample config is trained for a couple of steps (sizes, not weights, decide
latency) and exported three ways: the task's SavedModel (strings in, strings out, for its size)
and ``export --format onnx`` / ``tflite``. Every numeric graph of the portable export
(``PortableModel.parts``) is timed on one row of its example in three runtimes: the same
graph saved as a SavedModel and loaded back (the SavedModel numeric path: what the ONNX and
TFLite files were converted from), onnxruntime and the TFLite interpreter. The three arms are
interleaved in rounds, the order rotated each round, in one process; figures are p50 per
request and the ratios to the SavedModel's p50 (absolute times are context for this machine,
noisier when it is shared).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.speed_timing import percentiles, progress, ratio, time_call

ROOT = Path(__file__).resolve().parent.parent
TRAIN_SETS = ("train.epochs=1", "train.steps_per_epoch=2", "train.validation_steps=1")
FORMATS = ("onnx", "tflite")
WARMUP = 20


say = progress("speed exports")


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else 0


def _savedmodel_arm(part: Any, model: Any, folder: Path):
    """The part's graph as a SavedModel (``model`` tracked: its variables), loaded back:
    ``(run(inputs) -> outputs, bytes)``."""
    import tensorflow as tf

    module = tf.Module()
    module.model = model
    module.function = tf.function(part.function, input_signature=list(part.inputs))
    tf.saved_model.save(
        module, str(folder), signatures={"serving_default": module.function.get_concrete_function()}
    )
    signature = tf.saved_model.load(str(folder)).signatures["serving_default"]
    return lambda inputs: signature(**{k: tf.constant(v) for k, v in inputs.items()}), _size(folder)


def time_arms(arms: dict[str, Any], inputs: dict[str, Any], rounds: int, calls: int) -> dict:
    """p50/p99 ms per arm of one-request calls, ``rounds`` rounds of ``calls`` calls per arm,
    the arms' order rotated each round."""
    names = list(arms)
    for name in names:
        for _ in range(WARMUP):
            arms[name](inputs)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            samples[name].extend(time_call(lambda n=name: arms[n](inputs)) for _ in range(calls))
    out = {}
    for name, times in samples.items():
        ms = percentiles([1000.0 * t for t in times], (50, 99))
        out[name] = {"calls": len(times), **{f"{k}_ms": round(v, 4) for k, v in ms.items()}}
    return out


def measure_task(task_name: str, tmp: Path, rounds: int, calls: int) -> dict[str, Any]:
    from pipelines.registry import get_task
    from pipelines.spine import runner
    from pipelines.spine.config import load_config
    from pipelines.spine.portable_export import export_dir, export_portable
    from pipelines.spine.portable_runtime import load

    task = get_task(task_name)
    config = ROOT / task.sample_config
    cfg = load_config(task.config_class, config, list(TRAIN_SETS))
    run_dir = runner.train(task, cfg, tmp / task_name)
    runner.export(task, run_dir)
    entry: dict[str, Any] = {
        "config": str(config.relative_to(ROOT)),
        "savedmodel_bytes": _size(run_dir / "saved_model"),
        "formats": {},
    }
    for fmt in FORMATS:
        try:
            manifest = export_portable(task, run_dir, fmt)
        except ValueError as err:  # does not convert: recorded, the other format still runs
            entry["formats"][fmt] = {"converts": False, "error": str(err)}
            continue
        entry["formats"][fmt] = {
            "converts": True,
            "bytes": _size(export_dir(run_dir, fmt)),
            "parts": {
                name: {"bytes": p["bytes"], "parity_max_abs_diff": p["parity_max_abs_diff"]}
                for name, p in manifest["parts"].items()
            },
        }
    cfg_run, info = runner.load_run(task, run_dir)
    model = runner.load_best_model(run_dir)
    portable = task.portable(model, cfg_run, info)
    entry["latency"] = {}
    for part in portable.parts:
        one = {k: v[:1] for k, v in part.example.items()}
        tf_run, tf_bytes = _savedmodel_arm(part, model, tmp / f"{task_name}-{part.name}-sm")
        arms = {"savedmodel": tf_run}
        for fmt in FORMATS:
            if entry["formats"][fmt]["converts"]:
                arms[fmt] = load(export_dir(run_dir, fmt) / f"{part.name}.{fmt}", fmt)
        timed = time_arms(arms, one, rounds, calls)
        base = timed["savedmodel"]["p50_ms"]
        entry["latency"][part.name] = {
            "request": {k: list(v.shape) for k, v in one.items()},
            "numeric_savedmodel_bytes": tf_bytes,
            **timed,
            "p50_ratio_to_savedmodel": {
                k: ratio(v["p50_ms"], base) for k, v in timed.items() if k != "savedmodel"
            },
        }
        say(
            f"{task_name} {part.name}: p50 "
            + ", ".join(f"{k} {v['p50_ms']:.3g} ms" for k, v in timed.items())
        )
    shutil.rmtree(run_dir, ignore_errors=True)
    return entry


def measure(quick: bool) -> dict[str, Any]:
    """Every task's portable exports: sizes, parity and one-request p50 against the
    SavedModel numeric path."""
    from pipelines.registry import TASKS

    rounds, calls = (3, 20) if quick else (10, 100)
    tasks: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="speed-exports-") as tmp:
        for task_name in sorted(TASKS):
            say(f"{task_name}: training the sample config 2 steps and exporting 3 ways")
            try:
                tasks[task_name] = measure_task(task_name, Path(tmp), rounds, calls)
            except Exception as err:  # recorded per task; the others still run
                tasks[task_name] = {"error": f"{type(err).__name__}: {err}"}
    figures = []
    for t, entry in tasks.items():
        if "error" in entry:
            figures.append({"name": f"{t}: failed", "value": entry["error"][:100]})
            continue
        for fmt, f in entry["formats"].items():
            if not f["converts"]:
                figures.append({"name": f"{t} {fmt}", "value": "does not convert"})
        for part, lat in entry["latency"].items():
            for fmt, r in lat["p50_ratio_to_savedmodel"].items():
                figures.append(
                    {
                        "name": f"{t} {part} {fmt} p50 / SavedModel p50",
                        "value": f"{lat[fmt]['p50_ms']:.3g} / {lat['savedmodel']['p50_ms']:.3g}"
                        f" ms ({r}×)",
                    }
                )
    return {
        "tasks": tasks,
        "goals": [],
        "figures": figures,
        "notes": (
            f"sample-config sizes trained 2 steps; one request (batch 1); {WARMUP} warm-up "
            f"calls per arm, then {rounds} rounds × {calls} calls per arm interleaved (order "
            "rotated); SavedModel arm = the same numeric graph saved and loaded back"
        ),
    }
