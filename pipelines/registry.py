"""The one list of tasks. The CLI, the demo, the benchmarks and the tests all read it.

Each task is two ``"module:Class"`` names, imported on demand: its ``Task`` (which loads Keras
and TensorFlow) and its config class (which does not), so a config is read and checked in
seconds, before TensorFlow, and one task's dependencies never load for another. Nothing
registers itself by being imported. Each task declares on itself its sample (demo) config and
its benchmark (``Task.sample_config``, ``Task.benchmark``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipelines.spine.sections import TaskConfig
    from pipelines.spine.task import Task

# name → (its Task, its config class); the Task's config_class is the same class (tested).
TASKS: dict[str, tuple[str, str]] = {
    "sentiment": (
        "pipelines.sentiment.task:SentimentTask",
        "pipelines.sentiment.config:SentimentConfig",
    ),
    "ner": ("pipelines.ner.task:NERTask", "pipelines.ner.config:NERConfig"),
    "pos": ("pipelines.pos.task:POSTask", "pipelines.pos.config:POSConfig"),
    "translation": (
        "pipelines.translation.task:TranslationTask",
        "pipelines.translation.config:TranslationConfig",
    ),
    "forecasting": (
        "pipelines.forecasting.task:ForecastingTask",
        "pipelines.forecasting.config:ForecastingConfig",
    ),
    "charlm": ("pipelines.charlm.task:CharLMTask", "pipelines.charlm.config:CharLMConfig"),
}


class UnknownTaskError(ValueError):
    """A task name that is not in ``TASKS``."""


def _entry(name: str) -> tuple[str, str]:
    if name not in TASKS:
        raise UnknownTaskError(f"unknown task {name!r} (known tasks: {', '.join(sorted(TASKS))})")
    return TASKS[name]


def _load(qualified: str) -> Any:
    module_name, class_name = qualified.split(":")
    return getattr(importlib.import_module(module_name), class_name)


def task_class(name: str) -> type[Task]:
    """The Task class registered as ``name`` (imports its package, and TensorFlow)."""
    return _load(_entry(name)[0])


def config_class(name: str) -> type[TaskConfig]:
    """The config class of task ``name``, without importing TensorFlow."""
    return _load(_entry(name)[1])


def get_task(name: str) -> Task:
    """Instantiates the task called ``name``."""
    return task_class(name)()
