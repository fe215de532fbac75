"""The robustness suite's own rules (``benchmarks/robustness*.py``) on hand-made outcomes:
what counts as a one-line error, a clean rejection, an equal history; the bad files it makes
are bad in the way their names say; the results record and README table."""

import gzip
import json
import zlib

import pytest
import yaml

from benchmarks import robustness_configs, robustness_data, robustness_report
from benchmarks.robustness_judge import (
    clean_rejection,
    final_error,
    one_line_error,
    rows_equal,
    timing_key,
)
from benchmarks.robustness_report import CaseResult
from benchmarks.robustness_serving import judge_predict
from pipelines.spine.atomic import write_json

TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "x.py", line 1, in <module>\n'
    "IsADirectoryError: [Errno 21] Is a directory: 'configs'\n"
)


# --- one-line errors (bad configs) ----------------------------------------------------------------


def test_one_line_error_naming_the_key_passes():
    verdict = one_line_error(
        1, "error: train.monitor: 'val_bogus' is not logged\n", ["train.monitor"]
    )
    assert verdict.passed
    assert verdict.what == "error: train.monitor: 'val_bogus' is not logged"


@pytest.mark.parametrize(
    ("code", "stderr", "reason"),
    [
        (1, TRACEBACK, "traceback: IsADirectoryError"),
        (1, "I0000 cuda stub line\nerror: train.epochs: bad\n", "2 lines on stderr"),
        (1, "error: train.epochs: bad\nerror: again\n", "2 lines on stderr"),
        (0, "", "accepted (exit status 0)"),
        (1, "usage: python -m pipelines\n", "not an 'error: ' line"),
        (1, "error: something is wrong\n", "does not name train.epochs"),
        (None, "", "did not exit (killed)"),
        (2, "", "0 lines on stderr"),
    ],
)
def test_one_line_error_failures(code, stderr, reason):
    verdict = one_line_error(code, stderr, ["train.epochs"])
    assert not verdict.passed
    assert verdict.what.startswith(reason)


def test_final_error_allows_progress_lines_before_the_error():
    stderr = "[ner] run directory /tmp/r\nerror: /data/03_ner.conll:4: bad tag 'B_PER'\n"
    assert final_error(1, stderr, ["03_ner.conll"]).passed
    # ...but not an error line followed by more output, two error lines, or a missing name.
    assert not final_error(1, stderr + "[ner] more\n", ["03_ner.conll"]).passed
    assert not final_error(1, stderr + "error: again\n", ["03_ner.conll"]).passed
    assert not final_error(1, stderr, ["03_ner.conll", "TEMP"]).passed
    assert not final_error(1, "[ner] run directory\n" + TRACEBACK, ["configs"]).passed


# --- serving -------------------------------------------------------------------------------------


def test_clean_rejection_names_a_limit_in_time():
    message = "batch of 5000 inputs > serve.max_batch 1024\n\t [[{{node Assert}}]]"
    assert clean_rejection("InvalidArgumentError", message, 0.2, 1.0, ("serve.",)).passed
    assert not clean_rejection("InvalidArgumentError", message, 1.5, 1.0, ("serve.",)).passed
    assert not clean_rejection(
        "InvalidArgumentError", "Assertion failed", 0.2, 1.0, ("serve.",)
    ).passed
    assert not clean_rejection("ResourceExhaustedError", message, 0.2, 1.0, ("serve.",)).passed


def test_judge_predict_records_or_one_error_line():
    record = json.dumps({"text": "a", "probability": 0.5})
    assert judge_predict(0, record + "\n", "", 2.0).passed
    assert not judge_predict(0, json.dumps({"forecast": float("nan")}) + "\n", "", 2.0).passed
    assert not judge_predict(0, "", "", 2.0).passed  # neither records nor an error
    assert judge_predict(0, "", "", 2.0, blank_input=True).passed
    assert judge_predict(1, "", "[x] loading\nerror: <stdin>: no rows\n", 2.0).passed
    assert not judge_predict(1, "", TRACEBACK, 2.0).passed
    assert not judge_predict(0, record, "", 300.0).passed  # too slow
    assert not judge_predict(None, "", "", 180.0).passed  # cut off


# --- kills ---------------------------------------------------------------------------------------


def test_rows_equal_ignores_only_the_named_columns():
    a = [{"epoch": "0", "loss": "1.5", "seconds": "3.1"}]
    b = [{"epoch": "0", "loss": "1.5", "seconds": "2.9"}]
    assert rows_equal(a, b, ["seconds"]).passed
    assert not rows_equal(a, b).passed
    verdict = rows_equal(a, [{"epoch": "0", "loss": "1.4", "seconds": "3.1"}], ["seconds"])
    assert verdict.what == "row 1 loss: 1.5 vs 1.4"
    assert rows_equal(a, a + a).what == "1 rows vs 2"


def test_timing_keys():
    assert all(map(timing_key, ["train_seconds", "wall_seconds", "examples_per_second"]))
    assert not any(map(timing_key, ["best_epoch", "epochs_run", "val_loss", "history"]))


# --- the bad files and configs are what their names say ------------------------------------------


def test_truncated_gzip_is_truncated():
    data = robustness_data._truncated_gz(*robustness_data.SENTIMENT)()
    assert data[:2] == b"\x1f\x8b"
    with pytest.raises((EOFError, zlib.error, gzip.BadGzipFile)):
        gzip.decompress(data)


def test_csv_edits_change_one_cell():
    lines = [b"No,year,TEMP", b"1,2014,7", b"2,2014,8"]
    assert robustness_data._csv_cell(2, "TEMP", b"inf")(lines) == [
        b"No,year,TEMP",
        b"1,2014,7",
        b"2,2014,inf",
    ]
    assert robustness_data._swap(1, 2)(lines)[1:] == [b"2,2014,8", b"1,2014,7"]
    assert robustness_data._duplicate_rows((1,))(lines) == [lines[0], lines[1], lines[1], lines[2]]


def test_duplicate_key_configs_really_repeat_a_key(tmp_path):
    (case,) = [c for c in robustness_configs.cases() if c.name == "duplicate nested key"]
    args, mentions = robustness_configs._command(case, tmp_path)
    text = (tmp_path / args[1].rsplit("/", 1)[1]).read_text()
    assert text.count("  window:") == 2 and mentions == ["window"]
    assert yaml.safe_load(text)["data"]["window"] == 32  # PyYAML alone keeps the last


def test_case_counts_reach_the_minimums():
    assert len(robustness_configs.cases()) >= 40
    assert len(robustness_data.cases()) >= 40
    tasks = {"sentiment", "ner", "pos", "translation", "forecasting", "charlm"}
    assert {c.task for c in robustness_configs.cases()} == tasks
    assert {c.task for c in robustness_data.cases()} == tasks


# --- the record and the README table -------------------------------------------------------------


def _cases(category, passed, failed):
    return [CaseResult(category, f"c{i}", "pos", i < passed, "x") for i in range(passed + failed)]


def test_results_record_merges_categories_and_renders_the_table(tmp_path):
    configs = _cases("configs", 3, 1)
    first = robustness_report.merged(
        None,
        {"configs": robustness_report.summary("configs", configs, 1.0, "cmd")},
        configs,
        "cmd",
        1.0,
    )
    assert first["totals"] == {"configs": {"tried": 4, "passed": 3, "percent": 75.0}}
    assert not first["complete"] and not first["categories"]["configs"]["meets_minimum"]
    data = _cases("data", 2, 0)
    second = robustness_report.merged(
        first, {"data": robustness_report.summary("data", data, 1.0, "cmd2")}, data, "cmd2", 1.0
    )
    assert list(second["categories"]) == ["configs", "data"]  # the earlier category is kept
    assert [c["category"] for c in second["cases"]] == ["configs"] * 4 + ["data"] * 2
    path = tmp_path / "robustness.json"
    write_json(path, second)
    assert json.loads(path.read_text()) == second and [p.name for p in tmp_path.iterdir()] == [
        "robustness.json"
    ]
    rows = robustness_report.table(second).splitlines()
    assert rows[0] == "| category | tried | passed | % |"
    assert rows[2] == "| bad configs: one-line error naming the key or file | 4 | 3 | 75.0 |"
    assert rows[3].endswith("| 2 | 2 | 100.0 |")


def test_readme_block_round_trip(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{robustness_report.START}\nold\n{robustness_report.END}\nend\n")
    robustness_report.write_readme(None, readme)
    block = robustness_report.readme_block(readme.read_text())
    assert block == robustness_report.table(None)
    assert "has not been run yet" in block


def test_normal_values_cover_every_input_kind_the_exports_declare():
    """Each kind of serving input gets a normal value; forecasting's ``sample_rows`` takes one
    integer offset per row (the speed and robustness suites failed on it)."""
    import tensorflow as tf

    from benchmarks.robustness_serving import normal_input

    assert normal_input("offset", tf.TensorSpec([None], tf.int32, name="offset"), {}) == [0]
    assert normal_input("length", tf.TensorSpec([], tf.int32, name="length"), {}) == 20
    info = {"mean": [1.0, 2.0], "std": [2.0, 2.0], "lookback": 5, "rows_needed": 8}
    rows = tf.TensorSpec([None, None, None], tf.float32, name="rows")
    window = tf.TensorSpec([None, None, None], tf.float32, name="window")
    assert normal_input("rows", rows, info).shape == (1, 8, 2)  # forecast_rows needs rows_needed
    assert normal_input("window", window, info).tolist() == [[[2.0, 3.0]] * 5]  # mean + std / 2
    with pytest.raises(ValueError, match="no normal value for input mask"):
        normal_input("mask", tf.TensorSpec([None, None], tf.int32, name="mask"), {})
