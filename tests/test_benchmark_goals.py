"""Benchmark goals are judged on test metrics; the results table shows test first."""

import json

import pytest

from benchmarks.table import table
from pipelines.spine.task import Benchmark, BenchmarkGoal


def test_absolute_and_relative_goals():
    metrics = {"mae": 2.0, "linear_mae": 2.2}
    relative = BenchmarkGoal("mae", "<=", 0.95, relative_to="linear_mae")
    assert relative.threshold(metrics) == pytest.approx(2.09)
    assert relative.met(metrics)
    assert not relative.met({"mae": 2.1, "linear_mae": 2.2})  # 2.1 > 0.95 × 2.2 = 2.09
    assert relative.describe() == "mae <= 0.95 × linear_mae"
    assert BenchmarkGoal("accuracy", ">=", 0.92).met({"accuracy": 0.92})
    assert not BenchmarkGoal("accuracy", ">=", 0.92).met({"accuracy": 0.9199})


def test_headline_goal_comes_first():
    bench = Benchmark(
        dataset="d",
        metric="accuracy",
        goal=0.92,
        higher_is_better=True,
        extra_goals=(BenchmarkGoal("rnn_head_accuracy", ">=", 0.905),),
    )
    assert [g.describe() for g in bench.goals()] == [
        "accuracy >= 0.92",
        "rnn_head_accuracy >= 0.905",
    ]


def test_table_shows_test_validation_baselines_and_goals(tmp_path):
    record = {
        "task": "forecasting",
        "dataset": "Series, somewhere",
        "split": "validation",  # an old file whose headline was validation: test still leads
        "metric": "mae",
        "value": 1.9,
        "train_seconds": 120.0,
        "commit": "0123456789abcdef",
        "test_metrics": {
            "mae": 2.0,
            "persistence_mae": 2.5,
            "seasonal_mae": 2.6,
            "linear_mae": 2.2,
        },
        "validation_metrics": {"mae": 1.9},
    }
    (tmp_path / "forecasting.json").write_text(json.dumps(record))
    (tmp_path / "speed.json").write_text("{}")  # not a task: left out
    rows = table(tmp_path).splitlines()
    assert len(rows) == 3
    cells = [c.strip() for c in rows[2].strip("|").split("|")]
    assert cells[:5] == ["forecasting", "Series", "mae", "2.0000", "1.9000"]
    assert cells[5] == "persistence_mae 2.5000, seasonal_mae 2.6000, linear_mae 2.2000"
    assert cells[6] == "mae <= 2.15; mae <= 0.95 × linear_mae"
    assert cells[7] == "yes, yes"  # 2.0 ≤ 2.15 and 2.0 ≤ 2.09
    assert cells[8:] == ["2.0 min", "`0123456789ab`"]


def test_every_benchmark_has_a_loadable_config_and_a_unique_name():
    from benchmarks.catalog import benchmarks
    from pipelines.registry import TASKS, config_class
    from pipelines.spine.config import load_config

    known = benchmarks()
    assert set(TASKS) <= set(known) and "ner-wnut17" in known
    configs = {}
    for name, (task_name, bench) in known.items():
        assert bench.name == name
        configs[name] = load_config(config_class(task_name), bench.config, list(bench.overrides))
        assert configs[name].task == task_name
    assert known["ner-wnut17"][1].goal == 0.35
    assert configs["charlm-nanogpt"].data.split == "nanogpt"
    assert known["charlm-nanogpt"][1].goal == 1.45
