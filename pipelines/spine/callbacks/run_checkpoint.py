"""The best checkpoint and an exact, kill-safe resume point, written at epoch ends."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np

from pipelines.spine.atomic import atomic_path, plain, temp_sibling
from pipelines.spine.callbacks.grad_norm_monitor import recorded

BACKUP_DIR = "backup"
VARIABLES_FILE = "variables.bin"  # every variable's bytes in a fixed order; layout in STATE_FILE
BEST_FILE = "best.bin"  # the best weights while best.keras lags behind them
STATE_FILE = "state.json"
# The format before raw variables (still read, so a run started then resumes).
WEIGHTS_FILE = "model.weights.h5"
SEEDS_FILE = "seeds.npz"
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
    layout: list[tuple[str, list[int]]] | None = None  # dtype and shape of each variable saved
    best_layout: list[tuple[str, list[int]]] | None = None  # set when best.bin is there

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
    """Keeps ``best.keras`` (the best epoch by ``monitor``) and writes resume points.

    Put it LAST in the callback list: its ``on_epoch_end`` must see the history row already
    written and the counters of early stopping, the learning-rate plateau and the logging
    callbacks already updated, and its ``on_train_begin`` must restore those counters after
    they reset themselves. A resume point holds every model variable (weights, dropout seed
    states, recurrent states), every optimizer variable (but a gradient-norm record, which is
    recomputed) and the counters of every callback that has ``state_attributes`` or is an
    early-stopping/plateau callback.

    Cadence: a resume point after every ``every_epochs``-th epoch and after the last one (or
    the one training stopped at); resuming from any of them is exact, an older one only
    redoes more epochs. ``best.keras`` is written at the first improvement (of each training
    session), then, while the monitored value keeps improving, at most once per
    ``best_every_seconds`` (0: at every improvement), and at the end of training. Until then
    the best weights wait in memory and go into each resume point, so a killed run that
    resumes loses nothing; ``write_best`` puts them on disk at once (the runner calls it when
    training is interrupted).

    With Polyak averaging (``use_ema``), ``best.keras`` holds the averaged weights, as
    validation saw them; the resume point holds the raw ones (and the averages in the
    optimizer).

    A resume point is copied at the epoch's end and written by a background thread while the
    next epoch trains (a big model's point is hundreds of MB: seconds an epoch otherwise).
    One is written at a time; :meth:`wait` blocks until it is on disk and raises its error,
    and training's end waits. A kill during the write loses only that point (it appears by
    one rename; the one before is removed after it).
    """

    def __init__(
        self,
        run_dir: Path,
        checkpoint: Path,
        monitor: str,
        mode: str,
        resume: ResumePoint | None = None,
        every_epochs: int = 1,
        best_every_seconds: float = 0.0,
    ):
        super().__init__()
        self.run_dir = run_dir
        self.checkpoint = checkpoint
        self.monitor = monitor
        self.mode = mode
        self.resume = resume
        self.every_epochs = every_epochs
        self.best_every_seconds = best_every_seconds
        self.best = resume.best if resume else None
        self.best_epoch = resume.best_epoch if resume else None
        self._wall_before = resume.wall_seconds if resume else 0.0
        self._warned = False
        self._pending: list[np.ndarray] | None = None  # best weights not yet in best.keras
        self._best_written: float | None = None  # perf_counter of this session's last write
        self._writing: threading.Thread | None = None  # the resume point being written
        self._write_error: BaseException | None = None

    # === Restore ===
    def on_train_begin(self, logs=None):
        self._started = time.perf_counter()
        point = self.resume
        if point is None:
            return
        optimizer = self.model.optimizer
        if optimizer is not None and not optimizer.built:
            optimizer.build(self.model.trainable_variables)
        if point.layout is None:
            self._restore_keras_weights(point)
        else:
            _assign(
                state_variables(self.model),
                _read(point.path / VARIABLES_FILE, point.layout),
            )
        if point.best_layout is not None:
            self._pending = _read(point.path / BEST_FILE, point.best_layout)
        for key, callback in self._stateful():
            for name, value in point.callbacks.get(key, {}).items():
                setattr(callback, name, value)

    def _restore_keras_weights(self, point: ResumePoint) -> None:
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
            self._pending = self._best_weights()
            since = None if self._best_written is None else time.perf_counter() - self._best_written
            if since is None or since >= self.best_every_seconds:
                self.write_best()
        done = epoch + 1
        last = done >= (self.params or {}).get("epochs", done) or self.model.stop_training
        if last or done % self.every_epochs == 0:
            self._save_point(done)

    def on_train_end(self, logs=None):
        try:
            self.wait()
        finally:
            self.write_best()

    def wait(self) -> None:
        """Returns once the resume point being written (if any) is on disk; raises the error
        that stopped its write."""
        writing, self._writing = self._writing, None
        if writing is not None:
            writing.join()
        error, self._write_error = self._write_error, None
        if error is not None:
            raise error

    def _improved(self, current: float) -> bool:
        if not math.isfinite(current):
            return False
        if self.best is None:
            return True
        return current < self.best if self.mode == "min" else current > self.best

    def _best_weights(self) -> list[np.ndarray]:
        """A copy of the weights ``best.keras`` is to hold (the averaged ones with EMA)."""
        swapper = None
        if getattr(self.model.optimizer, "use_ema", False):
            swapper = keras.callbacks.SwapEMAWeights()
            swapper.set_model(self.model)
            swapper._swap_variables()  # the averaged weights, as validation saw them
        try:
            return [np.array(v.numpy(), copy=True) for v in self.model.weights]
        finally:
            if swapper is not None:
                swapper._swap_variables()

    def write_best(self) -> None:
        """Writes the best weights waiting in memory (if any) to ``best.keras`` now."""
        if self._pending is None:
            return
        weights = self.model.weights
        current = [np.array(v.numpy(), copy=True) for v in weights]
        _assign(weights, self._pending)
        try:
            with atomic_path(self.checkpoint) as temp:
                self.model.save(temp)
        finally:
            _assign(weights, current)
        self._pending = None
        self._best_written = time.perf_counter()

    def _save_point(self, epoch: int) -> None:
        """Copies what the resume point after ``epoch`` holds, then writes it in the
        background (after the previous one is done)."""
        self.wait()
        # Copies: the next steps update the variables in place while the thread writes.
        arrays = [np.array(v.numpy(), copy=True) for v in state_variables(self.model)]
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
            "layout": _layout(arrays),
            "best_layout": _layout(self._pending) if self._pending else None,
        }
        # Made here: callbacks' counters may change while the thread writes.
        text = json.dumps(state, indent=2, default=plain) + "\n"
        best = self._pending  # replaced, never changed in place: no copy needed

        def write() -> None:
            try:
                _write_point(self.run_dir / BACKUP_DIR, epoch, arrays, best, text)
            except BaseException as error:  # raised by the next wait()
                self._write_error = error

        self._writing = threading.Thread(target=write, name=f"resume-point-{epoch}")
        self._writing.start()

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


def _write_point(
    backup: Path,
    epoch: int,
    arrays: list[np.ndarray],
    best: list[np.ndarray] | None,
    state: str,
) -> None:
    """Writes ``backup/epoch-NNNN`` whole (a temporary directory renamed into place), then
    removes the older points. ``state`` is the text of its ``state.json``."""
    final = backup / f"epoch-{epoch:04d}"
    temp = temp_sibling(final)
    temp.mkdir(parents=True)
    try:
        _write(temp / VARIABLES_FILE, arrays)
        if best:
            _write(temp / BEST_FILE, best)
        # No fsync: the directory appears whole by one rename, and a kill (not a power
        # cut) loses nothing the page cache holds; an fsync cost more than the write.
        (temp / STATE_FILE).write_text(state, encoding="utf-8")
        if final.exists():  # the same epoch again (a resumed run redoing it)
            shutil.rmtree(final)
        os.rename(temp, final)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    for older in backup.glob("epoch-*"):
        if older != final:
            shutil.rmtree(older, ignore_errors=True)


def state_variables(model: keras.Model) -> list[Any]:
    """What a resume point holds, in a fixed order: the model's variables (weights, dropout
    seed states, recurrent states), then the optimizer's (step, slots, Polyak averages, loss
    scale), without the gradient-norm record (recomputed, never saved)."""
    optimizer = model.optimizer
    record = recorded(optimizer) if optimizer is not None else None
    skip = {id(record.squares), id(record.step)} if record is not None else set()
    found: list[Any] = []
    seen: set[int] = set()
    generators = [g.state for g in seed_generators(model)]
    for variable in [*model.variables, *generators, *(optimizer.variables if optimizer else [])]:
        if id(variable) not in seen and id(variable) not in skip:
            seen.add(id(variable))
            found.append(variable)
    return found


def _write(path: Path, arrays: list[Any]) -> list[tuple[str, list[int]]]:
    """Writes the arrays' bytes one after another (no per-array container: a resume point
    costs little more than the bytes); returns their :func:`_layout`."""
    with open(path, "wb") as handle:
        for array in arrays:
            array = np.asarray(array)
            contiguous = array.ndim and array.flags.c_contiguous
            handle.write(array.data if contiguous else array.tobytes())
    return _layout(arrays)


def _layout(arrays: list[Any]) -> list[tuple[str, list[int]]]:
    """The dtype name and shape of each array, in order: what :func:`_read` needs."""
    return [(np.asarray(a).dtype.name, list(np.shape(a))) for a in arrays]


def _read(path: Path, layout: list[Any]) -> list[np.ndarray]:
    """The arrays :func:`_write` wrote with ``layout``."""
    data = path.read_bytes()
    arrays, offset = [], 0
    for dtype_name, shape in layout:
        dtype = np.dtype(dtype_name)
        count = int(np.prod(shape, dtype=np.int64))
        arrays.append(np.frombuffer(data, dtype, count, offset).reshape(shape))
        offset += count * dtype.itemsize
    if offset != len(data):
        raise ValueError(f"{path}: {len(data)} bytes where its layout says {offset}")
    return arrays


def _assign(variables: list[Any], arrays: list[np.ndarray]) -> None:
    """Assigns ``arrays`` to ``variables`` in order, after checking they match one to one."""
    if len(variables) != len(arrays) or any(
        tuple(v.shape) != tuple(a.shape) for v, a in zip(variables, arrays, strict=False)
    ):
        raise ValueError(
            f"{len(arrays)} saved arrays for {len(variables)} variables of other shapes: the "
            "run's code changed since its resume point was saved"
        )
    for variable, array in zip(variables, arrays, strict=True):
        variable.assign(array)


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
