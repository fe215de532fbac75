"""Optimizer, learning-rate schedule and the shared callback list, all from ``TrainConfig``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
from keras import ops

from pipelines.spine.callbacks.epoch_tensorboard import EpochTensorBoard
from pipelines.spine.callbacks.grad_norm_monitor import (
    GradientNormMonitor,
    record_gradient_norms,
)
from pipelines.spine.callbacks.progress_logger import ProgressLogger
from pipelines.spine.callbacks.run_checkpoint import ResumePoint, RunCheckpoint
from pipelines.spine.run_dir import BEST_CHECKPOINT, GRAD_NORMS_FILE, HISTORY_FILE
from pipelines.spine.sections import TrainConfig


def steps_per_epoch(train: TrainConfig, train_batches: int) -> int:
    """Optimizer steps in one epoch (what schedules and progress lines count): the configured
    ``train.steps_per_epoch``, else the exact number of batches in one pass over the data."""
    return train.steps_per_epoch or max(1, train_batches)


def make_optimizer(train: TrainConfig, epoch_steps: int) -> keras.optimizers.Optimizer:
    """The configured optimizer, clipping by global norm when ``train.clipnorm`` is set. With
    ``train.grad_norm_every`` it records the gradient norms the monitor logs
    (:func:`record_gradient_norms`: from the step's own gradients, before clipping)."""
    learning_rate: Any = train.learning_rate
    if train.lr_schedule == "cosine":
        total = max(1, train.epochs * epoch_steps - train.warmup_steps)
        learning_rate = keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=0.0 if train.warmup_steps else train.learning_rate,
            decay_steps=total,
            warmup_target=train.learning_rate if train.warmup_steps else None,
            warmup_steps=train.warmup_steps,
        )
    kwargs: dict[str, Any] = {"learning_rate": learning_rate}
    if train.clipnorm:
        kwargs["global_clipnorm"] = train.clipnorm
    if train.ema_momentum is not None:
        kwargs.update(use_ema=True, ema_momentum=train.ema_momentum)
    if train.optimizer == "adam":
        optimizer = keras.optimizers.Adam(**kwargs)
    elif train.optimizer == "adamw":
        optimizer = keras.optimizers.AdamW(weight_decay=train.weight_decay, **kwargs)
    elif train.optimizer == "rmsprop":
        optimizer = keras.optimizers.RMSprop(**kwargs)
    else:
        optimizer = keras.optimizers.SGD(momentum=0.9, nesterov=True, **kwargs)
    if train.ema_momentum is not None:
        warm_up_ema(optimizer)
    if train.grad_norm_every:
        record_gradient_norms(optimizer, train.grad_norm_every)
    return optimizer


def warm_up_ema(optimizer: keras.optimizers.Optimizer) -> None:
    """Makes the optimizer's weight average forget its start: at step ``t`` the momentum is
    ``min(ema_momentum, (1 + t) / (10 + t))`` (the ``num_updates`` rule of TensorFlow's
    ``ExponentialMovingAverage``) instead of ``ema_momentum`` from the first step.

    With a fixed 0.999, after 300 steps the average still holds 74% of the first step's
    weights (0.999 ** 300), which ruins short runs; with the warm-up it averages over about
    the last ``t / 10`` steps until the configured horizon is reached. Only the instance is
    changed: its saved config is a plain Keras optimizer's (``ema_momentum`` the final value).
    """

    def update(trainable_variables):
        step = ops.cast(optimizer.iterations, "float32")
        warm = ops.divide(ops.add(step, 1.0), ops.add(step, 10.0))
        momentum = ops.multiply(
            ops.cast(ops.not_equal(optimizer.iterations, 0), "float32"),
            ops.minimum(warm, optimizer.ema_momentum),
        )
        for var, average in zip(
            trainable_variables, optimizer._model_variables_moving_average, strict=True
        ):
            if average is not None:
                m = ops.cast(momentum, var.dtype)
                average.assign(ops.add(ops.multiply(m, average), ops.multiply(1 - m, var)))

    optimizer._update_model_variables_moving_average = update


def make_callbacks(
    train: TrainConfig,
    run_dir: Path,
    task_callbacks: list[keras.callbacks.Callback],
    epoch_steps: int,
    resume: ResumePoint | None = None,
) -> tuple[list[keras.callbacks.Callback], ProgressLogger, RunCheckpoint]:
    """Task callbacks first (they may add metrics such as ``val_f1``), then the shared ones,
    and last the checkpoint, which saves every other callback's counters with each resume
    point and restores them from ``resume``. Cadence (what a bare ``fit`` does not pay for):
    gradient norms every ``train.grad_norm_every`` steps, TensorBoard per epoch
    (``train.tensorboard``), a resume point every ``train.resume_every_epochs`` epochs,
    ``best.keras`` at most every ``train.checkpoint_every_seconds`` seconds."""
    progress = ProgressLogger(train.batch_size, train.log_every_steps, epoch_steps)
    callbacks = [*task_callbacks, progress, keras.callbacks.TerminateOnNaN()]
    if train.grad_norm_every:
        callbacks.append(
            GradientNormMonitor(
                every=train.grad_norm_every,
                csv_path=run_dir / GRAD_NORMS_FILE,
                log_dir=run_dir / "logs" if train.tensorboard else None,
                explode_threshold=train.grad_explode_threshold,
                vanish_threshold=train.grad_vanish_threshold,
            )
        )
    if train.ema_momentum is not None:
        # Validation sees the averaged weights; RunCheckpoint saves them as best.keras.
        callbacks.append(keras.callbacks.SwapEMAWeights(swap_on_epoch=False))
    callbacks.append(keras.callbacks.CSVLogger(str(run_dir / HISTORY_FILE), append=True))
    if train.early_stopping_patience:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor=train.monitor,
                mode=train.monitor_mode,
                patience=train.early_stopping_patience,
                restore_best_weights=False,  # the best checkpoint on disk is what later steps use
            )
        )
    if train.lr_schedule == "plateau":
        callbacks.append(
            keras.callbacks.ReduceLROnPlateau(
                monitor=train.monitor, mode=train.monitor_mode, factor=0.5, patience=1
            )
        )
    if train.tensorboard:
        callbacks.append(EpochTensorBoard(run_dir / "logs"))
    checkpoint = RunCheckpoint(
        run_dir,
        run_dir / BEST_CHECKPOINT,
        train.monitor,
        train.monitor_mode,
        resume,
        every_epochs=train.resume_every_epochs,
        best_every_seconds=train.checkpoint_every_seconds,
    )
    checkpoint.watch(callbacks)
    return [*callbacks, checkpoint], progress, checkpoint
