"""The one list of tasks. The CLI, the demo, the benchmarks and the tests all read it.

Tasks are imported on demand (``"module:Class"``), so one task's dependencies never load for
another and nothing registers itself by being imported. Each task declares on itself its
sample (demo) config and its benchmark (``Task.sample_config``, ``Task.benchmark``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipelines.spine.task import Task

TASKS: dict[str, str] = {
    "sentiment": "pipelines.sentiment.task:SentimentTask",
    "ner": "pipelines.ner.task:NERTask",
    "pos": "pipelines.pos.task:POSTask",
    "translation": "pipelines.translation.task:TranslationTask",
    "forecasting": "pipelines.forecasting.task:ForecastingTask",
    "charlm": "pipelines.charlm.task:CharLMTask",
}


class UnknownTaskError(ValueError):
    """A task name that is not in ``TASKS``."""


def task_class(name: str) -> type[Task]:
    """The Task class registered as ``name`` (imports its package)."""
    if name not in TASKS:
        raise UnknownTaskError(f"unknown task {name!r} (known tasks: {', '.join(sorted(TASKS))})")
    module_name, class_name = TASKS[name].split(":")
    return getattr(importlib.import_module(module_name), class_name)


def get_task(name: str) -> Task:
    """Instantiates the task called ``name``."""
    return task_class(name)()
