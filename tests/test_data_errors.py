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
        ("csv", r"no header line \(the file is empty or blank\)$"),
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
        split="tfds", newlines="normalize", window=4, random_offset=False,
        max_train_chars=None, max_eval_chars=None,
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


def test_drop_counts_the_gaps_the_dropped_rows_leave(tmp_path):
    path = tmp_path / "series.csv"
    path.write_bytes(_hourly(["1", "", "3", "4", "", "", "7"]))
    report = _load_csv(path, missing="drop").report.as_dict()
    assert report["rows_dropped"] == 3 and report["rows_out"] == 4
    assert report["file_gap_count"] == 0  # the file has a row every hour...
    assert report["gap_count"] == 2 and report["gap_timestamps"] == 3  # ...dropping leaves two
    assert report["gaps"] == [
        ["2021-03-01T01:00:00", "2021-03-01T01:00:00"],
        ["2021-03-01T04:00:00", "2021-03-01T05:00:00"],
    ]
    # A gap in the file itself next to a dropped row is one gap; dropped edge rows are none.
    path.write_text("time,v\n2021-03-01 00:00,\n2021-03-01 01:00,1\n2021-03-01 02:00,\n"
                    "2021-03-01 04:00,4\n2021-03-01 05:00,5\n2021-03-01 06:00,\n")  # fmt: skip
    report = _load_csv(path, missing="drop", frequency="h").report.as_dict()
    assert (report["rows_dropped"], report["rows_out"]) == (3, 3)
    assert (report["file_gap_count"], report["gap_count"], report["gap_timestamps"]) == (1, 1, 2)
    assert report["gaps"] == [["2021-03-01T02:00:00", "2021-03-01T03:00:00"]]
    interpolated = _load_csv(path, frequency="h").report  # filled: the file's gap alone
    assert (interpolated.gap_count, interpolated.file_gap_count) == (1, 1)
    assert interpolated.rows_inserted == 1 and interpolated.values_filled == 4
    path.write_bytes(_hourly(["", ""]))
    with pytest.raises(DataFormatError) as err:
        _load_csv(path, missing="drop")
    _one_line(err, rf"{re.escape(str(path))}: every row has a missing value .*leaves no rows")


@pytest.mark.parametrize(
    "body, message",
    [
        # The robustness case: ",1" appended after a CRLF line's "\r" (pandas split the line
        # there and blamed a made-up row on the line after).
        (b"2021-03-01 00:00,1\r\n2021-03-01 01:00,2\r,1\n2021-03-01 02:00,3\r\n",
         r":3: expected 2 fields as in the header \(line 1\), found 3$"),
        (b"2021-03-01 00:00,1\n2021-03-01 01:00,2,9\n",
         r":3: expected 2 fields as in the header \(line 1\), found 3$"),
        (b"2021-03-01 00:00,1\n2021-03-01 01:00\n",  # a short row is not padded with NaN
         r":3: expected 2 fields as in the header \(line 1\), found 1$"),
        (b'2021-03-01 00:00,1\n2021-03-01 01:00,"2\n2021-03-01 02:00,3\n',
         r":3: malformed CSV \(a quoted cell opened on this line is never closed\)$"),
    ],
)  # fmt: skip
def test_csv_row_with_the_wrong_field_count_names_its_line(tmp_path, body, message):
    path = tmp_path / "series.csv"
    path.write_bytes(b"time,v\r\n" + body)
    with pytest.raises(DataFormatError) as err:
        _load_csv(path)
    _one_line(err, re.escape(str(path)) + message)


def test_csv_lines_are_counted_as_an_editor_counts_them(tmp_path):
    # Header on line 2 after a blank line; a quoted cell spans lines 4-5; CRLF endings; a
    # blank line 7. The bad value is on line 8.
    path = tmp_path / "series.csv"
    path.write_bytes(
        b'\r\ntime,v,note\r\n2021-03-01 00:00,1,a\r\n2021-03-01 01:00,2,"two\r\nlines"\r\n'
        b"2021-03-01 02:00,3,c\r\n\r\n2021-03-01 03:00,warm,d\r\n"
    )
    with pytest.raises(DataFormatError) as err:
        _load_csv(path, features=("v",))
    _one_line(err, rf"{re.escape(str(path))}:8: non-numeric value 'warm' in column 'v'$")
    path.write_bytes(b"time,v\r2021-03-01 00:00,1\r2021-03-01 01:00,x\r")  # "\r" line ends only
    with pytest.raises(DataFormatError) as err:
        _load_csv(path)
    _one_line(err, rf"{re.escape(str(path))}:3: non-numeric value 'x' in column 'v'$")


def test_csv_header_naming_a_column_twice_is_one_line(tmp_path):
    path = tmp_path / "series.csv"
    path.write_text("time,v,v\n2021-03-01 00:00,1,2\n")
    with pytest.raises(DataFormatError) as err:
        _load_csv(path)
    _one_line(err, rf"{re.escape(str(path))}:1: column 'v' appears twice in the header$")


def test_duplicate_rows_are_reported_on_stderr_and_in_the_info(tmp_path):
    from data.forecast_series import load_series_for, split_series
    from pipelines.forecasting.config import ForecastingData, ForecastingInfo

    path = tmp_path / "series.csv"
    values = [str(v) for v in range(20)]
    lines = _hourly(values).decode().splitlines()
    lines[5:5] = [lines[4], lines[4]]  # line 5 (04:00) three times in a row
    path.write_text("\n".join(lines) + "\n")
    data = ForecastingData(
        source="files", path=str(path), time_column="time", time_format=None, targets=("v",),
        lookback=2, sampling_rate=1, delay=1, horizon=1, season=None,
    )  # fmt: skip
    table = load_series_for(data)
    info = ForecastingInfo.learned(data, table, split_series(table, data))
    assert (info.load_report["duplicates"], info.load_report["rows_read"], info.rows) == (2, 22, 20)
    assert info.data_notes() == [
        f"{path}: dropped 2 duplicate row(s) repeating the previous row's timestamp and values "
        f"exactly"
    ]


def test_too_few_rows_names_the_file_and_the_window_keys(tmp_path):
    from data.forecast_series import load_series_for, split_series
    from pipelines.forecasting.config import ForecastingData

    path = tmp_path / "series.csv"
    path.write_bytes(_hourly([str(v) for v in range(12)]))
    data = ForecastingData(
        source="files", path=str(path), time_column="time", time_format=None, targets=("v",),
        lookback=3, sampling_rate=1, delay=2, horizon=1, season=None,
    )  # fmt: skip
    with pytest.raises(ValueError) as err:
        split_series(load_series_for(data), data)
    # 12 rows split 6/3/3; a window + target needs (3 - 1) + 2 + 1 = 5 rows.
    _one_line(
        err,
        rf"{re.escape(str(path))}: the validation split \(rows 6-9 of the 12 rows used, 3 rows\) "
        rf"is shorter than one window \+ target \(5 rows from data.lookback, "
        rf"data.sampling_rate, data.delay, data.horizon\)",
    )


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


# ----------------------------------------------------------------------------- config rules


@pytest.mark.parametrize(
    "override, message",
    [
        ("data.season=3", r"data\.season: 3 rows is not known at the forecast origin \(needs >= "
         r"delay \+ horizon - 1 = 4\)"),
        ("data.split=[0.5, 0.5]", r"data\.split: fractions must be \(train, val, test\)"),
        ("data.split=[0.5, 0.3, 0.3]", r"data\.split: fractions must sum to 1"),
        ("data.split=[0.75, 0.25, 0.0]", r"data\.split: every fraction must be positive"),
        ("data.targets=[]", r"data\.targets: give at least one target column"),
        ("data.time_column=Date", r"data\.time_column: give exactly one of time_column or "
         r"time_parts \(both are set\)"),
        ("data.time_parts=null", r"data\.time_column: give exactly one of time_column or "
         r"time_parts \(both are null\)"),
        ("data.time_parts=[year, month]", r"data\.time_parts: give 3 to 6 columns"),
        ("data.time_format='%Y'", r"data\.time_format: applies only to time_column"),
        ("data.features=[TEMP, hour]", r"data\.features: time column\(s\) \['hour'\] used as data"),
        ("data.frequency=fortnightly", r"data\.frequency: 'fortnightly' is not a pandas offset"),
    ],
)  # fmt: skip
def test_forecasting_rules_of_the_config_alone_fail_when_it_loads(override, message):
    from pipelines.forecasting.config import ForecastingConfig
    from pipelines.spine.config import ConfigError, load_config

    with pytest.raises(ConfigError) as err:
        load_config(ForecastingConfig, tiny_config("forecasting"), [override])
    assert re.search(message, str(err.value)), str(err.value)


def test_forecasting_config_rules_fail_before_tensorflow_is_imported():
    code = (
        "import sys\n"
        "from pipelines.forecasting.config import ForecastingConfig\n"
        "from pipelines.spine.config import ConfigError, load_config\n"
        "try:\n"
        f"    load_config(ForecastingConfig, {str(tiny_config('forecasting'))!r}, "
        "['data.season=2'])\n"
        "except ConfigError as err:\n"
        "    print(err)\n"
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    message, imported = result.stdout.strip().splitlines()
    assert message.endswith("data.season: 2 rows is not known at the forecast origin (needs >= "
                            "delay + horizon - 1 = 4)")  # fmt: skip
    assert imported == "False False"


# ----------------------------------------------------------------------------- translation pairs


def _pair_data(path: Path):
    from pipelines.spine.config import load_config
    from pipelines.translation.config import TranslationConfig

    overrides = ["data.source=files", f"data.train_path={path}"]
    return load_config(TranslationConfig, tiny_config("translation"), overrides).data


@pytest.mark.parametrize(
    "pairs, sizes",
    [(1, "train 0, validation 0, test 1"), (2, "train 0, validation 1, test 1")],
)
def test_too_few_pairs_to_split_name_the_file_and_how_many_are_needed(tmp_path, pairs, sizes):
    from data.translation_corpus import load_splits

    path = tmp_path / "pairs.tsv"
    path.write_text("".join(f"Go {i}.\tVe {i}.\n" for i in range(pairs)), encoding="utf-8")
    with pytest.raises(DataFormatError) as err:
        load_splits(_pair_data(path), ("train", "validation"))
    _one_line(
        err,
        rf"{re.escape(str(path))}: {pairs} pair\(s\) split into {sizes} "
        rf"\(data\.validation_fraction, data\.test_fraction\); train and validation each need "
        rf"at least one pair: give at least 3 pairs$",
    )
    path.write_text("".join(f"Go {i}.\tVe {i}.\n" for i in range(3)), encoding="utf-8")
    train, validation, test = load_splits(_pair_data(path), ("train", "validation", "test"))
    assert (len(train), len(validation), len(test)) == (1, 1, 1)  # the smallest file that splits


def test_every_training_pair_too_long_names_the_file_and_the_key(tmp_path):
    from data.translation_corpus import learn_vocabularies, load_splits, training_pairs

    path = tmp_path / "pairs.tsv"
    # 2 + i source tokens ("a b ... ."), 3 + i target steps with the start token
    path.write_text(
        "".join(f"{'a ' * (i + 1)}.\t{'b ' * (i + 1)}.\n" for i in range(40)), encoding="utf-8"
    )
    data = _pair_data(path)
    (train,) = load_splits(data, ("train",))
    vocabularies = learn_vocabularies(train, data)
    lengths = sorted(len(s.split()) + 1 for s in train.targets)  # tokens + start, the longer side
    with pytest.raises(DataFormatError) as err:
        training_pairs(train, vocabularies, lengths[0] - 1, origin=str(path))
    _one_line(
        err,
        rf"{re.escape(str(path))}: all {len(train)} training pairs are longer than "
        rf"data\.max_train_length={lengths[0] - 1} tokens \(the shortest has {lengths[0]} on its "
        rf"longer side, the target counting its start token\); raise data\.max_train_length$",
    )
    kept, dropped = training_pairs(train, vocabularies, lengths[0], origin=str(path))
    assert (len(kept), dropped) == (1, len(train) - 1)


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
    report = info["load_report"]
    assert report["rows_dropped"] == 99 and report["gap_timestamps"] == 99
    assert report["gap_count"] == 35 and report["file_gap_count"] == 0
    err = capsys.readouterr().err
    assert f"{SAMPLE_CSV}: dropped 99 row(s) with a missing value (data.missing: drop)" in err
    assert f"{SAMPLE_CSV}: 35 gap(s) of missing timestamps left in the rows used" in err
    assert "rows dropped; 35 gap(s) of missing timestamps (99 timestamps; 0 gap(s) in " in err
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
        f"more than max_fill_gap = 168 rows may be filled (ffill); fix the data, raise "
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
