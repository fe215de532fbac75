"""Recurrent-network task pipelines on one shared spine (configs, runner, callbacks, export)."""

from __future__ import annotations

import importlib

# Task name → "module:class". Imported on demand, so one task's dependencies never load
# for another and nothing registers itself by being imported.
TASKS: dict[str, str] = {
    "sentiment": "pipelines.sentiment:SentimentTask",
    "ner": "pipelines.ner:NERTask",
    "translation": "pipelines.translation:TranslationTask",
    "forecasting": "pipelines.forecasting:ForecastingTask",
    "charlm": "pipelines.charlm:CharLMTask",
}


class UnknownTaskError(ValueError):
    """A task name that is not in ``TASKS``."""


def get_task(name: str):
    """Instantiates the task called ``name``."""
    if name not in TASKS:
        raise UnknownTaskError(f"unknown task {name!r} (known tasks: {', '.join(sorted(TASKS))})")
    module_name, class_name = TASKS[name].split(":")
    return getattr(importlib.import_module(module_name), class_name)()
