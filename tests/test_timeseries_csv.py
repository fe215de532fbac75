"""Tests for the CSV time-series reader, splits, window alignment and naive baselines."""

from __future__ import annotations

import gzip
import os
import sys
from pathlib import Path

import numpy as np
import pytest

# The repo is not installed as a package; make ``data`` importable from any rootdir setup.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from data.timeseries_csv import CsvSeriesSpec, DataFormatError, load_series
from data.timeseries_windows import (
    WindowSpec,
    chronological_split,
    fit_stats,
    mae,
    naive_baselines,
    normalize,
    rmse,
    timeseries_dataset_kwargs,
    window_rows,
    window_targets,
)

JENA_FORMAT = "%d.%m.%Y %H:%M:%S"
JENA_COLUMNS = [
    "p (mbar)",
    "T (degC)",
    "Tpot (K)",
    "Tdew (degC)",
    "rh (%)",
    "VPmax (mbar)",
    "VPact (mbar)",
    "VPdef (mbar)",
    "sh (g/kg)",
    "H2OC (mmol/mol)",
    "rho (g/m**3)",
    "wv (m/s)",
    "max. wv (m/s)",
    "wd (deg)",
]
BEIJING_HEADER = "No,year,month,day,hour,pm2.5,DEWP,TEMP,PRES,cbwd,Iws,Is,Ir"
BEIJING_PARTS = ("year", "month", "day", "hour")


def _write(path: Path, lines: list[str], crlf: bool = True) -> str:
    text = ("\r\n" if crlf else "\n").join(lines)  # like the real files: no final newline
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text, newline="")
    return str(path)


def _dt(text: str) -> np.datetime64:
    return np.datetime64(text, "ns")


# ----------------------------------------------------------------------------- Jena layout


def _jena_csv(tmp_path: Path) -> tuple[str, dict[str, list[float]]]:
    stamps = ["01.01.2009 00:10:00", "01.01.2009 00:20:00", "01.01.2009 00:30:00"]
    stamps.append("01.01.2009 00:40:00")  # in time order (an unsorted file is an error)
    rows = {}
    lines = ['"Date Time",' + ",".join(f'"{c}"' for c in JENA_COLUMNS)]
    for k, stamp in enumerate(stamps):
        vals = [round(1000 + k + j / 10, 2) for j in range(len(JENA_COLUMNS))]
        vals[1] = [-8.02, -8.41, -8.9, -8.51][k]
        rows[stamp] = vals
        lines.append(stamp + "," + ",".join(str(v) for v in vals))
    return _write(tmp_path / "jena_climate_2009_2016.csv", lines), rows


def _jena_table(path: str, **columns):
    """The Jena CSV at ``path`` read with its time column, target ``T (degC)``."""
    spec = CsvSeriesSpec(
        path, time_column="Date Time", time_format=JENA_FORMAT, targets=("T (degC)",), **columns
    )
    return load_series(spec)


def test_jena_layout_parsed_and_selected(tmp_path):
    path, rows = _jena_csv(tmp_path)
    table = _jena_table(path, features=("p (mbar)", "T (degC)"))
    expected_times = [
        "2009-01-01T00:10",
        "2009-01-01T00:20",
        "2009-01-01T00:30",
        "2009-01-01T00:40",
    ]
    np.testing.assert_array_equal(table.times, np.array(expected_times, dtype="datetime64[ns]"))
    assert table.feature_names == ("p (mbar)", "T (degC)")
    assert table.target_indices == (1,)
    assert table.values.dtype == np.float32 and table.values.shape == (4, 2)
    by_time = ["01.01.2009 00:10:00", "01.01.2009 00:20:00", "01.01.2009 00:30:00"]
    by_time.append("01.01.2009 00:40:00")
    np.testing.assert_allclose(table.column("T (degC)"), [rows[s][1] for s in by_time], rtol=1e-6)
    np.testing.assert_allclose(table.column("p (mbar)"), [rows[s][0] for s in by_time], rtol=1e-6)
    rep = table.report
    assert rep.rows_read == 4 and rep.rows_out == 4
    assert rep.frequency == "10min" and rep.gap_count == 0 and rep.duplicates == 0


def test_jena_layout_all_numeric_columns_by_default(tmp_path):
    path, _ = _jena_csv(tmp_path)
    table = _jena_table(path)
    assert table.feature_names == tuple(JENA_COLUMNS)
    assert table.target_indices == (1,)


def test_target_not_in_features_is_appended(tmp_path):
    path, _ = _jena_csv(tmp_path)
    table = _jena_table(path, features=("p (mbar)", "rh (%)"))
    assert table.feature_names == ("p (mbar)", "rh (%)", "T (degC)")
    assert table.target_indices == (2,)


# ----------------------------------------------------------------------------- Beijing layout

BEIJING_ROWS = [
    "1,2010,1,1,0,10,-21,-11,1021,NW,1.79,0,0",
    "2,2010,1,1,1,NA,-21,-12,1020,NW,4.92,0,0",
    "3,2010,1,1,2,30,-20,-11,1019,SE,6.71,0,0",
    "4,2010,1,1,3,40,-20,-14,1019,cv,9.84,0,1",
    "5,2010,1,1,4,NA,-19,-12,1018,NE,12.97,0,2",
    "6,2010,1,1,5,70,-19,-10,1018,NE,0.89,1,0",
]


def _beijing(tmp_path: Path, missing: str, name: str = "pollution.csv.gz"):
    path = _write(tmp_path / name, [BEIJING_HEADER, *BEIJING_ROWS])
    spec = CsvSeriesSpec(
        path,
        time_parts=BEIJING_PARTS,
        categorical=("cbwd",),
        targets=("pm2.5", "TEMP"),
        missing=missing,
    )
    return load_series(spec)


BEIJING_NUMERIC = ("pm2.5", "DEWP", "TEMP", "PRES", "Iws", "Is", "Ir")
BEIJING_ONEHOT = ("cbwd=NE", "cbwd=NW", "cbwd=SE", "cbwd=cv")  # sorted: upper case first


@pytest.mark.parametrize("missing", ["interpolate", "ffill", "drop"])
def test_beijing_layout_columns_onehot_and_counts(tmp_path, missing):
    table = _beijing(tmp_path, missing)
    assert table.feature_names == BEIJING_NUMERIC + BEIJING_ONEHOT  # `No` and time parts left out
    assert table.target_indices == (0, 2)
    rep = table.report
    assert rep.rows_read == 6
    assert rep.missing_before == {
        "pm2.5": 2,
        "DEWP": 0,
        "TEMP": 0,
        "PRES": 0,
        "Iws": 0,
        "Is": 0,
        "Ir": 0,
        "cbwd": 0,
    }
    assert rep.frequency == "h" and rep.file_gap_count == 0 and rep.duplicates == 0
    # drop: the two rows without pm2.5 (01:00 and 04:00) leave two gaps; the others fill them
    assert rep.gap_count == (2 if missing == "drop" else 0)
    onehot = table.values[:, len(BEIJING_NUMERIC) :]
    assert set(np.unique(onehot)) <= {0.0, 1.0}
    np.testing.assert_array_equal(onehot.sum(axis=1), 1.0)


def test_beijing_interpolate_gives_linear_midpoints(tmp_path):
    table = _beijing(tmp_path, "interpolate")
    np.testing.assert_array_equal(table.column("pm2.5"), [10, 20, 30, 40, 55, 70])
    np.testing.assert_array_equal(table.column("TEMP"), [-11, -12, -11, -14, -12, -10])
    np.testing.assert_array_equal(table.column("cbwd=NW"), [1, 1, 0, 0, 0, 0])
    np.testing.assert_array_equal(table.column("cbwd=cv"), [0, 0, 0, 1, 0, 0])
    assert table.times[0] == _dt("2010-01-01T00:00") and table.times[-1] == _dt("2010-01-01T05:00")
    rep = table.report
    assert (rep.values_filled, rep.rows_dropped, rep.rows_inserted, rep.rows_out) == (2, 0, 0, 6)


def test_beijing_ffill_gives_previous_value(tmp_path):
    table = _beijing(tmp_path, "ffill")
    np.testing.assert_array_equal(table.column("pm2.5"), [10, 10, 30, 40, 40, 70])
    rep = table.report
    assert (rep.values_filled, rep.rows_dropped, rep.rows_out) == (2, 0, 6)


def test_beijing_drop_removes_rows(tmp_path):
    table = _beijing(tmp_path, "drop")
    np.testing.assert_array_equal(table.column("pm2.5"), [10, 30, 40, 70])
    np.testing.assert_array_equal(table.column("TEMP"), [-11, -11, -14, -10])
    hours = (table.times - table.times[0]) // np.timedelta64(1, "h")
    np.testing.assert_array_equal(hours, [0, 2, 3, 5])
    rep = table.report
    assert (rep.values_filled, rep.rows_dropped, rep.rows_out) == (0, 2, 4)


def test_leading_missing_value_per_policy(tmp_path):
    rows = [BEIJING_ROWS[0].replace(",10,", ",NA,"), *BEIJING_ROWS[2:4]]
    path = _write(tmp_path / "lead.csv", [BEIJING_HEADER, *rows], crlf=False)
    tables = {
        m: load_series(CsvSeriesSpec(path, time_parts=BEIJING_PARTS, missing=m, frequency="h"))
        for m in ("interpolate", "ffill", "drop")
    }
    # rows at 00:00 (pm2.5 NA), 02:00, 03:00: hour 01:00 is a gap in the file
    assert all(t.report.file_gap_count == 1 for t in tables.values())
    assert all(
        tables[m].report.gaps == ((_dt("2010-01-01T01"), _dt("2010-01-01T01")),)
        for m in ("interpolate", "ffill")
    )
    assert tables["drop"].report.gap_count == 0  # drop starts at 02:00, after the gap
    interp = tables["interpolate"]  # edge filled with the nearest value, gap hour interpolated
    np.testing.assert_array_equal(interp.column("pm2.5"), [30, 30, 30, 40])
    assert (interp.report.rows_inserted, interp.report.values_filled) == (
        1,
        1 + len(interp.feature_names),
    )
    ffill = tables["ffill"]  # nothing to carry into 00:00 and 01:00: both rows dropped
    np.testing.assert_array_equal(ffill.column("pm2.5"), [30, 40])
    assert (ffill.report.rows_dropped, ffill.report.values_filled) == (2, 0)
    drop = tables["drop"]
    np.testing.assert_array_equal(drop.column("pm2.5"), [30, 40])
    assert (drop.report.rows_dropped, drop.report.rows_inserted) == (1, 0)


# ----------------------------------------------------------------------------- gaps, duplicates


def _hourly_csv(tmp_path: Path, hours: list[int], name: str = "hourly.csv") -> str:
    lines = ["time,value"] + [f"2021-03-01 {h:02d}:00:00,{10 * h}" for h in hours]
    return _write(tmp_path / name, lines)


def test_two_missing_hours_reported_as_gaps(tmp_path):
    path = _hourly_csv(tmp_path, [0, 1, 2, 4, 5, 6, 8, 9])
    drop = load_series(CsvSeriesSpec(path, time_column="time", targets=("value",), missing="drop"))
    rep = drop.report
    assert rep.frequency == "h"  # inferred from the median step
    assert rep.gap_count == 2 and rep.gap_timestamps == 2
    assert rep.gaps == (
        (_dt("2021-03-01T03"), _dt("2021-03-01T03")),
        (_dt("2021-03-01T07"), _dt("2021-03-01T07")),
    )
    assert rep.rows_out == 8 and rep.rows_inserted == 0  # drop keeps the rows, just reports

    interp = load_series(CsvSeriesSpec(path, time_column="time", frequency="h"))
    assert interp.report.gaps == rep.gaps and interp.report.rows_inserted == 2
    assert interp.report.values_filled == 2
    np.testing.assert_array_equal(interp.column("value"), np.arange(10) * 10.0)
    np.testing.assert_array_equal(np.diff(interp.times), np.timedelta64(3600, "s"))

    ffill = load_series(CsvSeriesSpec(path, time_column="time", missing="ffill"))
    np.testing.assert_array_equal(ffill.column("value"), [0, 10, 20, 20, 40, 50, 60, 60, 80, 90])


def test_adjacent_missing_hours_are_one_gap(tmp_path):
    path = _hourly_csv(tmp_path, [0, 1, 4, 5])
    rep = load_series(CsvSeriesSpec(path, time_column="time", frequency="h")).report
    assert rep.gap_count == 1 and rep.gap_timestamps == 2
    assert rep.gaps == ((_dt("2021-03-01T02"), _dt("2021-03-01T03")),)


def test_repeated_rows_reported_and_first_kept(tmp_path):
    lines = ["time,value"] + [f"2021-03-01 {h:02d}:00:00,{10 * h}" for h in range(4)]
    lines.insert(3, "2021-03-01 01:00:00,10")  # the 01:00 row again (other values: an error)
    path = _write(tmp_path / "dups.csv", lines)
    table = load_series(CsvSeriesSpec(path, time_column="time"))
    rep = table.report
    assert rep.rows_read == 5 and rep.duplicates == 1 and rep.rows_out == 4
    assert rep.duplicate_times == (_dt("2021-03-01T01"),)
    assert rep.gap_count == 0
    np.testing.assert_array_equal(table.column("value"), [0, 10, 20, 30])


def test_off_grid_timestamp(tmp_path):
    lines = ["time,value", "2021-03-01 00:00,1", "2021-03-01 01:00,2", "2021-03-01 01:30,3"]
    lines.append("2021-03-01 02:00,4")
    path = _write(tmp_path / "offgrid.csv", lines)
    rep = load_series(CsvSeriesSpec(path, time_column="time", frequency="h", missing="drop")).report
    assert rep.off_grid == 1 and rep.gap_count == 0
    with pytest.raises(DataFormatError, match=r"offgrid\.csv:4: time '2021-03-01 01:30:00' is not"):
        load_series(CsvSeriesSpec(path, time_column="time", frequency="h"))


# ----------------------------------------------------------------------------- errors


def test_missing_column_error(tmp_path):
    path = _hourly_csv(tmp_path, [0, 1, 2])
    with pytest.raises(DataFormatError) as err:
        load_series(CsvSeriesSpec(path, time_column="time", features=("nope",)))
    assert str(err.value) == f"{path}: column 'nope' not found (columns: time, value)"
    with pytest.raises(DataFormatError, match=r"column 'Date' not found \(columns: time, value\)"):
        load_series(CsvSeriesSpec(path, time_column="Date"))
    with pytest.raises(DataFormatError, match=r"column 'T' not found"):
        load_series(CsvSeriesSpec(path, time_column="time", targets=("T",)))


def test_bad_timestamp_error_names_line(tmp_path):
    path, _ = _jena_csv(tmp_path)
    lines = Path(path).read_bytes().decode().split("\r\n")
    lines[3] = "32.01.2009 00:30:00" + lines[3][len("01.01.2009 00:30:00") :]  # CSV line 4
    lines.insert(2, "")  # a blank line before it counts too: the bad row is now line 5
    _write(Path(path), lines)
    spec = CsvSeriesSpec(path, time_column="Date Time", time_format=JENA_FORMAT)
    with pytest.raises(DataFormatError) as err:
        load_series(spec)
    message = str(err.value)
    assert message == (
        f"{path}:5: cannot parse time '32.01.2009 00:30:00' with format '{JENA_FORMAT}'"
    )
    assert "\n" not in message


def test_bad_time_parts_error_names_line(tmp_path):
    rows = [*BEIJING_ROWS[:2], BEIJING_ROWS[2].replace("2010,1,1,2", "2010,2,30,2")]
    path = _write(tmp_path / "badparts.csv", [BEIJING_HEADER, *rows])
    with pytest.raises(DataFormatError) as err:
        load_series(CsvSeriesSpec(path, time_parts=BEIJING_PARTS, categorical=("cbwd",)))
    assert str(err.value) == (
        f"{path}:4: cannot parse time '2010,2,30,2' with format 'year,month,day,hour'"
    )


def test_non_numeric_value_error_names_line(tmp_path):
    rows = [BEIJING_ROWS[0], BEIJING_ROWS[1].replace(",-12,", ",warm,"), *BEIJING_ROWS[2:]]
    path = _write(tmp_path / "badvalue.csv", [BEIJING_HEADER, *rows])
    spec = CsvSeriesSpec(path, time_parts=BEIJING_PARTS, categorical=("cbwd",))
    with pytest.raises(DataFormatError) as err:
        load_series(spec)  # auto-detected features: TEMP is still a (mostly) numeric column
    assert str(err.value) == f"{path}:3: non-numeric value 'warm' in column 'TEMP'"
    with pytest.raises(DataFormatError, match=r"badvalue\.csv:3: non-numeric value 'warm'"):
        load_series(CsvSeriesSpec(path, time_parts=BEIJING_PARTS, features=("TEMP",)))


def test_spec_validation():
    with pytest.raises(ValueError, match="exactly one of"):
        CsvSeriesSpec("x.csv")
    with pytest.raises(ValueError, match="exactly one of"):
        CsvSeriesSpec("x.csv", time_column="t", time_parts=BEIJING_PARTS)
    with pytest.raises(ValueError, match="missing must be one of"):
        CsvSeriesSpec("x.csv", time_column="t", missing="zero")
    with pytest.raises(ValueError, match="both features and categorical"):
        CsvSeriesSpec("x.csv", time_column="t", features=("a",), categorical=("a",))
    spec = CsvSeriesSpec("x.csv", time_column="t", features=["a", "b"], targets="a")
    assert spec.features == ("a", "b") and spec.targets == ("a",)


# ----------------------------------------------------------------------------- real files


def _data_root() -> Path:
    env = os.environ.get("DATA_ROOT")
    return Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _real_file(*parts: str) -> str:
    path = _data_root().joinpath(*parts)
    if not path.is_file():
        pytest.skip(f"real data not available: {path} missing (set DATA_ROOT to the data folder)")
    return str(path)


BEIJING_SPEC_KW = dict(time_parts=BEIJING_PARTS, categorical=("cbwd",), targets=("TEMP",))


def test_real_beijing_file_loads():
    path = _real_file("beijing_pm25", "pollution.csv.gz")
    table = load_series(CsvSeriesSpec(path, **BEIJING_SPEC_KW))
    rep = table.report
    assert rep.rows_read == 43_824 and rep.rows_out == 43_824
    assert rep.missing_before["pm2.5"] == 2_067
    assert sum(rep.missing_before.values()) == 2_067
    assert rep.values_filled == 2_067 and rep.gap_count == 0 and rep.duplicates == 0
    assert rep.frequency == "h"
    assert table.feature_names[-4:] == BEIJING_ONEHOT
    assert table.feature_names[table.target_indices[0]] == "TEMP"
    assert table.times[0] == _dt("2010-01-01T00") and table.times[-1] == _dt("2014-12-31T23")
    assert np.isfinite(table.values).all()
    assert table.column("TEMP")[:2].tolist() == [-11.0, -12.0]


def test_real_melbourne_file_reports_two_missing_days():
    path = _real_file("melbourne_daily_min_temp", "daily-min-temperatures.csv")
    drop = load_series(CsvSeriesSpec(path, time_column="Date", targets=("Temp",), missing="drop"))
    rep = drop.report
    assert rep.rows_read == 3_650 and rep.rows_out == 3_650 and rep.frequency == "D"
    assert rep.gap_count == 2
    assert rep.gaps == (
        (_dt("1984-12-31"), _dt("1984-12-31")),
        (_dt("1988-12-31"), _dt("1988-12-31")),
    )
    interp = load_series(CsvSeriesSpec(path, time_column="Date", time_format="%Y-%m-%d"))
    assert interp.report.rows_out == 3_652 and interp.report.rows_inserted == 2
    assert interp.feature_names == ("Temp",)


# ----------------------------------------------------------------------------- windows, baselines

SQUARES = np.arange(10, dtype=np.float64) ** 2  # 0, 1, 4, 9, ..., 81


def test_window_rows_definition():
    first, last, target = window_rows(10, lookback=3, delay=2)
    np.testing.assert_array_equal(first, [0, 1, 2, 3, 4, 5])
    np.testing.assert_array_equal(last, [2, 3, 4, 5, 6, 7])  # i + lookback - 1
    np.testing.assert_array_equal(target, [4, 5, 6, 7, 8, 9])  # last + delay
    first, last, target = window_rows(10, lookback=3, delay=2, sampling_rate=2)
    np.testing.assert_array_equal(first, [0, 1, 2, 3])  # reads rows i, i+2, i+4
    np.testing.assert_array_equal(target, [6, 7, 8, 9])
    first, _, target = window_rows(10, lookback=3, delay=2, start=2, stop=9)
    np.testing.assert_array_equal(first, [2, 3, 4])  # inputs and targets inside [2, 9)
    np.testing.assert_array_equal(target, [6, 7, 8])
    assert len(window_rows(5, lookback=3, delay=3)[0]) == 0
    with pytest.raises(ValueError, match="delay"):
        window_rows(10, lookback=3, delay=0)


def test_window_spec_span_and_counts():
    window = WindowSpec(lookback=3, sampling_rate=2, delay=2, horizon=2)
    assert window.span == 5  # rows i .. i + 4
    assert window.rows_needed == 8  # inputs, then targets at rows last + 2 and last + 3
    # Every horizon step inside the rows: first rows 0, 1, 2 of 10 (last target row i + 7).
    assert window.count(10, slice(0, 10)) == 3
    assert window.count(10, slice(4, 10)) == 0
    assert WindowSpec.of(window) == window


def test_persistence_and_seasonal_naive_by_hand():
    base = naive_baselines(SQUARES, None, lookback=3, delay=2, season=3)
    np.testing.assert_array_equal(base.targets, [16, 25, 36, 49, 64, 81])
    np.testing.assert_array_equal(base.persistence, [4, 9, 16, 25, 36, 49])
    np.testing.assert_array_equal(base.seasonal, [1, 4, 9, 16, 25, 36])
    scores = base.scores()
    assert scores["persistence_mae"] == pytest.approx((12 + 16 + 20 + 24 + 28 + 32) / 6)
    sq = [12**2, 16**2, 20**2, 24**2, 28**2, 32**2]
    assert scores["persistence_rmse"] == pytest.approx(np.sqrt(np.mean(sq)))
    assert scores["seasonal_mae"] == pytest.approx((15 + 21 + 27 + 33 + 39 + 45) / 6)

    two_d = np.stack([np.zeros(10), SQUARES], axis=1)
    split = naive_baselines(two_d, 1, lookback=3, delay=2, season=2, start=2, stop=9)
    np.testing.assert_array_equal(split.targets, [36, 49, 64])
    np.testing.assert_array_equal(split.persistence, split.seasonal)  # season == delay
    np.testing.assert_array_equal(split.persistence, [16, 25, 36])
    np.testing.assert_array_equal(window_targets(two_d, 1, 3, 2, start=2, stop=9), split.targets)

    with pytest.raises(ValueError, match="season must be"):
        naive_baselines(SQUARES, None, lookback=3, delay=2, season=1)
    with pytest.raises(ValueError, match="no complete window"):
        naive_baselines(SQUARES, None, lookback=8, delay=3)


def test_mae_rmse():
    assert mae([1, 2, 3], [2, 2, 1]) == pytest.approx(1.0)
    assert rmse([1, 2, 3], [2, 2, 1]) == pytest.approx(np.sqrt(5 / 3))


@pytest.mark.parametrize(
    ("lookback", "delay", "rate", "start", "stop"),
    [
        (5, 3, 1, 0, None),
        (4, 2, 3, 0, None),
        (6, 24, 1, 10, 90),
        (3, 5, 2, 40, None),
        (1, 1, 1, 0, 20),
    ],
)
def test_keras_windows_match_window_targets_and_persistence(lookback, delay, rate, start, stop):
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(0)
    n, target_index = 100, 1
    data = rng.normal(size=(n, 3)).astype(np.float32)
    target = data[:, target_index]
    first, last, _ = window_rows(n, lookback, delay, rate, start, stop)
    expected_targets = window_targets(data, target_index, lookback, delay, rate, start, stop)
    persistence = naive_baselines(data, target_index, lookback, delay, rate, start=start, stop=stop)

    offset = (lookback - 1) * rate + delay
    end = n if stop is None else stop
    explicit = dict(  # the documented recipe, spelled out
        data=data[: end - delay],
        targets=target[offset:end],
        sequence_length=lookback,
        sampling_rate=rate,
        start_index=start or None,
    )
    helper = timeseries_dataset_kwargs(data, target, lookback, delay, rate, start, stop)
    for kwargs in (explicit, helper):
        ds = keras.utils.timeseries_dataset_from_array(**kwargs, batch_size=1_000, shuffle=False)
        xs, ys = zip(*[(np.asarray(x), np.asarray(y)) for x, y in ds], strict=True)
        x, y = np.concatenate(xs), np.concatenate(ys)
        assert x.shape == (len(first), lookback, 3)
        np.testing.assert_array_equal(x[:, 0, :], data[first])  # first input row = i
        np.testing.assert_array_equal(x[:, -1, :], data[last])  # last input row
        np.testing.assert_array_equal(y, expected_targets)
        np.testing.assert_array_equal(x[:, -1, target_index], persistence.persistence)
        np.testing.assert_array_equal(y, persistence.targets)


# ----------------------------------------------------------------------------- split, stats


def test_chronological_split_boundaries():
    assert chronological_split(100) == (slice(0, 50), slice(50, 75), slice(75, 100))
    assert chronological_split(10, (0.7, 0.2, 0.1)) == (slice(0, 7), slice(7, 9), slice(9, 10))
    assert chronological_split(43_824) == (
        slice(0, 21_912),
        slice(21_912, 32_868),
        slice(32_868, 43_824),
    )
    train, val, test = chronological_split(7)
    assert (train.stop, val.stop, test.stop) == (3, 4, 7)  # floor(3.5), +floor(1.75)
    assert chronological_split(10, (1.0, 0.0, 0.0)) == (slice(0, 10), slice(10, 10), slice(10, 10))


@pytest.mark.parametrize(
    "fractions",
    [(0.5, 0.5), (0.5, 0.3, 0.3), (0.6, 0.5, -0.1), (0.0, 0.5, 0.5), (float("nan"), 0.5, 0.5)],
)
def test_chronological_split_rejects_bad_fractions(fractions):
    with pytest.raises(ValueError, match="fraction"):
        chronological_split(100, fractions)


def test_chronological_split_rejects_bad_n():
    with pytest.raises(ValueError, match="non-negative integer"):
        chronological_split(-1)
    with pytest.raises(ValueError, match="non-negative integer"):
        chronological_split(10.5)


def test_fit_stats_train_only_and_constant_column():
    values = np.array([[1, 5], [3, 5], [100, 5], [200, 5]], dtype=np.float32)
    train, _, _ = chronological_split(4)
    mean, std = fit_stats(values[train])
    np.testing.assert_allclose(mean, [2, 5])
    np.testing.assert_allclose(std, [1, 1])  # constant column: std 0 -> 1
    normed = normalize(values, mean, std)
    assert normed.dtype == np.float32
    np.testing.assert_allclose(normed[:, 0], [-1, 1, 98, 198])
    np.testing.assert_array_equal(normed[:, 1], 0)
    with pytest.raises(ValueError, match="NaN"):
        fit_stats(np.array([[np.nan]]))
