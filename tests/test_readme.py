"""The README stays true: results table generated from the result files, config keys listed."""

from pathlib import Path

from benchmarks.table import README, readme_block, table
from pipelines.spine.config import describe
from pipelines.spine.sections import RNNConfig, TrainConfig


def test_results_table_matches_result_files():
    assert readme_block(README.read_text()) == table(), "run: python -m benchmarks.table --write"


def test_shared_config_keys_are_documented():
    text = README.read_text()
    for cls, prefix in ((TrainConfig, "train"), (RNNConfig, "model.rnn")):
        for line in describe(cls, prefix):
            key = line.split(":")[0]
            assert f"`{key}`" in text, f"README does not document {key}"


def test_ci_runs_the_readme_test_command():
    assert "make test" in Path(".ci/run").read_text()
    assert "make test" in README.read_text()
