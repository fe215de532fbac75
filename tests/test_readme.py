"""The README stays true: results table and configuration reference generated from the code."""

from pathlib import Path

import pytest

from benchmarks.table import README, readme_block, table
from pipelines.spine import config_reference
from pipelines.spine.readme_blocks import read_block, replace_block


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


def test_replace_block_rewrites_only_the_block(tmp_path):
    path = tmp_path / "README.md"
    path.write_text("intro\n<!-- a -->\nold\n<!-- b -->\noutro ≥\n", encoding="utf-8")
    replace_block(path, "<!-- a -->", "<!-- b -->", "| new |\n| rows |")
    text = path.read_text(encoding="utf-8")
    assert text == "intro\n<!-- a -->\n| new |\n| rows |\n<!-- b -->\noutro ≥\n"
    assert read_block(text, "<!-- a -->", "<!-- b -->") == "| new |\n| rows |"
    with pytest.raises(ValueError):
        read_block(text, "<!-- a -->", "<!-- missing -->")


def test_robustness_table_matches_the_results_file():
    from benchmarks import robustness_report

    text = README.read_text()
    assert robustness_report.readme_block(text) == robustness_report.table(
        robustness_report.load()
    ), "run: python -m benchmarks.robustness --write-readme"
