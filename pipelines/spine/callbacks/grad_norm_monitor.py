"""Gradient-norm monitor: catches vanishing and exploding gradients while training."""

from __future__ import annotations

import csv
import math
import sys
from collections import OrderedDict
from pathlib import Path

import keras
import tensorflow as tf


class GradientNormMonitor(keras.callbacks.Callback):
    """Every ``every`` steps, logs the global gradient norm and the norm per layer.

    The gradients are those of the training loss on a fixed probe batch at the current
    weights (one extra forward/backward pass per log), so numbers are comparable over time.
    They go to ``csv_path`` (one row per log, one column per layer) and, with ``log_dir``, to
    TensorBoard under ``grad_norm/``. A warning is printed once when the global norm first
    exceeds ``explode_threshold`` and once when some layer's norm first falls below
    ``vanish_threshold``; both also appear in ``self.events``. The step count continues over
    a resumed run (``state_attributes``, saved by ``RunCheckpoint``).
    """

    state_attributes = ("_step",)

    def __init__(
        self,
        probe_batch,
        every: int,
        csv_path: str | Path,
        log_dir: str | Path | None = None,
        explode_threshold: float = 1e3,
        vanish_threshold: float = 1e-6,
    ):
        super().__init__()
        self.probe_batch = probe_batch
        self.every = every
        self.csv_path = Path(csv_path)
        self.log_dir = Path(log_dir) if log_dir else None
        self.explode_threshold = explode_threshold
        self.vanish_threshold = vanish_threshold
        self.events: list[str] = []
        self.last_norms: dict[str, float] = {}
        self._step = 0
        self._warned: set[str] = set()

    def on_train_begin(self, logs=None):
        variables = self.model.trainable_variables
        prefix = self.model.name + "/"
        self._groups: OrderedDict[str, list[int]] = OrderedDict()
        for index, variable in enumerate(variables):
            layer = variable.path.rsplit("/", 1)[0].removeprefix(prefix)
            self._groups.setdefault(layer, []).append(index)
        self._norms_fn = tf.function(self._squared_norms, reduce_retracing=True)
        new_file = not self.csv_path.exists()
        self._csv_handle = open(self.csv_path, "a", newline="")  # noqa: SIM115 (closed at end)
        self._csv = csv.writer(self._csv_handle)
        if new_file:
            self._csv.writerow(["step", "global", *self._groups])
        self._writer = (
            tf.summary.create_file_writer(str(self.log_dir / "grad_norm")) if self.log_dir else None
        )

    def _squared_norms(self, x, y):
        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            y_pred = self.model(x, training=True)
            loss = self.model.compute_loss(x=x, y=y, y_pred=y_pred, training=True)
        grads = tape.gradient(loss, variables)
        return [
            tf.zeros(())
            if g is None
            else tf.reduce_sum(tf.square(tf.cast(tf.convert_to_tensor(g), tf.float32)))
            for g in grads
        ]

    def compute(self) -> dict[str, float]:
        """Global and per-layer gradient norms on the probe batch, now."""
        x, y = self.probe_batch[0], self.probe_batch[1]
        squared = [float(s) for s in self._norms_fn(x, y)]
        norms = {"global": math.sqrt(sum(squared))}
        for layer, indices in self._groups.items():
            norms[layer] = math.sqrt(sum(squared[i] for i in indices))
        return norms

    def on_train_batch_end(self, batch, logs=None):
        self._step += 1
        if self.every and self._step % self.every == 0:
            self._log(self.compute())

    def _log(self, norms: dict[str, float]) -> None:
        self.last_norms = norms
        self._csv.writerow([self._step, *(f"{v:.6g}" for v in norms.values())])
        self._csv_handle.flush()
        if self._writer is not None:
            with self._writer.as_default(step=self._step):
                for name, value in norms.items():
                    tf.summary.scalar(f"grad_norm/{name}", value)
        if norms["global"] > self.explode_threshold or not math.isfinite(norms["global"]):
            self._warn_once(
                "explode",
                f"step {self._step}: global gradient norm {norms['global']:.3g} > "
                f"{self.explode_threshold:g} (train.grad_explode_threshold): gradients are "
                f"exploding; lower train.learning_rate or train.clipnorm",
            )
        small = [
            name for name, v in norms.items() if name != "global" and v < self.vanish_threshold
        ]
        if small:
            self._warn_once(
                "vanish",
                f"step {self._step}: gradient norm of {small[0]} is "
                f"{norms[small[0]]:.3g} < {self.vanish_threshold:g} "
                f"(train.grad_vanish_threshold): gradients are vanishing there"
                + (f" (and {len(small) - 1} more layers)" if len(small) > 1 else ""),
            )

    def _warn_once(self, kind: str, message: str) -> None:
        if kind in self._warned:
            return
        self._warned.add(kind)
        self.events.append(message)
        print(f"WARNING [grad-norm] {message}", file=sys.stderr, flush=True)

    def on_train_end(self, logs=None):
        self._csv_handle.close()
        if self._writer is not None:
            self._writer.close()
