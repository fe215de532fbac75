"""Config sections shared by every task: the recurrent stack and training."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from pipelines.spine.config import param

CellName = Literal["rnn", "lstm", "gru", "ln_lstm", "ln_gru"]
# Weight blocks per cell: each is (input + units + bias) x units; LN cells add a little more.
CELL_GATES = {"rnn": 1, "lstm": 4, "gru": 3, "ln_lstm": 4, "ln_gru": 3}
MAX_WIDTH = 100_000  # units, embedding widths: far past what trains here, short of overflow
MAX_VOCABULARY = 10_000_000
MAX_STEPS = 1_000_000_000


@dataclass(frozen=True)
class RNNConfig:
    """The shared recurrent stack (see ``models.rnn_stack.RNNStack``)."""

    cell: CellName = param("lstm", doc="recurrent cell; ln_* are layer-normalised (Ba et al. 2016)")
    units: int = param(128, min=1, max=MAX_WIDTH, doc="units per direction")
    layers: int = param(1, min=1, max=16, doc="stacked layers")
    bidirectional: bool = param(True, doc="each layer reads both directions")
    merge_mode: Literal["concat", "sum", "mul", "ave"] = param(
        "concat", doc="how directions combine"
    )
    dropout: float = param(0.0, min=0.0, max=0.95, doc="channel dropout between layers")
    recurrent_dropout: float = param(
        0.0, min=0.0, max=0.95, doc="dropout on the recurrent state; built-in cells only"
    )
    residual: bool = param(False, doc="add each layer's input to its output when widths match")

    def stack(self) -> dict[str, Any]:
        """The one ``rnn`` argument every model takes (``models.rnn_stack.RNNStack``'s
        settings; ``layers`` is its ``num_layers``)."""
        return {
            ("num_layers" if f.name == "layers" else f.name): getattr(self, f.name)
            for f in dataclasses.fields(RNNConfig)
        }

    def output_width(self) -> int:
        """Features per step the stack puts out."""
        both = self.bidirectional and self.merge_mode == "concat"
        return self.units * (2 if both else 1)

    def estimated_parameters(self, input_width: int) -> int:
        """About how many weights the stack has reading ``input_width`` features per step:
        layers x directions x gates x (input + units + 1) x units."""
        directions = 2 if self.bidirectional else 1
        total, width = 0, input_width
        for _ in range(self.layers):
            total += directions * CELL_GATES[self.cell] * (width + self.units + 1) * self.units
            width = self.output_width()
        return total

    def check(self) -> tuple[str, str] | None:
        if self.recurrent_dropout and self.cell.startswith("ln_"):
            return (
                "recurrent_dropout",
                f"supported by the built-in cells (rnn, lstm, gru), not by {self.cell}; "
                "use dropout (between layers) instead",
            )
        return None


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation, callbacks and devices; read by the shared runner."""

    epochs: int = param(10, min=1, max=100_000, doc="passes over the training data (at most)")
    batch_size: int = param(64, min=1, max=1_000_000, doc="examples per batch")
    steps_per_epoch: int | None = param(
        None, min=1, max=MAX_STEPS, doc="null = one pass over the data"
    )
    validation_steps: int | None = param(
        None, min=1, max=MAX_STEPS, doc="null = the whole validation set"
    )
    optimizer: Literal["adam", "adamw", "sgd", "rmsprop"] = param(
        "adam", doc="sgd: Nesterov momentum 0.9"
    )
    learning_rate: float = param(1e-3, above=0.0, max=10.0, doc="peak learning rate")
    weight_decay: float = param(0.0, min=0.0, max=1.0, doc="adamw only")
    lr_schedule: Literal["constant", "cosine", "plateau"] = param(
        "constant", doc="cosine: decays over all epochs; plateau: halves after a flat epoch"
    )
    warmup_steps: int = param(0, min=0, max=MAX_STEPS, doc="linear warm-up steps (cosine schedule)")
    ema_momentum: float | None = param(
        None,
        min=0.0,
        max=0.99999,
        doc="Polyak weight averaging (momentum warmed up as min(m, (1+t)/(10+t)) at step t); "
        "validation and checkpoints see it",
    )
    clipnorm: float | None = param(1.0, above=0.0, doc="clip by global gradient norm; null = off")
    monitor: str = param(
        "val_loss",
        doc="picks the best checkpoint; one of the task's logged metrics (e.g. val_accuracy, "
        "val_f1; an error lists them)",
    )
    monitor_mode: Literal["min", "max"] = param(
        "min", doc="whether lower or higher is better; must match the metric (loss: min)"
    )
    early_stopping_patience: int = param(
        3, min=0, max=100_000, doc="epochs without improvement; 0 = off"
    )
    grad_norm_every: int = param(
        50,
        min=0,
        max=MAX_STEPS,
        doc="log the global and per-layer gradient norms of every N-th step (its own "
        "gradients, before clipping) to grad_norms.csv; 0 = off",
    )
    grad_explode_threshold: float = param(1e3, min=0.0, doc="warn once above this global norm")
    grad_vanish_threshold: float = param(1e-6, min=0.0, doc="warn once below this layer norm")
    tensorboard: bool = param(
        True, doc="TensorBoard logs in <run>/logs: per-epoch metrics and the gradient norms"
    )
    resume_every_epochs: int = param(
        1,
        min=1,
        max=100_000,
        doc="write a resume point (backup/epoch-NNNN/) after every N-th epoch and after the "
        "last; resuming from any is exact, a kill only redoes up to N epochs",
    )
    checkpoint_every_seconds: float = param(
        60.0,
        min=0.0,
        max=1e9,
        doc="best.keras is written at the first improvement, then at most once per this "
        "many seconds while train.monitor improves (the best weights wait in memory and in "
        "the resume point), and when training ends; 0 = at every improvement",
    )
    backend: Literal["tensorflow", "jax"] = param(
        "tensorflow",
        doc="the Keras backend training runs on; the input pipeline is tf.data on both, and "
        "evaluate/export/predict load the .keras checkpoint on TensorFlow either way",
    )
    distribution: Literal["none", "data_parallel"] = param(
        "none",
        doc="data_parallel: Keras' DataParallel over every device of every process (jax "
        "only); train.batch_size is the global batch, each process takes its rows of it "
        "(--workers N starts N local processes; see Scaling out)",
    )
    strategy: Literal["default", "mirrored"] = param(
        "default", doc="mirrored: MirroredStrategy; without GPUs logical CPUs (tests the path)"
    )
    mirrored_cpu_devices: int = param(
        2, min=1, max=64, doc="logical CPU devices for mirrored training without GPUs"
    )
    mixed_precision: bool | Literal["auto", "bfloat16", "float16"] = param(
        False,
        doc="16-bit compute, float32 variables and outputs; true = auto: bfloat16 on CPU, "
        "float16 on GPU (measured on a 2-core AVX512-BF16 CPU, a BiLSTM train step: float16 "
        "2.2x and bfloat16 1.2x float32's time; make bench-speed, section precision)",
    )
    log_every_steps: int = param(
        0, min=0, max=MAX_STEPS, doc="print progress every N steps; 0 = per epoch"
    )
    max_parameters: int = param(
        200_000_000,
        min=1,
        doc="refuse a model whose parameter count, estimated from the config before anything "
        "is built, is larger",
    )

    def check(self) -> tuple[str, str] | None:
        if self.distribution == "data_parallel" and self.backend != "jax":
            return (
                "distribution",
                "data_parallel runs on Keras' JAX distribution API and needs train.backend: jax",
            )
        if self.backend == "jax" and self.strategy == "mirrored":
            return (
                "strategy",
                "mirrored is TensorFlow's MirroredStrategy and needs train.backend: tensorflow",
            )
        return None


@dataclass(frozen=True)
class ServeConfig:
    """Input bounds of every export signature and of ``predict``: what a served model accepts
    from anyone. Text past a limit is cut to it (the outputs say how much was read); a batch
    past ``max_batch`` is rejected with a message naming the limit."""

    max_chars: int = param(
        10_000, min=1, max=10_000_000, doc="characters read per input text; the rest is cut"
    )
    max_tokens: int = param(
        256,
        min=1,
        max=100_000,
        doc="tokens read per sentence (tagging, translation); the rest is cut",
    )
    max_batch: int = param(
        1024, min=1, max=1_000_000, doc="inputs per call; a larger batch is rejected"
    )
    max_generate: int = param(
        2000,
        min=1,
        max=1_000_000,
        doc="characters (charlm) or tokens (translation) generated per call",
    )


@dataclass(frozen=True)
class TaskConfig:
    """The top level of every task config: ``task``, ``seed``, the task's ``data`` and
    ``model`` sections and the shared ``train`` and ``serve`` sections. A task's config
    subclasses it, giving ``task`` its one allowed value and ``data``/``model`` their section
    types (a redefined field keeps its place, so every config reads task, seed, data, model,
    train, serve, then any section of the task's own).

    A task's config also says what its training logs (:meth:`logged_metrics`, which
    ``train.monitor`` must name) and about how large its model is (:meth:`estimated_parameters`,
    refused above ``train.max_parameters``), both from the config alone, so a bad config fails
    before TensorFlow is imported. A task config with its own :meth:`check` calls this one."""

    task: str = param("", doc="the task this config is for")
    seed: int = param(
        42, min=0, max=2**32 - 1, doc="seeds weights, dropout, shuffling and sampling"
    )
    data: Any = None
    model: Any = None
    train: TrainConfig = field(default_factory=TrainConfig)
    serve: ServeConfig = field(default_factory=ServeConfig)

    def logged_metrics(self) -> dict[str, Literal["min", "max"]]:
        """Every value training logs per epoch (a ``history.csv`` column) and whether lower
        (``min``) or higher (``max``) is better; see :func:`epoch_metrics`."""
        raise NotImplementedError(f"{type(self).__name__} must say what its training logs")

    def estimated_parameters(self) -> int:
        """About how many weights the configured model has (within ~2x), from the config:
        vocabularies at their configured caps (or a typical size where there is none)."""
        raise NotImplementedError(f"{type(self).__name__} must estimate its model size")

    def check(self) -> tuple[str, str] | None:
        logged = self.logged_metrics()
        monitor, mode = self.train.monitor, self.train.monitor_mode
        if monitor not in logged:
            return (
                "train.monitor",
                f"{monitor!r} is not logged by {self.task} training with this config "
                f"(allowed: {', '.join(logged)})",
            )
        if mode != logged[monitor]:
            better = "lower" if logged[monitor] == "min" else "higher"
            return (
                "train.monitor_mode",
                f"{mode!r} picks the worst epoch: {monitor} is better {better}; "
                f"use {logged[monitor]}",
            )
        estimate = self.estimated_parameters()
        if estimate > self.train.max_parameters:
            return (
                "model",
                f"about {estimate:,} parameters (estimated from the config) is more than "
                f"train.max_parameters ({self.train.max_parameters:,}); make the model smaller "
                "or raise the limit",
            )
        return None


def epoch_metrics(
    compiled: dict[str, Literal["min", "max"]],
    validation_only: dict[str, Literal["min", "max"]] | None = None,
) -> dict[str, Literal["min", "max"]]:
    """What one epoch of ``fit`` logs: ``loss`` and the ``compiled`` metrics (name → which
    way is better), each also as ``val_<name>``, then the ``validation_only`` values a
    callback adds (already named ``val_...``, e.g. ``val_f1``)."""
    train: dict[str, Literal["min", "max"]] = {"loss": "min", **compiled}
    return {**train, **{f"val_{k}": v for k, v in train.items()}, **(validation_only or {})}


def model_settings(section: Any, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    """A model config section as its model's keyword arguments: the keys share the argument
    names, and the stack section (an :class:`RNNConfig`, whatever its key) becomes ``rnn``,
    the stack's settings. ``exclude``: keys that are not model arguments (e.g. a loss's)."""
    settings: dict[str, Any] = {}
    for f in dataclasses.fields(section):
        value = getattr(section, f.name)
        if f.name in exclude:
            continue
        if isinstance(value, RNNConfig):
            settings["rnn"] = value.stack()
        else:
            settings[f.name] = value
    return settings
