"""The README stays true: results table and configuration reference generated from the code."""

from pathlib import Path

from benchmarks.table import README, readme_block, table
from pipelines.spine import config_reference


def test_results_table_matches_result_files():
    assert readme_block(README.read_text()) == table(), "run: python -m benchmarks.table --write"


def test_config_reference_matches_the_config_classes():
    text = README.read_text()
    assert config_reference.readme_block(text) == config_reference.reference(), (
        "run: python -m pipelines.spine.config_reference --write"
    )


def test_every_config_key_has_a_meaning():
    undocumented = [
        row.split("|")[1].strip()
        for row in config_reference.reference().splitlines()
        if row.startswith("| `") and not row.rstrip("| ").split("|")[-1].strip()
    ]
    assert not undocumented, f"param(doc=...) missing for {undocumented}"


def test_ci_runs_the_readme_test_command():
    assert "make test" in Path(".ci/run").read_text()
    assert "make test" in README.read_text()
