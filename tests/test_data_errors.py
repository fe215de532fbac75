"""Bad input data: every case is one line naming the file (and line or column), or is handled
as documented with what was dropped or filled reported (``info.json`` and stderr)."""

import gzip
import io
import json
import re
import subprocess
import sys
import tarfile
from functools import partial
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from cli_helpers import ROOT, run_cli, tiny_config

from data.char_corpus import MIN_TEXT_CHARACTERS, read_splits
from data.char_text import evaluation_lanes, evaluation_windows, lane_windows, random_windows
from data.conll import read_conll
from data.conllu import read_conllu
from data.data_format_error import DataFormatError
from data.sources import data_root
from data.text_classification import read_aclimdb, read_labelled_lines
from data.text_files import read_text
from data.timeseries_csv import CsvSeriesSpec, SeriesTable, load_series
from data.translation_pairs import read_tab_pairs

SAMPLE_CSV = ROOT / "data" / "samples" / "forecasting" / "beijing_pm25_2014.csv.gz"


def _hourly(values: list[str], header: str = "time,v") -> bytes:
    """A CSV of one value per hour from 2021-03-01 00:00, ``values`` as written."""
    rows = [f"2021-03-01 {h:02d}:00,{v}" for h, v in enumerate(values)]
    return ("\n".join([header, *rows]) + "\n").encode()


def _load_csv(path: Path, **spec) -> SeriesTable:
    return load_series(CsvSeriesSpec(str(path), time_column="time", targets=("v",), **spec))


def _aclimdb_tar(reviews: dict[str, bytes]) -> bytes:
    """A .tar.gz holding ``aclImdb/<member>`` files."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in reviews.items():
            info = tarfile.TarInfo(f"aclImdb/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


_REVIEWS = {
    f"train/{label}/{i}_7.txt": b"a film %d " % i * 40
    for label in ("pos", "neg")
    for i in range(50)
}

# name → (reader, a good file's bytes, the file name); the reader takes the path.
READERS = {
    "text": (read_text, b"to be or not to be\n" * 300, "input.txt"),
    "conll": (read_conll, b"EU B-ORG\nrejects O\n\n" * 300, "train.conll"),
    "conllu": (read_conllu, b"1\tEU\teu\tPROPN\t_\t_\t0\troot\t_\t_\n\n" * 300, "train.conllu"),
    "tsv": (read_labelled_lines, b"a fine film\t1\n" * 300, "train.tsv"),
    "pairs": (partial(read_tab_pairs, source_column=1, target_column=0, form="NFC"),
              b"Go.\tVe.\n" * 300, "spa.txt"),
    "csv": (_load_csv, _hourly([str(h) for h in range(24)]), "series.csv"),
    "aclimdb": (partial(read_aclimdb, split="train"), None, "aclImdb_v1.tar.gz"),
}  # fmt: skip


def _one_line(err: pytest.ExceptionInfo, pattern: str) -> str:
    """The message of ``err``: one line (the CLI prints a ValueError with ': ' as one
    ``error:`` line), matching ``pattern`` from its start."""
    message = str(err.value)
    assert isinstance(err.value, ValueError) and "\n" not in message and ": " in message
    assert re.match(pattern, message), message
    return message


@pytest.mark.parametrize("reader", sorted(READERS))
def test_truncated_gzip_names_the_file(tmp_path, reader):
    read, good, name = READERS[reader]
    data = _aclimdb_tar(_REVIEWS) if good is None else gzip.compress(good)
    path = tmp_path / (name if name.endswith(".gz") else name + ".gz")
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataFormatError) as err:
        read(path)
    _one_line(err, rf"{re.escape(str(path))}: truncated or corrupt gzip file \(.+\)$")


@pytest.mark.parametrize("reader", sorted(READERS))
def test_corrupt_gzip_names_the_file(tmp_path, reader):
    read, good, name = READERS[reader]
    data = bytearray(_aclimdb_tar(_REVIEWS) if good is None else gzip.compress(good))
    data[-8:-4] = bytes(b ^ 0xFF for b in data[-8:-4])  # a wrong CRC in the gzip trailer
    path = tmp_path / name
    path.write_bytes(bytes(data))
    with pytest.raises(DataFormatError) as err:
        read(path)
    _one_line(err, rf"{re.escape(str(path))}: truncated or corrupt gzip file \(CRC check")


@pytest.mark.parametrize("reader", sorted(set(READERS) - {"aclimdb"}))
def test_directory_as_data_file_is_one_line(tmp_path, reader):
    path = tmp_path / "a_folder"
    path.mkdir()
    with pytest.raises(DataFormatError) as err:
        READERS[reader][0](path)
    _one_line(err, rf"{re.escape(str(path))}: is a directory, expected a file$")


def test_aclimdb_directory_without_the_tree_and_non_tar_file(tmp_path):
    with pytest.raises(DataFormatError) as err:
        read_aclimdb(tmp_path, "train")
    _one_line(err, rf"{re.escape(str(tmp_path))}/train/pos: missing \(expected an aclImdb tree")
    not_tar = tmp_path / "reviews.tar.gz"
    not_tar.write_bytes(b"a fine film\t1\n" * 10)
    with pytest.raises(DataFormatError) as err:
        read_aclimdb(not_tar, "train")
    _one_line(err, rf"{re.escape(str(not_tar))}: not a readable tar archive \(")


@pytest.mark.parametrize(
    "reader, message",
    [
        ("conll", "no sentences found"),
        ("conllu", "no sentences found"),
        ("tsv", "no labelled lines"),
        ("pairs", "no sentence pairs found"),
        ("csv", r"cannot read CSV \(No columns to parse from file\)"),
        ("aclimdb", r"not a readable tar archive \("),
    ],
)
def test_empty_file_is_one_line(tmp_path, reader, message):
    path = tmp_path / READERS[reader][2]
    path.write_bytes(b"")
    with pytest.raises(DataFormatError) as err:
        READERS[reader][0](path)
    _one_line(err, rf"{re.escape(str(path))}: {message}")


@pytest.mark.parametrize(
    "reader, header, message",
    [
        ("csv", b"time,v\n", ": no data rows$"),
        ("tsv", b"text\tlabel\n", r":1: label 'label' is not one of"),
        ("conllu", b"# sent_id = 1\n# text = EU\n", ": no sentences found$"),
    ],
)
def test_header_only_file_is_one_line(tmp_path, reader, header, message):
    path = tmp_path / READERS[reader][2]
    path.write_bytes(header)
    with pytest.raises(DataFormatError) as err:
        READERS[reader][0](path)
    _one_line(err, rf"{re.escape(str(path))}{message}")


@pytest.mark.parametrize(
    "reader, data, message",
    [
        ("csv", _hourly(["1"], header="time,w"), r": column .v. not found \(columns: time, w\)"),
        ("conll", b"EU B-ORG\nrejects NN O\n", r":2: expected 2 columns"),
        ("conllu", b"1\tEU\tPROPN\n", r":1: expected 10 tab-separated columns, found 3"),
        ("tsv", b"a fine film\t1\nno label here\n", r":2: expected 'text<TAB>label'"),
        ("pairs", b"Go.\tVe.\nHello\n", r":2: expected english<TAB>translation"),
    ],
)  # fmt: skip
def test_wrong_or_missing_columns_name_file_and_line(tmp_path, reader, data, message):
    path = tmp_path / READERS[reader][2]
    path.write_bytes(data)
    with pytest.raises(DataFormatError) as err:
        READERS[reader][0](path)
    _one_line(err, rf"{re.escape(str(path))}{message}")


@pytest.mark.parametrize("reader", sorted(READERS))
def test_non_utf8_names_file_and_line(tmp_path, reader):
    read, good, name = READERS[reader]
    if good is None:  # a review inside the archive: the archive and the member are named
        path = tmp_path / name
        path.write_bytes(_aclimdb_tar({**_REVIEWS, "train/pos/7_9.txt": b"good\ncaf\xe9"}))
        where = rf"{re.escape(str(path))}: aclImdb/train/pos/7_9\.txt:2"
    else:
        lines = good.split(b"\n")
        lines[2] = b"\xe9" + lines[2][1:]
        path = tmp_path / name
        path.write_bytes(gzip.compress(b"\n".join(lines)))  # gzip by content, any name
        where = rf"{re.escape(str(path))}:3"
    with pytest.raises(DataFormatError) as err:
        read(path)
    _one_line(err, rf"{where}: not UTF-8 \(byte 0xe9 at offset \d+\)$")


def test_a_line_break_in_a_message_is_escaped(tmp_path):
    path = tmp_path / "quoted.csv"
    path.write_bytes(b'time,v\n2021-03-01 00:00,1\n2021-03-01 01:00,"2\nx"\n')
    with pytest.raises(DataFormatError) as err:
        _load_csv(path)
    _one_line(err, rf"{re.escape(str(path))}:3: non-numeric value '2\\nx' in column 'v'$")


# ----------------------------------------------------------------------------- char-LM text


def _char_data(path: Path) -> SimpleNamespace:
    return SimpleNamespace(
        source="files", path=str(path), tfds_name="", tfds_data_dir=None, mode="stateful",
        window=4, random_offset=False, max_train_chars=None, max_eval_chars=None,
    )  # fmt: skip


@pytest.mark.parametrize("length", [0, 1, MIN_TEXT_CHARACTERS - 1])
def test_char_lm_text_too_short_names_file_and_minimum(tmp_path, length):
    path = tmp_path / "input.txt"
    path.write_text("x" * length, encoding="utf-8")
    with pytest.raises(DataFormatError) as err:
        read_splits(_char_data(path), ("train", "validation"))
    _one_line(
        err,
        rf"{re.escape(str(path))}: {length} character\(s\) is too short for a char-LM text: "
        rf"at least {MIN_TEXT_CHARACTERS},",
    )


def test_char_lm_shortest_text_splits_into_pairs(tmp_path):
    path = tmp_path / "input.txt"
    path.write_text("x" * MIN_TEXT_CHARACTERS, encoding="utf-8")
    parts = read_splits(_char_data(path), ("train", "validation", "test"))
    assert [len(p) for p in parts] == [27, 2, 2]  # int(0.9 * 31), then the rest halved


@pytest.mark.parametrize(
    "batching, message",
    [
        (lambda ids: evaluation_lanes(ids, 4, 16), r"cannot fill 4 lanes .*at least 5\)"),
        (lambda ids: evaluation_windows(ids, 16, 4), r"shorter than one window .*at least 17\)"),
        (lambda ids: lane_windows(ids, 4, 16), r"too few for 4 lanes .*at least 65;"),
        (lambda ids: random_windows(ids, 16, 4, 0), r"too few for one batch .*at least 65;"),
    ],
)
@pytest.mark.parametrize("length", [0, 1])
def test_char_lm_empty_split_is_one_line_not_zero_division(batching, message, length):
    with pytest.raises(ValueError) as err:
        batching(np.zeros(length, dtype=np.int32))
    _one_line(err, rf"data: {length} .*{message}")


# ----------------------------------------------------------------------------- CSV series


@pytest.mark.parametrize("value", ["inf", "-inf", "Infinity", "1e999"])
def test_infinite_value_names_file_line_and_column(tmp_path, value):
    path = tmp_path / "series.csv"
    path.write_bytes(_hourly(["1", "2", value, "4"]))
    with pytest.raises(DataFormatError) as err:
        _load_csv(path)
    _one_line(
        err, rf"{re.escape(str(path))}:4: infinite value '{re.escape(value)}' in column 'v' \("
    )


@pytest.mark.parametrize("value", ["NaN", "nan", "NA", ""])
def test_nan_is_a_missing_value_filled_and_counted(tmp_path, value):
    path = tmp_path / "series.csv"
    path.write_bytes(_hourly(["1", "2", value, "4"]))
    table = _load_csv(path)
    np.testing.assert_array_equal(table.column("v"), [1, 2, 3, 4])  # interpolated
    report = table.report.as_dict()
    assert report["missing_before"] == {"v": 1} and report["values_filled"] == 1
    assert report["longest_filled_gap"] == {"v": {"values": 1, "from": "2021-03-01T02:00:00"}}


def test_unsorted_timestamps_name_file_and_line(tmp_path):
    path = tmp_path / "series.csv"
    path.write_text("time,v\n2021-03-01 00:00,1\n2021-03-01 02:00,3\n2021-03-01 01:00,2\n")
    with pytest.raises(DataFormatError) as err:
        _load_csv(path)
    _one_line(
        err,
        rf"{re.escape(str(path))}:4: time 2021-03-01 01:00:00 is earlier than "
        rf"2021-03-01 02:00:00 on line 3; rows must be in time order",
    )


def test_repeated_timestamp_with_other_values_names_both_lines(tmp_path):
    path = tmp_path / "series.csv"
    path.write_text("time,v\n2021-03-01 00:00,1\n2021-03-01 01:00,2\n2021-03-01 01:00,5\n")
    with pytest.raises(DataFormatError) as err:
        _load_csv(path)
    _one_line(
        err,
        rf"{re.escape(str(path))}:4: time 2021-03-01 01:00:00 repeats line 3 with another "
        rf"value in column 'v' \(5.0 vs 2.0\)",
    )
    path.write_text("time,v\n2021-03-01 00:00,1\n2021-03-01 01:00,2\n2021-03-01 01:00,2.0\n")
    report = _load_csv(path).report  # the same row twice: one is dropped and counted
    assert (report.rows_read, report.duplicates, report.rows_out) == (3, 1, 2)


def test_fill_gap_over_the_limit_names_column_file_and_first_timestamp(tmp_path):
    path = tmp_path / "series.csv"
    path.write_bytes(_hourly(["1", "", "", "", "5", "6"]))
    with pytest.raises(DataFormatError) as err:
        _load_csv(path, max_fill_gap=2)
    _one_line(
        err,
        rf"{re.escape(str(path))}: column 'v' misses 3 consecutive values from "
        rf"2021-03-01 01:00:00 \(line 3\), more than max_fill_gap = 2 rows may be filled "
        rf"\(interpolate\); .*data\.max_fill_gap",
    )
    table = _load_csv(path, max_fill_gap=3)  # at the limit: filled, the run reported
    np.testing.assert_array_equal(table.column("v"), [1, 2, 3, 4, 5, 6])
    assert table.report.longest_filled == {"v": (3, np.datetime64("2021-03-01T01", "ns"))}


def test_fill_gap_of_missing_timestamps_names_the_line_before(tmp_path):
    path = tmp_path / "series.csv"  # 01:00-03:00 have no rows at all
    path.write_text("time,v\n2021-03-01 00:00,1\n2021-03-01 04:00,5\n2021-03-01 05:00,6\n")
    with pytest.raises(DataFormatError) as err:
        _load_csv(path, missing="ffill", max_fill_gap=2, frequency="h")
    _one_line(
        err,
        rf"{re.escape(str(path))}: column 'v' misses 3 consecutive values from "
        rf"2021-03-01 01:00:00 \(after line 2\), more than max_fill_gap = 2 rows may be "
        rf"filled \(ffill\)",
    )


def test_drop_reports_rows_dropped_and_gaps_left(tmp_path):
    path = tmp_path / "series.csv"
    path.write_bytes(_hourly(["1", "", "3", "4", "", "", "7"]))
    report = _load_csv(path, missing="drop").report.as_dict()
    assert report["rows_dropped"] == 3 and report["rows_out"] == 4
    assert report["gap_count"] == 0  # the file has a row every hour...
    assert report["gap_count_left"] == 2  # ...but dropping rows leaves two gaps
    assert report["gaps_left"] == [
        ["2021-03-01T01:00:00", "2021-03-01T01:00:00"],
        ["2021-03-01T04:00:00", "2021-03-01T05:00:00"],
    ]
    path.write_bytes(_hourly(["", ""]))
    with pytest.raises(DataFormatError) as err:
        _load_csv(path, missing="drop")
    _one_line(err, rf"{re.escape(str(path))}: every row has a missing value .*leaves no rows")


def test_default_fill_limit_passes_the_sample_and_real_beijing_data():
    from pipelines.forecasting.config import ForecastingData

    limit = ForecastingData().max_fill_gap
    assert limit is not None and limit < 1000  # 1,000 missing TEMP values are refused
    real = data_root() / "beijing_pm25" / "pollution.csv.gz"
    for path in [SAMPLE_CSV, real] if real.exists() else [SAMPLE_CSV]:
        spec = CsvSeriesSpec(
            str(path), time_parts=("year", "month", "day", "hour"), categorical=("cbwd",),
            targets=("TEMP",), max_fill_gap=limit,
        )  # fmt: skip
        longest = load_series(spec).report.longest_filled
        assert set(longest) == {"pm2.5"} and longest["pm2.5"][0] <= limit


# ----------------------------------------------------------------------------- whole pipeline


def test_drop_policy_reported_in_info_json_and_stderr(tmp_path, capsys):
    from pipelines.registry import get_task
    from pipelines.spine import runner
    from pipelines.spine.config import load_config

    task = get_task("forecasting")
    overrides = ["data.missing=drop", "train.epochs=1", "train.steps_per_epoch=1"]
    run_dir = tmp_path / "drop"
    runner.train(
        task, load_config(task.config_class, tiny_config("forecasting"), overrides), run_dir
    )
    info = json.loads((run_dir / "info.json").read_text(encoding="utf-8"))
    # The sample's 99 NA pm2.5 cells: their rows go, and leave 35 runs of missing hours.
    assert info["rows_dropped"] == 99 and info["gaps_left"] == 35
    assert info["load_report"]["rows_dropped"] == 99 and info["load_report"]["gap_count"] == 0
    err = capsys.readouterr().err
    assert f"{SAMPLE_CSV}: dropped 99 row(s) with a missing value (data.missing: drop)" in err
    assert f"{SAMPLE_CSV}: 35 gap(s) of missing timestamps left in the rows used" in err
    # An info.json written before these fields existed still loads (they have defaults).
    for key in ("rows_dropped", "values_filled", "longest_filled_gap", "gaps_left"):
        del info[key]
    (run_dir / "info.json").write_text(json.dumps(info), encoding="utf-8")
    _, old = runner.load_run(task, run_dir)
    assert (old.rows_dropped, old.gaps_left, old.longest_filled_gap) == (0, 0, {})


def test_long_fill_gap_is_one_cli_error_line(tmp_path):
    frame = pd.read_csv(SAMPLE_CSV, dtype=str, keep_default_na=False)
    frame.loc[2000:2999, "TEMP"] = "NA"  # 1,000 consecutive hours without a temperature
    path = tmp_path / "temp_gap.csv"
    frame.to_csv(path, index=False)
    year, month, day, hour = frame.loc[2000, ["year", "month", "day", "hour"]].astype(int)
    when = f"{year}-{month:02d}-{day:02d} {hour:02d}:00:00"  # row 2000 is CSV line 2002
    result = run_cli(
        "train", "forecasting", "--config", str(tiny_config("forecasting")), "--data", "files",
        "--set", f"data.path={path}", env={"RUNS_DIR": str(tmp_path / "runs")},
    )  # fmt: skip
    assert result.returncode == 1, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: {path}: column 'TEMP' misses 1000 consecutive values from {when} (line 2002), "
        f"more than max_fill_gap = 168 rows may be filled (interpolate); fix the data, raise "
        f"data.max_fill_gap or use missing: drop"
    ]


def test_data_modules_do_not_import_pipelines():
    code = (
        "import sys, data.forecast_series, data.translation_corpus, data.char_corpus, "
        "data.tagged_corpus, data.text_classification; "
        "print([m for m in sys.modules if m.split('.')[0] == 'pipelines'])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"
