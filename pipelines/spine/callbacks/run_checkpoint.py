"""The best checkpoint and an exact, kill-safe resume point, written together at epoch ends."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np

from pipelines.spine.atomic import atomic_path, temp_sibling, write_json

BACKUP_DIR = "backup"
WEIGHTS_FILE = "model.weights.h5"  # model and optimizer variables (Keras saves both)
SEEDS_FILE = "seeds.npz"
STATE_FILE = "state.json"
# Keras callbacks whose counters decide what happens next (stop, halve the learning rate).
KERAS_STATE = {
    keras.callbacks.EarlyStopping: ("wait", "best", "best_epoch", "stopped_epoch"),
    keras.callbacks.ReduceLROnPlateau: ("wait", "best", "cooldown_counter"),
}


@dataclasses.dataclass
class ResumePoint:
    """What one finished epoch left behind: enough to continue as if never stopped."""

    path: Path  # backup/epoch-NNNN
    epoch: int  # epochs finished
    steps: int  # optimizer steps taken
    stopped: bool  # training ended early (early stopping, NaN): nothing left to run
    best: float | None  # the monitored value of best.keras
    best_epoch: int | None
    wall_seconds: float
    callbacks: dict[str, dict[str, Any]]

    @classmethod
    def latest(cls, run_dir: Path) -> ResumePoint | None:
        """The newest complete resume point of ``run_dir`` (directories appear by one rename,
        so a listed one is complete)."""
        points = sorted((run_dir / BACKUP_DIR).glob("epoch-*")) if run_dir.is_dir() else []
        if not points:
            return None
        path = points[-1]
        state = json.loads((path / STATE_FILE).read_text(encoding="utf-8"))
        return cls(path=path, **state)


class RunCheckpoint(keras.callbacks.Callback):
    """Saves ``best.keras`` when the monitored value improves, then a resume point.

    Put it LAST in the callback list: its ``on_epoch_end`` must see the history row already
    written and the counters of early stopping, the learning-rate plateau and the logging
    callbacks already updated, and its ``on_train_begin`` must restore those counters after
    they reset themselves. A resume point holds the model and optimizer variables, the dropout
    seed states (Keras's weight files leave them out) and the counters of every callback that
    has ``state_attributes`` or is an early-stopping/plateau callback.

    With Polyak averaging (``use_ema``), ``best.keras`` holds the averaged weights, as
    validation saw them; the resume point holds the raw ones (and the averages in the
    optimizer).
    """

    def __init__(
        self,
        run_dir: Path,
        checkpoint: Path,
        monitor: str,
        mode: str,
        resume: ResumePoint | None = None,
    ):
        super().__init__()
        self.run_dir = run_dir
        self.checkpoint = checkpoint
        self.monitor = monitor
        self.mode = mode
        self.resume = resume
        self.best = resume.best if resume else None
        self.best_epoch = resume.best_epoch if resume else None
        self._wall_before = resume.wall_seconds if resume else 0.0
        self._warned = False

    # === Restore ===
    def on_train_begin(self, logs=None):
        self._started = time.perf_counter()
        point = self.resume
        if point is None:
            return
        optimizer = self.model.optimizer
        if optimizer is not None and not optimizer.built:
            optimizer.build(self.model.trainable_variables)
        self.model.load_weights(point.path / WEIGHTS_FILE)
        with np.load(point.path / SEEDS_FILE) as seeds:
            generators = seed_generators(self.model)
            if len(seeds.files) != len(generators):
                raise ValueError(
                    f"{point.path}: {len(seeds.files)} saved seed states for a model with "
                    f"{len(generators)}: the run's code changed since it was saved"
                )
            for index, generator in enumerate(generators):
                generator.state.assign(seeds[f"s{index}"])
        for key, callback in self._stateful():
            for name, value in point.callbacks.get(key, {}).items():
                setattr(callback, name, value)

    # === Save ===
    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        current = logs.get(self.monitor)
        if current is None:
            if not self._warned:
                self._warned = True
                print(
                    f"WARNING train.monitor {self.monitor!r} is not logged "
                    f"(logged: {', '.join(sorted(logs))}); no best checkpoint is saved",
                    file=sys.stderr,
                    flush=True,
                )
        elif self._improved(float(current)):
            self.best, self.best_epoch = float(current), epoch + 1
            self._save_best()
        self._save_point(epoch + 1)

    def _improved(self, current: float) -> bool:
        if not math.isfinite(current):
            return False
        if self.best is None:
            return True
        return current < self.best if self.mode == "min" else current > self.best

    def _save_best(self) -> None:
        optimizer = self.model.optimizer
        ema = getattr(optimizer, "use_ema", False)
        swapper = keras.callbacks.SwapEMAWeights()
        swapper.set_model(self.model)
        if ema:
            swapper._swap_variables()  # the averaged weights, as validation saw them
        try:
            with atomic_path(self.checkpoint) as temp:
                self.model.save(temp)
        finally:
            if ema:
                swapper._swap_variables()

    def _save_point(self, epoch: int) -> None:
        backup = self.run_dir / BACKUP_DIR
        final = backup / f"epoch-{epoch:04d}"
        temp = temp_sibling(final)
        temp.mkdir(parents=True)
        try:
            self.model.save_weights(temp / WEIGHTS_FILE)
            generators = seed_generators(self.model)
            np.savez(
                temp / SEEDS_FILE,
                **{f"s{i}": np.asarray(g.state.numpy()) for i, g in enumerate(generators)},
            )
            state = {
                "epoch": epoch,
                "steps": int(self.model.optimizer.iterations.numpy()),
                "stopped": bool(self.model.stop_training),
                "best": self.best,
                "best_epoch": self.best_epoch,
                "wall_seconds": self.wall_seconds,
                "callbacks": {
                    key: {name: _plain(getattr(cb, name)) for name in _attributes(cb)}
                    for key, cb in self._stateful()
                },
            }
            write_json(temp / STATE_FILE, state)
            if final.exists():  # the same epoch again (a resumed run redoing it)
                shutil.rmtree(final)
            os.rename(temp, final)
        finally:
            shutil.rmtree(temp, ignore_errors=True)
        for older in backup.glob("epoch-*"):
            if older != final:
                shutil.rmtree(older, ignore_errors=True)

    @property
    def wall_seconds(self) -> float:
        """Seconds in ``fit`` over every session of this run."""
        return round(self._wall_before + time.perf_counter() - self._started, 2)

    def _stateful(self) -> list[tuple[str, keras.callbacks.Callback]]:
        callbacks = getattr(self, "_callbacks", [])
        return [
            (f"{i}-{type(cb).__name__}", cb) for i, cb in enumerate(callbacks) if _attributes(cb)
        ]

    def watch(self, callbacks: list[keras.callbacks.Callback]) -> None:
        """The callbacks whose counters the resume point saves and restores."""
        self._callbacks = list(callbacks)


def _attributes(callback: keras.callbacks.Callback) -> tuple[str, ...]:
    for cls, names in KERAS_STATE.items():
        if isinstance(callback, cls):
            return names
    return tuple(getattr(callback, "state_attributes", ()))


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def seed_generators(model: keras.Model) -> list[Any]:
    """Every Keras seed generator of the model's layers (dropout masks), in a fixed order."""
    found: list[Any] = []
    seen: set[int] = set()
    for layer in model._flatten_layers(include_self=True, recursive=True):
        for generator in getattr(layer, "_seed_generators", []):
            if id(generator) not in seen:
                seen.add(id(generator))
                found.append(generator)
    return found
