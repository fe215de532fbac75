"""What a task provides to the shared runner; every pipeline has this same shape."""

from __future__ import annotations

import abc
import argparse
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, get_args

import keras

from data.text_files import read_lines

if TYPE_CHECKING:
    from pipelines.spine.portable_model import PortableModel

ConfigT = TypeVar("ConfigT")
InfoT = TypeVar("InfoT")


@dataclass
class Prepared(Generic[InfoT]):
    """Training data made ready by a task: batched datasets and the facts learned from them.

    ``info`` is the task's small info object (vocabulary, label set, statistics); it is saved
    as ``info.json`` in the run directory and handed back to every later step.
    ``train_batches`` is the exact number of batches in one pass over ``train`` (length
    bucketing makes more than ``ceil(examples / batch_size)``): schedules and progress lines
    count it. ``extra`` is what the task's callbacks need from preparation (e.g. validation
    sentences in a known order), so nothing travels on the task object.
    """

    train: Any  # tf.data.Dataset of (inputs, targets)
    validation: Any
    info: InfoT
    train_examples: int
    validation_examples: int
    train_batches: int
    probe_batch: Any = None  # one (inputs, targets) batch for the gradient-norm monitor
    extra: Any = None
    # True: under train.distribution data_parallel, train and validation already hold only
    # this process's rows (the task read its own share, see data_parallel.process_share), so
    # the runner does not slice them; probe_batch still has the global batch's shape.
    per_process: bool = False


@dataclass
class Evaluation:
    """What ``Task.evaluate`` found on one split: ``metrics`` (JSON-ready, with ``examples``)
    and ``details``, whatever the task's reports need (predictions, baselines), so
    ``write_reports`` never reads or predicts the data again."""

    metrics: dict[str, Any]
    details: Any = None


@dataclass(frozen=True)
class BenchmarkGoal:
    """One more goal of a benchmark, on the test split: ``metric`` ``op`` ``target``, or
    ``op`` ``target`` × the metric ``relative_to`` (e.g. MAE ≤ 0.95 × the ridge baseline's)."""

    metric: str
    op: str  # ">=" or "<="
    target: float
    relative_to: str | None = None

    def threshold(self, metrics: dict[str, Any]) -> float:
        """The value ``metric`` has to reach on these metrics."""
        return self.target * (metrics[self.relative_to] if self.relative_to else 1.0)

    def met(self, metrics: dict[str, Any]) -> bool:
        """Whether ``metrics`` (one split's) meet this goal."""
        value, threshold = metrics[self.metric], self.threshold(metrics)
        return value >= threshold if self.op == ">=" else value <= threshold

    def describe(self) -> str:
        """``accuracy >= 0.92`` or ``mae <= 0.95 × linear_mae``."""
        scale = f" × {self.relative_to}" if self.relative_to else ""
        return f"{self.metric} {self.op} {self.target:g}{scale}"


@dataclass(frozen=True)
class Benchmark:
    """A task's benchmark: the full config trained on real data (``make bench-<task>``).

    The headline is always the test split, evaluated once after training; validation (which
    picked the checkpoint and the configuration) is reported beside it. ``baselines`` are
    metric keys of the same evaluation shown beside the headline (a ridge forecaster, greedy
    decoding, each head of an ensemble); ``extra_goals`` are goals besides ``metric`` ≥/≤
    ``goal``.
    """

    dataset: str  # what the data is, for the results table
    metric: str  # key in metrics.json
    goal: float
    higher_is_better: bool
    # results file benchmarks/results/<name>.json and make bench-<name>; None = the task's name
    name: str | None = None
    config: str | None = None  # relative to the project root; None = configs/<task>.yaml
    overrides: tuple[str, ...] = field(default=("data.source=files",))
    baselines: tuple[str, ...] = ()
    extra_goals: tuple[BenchmarkGoal, ...] = ()

    def goals(self) -> tuple[BenchmarkGoal, ...]:
        """Every goal, the headline's first."""
        headline = BenchmarkGoal(self.metric, ">=" if self.higher_is_better else "<=", self.goal)
        return (headline, *self.extra_goals)


class Task(abc.ABC, Generic[ConfigT, InfoT]):
    """One pipeline: data → model → metrics → export, driven by ``pipelines.spine.runner``.

    A task names its config and info classes once, as type arguments
    (``class NERTask(TaggingTask[NERConfig, NERInfo])``); ``config_class`` and ``info_class``
    are read from them.
    """

    name: ClassVar[str]
    config_class: ClassVar[type]  # from the type arguments
    info_class: ClassVar[type]  # from the type arguments
    # The demo's config (bundled data, minutes on a CPU); default configs/<name>_sample.yaml.
    sample_config: ClassVar[str]
    benchmark: ClassVar[Benchmark | None] = None
    # More benchmarks of the same task on other data (each with its own name and config).
    extra_benchmarks: ClassVar[tuple[Benchmark, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for base in getattr(cls, "__orig_bases__", ()):
            args = get_args(base)
            if len(args) == 2 and all(isinstance(arg, type) for arg in args):
                cls.config_class, cls.info_class = args
        if "name" in cls.__dict__:  # a concrete task: its configs by the naming convention
            cls.sample_config = cls.__dict__.get("sample_config", f"configs/{cls.name}_sample.yaml")
            if cls.benchmark is not None and cls.benchmark.config is None:
                cls.benchmark = replace(cls.benchmark, config=f"configs/{cls.name}.yaml")
            if cls.benchmark is not None and cls.benchmark.name is None:
                cls.benchmark = replace(cls.benchmark, name=cls.name)

    def say(self, message: str) -> None:
        """A progress line on stderr, ``[<task>] message`` (stdout is for predictions)."""
        print(f"[{self.name}] {message}", file=sys.stderr, flush=True)

    @abc.abstractmethod
    def prepare(self, cfg: ConfigT) -> Prepared[InfoT]:
        """Loads train data, carves validation from it and learns the info object."""

    @abc.abstractmethod
    def build_model(self, cfg: ConfigT, info: InfoT) -> keras.Model:
        """The trainable Keras model (backend-agnostic layers from ``models/``)."""

    @abc.abstractmethod
    def compile_args(self, cfg: ConfigT, info: InfoT) -> dict[str, Any]:
        """``loss`` and ``metrics`` for ``model.compile``."""

    def callbacks(
        self, cfg: ConfigT, info: InfoT, prepared: Prepared[InfoT]
    ) -> list[keras.callbacks.Callback]:
        """Task callbacks that run before the shared ones (e.g. computing a ``val_f1``)."""
        return []

    @abc.abstractmethod
    def evaluate(self, model: keras.Model, cfg: ConfigT, info: InfoT, split: str) -> Evaluation:
        """Metrics on ``split`` (``test`` or ``validation``); must include ``examples``."""

    def write_reports(
        self,
        model: keras.Model,
        cfg: ConfigT,
        info: InfoT,
        evaluation: Evaluation,
        split: str,
        run_dir: Path,
    ) -> list[Path]:
        """Optional files written into the run directory from ``evaluation`` (plots,
        prediction dumps); returns their paths, listed under ``reports`` in the metrics file."""
        return []

    @abc.abstractmethod
    def export(self, model: keras.Model, cfg: ConfigT, info: InfoT, path: Path) -> dict[str, Any]:
        """Writes a SavedModel with plain string/number signatures; returns an example call."""

    def portable(self, model: keras.Model, cfg: ConfigT, info: InfoT) -> PortableModel:
        """The numeric graphs ``export --format onnx|tflite`` converts and the input contract
        beside them (see ``pipelines.spine.portable_export``); none by default."""
        raise ValueError(f"{self.name}: no ONNX/TFLite export: the task names no numeric graph")

    def add_predict_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Extra ``predict`` options for this task (none by default)."""
        return None

    @abc.abstractmethod
    def predict(
        self, model: keras.Model, cfg: ConfigT, info: InfoT, inputs: Iterable[str], args: Any
    ) -> Iterator[dict[str, Any]]:
        """Predictions for raw inputs, one JSON-ready dict per input."""


def check_split(split: str) -> None:
    """The splits ``evaluate`` accepts."""
    if split not in ("test", "validation"):
        raise ValueError(f"split must be 'test' or 'validation', got {split!r}")


def input_lines(inputs: Iterable[str] | None, path: str | None) -> Iterator[str]:
    """``predict`` input, one text per line without its newline: from the file ``path`` if
    given (``--input``), else ``inputs``, else standard input."""
    if path is not None:
        lines = read_lines(path)
        yield from lines[:-1] if lines and not lines[-1] else lines  # no line after the last \n
    else:
        yield from (line.rstrip("\n") for line in (inputs if inputs is not None else sys.stdin))


def batched(items: Iterable[str], size: int) -> Iterator[list[str]]:
    """``items`` in lists of ``size`` (the last one shorter), for batched ``predict``."""
    batch: list[str] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
