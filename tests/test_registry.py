"""The one task registry: every task is complete and every consumer reads the same list."""

from pathlib import Path

import pytest

from pipelines.registry import TASKS, UnknownTaskError, get_task, task_class
from pipelines.spine.config import load_config
from pipelines.spine.task import Benchmark, Task

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", list(TASKS))
def test_task_declares_what_the_spine_needs(name):
    cls = task_class(name)
    assert issubclass(cls, Task) and cls.name == name
    for config in (cls.sample_config, f"configs/{name}_tiny.yaml", f"configs/{name}.yaml"):
        cfg = load_config(cls.config_class, ROOT / config)
        assert cfg.task == name
    assert isinstance(cls.benchmark, Benchmark)
    assert (ROOT / cls.benchmark.config).is_file()
    module = cls.__module__.rsplit(".", 1)[0]
    for part in ("config", "task", "serving"):  # every task package has the same shape
        assert (ROOT / module.replace(".", "/") / f"{part}.py").is_file()


def test_unknown_task_names_the_known_ones():
    with pytest.raises(UnknownTaskError, match="known tasks: charlm, forecasting"):
        get_task("nope")


def test_demo_and_benchmarks_read_the_registry():
    from benchmarks import run
    from pipelines import demo

    assert run.TASKS is TASKS
    assert demo.selected(None) == list(TASKS)
    assert demo.selected(["pos", "ner"]) == ["pos", "ner"]
    with pytest.raises(UnknownTaskError, match="'posx'"):
        demo.selected(["posx"])


def test_runs_default_to_the_project_root(monkeypatch):
    from pipelines.spine import run_dir

    monkeypatch.delenv("RUNS_DIR")
    assert run_dir.runs_root() == ROOT / "runs"
    assert (run_dir.PROJECT_ROOT / "Makefile").is_file()
