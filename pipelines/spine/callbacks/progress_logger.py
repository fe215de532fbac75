"""Progress and throughput, measured per step rather than around ``fit``."""

from __future__ import annotations

import sys
import time

import keras


class ProgressLogger(keras.callbacks.Callback):
    """Times training steps and, with ``every`` > 0, prints a progress line every N steps.

    Timing inside the steps keeps tf.data's autotune shutdown (which can hold ``fit`` for
    seconds after the last step) out of the throughput figures. Its totals continue over a
    resumed run (``state_attributes``, saved by ``RunCheckpoint``).
    """

    state_attributes = ("train_seconds", "steps", "epochs_run")

    def __init__(self, batch_size: int, every: int = 0, steps_per_epoch: int | None = None):
        super().__init__()
        self.batch_size = batch_size
        self.every = every
        self.steps_per_epoch = steps_per_epoch
        self.train_seconds = 0.0
        self.steps = 0
        self.epochs_run = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._epoch_start = time.perf_counter()
        self._epoch_steps = 0

    def on_train_batch_end(self, batch, logs=None):
        self._epoch_steps += 1
        self.steps += 1
        if self.every and self._epoch_steps % self.every == 0:
            elapsed = time.perf_counter() - self._epoch_start
            total = f"/{self.steps_per_epoch}" if self.steps_per_epoch else ""
            metrics = " ".join(f"{k} {v:.4f}" for k, v in (logs or {}).items())
            print(
                f"epoch {self._epoch + 1} step {self._epoch_steps}{total} {metrics} "
                f"({self._epoch_steps * self.batch_size / elapsed:.0f} examples/s)",
                file=sys.stderr,
                flush=True,
            )

    def on_test_begin(self, logs=None):
        self._test_start = time.perf_counter()

    def on_test_end(self, logs=None):
        # Validation inside fit() is not training time.
        self._epoch_start += time.perf_counter() - self._test_start

    def on_epoch_end(self, epoch, logs=None):
        self.train_seconds += time.perf_counter() - self._epoch_start
        self.epochs_run += 1

    @property
    def examples_per_second(self) -> float:
        return self.steps * self.batch_size / self.train_seconds if self.train_seconds else 0.0
