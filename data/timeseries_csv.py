"""CSV time-series reader: a file becomes a clean, regular ``SeriesTable`` (plain pandas/numpy).

Supported layouts
-----------------
* Jena Climate: a ``"Date Time"`` column in ``%d.%m.%Y %H:%M:%S`` and 14 numeric columns::

      CsvSeriesSpec(path, time_column="Date Time", time_format="%d.%m.%Y %H:%M:%S",
                    targets=("T (degC)",))

* Beijing PM2.5 (UCI): time split over ``year,month,day,hour``, ``NA`` cells, index column
  ``No`` and categorical wind direction ``cbwd``::

      CsvSeriesSpec(path, time_parts=("year", "month", "day", "hour"),
                    categorical=("cbwd",), targets=("TEMP",))

* Melbourne daily minimum temperatures: ``"Date","Temp"`` (ISO dates, univariate).

``load_series`` reads the file (plain or gzip, UTF-8; its rows and their line numbers come
from ``data.csv_rows``: every row has the header's number of fields), builds a time index,
checks that the rows are in time order (a row earlier than the one before it is an error naming
its line; a row repeating the previous timestamp with the same values is dropped and counted in
the report, with other values it is an error), detects gaps against the regular grid of the
frequency, applies the missing-value policy and one-hot encodes the categorical columns. Empty
cells and pandas' missing markers (``NA``, ``NaN``, ``null``...) are missing values; ``inf`` is
an error naming the line and column. ``SeriesTable.feature_names`` is the numeric features (in
``spec.features`` order, or file order when that is empty, followed by any target not listed
there) then the one-hot columns (``<column>=<category>``, categories sorted).

Missing-value policies (``spec.missing``)
-----------------------------------------
* ``"interpolate"``: reindex to the full regular grid (gap timestamps become rows), linear
  interpolation of numeric columns inside the series, edges filled with the nearest valid value;
  categorical columns take the previous value (the next one at the start).
* ``"ffill"``: reindex to the full grid and carry the previous value forward; leading rows that
  still have a missing value (nothing before them) are dropped.
* ``"drop"``: rows with a missing value in a used column are dropped; gaps in the time index,
  and those the dropped rows leave, are only reported (windows may then span a gap).

Under ``interpolate`` and ``ffill`` a column may have at most ``spec.max_fill_gap`` consecutive
grid points filled (None: no limit); a longer run is an error naming the file, the column and
the run's first timestamp. The report gives each column's longest filled run.

Splits, statistics, windows and baselines on the table: ``data.timeseries_windows``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset

from data.csv_rows import read_csv_rows
from data.data_format_error import DataFormatError
from data.timeseries_columns import numeric_columns, parse_times, require_column, to_float
from data.timeseries_grid import Filled, TimeGrid, drop_missing, fill_grid, time_grid

MissingPolicy = Literal["interpolate", "ffill", "drop"]
_POLICIES = ("interpolate", "ffill", "drop")
MAX_LISTED = 10  # how many gaps / duplicate timestamps the report lists

__all__ = [
    "CsvSeriesSpec",
    "DataFormatError",
    "LoadReport",
    "SeriesSettings",
    "SeriesTable",
    "iso",
    "load_series",
    "settings_problem",
]


@dataclass(frozen=True)
class CsvSeriesSpec:
    """What to read from a CSV time series and how to prepare it.

    Give either ``time_column`` (with ``time_format``, a ``strftime`` pattern; ``None`` means
    ISO 8601) or ``time_parts``: the columns holding year, month, day[, hour[, minute[,
    second]]] in that order. ``features`` empty means every numeric column except the time
    columns, categorical columns and index-like columns (``No``, ``index``, ``id``,
    ``Unnamed: 0``...). ``frequency`` is a pandas offset alias ("h", "D", "10min"); ``None``
    infers it from the median step between timestamps.
    """

    path: str
    time_column: str | None = None
    time_format: str | None = None
    time_parts: tuple[str, ...] | None = None
    features: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    missing: MissingPolicy = "interpolate"
    frequency: str | None = None
    max_fill_gap: int | None = None

    def __post_init__(self) -> None:
        for name in ("features", "targets", "categorical", "time_parts"):
            value = getattr(self, name)
            if isinstance(value, str):
                value = (value,)
            if value is not None:
                object.__setattr__(self, name, tuple(value))
        if not str(self.path):
            raise ValueError("CsvSeriesSpec.path is empty")
        object.__setattr__(self, "path", str(self.path))
        problem = settings_problem(self)
        if problem is not None:
            raise ValueError(f"CsvSeriesSpec.{problem[0]}: {problem[1]}")
        if self.max_fill_gap is not None and self.max_fill_gap < 0:
            raise ValueError(f"CsvSeriesSpec.max_fill_gap must be >= 0: {self.max_fill_gap}")
        if self.missing not in _POLICIES:
            raise ValueError(f"CsvSeriesSpec.missing must be one of {_POLICIES}: {self.missing!r}")

    def time_columns(self) -> tuple[str, ...]:
        """The column(s) the timestamps are read from."""
        if self.time_column is not None:
            return (self.time_column,)
        return tuple(self.time_parts or ())


class SeriesSettings(Protocol):
    """The column settings ``settings_problem`` checks (``CsvSeriesSpec`` or a config's
    ``data`` section, whose keys have the same names)."""

    time_column: str | None
    time_format: str | None
    time_parts: tuple[str, ...] | None
    features: tuple[str, ...]
    targets: tuple[str, ...]
    categorical: tuple[str, ...]
    frequency: str | None


def settings_problem(settings: SeriesSettings) -> tuple[str, str] | None:
    """The first rule across the column settings that ``settings`` breaks, as ``(setting,
    problem)``, or None: exactly one of time column or time parts, 3 to 6 time parts, a time
    format only with a time column, no column listed twice or used both as time and data, a
    frequency pandas knows. They need no data, so a config is checked before any is read."""
    time_column, time_parts = settings.time_column, settings.time_parts
    if (time_column is None) == (time_parts is None):
        which = "both are null" if time_column is None else "both are set"
        return "time_column", f"give exactly one of time_column or time_parts ({which})"
    if time_parts is not None:
        if not 3 <= len(time_parts) <= 6:
            return (
                "time_parts",
                "give 3 to 6 columns (year, month, day[, hour[, minute[, second]]])",
            )
        if settings.time_format is not None:
            return "time_format", "applies only to time_column (set it to null with time_parts)"
    for name in ("features", "categorical"):
        names = getattr(settings, name)
        if len(set(names)) != len(names):
            return name, f"has duplicates: {list(names)}"
    both = set(settings.features) & set(settings.categorical)
    if both:
        return "categorical", f"{sorted(both)} are both features and categorical"
    time_columns = {time_column} if time_column is not None else set(time_parts or ())
    for name in ("features", "categorical", "targets"):
        clash = time_columns & set(getattr(settings, name))
        if clash:
            return name, f"time column(s) {sorted(clash)} used as data"
    if settings.frequency is not None:
        try:
            to_offset(settings.frequency)
        except ValueError:
            return "frequency", f"{settings.frequency!r} is not a pandas offset alias (h, D, 10min)"
    return None


@dataclass(frozen=True)
class LoadReport:
    """What ``load_series`` found and did.

    ``missing_before`` counts missing cells per used column in the rows as read (before sorting,
    de-duplication and the policy). ``gap_count`` is the number of gaps: runs of timestamps on
    the regular grid without a usable row, ``gap_timestamps`` their total length and ``gaps``
    the first few runs as ``(first missing, last missing)``. Under ``interpolate``/``ffill``
    they are the gaps in the file's time index, filled by inserted rows; under ``drop`` they
    also include the runs the dropped rows leave (between the first and last row kept), and
    stay in the output: windows may span them. ``file_gap_count`` counts the gaps in the file's
    own time index alone. ``duplicates`` counts rows that repeat the row before them,
    timestamp and values (those rows are removed). ``off_grid`` counts timestamps not on the
    grid. ``rows_inserted`` is the gap rows added by reindexing (interpolate/ffill),
    ``values_filled`` the missing cells filled by the policy (including the cells of inserted
    rows), ``longest_filled`` per column its longest run of filled grid points as ``(length,
    first timestamp)`` and ``rows_dropped`` the rows removed by the policy.
    """

    path: str
    policy: str
    max_fill_gap: int | None
    rows_read: int
    rows_out: int
    missing_before: dict[str, int]
    duplicates: int
    duplicate_times: tuple[np.datetime64, ...]
    frequency: str | None
    gap_count: int
    gap_timestamps: int
    gaps: tuple[tuple[np.datetime64, np.datetime64], ...]
    file_gap_count: int
    off_grid: int
    rows_inserted: int
    rows_dropped: int
    values_filled: int
    longest_filled: dict[str, tuple[int, np.datetime64]]

    def as_dict(self) -> dict[str, Any]:
        """The JSON-ready summary a run records (gaps as ISO timestamps)."""
        return {
            "rows_read": self.rows_read,
            "rows_out": self.rows_out,
            "policy": self.policy,
            "max_fill_gap": self.max_fill_gap,
            "missing_before": self.missing_before,
            "values_filled": self.values_filled,
            "longest_filled_gap": {
                name: {"values": length, "from": iso(start)}
                for name, (length, start) in self.longest_filled.items()
            },
            "rows_inserted": self.rows_inserted,
            "rows_dropped": self.rows_dropped,
            "duplicates": self.duplicates,
            "gap_count": self.gap_count,
            "gap_timestamps": self.gap_timestamps,
            "gaps": [[iso(a), iso(b)] for a, b in self.gaps],
            "file_gap_count": self.file_gap_count,
            "off_grid": self.off_grid,
        }


@dataclass(frozen=True)
class SeriesTable:
    """A prepared series: ``values[t, j]`` is feature ``feature_names[j]`` at ``times[t]``."""

    times: np.ndarray  # datetime64[ns], shape [n], strictly increasing
    values: np.ndarray  # float32, shape [n, f]
    feature_names: tuple[str, ...]
    target_indices: tuple[int, ...]
    report: LoadReport

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def column(self, name: str) -> np.ndarray:
        """The column called ``name`` (a view into ``values``)."""
        return self.values[:, self.feature_names.index(name)]


def iso(time: np.datetime64) -> str:
    """A timestamp as ISO 8601 text (how reports and info files write times)."""
    return pd.Timestamp(time).isoformat()


def load_series(spec: CsvSeriesSpec) -> SeriesTable:
    """Read ``spec.path`` and return the prepared ``SeriesTable`` (see the module docstring)."""
    path = spec.path
    raw, lines = read_csv_rows(path)  # stripped text cells, the line each row starts on
    columns = [str(c) for c in raw.columns]
    for name in (*spec.time_columns(), *spec.features, *spec.categorical):
        require_column(path, columns, name)
    numeric_names = numeric_columns(spec, raw, columns)
    times = parse_times(spec, raw, lines)
    frame = _used_columns(spec, raw, lines, numeric_names)
    missing_before = {c: int(frame[c].isna().sum()) for c in frame.columns}
    rows_read = len(frame)

    frame, lines, duplicates = _in_time_order(path, frame, times, lines)
    grid = time_grid(path, spec.frequency, frame.index)
    if spec.missing == "drop":
        filled = drop_missing(path, frame, grid)
    else:
        filled = fill_grid(path, frame, lines, grid, numeric_names, spec.missing, spec.max_fill_gap)
    values, feature_names = _encode(filled.frame, numeric_names, spec.categorical)
    return SeriesTable(
        times=filled.frame.index.to_numpy().astype("datetime64[ns]"),
        values=values,
        feature_names=tuple(feature_names),
        target_indices=_target_indices(path, spec.targets, feature_names),
        report=_report(spec, rows_read, missing_before, duplicates, grid, filled),
    )


def _used_columns(
    spec: CsvSeriesSpec, raw: pd.DataFrame, lines: np.ndarray, numeric_names: list[str]
) -> pd.DataFrame:
    """The numeric columns as floats, then the categorical ones as text, in file row order."""
    numeric = pd.DataFrame(
        {name: to_float(spec.path, raw[name], lines, name) for name in numeric_names},
        index=raw.index,
    )
    return pd.concat([numeric, raw[list(spec.categorical)]], axis=1)


@dataclass(frozen=True)
class _Duplicates:
    count: int
    first_times: tuple[np.datetime64, ...]  # the first MAX_LISTED repeated timestamps


def _in_time_order(
    path: str, frame: pd.DataFrame, times: pd.DatetimeIndex, lines: np.ndarray
) -> tuple[pd.DataFrame, np.ndarray, _Duplicates]:
    """``frame`` indexed by ``times``, which must not decrease; a row repeating the previous
    row (timestamp and values) is dropped and counted, one with other values is an error."""
    stamps = times.asi8
    steps = np.diff(stamps)
    if (steps < 0).any():
        i = int(np.argmax(steps < 0)) + 1
        raise DataFormatError(
            f"{path}:{lines[i]}: time {times[i]} is earlier than {times[i - 1]} on line "
            f"{lines[i - 1]}; rows must be in time order (sort the file by time)"
        )
    frame = frame.set_axis(times, axis=0)
    repeat = np.concatenate([[False], steps == 0])
    if repeat.any():
        for name in frame.columns:
            column = frame[name].to_numpy()
            now, before = column[1:], column[:-1]
            same = (now == before) | (pd.isna(now) & pd.isna(before))
            differs = repeat & ~np.concatenate([[True], same])
            if differs.any():
                i = int(np.argmax(differs))
                raise DataFormatError(
                    f"{path}:{lines[i]}: time {times[i]} repeats line {lines[i - 1]} with "
                    f"another value in column '{name}' ({column[i]} vs {column[i - 1]}); keep "
                    f"one row per timestamp"
                )
    duplicates = _Duplicates(
        int(repeat.sum()), tuple(times[repeat].unique()[:MAX_LISTED].to_numpy())
    )
    return frame.loc[~repeat], lines[~repeat], duplicates


def _encode(
    out: pd.DataFrame, numeric_names: list[str], categorical: tuple[str, ...]
) -> tuple[np.ndarray, list[str]]:
    """float32 values: the numeric columns, then one-hot columns per category (sorted)."""
    blocks = [out[numeric_names].to_numpy(dtype=np.float64)]
    feature_names = list(numeric_names)
    for name in categorical:
        cats = sorted(out[name].unique())
        onehot = np.stack([(out[name] == c).to_numpy() for c in cats], axis=1)
        blocks.append(onehot.reshape(len(out), len(cats)).astype(np.float64))
        feature_names += [f"{name}={c}" for c in cats]
    return np.concatenate(blocks, axis=1).astype(np.float32), feature_names


def _target_indices(
    path: str, targets: tuple[str, ...], feature_names: list[str]
) -> tuple[int, ...]:
    """The position of each target among the encoded features."""
    indices = []
    for target in targets:
        if target not in feature_names:
            raise DataFormatError(
                f"{path}: column '{target}' not found (columns: {', '.join(feature_names)})"
            )
        indices.append(feature_names.index(target))
    return tuple(indices)


def _report(
    spec: CsvSeriesSpec,
    rows_read: int,
    missing_before: dict[str, int],
    duplicates: _Duplicates,
    grid: TimeGrid,
    filled: Filled,
) -> LoadReport:
    return LoadReport(
        path=spec.path,
        policy=spec.missing,
        max_fill_gap=spec.max_fill_gap,
        rows_read=rows_read,
        rows_out=len(filled.frame),
        missing_before=missing_before,
        duplicates=duplicates.count,
        duplicate_times=duplicates.first_times,
        frequency=None if grid.offset is None else grid.offset.freqstr,
        gap_count=len(filled.gaps),
        gap_timestamps=filled.gap_timestamps,
        gaps=tuple(filled.gaps[:MAX_LISTED]),
        file_gap_count=len(grid.gaps),
        off_grid=int(grid.off_grid.sum()),
        rows_inserted=filled.rows_inserted,
        rows_dropped=filled.rows_dropped,
        values_filled=filled.values_filled,
        longest_filled=filled.longest_filled,
    )
