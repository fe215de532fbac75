"""The one runner every task uses: train → evaluate → export, around a run directory."""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import shutil
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import keras

from models.rnn_stack import pin_training_batch
from pipelines.spine import data_parallel, devices
from pipelines.spine.atomic import (
    plain,
    recover_directory,
    replace_directory,
    temp_sibling,
    write_json,
    write_text,
)
from pipelines.spine.callbacks.run_checkpoint import ResumePoint
from pipelines.spine.cluster import Cluster
from pipelines.spine.config import ConfigError, evaluation_overrides, load_config, save_config
from pipelines.spine.run_dir import (
    BEST_CHECKPOINT,
    CONFIG_FILE,
    GRAD_NORMS_FILE,
    HISTORY_FILE,
    INFO_FILE,
    new_run_dir,
    require,
)
from pipelines.spine.task import Prepared, Task
from pipelines.spine.training import make_callbacks, make_optimizer, steps_per_epoch


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


def train(
    task: Task, cfg: Any, run_dir: Path | None = None, cluster: Cluster | None = None
) -> Path:
    """Trains ``task`` with ``cfg``. An existing ``run_dir`` with a resume point continues
    from its last finished epoch and ends exactly where an uninterrupted run would; a run
    directory this call created is removed again if it fails before training starts.

    In a multi-process run (``cluster``) only the chief (process 0) writes ``run_dir``; every
    other process resumes from it but writes its copies (saving is collective under JAX) to a
    scratch folder that is removed when it returns."""
    cluster = cluster or Cluster()
    if not cluster.is_chief:
        scratch = cluster.scratch_dir()
        try:
            return _train(task, cfg, scratch, run_dir, cluster)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return _train(task, cfg, run_dir, run_dir, cluster)


def _train(
    task: Task, cfg: Any, run_dir: Path | None, resume_from: Path | None, cluster: Cluster
) -> Path:
    """:func:`train` writing to ``run_dir`` and resuming from ``resume_from``."""
    created = run_dir is None or not run_dir.exists()
    if run_dir is None:
        run_dir = new_run_dir(task.name)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, run_dir / CONFIG_FILE)
        resume = ResumePoint.latest(resume_from) if resume_from is not None else None
        if cluster.is_chief:
            task.say(f"run directory {run_dir}")
        else:
            task.say(
                f"process {cluster.process_id} of {cluster.num_processes}: copies in {run_dir}"
            )
        model, prepared, epoch_steps = _prepare(task, cfg, run_dir)
    except BaseException:
        if created:
            shutil.rmtree(run_dir, ignore_errors=True)  # nothing half-made is left behind
        raise
    done = resume.epoch if resume else 0
    epochs = resume.epoch if resume and resume.stopped else cfg.train.epochs
    keep_logs(run_dir, resume)
    task_callbacks = task.callbacks(cfg, prepared.info, prepared)
    callbacks, progress, checkpoint = make_callbacks(
        cfg.train, run_dir, task_callbacks, epoch_steps, resume
    )
    # One stream of batches over all epochs, so a resumed run can skip to where it stopped.
    train_data = prepared.train.repeat()
    validation = prepared.validation
    if cfg.train.distribution == "data_parallel" and not prepared.per_process:
        train_data = data_parallel.local_rows(train_data, cluster)
        validation = data_parallel.validation_rows(validation, model, cluster)
    if done and done < epochs:
        task.say(f"resuming after epoch {done}: skipping {done * epoch_steps} batches")
        train_data = train_data.skip(done * epoch_steps)
    elif done:
        task.say(f"already finished ({done} epoch(s)); writing the summary")
    try:
        model.fit(
            train_data,
            validation_data=validation,
            epochs=epochs,
            initial_epoch=done,
            steps_per_epoch=epoch_steps,
            validation_steps=cfg.train.validation_steps,
            callbacks=callbacks,
            shuffle=False,  # datasets are shuffled by the task
            verbose=1 if sys.stdout.isatty() else 2,
        )
    except BaseException:
        # Ctrl-C or a crash: the resume point being written lands, and best weights still
        # waiting for their write go to best.keras. Not with several processes: saving is
        # collective, and the others may be gone (the weights are in the last resume point).
        with contextlib.suppress(Exception):
            checkpoint.wait()
        if cluster.num_processes == 1:
            with contextlib.suppress(Exception):
                checkpoint.write_best()
        raise
    history = read_history(run_dir / HISTORY_FILE)
    monitored = history.get(cfg.train.monitor, [])
    summary = {
        "task": task.name,
        "monitor": cfg.train.monitor,
        "best_value": checkpoint.best,
        "best_epoch": checkpoint.best_epoch,
        "epochs_run": len(history.get("epoch", [])),
        "resumed_at_epoch": done or None,
        "train_seconds": round(progress.train_seconds, 2),
        "wall_seconds": checkpoint.wall_seconds,
        "examples_per_second": round(progress.examples_per_second, 1),
        "train_examples": prepared.train_examples,
        "validation_examples": prepared.validation_examples,
        "parameters": model.count_params(),
        "history": {k: v for k, v in history.items() if k != "epoch"},
    }
    write_json(run_dir / "train_summary.json", summary)
    task.say(
        f"best {cfg.train.monitor} = {checkpoint.best} at epoch {checkpoint.best_epoch} of "
        f"{len(monitored)}, {checkpoint.wall_seconds:.0f} s",
    )
    return run_dir


def _prepare(task: Task, cfg: Any, run_dir: Path) -> tuple[keras.Model, Prepared, int]:
    """Data, info and the compiled model: everything before the first training step."""
    scope, replicas = devices.configure(cfg.train)  # before anything starts TensorFlow
    if cfg.train.distribution == "data_parallel":
        replicas = data_parallel.distribute()  # before the model's variables are made
        if cfg.train.batch_size % replicas:  # each device takes an equal share of a batch
            raise ConfigError(
                f"train.batch_size: {cfg.train.batch_size} does not split evenly over the "
                f"{replicas} devices of data_parallel; use a multiple of {replicas}"
            )
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
        # Partial batches leave TensorFlow's step without a static batch size; the model
        # then pads each training batch to a full one (per replica): faster (speed: pin).
        pin_training_batch(model, -(-cfg.train.batch_size // replicas))
        model.compile(
            optimizer=make_optimizer(cfg.train, epoch_steps),
            **task.compile_args(cfg, prepared.info),
        )
        if prepared.probe_batch is not None:
            # Built here, or fit() builds it from a batch of a fresh iterator of the training
            # stream (JAX always, TensorFlow under a strategy), which advances tf.data's
            # reshuffle seeds by every pass that iterator starts: a resumed stream's skip
            # starts several, and the resumed run would see other batches.
            model._symbolic_build(data_batch=prepared.probe_batch)
        if cfg.train.distribution == "data_parallel":
            data_parallel.forward_per_device(model)
    task.say(f"model: {model.count_params():,} parameters, {replicas} replica(s)")
    return model, prepared, epoch_steps


def keep_logs(run_dir: Path, resume: ResumePoint | None) -> None:
    """Cuts ``history.csv`` and ``grad_norms.csv`` back to the resume point (a killed epoch
    may have logged rows the resumed run writes again); without one, training starts over."""
    for name, column, last in (
        (HISTORY_FILE, "epoch", (resume.epoch - 1) if resume else -1),
        (GRAD_NORMS_FILE, "step", resume.steps if resume else 0),
    ):
        path = run_dir / name
        if not path.exists():
            continue
        with path.open(encoding="utf-8", newline="") as handle:  # keep csv's \r\n
            lines = handle.read().splitlines(keepends=True)
        if not lines or last < 0 or not lines[0].endswith("\n"):
            path.unlink()
            continue
        index = next(csv.reader([lines[0]])).index(column)
        kept = [lines[0]]
        for line in lines[1:]:
            if not line.endswith("\n"):
                break  # the last line of a killed write
            if float(next(csv.reader([line]))[index]) > last:
                break
            kept.append(line)
        write_text(path, "".join(kept))


def read_history(path: Path) -> dict[str, list[float]]:
    """``history.csv`` as columns of numbers (``epoch`` counts from 0, as Keras writes it)."""
    if not path.exists():
        return {}
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    columns: dict[str, list[float]] = {}
    for row in rows:
        for key, value in row.items():
            number = float(value)
            columns.setdefault(key, []).append(int(number) if key == "epoch" else number)
    return columns


def evaluate(
    task: Task, run_dir: Path, split: str = "test", overrides: Sequence[str] = ()
) -> dict[str, Any]:
    """Evaluates the best checkpoint on ``split``; writes ``metrics.json`` (test) or
    ``metrics_<split>.json``.

    ``overrides`` (``data.*`` keys only, e.g. ``data.test_path=other.conll``) score the run on
    other data in the same format: the model, vocabulary and labels stay the run's. The
    metrics, reports and the config used then go to ``evaluations/<split>-<stamp>/``, so the
    run's own metrics are never replaced by another file's."""
    cfg, info = load_run(task, run_dir)
    out_dir = run_dir
    overrides = evaluation_overrides(overrides) if overrides else []
    if overrides:
        cfg = load_config(task.config_class, run_dir / CONFIG_FILE, overrides)
        out_dir = run_dir / "evaluations" / f"{split}-{time.strftime('%Y%m%d-%H%M%S')}"
        out_dir.mkdir(parents=True, exist_ok=True)
    model = load_best_model(run_dir)
    started = time.perf_counter()
    evaluation = task.evaluate(model, cfg, info, split)
    metrics = evaluation.metrics
    record = {
        "task": task.name,
        "split": split,
        "checkpoint": str(BEST_CHECKPOINT),
        **({"overrides": overrides} if overrides else {}),
        **metrics,
        "seconds": round(time.perf_counter() - started, 2),
    }
    reports = task.write_reports(model, cfg, info, evaluation, split, out_dir)
    if reports:
        record["reports"] = [str(Path(p).relative_to(out_dir)) for p in reports]
    if overrides:
        save_config(cfg, out_dir / CONFIG_FILE)
    name = "metrics.json" if split == "test" else f"metrics_{split}.json"
    write_json(out_dir / name, record)
    where = f" ({out_dir.relative_to(run_dir)})" if overrides else ""
    task.say(f"{split}{where}: " + ", ".join(f"{k}={v}" for k, v in metrics.items() if _scalar(v)))
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
    recover_directory(path)  # what a kill in an earlier export left
    temp = temp_sibling(path)
    try:
        example = task.export(model, cfg, info, temp)
        # Checked before it replaces the previous export, which stays servable until then.
        reloaded = tf.saved_model.load(str(temp))
        outputs = reloaded.signatures["serving_default"](**example)
        replace_directory(temp, path)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
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
        print(json.dumps(record, ensure_ascii=False, default=plain), flush=True)
        count += 1
    return count
