"""Every benchmark by name: each task's own (named after the task) and its extra ones (e.g.
``ner-wnut17``), read from the task classes (which import TensorFlow)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipelines.registry import TASKS, task_class

if TYPE_CHECKING:
    from pipelines.spine.task import Benchmark


def benchmarks() -> dict[str, tuple[str, Benchmark]]:
    """name → (task name, its ``Benchmark``), in task order."""
    found: dict[str, tuple[str, Benchmark]] = {}
    for task_name in TASKS:
        cls = task_class(task_name)
        for bench in (cls.benchmark, *cls.extra_benchmarks):
            if bench is not None:
                found[bench.name or task_name] = (task_name, bench)
    return found
