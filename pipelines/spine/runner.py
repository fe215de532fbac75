"""The one runner every task uses: train → evaluate → export, around a run directory."""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import keras

from pipelines.spine import devices
from pipelines.spine.config import load_config, save_config
from pipelines.spine.run_dir import BEST_CHECKPOINT, CONFIG_FILE, INFO_FILE, new_run_dir, require
from pipelines.spine.task import Task
from pipelines.spine.training import make_callbacks, make_optimizer, steps_per_epoch


def write_json(path: Path, record: dict[str, Any]) -> None:
    path.write_text(json.dumps(record, indent=2, default=_plain) + "\n", encoding="utf-8")


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def save_info(task: Task, info: Any, run_dir: Path) -> None:
    write_json(run_dir / INFO_FILE, dataclasses.asdict(info))


def load_run(task: Task, run_dir: Path) -> tuple[Any, Any]:
    """The resolved config and info object saved by ``train``."""
    cfg_path = require(run_dir, CONFIG_FILE, f"not a run directory of '{task.name}'")
    cfg = load_config(task.config_class, cfg_path)
    info_path = require(run_dir, INFO_FILE, "training did not get past data preparation")
    info = task.info_class(**json.loads(info_path.read_text(encoding="utf-8")))
    return cfg, info


def load_best_model(run_dir: Path) -> keras.Model:
    path = require(run_dir, BEST_CHECKPOINT, "no checkpoint yet: training saves it per epoch")
    return keras.saving.load_model(path)


def train(task: Task, cfg: Any, run_dir: Path | None = None) -> Path:
    """Trains ``task`` with ``cfg``; an existing ``run_dir`` with a backup resumes it."""
    run_dir = run_dir or new_run_dir(task.name)
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(cfg, run_dir / CONFIG_FILE)
    task.say(f"run directory {run_dir}")
    scope, replicas = devices.configure(cfg.train)  # before anything starts TensorFlow
    keras.utils.set_random_seed(cfg.seed)

    prepared = task.prepare(cfg)
    save_info(task, prepared.info, run_dir)
    task.say(
        f"data: {prepared.train_examples} train / {prepared.validation_examples} validation "
        f"examples ({cfg.data.source})",
    )
    epoch_steps = steps_per_epoch(cfg.train, prepared.train_batches)
    with scope:
        model = task.build_model(cfg, prepared.info)
        model.compile(
            optimizer=make_optimizer(cfg.train, epoch_steps),
            **task.compile_args(cfg, prepared.info),
        )
    task.say(f"model: {model.count_params():,} parameters, {replicas} replica(s)")
    task_callbacks = task.callbacks(cfg, prepared.info, prepared)
    callbacks, progress = make_callbacks(
        cfg.train, run_dir, prepared.probe_batch, task_callbacks, epoch_steps
    )
    train_data = prepared.train.repeat() if cfg.train.steps_per_epoch else prepared.train
    started = time.perf_counter()
    history = model.fit(
        train_data,
        validation_data=prepared.validation,
        epochs=cfg.train.epochs,
        steps_per_epoch=cfg.train.steps_per_epoch,
        validation_steps=cfg.train.validation_steps,
        callbacks=callbacks,
        shuffle=False,  # datasets are shuffled by the task
        verbose=1 if sys.stdout.isatty() else 2,
    )
    wall = time.perf_counter() - started
    monitored = history.history.get(cfg.train.monitor, [])
    pick = max if cfg.train.monitor_mode == "max" else min
    best = pick(monitored) if monitored else None
    summary = {
        "task": task.name,
        "monitor": cfg.train.monitor,
        "best_value": best,
        "best_epoch": monitored.index(best) + 1 if monitored else None,
        "epochs_run": progress.epochs_run,
        "train_seconds": round(progress.train_seconds, 2),
        "wall_seconds": round(wall, 2),
        "examples_per_second": round(progress.examples_per_second, 1),
        "train_examples": prepared.train_examples,
        "validation_examples": prepared.validation_examples,
        "parameters": model.count_params(),
        "history": history.history,
    }
    write_json(run_dir / "train_summary.json", summary)
    task.say(
        f"best {cfg.train.monitor} = {best} after {progress.epochs_run} epoch(s), {wall:.0f} s",
    )
    return run_dir


def evaluate(task: Task, run_dir: Path, split: str = "test") -> dict[str, Any]:
    """Evaluates the best checkpoint on ``split``; writes ``metrics.json`` (test) or
    ``metrics_<split>.json``."""
    cfg, info = load_run(task, run_dir)
    model = load_best_model(run_dir)
    started = time.perf_counter()
    evaluation = task.evaluate(model, cfg, info, split)
    metrics = evaluation.metrics
    record = {
        "task": task.name,
        "split": split,
        "checkpoint": str(BEST_CHECKPOINT),
        **metrics,
        "seconds": round(time.perf_counter() - started, 2),
    }
    reports = task.write_reports(model, cfg, info, evaluation, split, run_dir)
    if reports:
        record["reports"] = [str(Path(p).relative_to(run_dir)) for p in reports]
    name = "metrics.json" if split == "test" else f"metrics_{split}.json"
    write_json(run_dir / name, record)
    task.say(f"{split}: " + ", ".join(f"{k}={v}" for k, v in metrics.items() if _scalar(v)))
    return record


def _scalar(value: Any) -> bool:
    return isinstance(value, int | float | str)


def export(task: Task, run_dir: Path) -> dict[str, Any]:
    """Exports the best checkpoint as a SavedModel, then reloads it and calls
    ``serving_default`` on the task's example; returns the path, inputs and outputs."""
    import tensorflow as tf

    cfg, info = load_run(task, run_dir)
    model = load_best_model(run_dir)
    path = run_dir / "saved_model"
    if path.exists():
        shutil.rmtree(path)
    example = task.export(model, cfg, info, path)
    reloaded = tf.saved_model.load(str(path))
    outputs = reloaded.signatures["serving_default"](**example)
    inputs = {k: v.numpy().tolist() for k, v in example.items()}
    shown = {k: v.numpy().tolist() for k, v in outputs.items()}
    task.say(f"exported {path}; serving_default({brief(inputs)}) -> {brief(shown)}")
    return {"path": path, "inputs": inputs, "outputs": shown}


def brief(value: Any, limit: int = 300) -> str:
    """``str(value)`` cut to ``limit`` characters (a forecasting window is thousands)."""
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "…"


def predict(task: Task, run_dir: Path, inputs: Iterable[str], args: Any) -> int:
    """Prints one JSON line per prediction; returns how many were printed."""
    cfg, info = load_run(task, run_dir)
    model = load_best_model(run_dir)
    count = 0
    for record in task.predict(model, cfg, info, inputs, args):
        print(json.dumps(record, ensure_ascii=False, default=_plain), flush=True)
        count += 1
    return count
