"""Gradient norms from the training step's own gradients; the monitor that logs and checks them.

:func:`record_gradient_norms` hooks an optimizer so that every ``every`` optimizer steps the
gradients it is given are reduced to one squared sum per variable, inside the compiled step
(``keras.ops`` only, so any backend), and kept in two optimizer variables (the sums and the
step they belong to). :class:`GradientNormMonitor` reads those few numbers every ``every``
steps and writes ``grad_norms.csv``, TensorBoard and its warnings. There is no probe batch, no
second forward/backward pass and no function of its own to trace.
"""

from __future__ import annotations

import contextlib
import csv
import math
import sys
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
from keras import ops

RECORD = "_gradient_norm_record"  # the optimizer attribute holding the record


@dataclass
class _Record:
    """What :func:`record_gradient_norms` adds to one optimizer."""

    optimizer: Any  # the optimizer that applies the gradients (inside any loss-scale wrapper)
    every: int
    squares: Any = None  # keras.Variable (variables,) float32: squared sum of each gradient
    step: Any = None  # keras.Variable () int: the optimizer step those sums belong to; 0 = none
    guarded: set[int] = field(default_factory=set)  # ids of optimizers saving without them


def record_gradient_norms(optimizer: keras.optimizers.Optimizer, every: int) -> bool:
    """Makes ``optimizer`` record the squared sum of each variable's gradient at every
    ``every``-th optimizer step (steps counted from 1, as ``optimizer.iterations`` after the
    update). Returns True if it was not recording yet (then a training function traced
    before does not record: trace it again).

    What is recorded is the gradient the update is computed from, before clipping
    (``global_clipnorm``/``clipnorm``/``clipvalue``), after loss-scale unscaling, summed over
    replicas under a TensorFlow ``MirroredStrategy``; sparse (``IndexedSlices``) gradients
    count repeated rows once, as their dense form would. The two variables are optimizer
    variables (so a stateless backend such as JAX carries them through its compiled step)
    but are left out of everything the optimizer saves: checkpoints and resume points are
    the same as without the record, and a resumed run records again from its next step.
    """
    inner = getattr(optimizer, "inner_optimizer", optimizer)  # LossScaleOptimizer wraps one
    record = getattr(inner, RECORD, None)
    fresh = record is None
    if record is None:
        record = _Record(inner, every)
        setattr(inner, RECORD, record)
        _hook_build(record)
        _hook_apply(record)
        if inner.built:
            _create_variables(record, len(inner._trainable_variables))
    elif record.every != every:
        raise ValueError(
            f"the optimizer already records gradient norms every {record.every} steps, not {every}"
        )
    for owner in (optimizer, inner):
        _leave_out_of_saving(owner, record)
    return fresh


def recorded(optimizer: keras.optimizers.Optimizer) -> _Record | None:
    """The record :func:`record_gradient_norms` added to ``optimizer`` (or its inner one)."""
    return getattr(getattr(optimizer, "inner_optimizer", optimizer), RECORD, None)


def _hook_build(record: _Record) -> None:
    optimizer = record.optimizer
    build = optimizer.build

    def build_and_record(variables):
        build(variables)
        if record.squares is None:
            _create_variables(record, len(variables))

    optimizer.build = build_and_record


def _create_variables(record: _Record, count: int) -> None:
    optimizer = record.optimizer
    # Made where the optimizer's own variables are (a TensorFlow strategy's scope, which an
    # optimizer built before the hook is no longer in). Every replica writes the same,
    # already summed values; the first one's is kept.
    strategy = getattr(optimizer, "_distribution_strategy", None)
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        record.squares = optimizer.add_variable(
            (count,), dtype="float32", aggregation="only_first_replica", name="gradient_squares"
        )
        record.step = optimizer.add_variable(
            (),
            dtype=optimizer._iterations.dtype,
            aggregation="only_first_replica",
            name="gradient_squares_step",
        )


def _hook_apply(record: _Record) -> None:
    # ``_backend_apply_gradients`` gets the gradients with their variables after empty ones
    # are dropped and loss scaling is undone, and clips them first thing: the one place every
    # backend (and keras' gradient accumulation) passes through with the unclipped gradient.
    optimizer = record.optimizer
    apply = optimizer._backend_apply_gradients

    def apply_and_record(grads, trainable_variables):
        _record_step(record, grads, trainable_variables)
        return apply(grads, trainable_variables)

    optimizer._backend_apply_gradients = apply_and_record


def _record_step(record: _Record, grads: Sequence[Any], variables: Sequence[Any]) -> None:
    optimizer = record.optimizer
    grads = _summed_over_replicas(list(grads))
    indices = [optimizer._get_variable_index(v) for v in variables]
    step = ops.add(optimizer.iterations, 1)  # the step this update completes
    due = ops.equal(ops.mod(step, record.every), 0)
    count = record.squares.shape[0]

    def measure():
        sums = [ops.zeros((), "float32")] * count
        for index, gradient in zip(indices, grads, strict=True):
            sums[index] = _squared_sum(gradient)
        return ops.stack(sums)

    # A functional cond (values out, assigned after) runs on stateless backends too; the
    # other 49 of 50 steps pay for a branch and two tiny assigns.
    squares, previous = ops.convert_to_tensor(record.squares), ops.convert_to_tensor(record.step)
    record.squares.assign(ops.cond(due, measure, lambda: squares))
    record.step.assign(ops.where(due, ops.cast(step, record.step.dtype), previous))


def _summed_over_replicas(grads: list[Any]) -> list[Any]:
    """Under a TensorFlow ``MirroredStrategy`` each replica holds its share of the gradient
    (Keras all-reduces after clipping); the norm is of their sum. Elsewhere: as given."""
    if keras.backend.backend() != "tensorflow":
        return grads  # JAX data parallelism hands the step global arrays
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync < 2:
        return grads
    return context.all_reduce(tf.distribute.ReduceOp.SUM, grads)


def _squared_sum(gradient: Any) -> Any:
    """Sum of squares of one gradient, in float32, as of its dense form."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        if isinstance(gradient, tf.IndexedSlices):
            gradient = _rows_summed(gradient)
    return ops.sum(ops.square(ops.cast(gradient, "float32")))


def _rows_summed(gradient: Any) -> Any:
    """An embedding's gradient (``IndexedSlices``) lists a row once per occurrence; its dense
    form adds the repeats up. Sorting the indices and summing runs of equal ones does that
    with static shapes (``tf.unique`` would not compile under XLA, which Keras turns on for
    a GPU's train step), without the vocabulary-sized dense tensor."""
    import tensorflow as tf

    order = tf.argsort(gradient.indices)
    indices = tf.gather(gradient.indices, order)
    starts = tf.concat([[True], tf.not_equal(indices[1:], indices[:-1])], axis=0)
    runs = tf.cumsum(tf.cast(starts, tf.int32)) - 1
    count = tf.shape(indices)[0]  # runs ≤ occurrences; the spare rows stay zero
    return tf.math.unsorted_segment_sum(tf.gather(gradient.values, order), runs, count)


def _leave_out_of_saving(owner: keras.optimizers.Optimizer, record: _Record) -> None:
    """``owner`` saves and loads its variables as if the record's were not there (a wrapper
    such as ``LossScaleOptimizer`` saves its inner optimizer's variables too)."""
    if id(owner) in record.guarded:
        return
    record.guarded.add(id(owner))
    save, load = owner.save_own_variables, owner.load_own_variables

    def save_own_variables(store):
        with _hidden(record):
            save(store)

    def load_own_variables(store):
        with _hidden(record):
            load(store)

    owner.save_own_variables = save_own_variables
    owner.load_own_variables = load_own_variables


@contextlib.contextmanager
def _hidden(record: _Record) -> Iterator[None]:
    optimizer = record.optimizer
    variables = optimizer._variables  # the list ``optimizer.variables`` copies
    kept = [v for v in variables if v is not record.squares and v is not record.step]
    # Swapped past attribute tracking, and the very same list put back afterwards.
    object.__setattr__(optimizer, "_variables", kept)
    try:
        yield
    finally:
        object.__setattr__(optimizer, "_variables", variables)


class GradientNormMonitor(keras.callbacks.Callback):
    """Every ``every`` steps, logs the global gradient norm and the norm per layer.

    The norms are those of the gradient each logged step trained on (its own batch, at the
    weights before its update, before clipping), recorded inside the training step by
    :func:`record_gradient_norms` (installed here if the optimizer does not record yet).
    They go to ``csv_path`` (one row per log, one column per layer) and, with ``log_dir``, to
    TensorBoard under ``grad_norm/``. A warning is printed once when the global norm first
    exceeds ``explode_threshold`` and once when some layer's norm first falls below
    ``vanish_threshold``; both also appear in ``self.events``. The step count continues over
    a resumed run (``state_attributes``, saved by ``RunCheckpoint``).
    """

    state_attributes = ("_step",)

    def __init__(
        self,
        every: int,
        csv_path: str | Path,
        log_dir: str | Path | None = None,
        explode_threshold: float = 1e3,
        vanish_threshold: float = 1e-6,
    ):
        super().__init__()
        self.every = every
        self.csv_path = Path(csv_path)
        self.log_dir = Path(log_dir) if log_dir else None
        self.explode_threshold = explode_threshold
        self.vanish_threshold = vanish_threshold
        self.events: list[str] = []
        self.last_norms: dict[str, float] = {}
        self._step = 0
        self._logged = 0
        self._warned: set[str] = set()

    def on_train_begin(self, logs=None):
        optimizer = self.model.optimizer
        if not optimizer.built:
            optimizer.build(self.model.trainable_variables)
        if record_gradient_norms(optimizer, self.every):
            # A training function traced before the hook would not record: trace anew.
            self.model.make_train_function(force=True)
        self._record = recorded(optimizer)
        prefix = self.model.name + "/"
        self._groups: OrderedDict[str, list[int]] = OrderedDict()
        for index, variable in enumerate(self._record.optimizer._trainable_variables):
            layer = variable.path.rsplit("/", 1)[0].removeprefix(prefix)
            self._groups.setdefault(layer, []).append(index)
        # What the record holds now was logged by an earlier fit, or is empty (0): a resumed
        # run's record starts empty, as it is never saved.
        self._logged = int(ops.convert_to_numpy(self._record.step))
        new_file = not self.csv_path.exists()
        self._csv_handle = open(self.csv_path, "a", newline="")  # noqa: SIM115 (closed at end)
        self._csv = csv.writer(self._csv_handle)
        if new_file:
            self._csv.writerow(["step", "global", *self._groups])
        self._writer = None
        if self.log_dir:
            import tensorflow as tf

            self._writer = tf.summary.create_file_writer(str(self.log_dir / "grad_norm"))

    def on_train_batch_end(self, batch, logs=None):
        self._step += 1
        if self._step % self.every == 0:
            self._collect()

    def on_epoch_end(self, epoch, logs=None):
        # Steps a loss-scaling optimizer skipped shift its count against ours; whatever was
        # recorded is written before the epoch's resume point.
        self._collect()

    def _collect(self) -> None:
        self.model  # noqa: B018 (on JAX, reading the property syncs the step's state back)
        step = int(ops.convert_to_numpy(self._record.step))
        if step <= self._logged:
            return
        squared = ops.convert_to_numpy(self._record.squares).astype(float)
        norms = {"global": math.sqrt(float(squared.sum()))}
        for layer, indices in self._groups.items():
            norms[layer] = math.sqrt(float(squared[indices].sum()))
        self._logged = step
        self._log(step, norms)

    def _log(self, step: int, norms: dict[str, float]) -> None:
        self.last_norms = norms
        self._csv.writerow([step, *(f"{v:.6g}" for v in norms.values())])
        self._csv_handle.flush()
        if self._writer is not None:
            import tensorflow as tf

            with self._writer.as_default(step=step):
                for name, value in norms.items():
                    tf.summary.scalar(f"grad_norm/{name}", value)
        if norms["global"] > self.explode_threshold or not math.isfinite(norms["global"]):
            self._warn_once(
                "explode",
                f"step {step}: global gradient norm {norms['global']:.3g} > "
                f"{self.explode_threshold:g} (train.grad_explode_threshold): gradients are "
                f"exploding; lower train.learning_rate or train.clipnorm",
            )
        small = [
            name for name, v in norms.items() if name != "global" and v < self.vanish_threshold
        ]
        if small:
            self._warn_once(
                "vanish",
                f"step {step}: gradient norm of {small[0]} is "
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
