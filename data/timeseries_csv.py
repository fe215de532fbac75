"""CSV time-series reader and preparer for the forecasting pipelines (plain pandas/numpy).

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

``load_series`` reads the file (plain or ``.gz``), builds a time index, sorts it (stable, so
duplicate timestamps keep file order; the first occurrence is kept, the rest are counted in
the report), detects gaps against the regular grid of the frequency, applies the missing-value
policy and one-hot encodes the categorical columns. ``SeriesTable.feature_names`` is the
numeric features (in ``spec.features`` order, or file order when that is empty, followed by any
target not listed there) then the one-hot columns (``<column>=<category>``, categories sorted).

Missing-value policies (``spec.missing``)
-----------------------------------------
* ``"interpolate"``: reindex to the full regular grid (gap timestamps become rows), linear
  interpolation of numeric columns inside the series, edges filled with the nearest valid value;
  categorical columns take the previous value (the next one at the start).
* ``"ffill"``: reindex to the full grid and carry the previous value forward; leading rows that
  still have a missing value (nothing before them) are dropped.
* ``"drop"``: rows with a missing value in a used column are dropped; gaps in the time index are
  only reported (windows may then span a gap).

Window alignment (the one definition used everywhere here)
----------------------------------------------------------
With ``r = sampling_rate`` and ``span = (lookback - 1) * r + 1``, window ``i`` has ``lookback``
input steps: rows ``i, i + r, ..., i + (lookback - 1) * r``, i.e. rows ``[i, i + span)`` sampled
every ``r`` rows (for ``r = 1`` simply rows ``[i, i + lookback)``). Its last observed row is
``last = i + (lookback - 1) * r`` and its target is row ``last + delay`` (``delay >= 1``; with
hourly data ``delay=24`` means 24 hours after the last observed hour). So the target of window
``i`` is row ``i + offset`` with ``offset = (lookback - 1) * r + delay``.

Restricted to the rows ``[start, stop)`` of a split, the windows are those with
``start <= i`` and ``i + offset <= stop - 1``: inputs and target both lie inside the split.

The same windows from Keras (``keras.utils.timeseries_dataset_from_array`` pairs the window that
starts at data index ``i`` with ``targets[i]``)::

      offset = (lookback - 1) * sampling_rate + delay
      keras.utils.timeseries_dataset_from_array(
          data=values[: stop - delay],            # last usable input row is stop - 1 - delay
          targets=target_column[offset:stop],     # targets[i] == target_column[i + offset]
          sequence_length=lookback, sampling_rate=sampling_rate,
          start_index=start or None)

``timeseries_dataset_kwargs`` returns exactly those arguments. Note that the common recipe
``data[:-delay], targets[delay:]`` with ``delay`` meaning *steps after the last input* is off by
``(lookback - 1) * sampling_rate``: ``targets`` must be shifted by the full ``offset``.

Baselines: the persistence forecast of window ``i`` is the target column at row ``last`` (the
last observed step); the seasonal-naive forecast is the target column at row
``target_row - season`` (``season >= delay`` so the value is known at the forecast origin).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset

__all__ = [
    "CsvSeriesSpec",
    "DataFormatError",
    "LoadReport",
    "NaiveBaselines",
    "SeriesTable",
    "chronological_split",
    "fit_stats",
    "load_series",
    "mae",
    "naive_baselines",
    "normalize",
    "rmse",
    "timeseries_dataset_kwargs",
    "window_rows",
    "window_targets",
]

MissingPolicy = Literal["interpolate", "ffill", "drop"]
_POLICIES = ("interpolate", "ffill", "drop")
MAX_LISTED = 10  # how many gaps / duplicate timestamps the report lists
_INDEX_LIKE = {"no", "no.", "index", "idx", "id", "row", "rownum", "row_id"}
_TIME_PART_NAMES = ("year", "month", "day", "hour", "minute", "second")


class DataFormatError(ValueError):
    """A problem with the CSV content; the one-line message names the file (and line)."""


# --------------------------------------------------------------------------------------------
# Inputs and outputs
# --------------------------------------------------------------------------------------------


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
        if (self.time_column is None) == (self.time_parts is None):
            raise ValueError("CsvSeriesSpec: give exactly one of time_column or time_parts")
        if self.time_parts is not None:
            if not 3 <= len(self.time_parts) <= 6:
                raise ValueError(
                    "CsvSeriesSpec.time_parts: give 3 to 6 columns "
                    "(year, month, day[, hour[, minute[, second]]])"
                )
            if self.time_format is not None:
                raise ValueError("CsvSeriesSpec.time_format applies only to time_column")
        if self.missing not in _POLICIES:
            raise ValueError(f"CsvSeriesSpec.missing must be one of {_POLICIES}: {self.missing!r}")
        for name in ("features", "categorical"):
            names = getattr(self, name)
            if len(set(names)) != len(names):
                raise ValueError(f"CsvSeriesSpec.{name} has duplicates: {names}")
        both = set(self.features) & set(self.categorical)
        if both:
            raise ValueError(f"CsvSeriesSpec: {sorted(both)} are both features and categorical")
        clash = set(self._time_columns()) & (
            set(self.features) | set(self.categorical) | set(self.targets)
        )
        if clash:
            raise ValueError(f"CsvSeriesSpec: time columns {sorted(clash)} used as data")

    def _time_columns(self) -> tuple[str, ...]:
        if self.time_column is not None:
            return (self.time_column,)
        return tuple(self.time_parts or ())


@dataclass(frozen=True)
class LoadReport:
    """What ``load_series`` found and did.

    ``missing_before`` counts missing cells per used column in the rows as read (before sorting,
    de-duplication and the policy). ``gap_count`` is the number of runs of missing timestamps on
    the regular grid (found in the rows as read, before the policy; rows removed by ``drop``
    are not counted as gaps), ``gap_timestamps`` their total length and ``gaps`` the first few
    runs as ``(first missing, last missing)``. ``duplicates`` counts rows whose timestamp repeats an
    earlier one (those rows are removed). ``off_grid`` counts timestamps not on the grid.
    ``rows_inserted`` is the gap rows added by reindexing (interpolate/ffill), ``values_filled``
    the missing cells filled by the policy (including the cells of inserted rows) and
    ``rows_dropped`` the rows removed by the policy.
    """

    path: str
    policy: str
    rows_read: int
    rows_out: int
    missing_before: dict[str, int]
    duplicates: int
    duplicate_times: tuple[np.datetime64, ...]
    frequency: str | None
    gap_count: int
    gap_timestamps: int
    gaps: tuple[tuple[np.datetime64, np.datetime64], ...]
    off_grid: int
    rows_inserted: int
    rows_dropped: int
    values_filled: int


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


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def load_series(spec: CsvSeriesSpec) -> SeriesTable:
    """Read ``spec.path`` and return the prepared ``SeriesTable`` (see the module docstring)."""
    path = spec.path
    try:
        raw = pd.read_csv(path, dtype=str, skip_blank_lines=False)
    except pd.errors.EmptyDataError as exc:
        raise DataFormatError(f"{path}: cannot read CSV ({exc})") from exc
    except pd.errors.ParserError as exc:
        raise DataFormatError(f"{path}: malformed CSV ({' '.join(str(exc).split())})") from exc
    lines = np.arange(len(raw)) + 2  # header is line 1 (assumes no multi-line quoted fields)
    blank = raw.isna().all(axis=1).to_numpy()
    raw = raw.loc[~blank].reset_index(drop=True)
    lines = lines[~blank]
    raw = raw.apply(lambda col: col.str.strip())
    if raw.empty:
        raise DataFormatError(f"{path}: no data rows")

    columns = [str(c) for c in raw.columns]
    for name in (*spec._time_columns(), *spec.features, *spec.categorical):
        _require_column(path, columns, name)

    numeric_names = _numeric_columns(spec, raw, lines, columns)
    times = _parse_times(spec, raw, lines)
    numeric = pd.DataFrame(
        {name: _to_float(path, raw[name], lines, name) for name in numeric_names},
        index=raw.index,
    )
    frame = pd.concat([numeric, raw[list(spec.categorical)]], axis=1)
    missing_before = {c: int(frame[c].isna().sum()) for c in frame.columns}
    rows_read = len(frame)

    order = np.argsort(times.to_numpy(), kind="stable")
    frame = frame.iloc[order]
    frame.index = times[order]
    lines = lines[order]
    dup = frame.index.duplicated(keep="first")
    duplicate_times = tuple(frame.index[dup].unique()[:MAX_LISTED].to_numpy())
    frame, lines = frame.loc[~dup], lines[~dup]

    offset = _resolve_frequency(path, spec.frequency, frame.index)
    if offset is None:
        grid = frame.index
    else:
        grid = pd.date_range(frame.index[0], frame.index[-1], freq=offset)
    missing_times = grid.difference(frame.index)
    off_grid_mask = ~frame.index.isin(grid)
    gaps = _runs(grid, missing_times)

    was_missing = frame.isna()
    rows_inserted = 0
    if spec.missing == "drop":
        keep = ~was_missing.any(axis=1)
        out = frame.loc[keep]
        rows_dropped = int((~keep).sum())
        values_filled = 0
    else:
        if off_grid_mask.any():
            first = int(np.argmax(off_grid_mask))
            raise DataFormatError(
                f"{path}:{lines[first]}: time '{frame.index[first]}' is not on the regular "
                f"'{offset.freqstr}' grid from {frame.index[0]}; fix frequency or use "
                "missing='drop'"
            )
        rows_inserted = len(missing_times)
        frame = frame.reindex(grid)
        was_missing = frame.isna()
        for name in frame.columns:
            if was_missing[name].all():
                raise DataFormatError(f"{path}: column '{name}' has no values")
        out = _fill(frame, numeric_names, spec.missing)
        still = out.isna().any(axis=1)
        rows_dropped = int(still.sum())  # only ffill can leave leading missing values
        out = out.loc[~still]
        values_filled = int((was_missing.loc[out.index] & ~out.isna()).to_numpy().sum())

    blocks = [out[numeric_names].to_numpy(dtype=np.float64)]
    feature_names = list(numeric_names)
    for name in spec.categorical:
        cats = sorted(out[name].unique())
        onehot = np.stack([(out[name] == c).to_numpy() for c in cats], axis=1)
        blocks.append(onehot.reshape(len(out), len(cats)).astype(np.float64))
        feature_names += [f"{name}={c}" for c in cats]
    values = np.concatenate(blocks, axis=1).astype(np.float32)

    target_indices = []
    for target in spec.targets:
        if target not in feature_names:
            raise DataFormatError(
                f"{path}: column '{target}' not found (columns: {', '.join(feature_names)})"
            )
        target_indices.append(feature_names.index(target))

    report = LoadReport(
        path=path,
        policy=spec.missing,
        rows_read=rows_read,
        rows_out=len(out),
        missing_before=missing_before,
        duplicates=int(dup.sum()),
        duplicate_times=duplicate_times,
        frequency=None if offset is None else offset.freqstr,
        gap_count=len(gaps),
        gap_timestamps=len(missing_times),
        gaps=tuple(gaps[:MAX_LISTED]),
        off_grid=int(off_grid_mask.sum()),
        rows_inserted=rows_inserted,
        rows_dropped=rows_dropped,
        values_filled=values_filled,
    )
    return SeriesTable(
        times=out.index.to_numpy().astype("datetime64[ns]"),
        values=values,
        feature_names=tuple(feature_names),
        target_indices=tuple(target_indices),
        report=report,
    )


def _require_column(path: str, columns: list[str], name: str) -> None:
    if name not in columns:
        raise DataFormatError(f"{path}: column '{name}' not found (columns: {', '.join(columns)})")


def _is_index_like(name: str) -> bool:
    return name.strip().lower() in _INDEX_LIKE or name.startswith("Unnamed:") or not name.strip()


def _numeric_columns(
    spec: CsvSeriesSpec, raw: pd.DataFrame, lines: np.ndarray, columns: list[str]
) -> list[str]:
    """Numeric feature names: explicit ``features`` or auto-detected, plus numeric targets."""
    if spec.features:
        names = list(spec.features)
    else:
        excluded = set(spec._time_columns()) | set(spec.categorical)
        names = []
        for name in columns:
            if name in excluded or _is_index_like(name):
                continue
            present = raw[name].notna()
            parsed = pd.to_numeric(raw[name], errors="coerce").notna()
            # a mostly numeric column is numeric (its bad cells are reported by _to_float);
            # a mostly text column is skipped.
            if present.any() and parsed.sum() * 2 > present.sum():
                names.append(name)
    for target in spec.targets:
        if target in names:
            continue
        if target in spec.categorical:
            raise ValueError(
                f"{spec.path}: target '{target}' is categorical; name one of its one-hot "
                f"columns ('{target}=<category>')"
            )
        if target in columns:
            names.append(target)
        elif not any(target.startswith(f"{c}=") for c in spec.categorical):
            _require_column(spec.path, columns, target)
    if not names:
        raise DataFormatError(f"{spec.path}: no numeric feature columns")
    return names


def _to_float(path: str, col: pd.Series, lines: np.ndarray, name: str) -> np.ndarray:
    parsed = pd.to_numeric(col, errors="coerce")
    bad = (col.notna() & parsed.isna()).to_numpy()
    if bad.any():
        first = int(np.argmax(bad))
        raise DataFormatError(
            f"{path}:{lines[first]}: non-numeric value '{col.iloc[first]}' in column '{name}'"
        )
    return parsed.to_numpy(dtype=np.float64)


def _parse_times(spec: CsvSeriesSpec, raw: pd.DataFrame, lines: np.ndarray) -> pd.DatetimeIndex:
    path = spec.path
    if spec.time_column is not None:
        text = raw[spec.time_column]
        fmt = spec.time_format or "ISO8601"
        times = pd.to_datetime(text, format=fmt, errors="coerce")
    else:
        parts = list(spec.time_parts or ())
        fmt = ",".join(parts)
        nums = {
            unit: pd.to_numeric(raw[col], errors="coerce")
            for unit, col in zip(_TIME_PART_NAMES, parts, strict=False)
        }
        integral = np.logical_and.reduce(
            [(v.notna() & (v % 1 == 0)).to_numpy() for v in nums.values()]
        )
        times = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns]")
        if integral.any():
            ints = pd.DataFrame({k: v[integral].astype(np.int64) for k, v in nums.items()})
            times.loc[integral] = pd.to_datetime(ints, errors="coerce")
    if getattr(times.dt, "tz", None) is not None:
        times = times.dt.tz_convert("UTC").dt.tz_localize(None)
    bad = times.isna().to_numpy()
    if bad.any():
        first = int(np.argmax(bad))
        cols = [spec.time_column] if spec.time_column is not None else list(spec.time_parts or ())
        value = ",".join("" if pd.isna(v) else str(v) for v in raw[cols].iloc[first])
        raise DataFormatError(
            f"{path}:{lines[first]}: cannot parse time '{value}' with format '{fmt}'"
        )
    return pd.DatetimeIndex(times.to_numpy().astype("datetime64[ns]"))


def _resolve_frequency(path: str, frequency: str | None, index: pd.DatetimeIndex):
    """The grid step: ``frequency`` as a pandas offset, or the median step of ``index``."""
    if frequency is not None:
        try:
            return to_offset(frequency)
        except ValueError as exc:
            raise ValueError(f"{path}: invalid frequency {frequency!r}") from exc
    if len(index) < 2:
        return None
    step = pd.Timedelta(int(np.median(np.diff(index.asi8))), unit="ns")
    day = pd.Timedelta(days=1)
    if step % day == pd.Timedelta(0):
        return to_offset(f"{step // day}D")
    return to_offset(step)


def _runs(
    grid: pd.DatetimeIndex, missing: pd.DatetimeIndex
) -> list[tuple[np.datetime64, np.datetime64]]:
    """Contiguous runs of ``missing`` grid points as (first, last) pairs."""
    if len(missing) == 0:
        return []
    pos = grid.get_indexer(missing)
    breaks = np.flatnonzero(np.diff(pos) != 1)
    starts = np.concatenate([[0], breaks + 1])
    ends = np.concatenate([breaks, [len(pos) - 1]])
    values = grid.to_numpy().astype("datetime64[ns]")
    return [(values[pos[s]], values[pos[e]]) for s, e in zip(starts, ends, strict=True)]


def _fill(frame: pd.DataFrame, numeric_names: list[str], policy: str) -> pd.DataFrame:
    out = frame.copy()
    categorical = [c for c in frame.columns if c not in numeric_names]
    if policy == "interpolate":
        num = out[numeric_names].interpolate(method="linear", limit_area="inside")
        out[numeric_names] = num.ffill().bfill()
        if categorical:
            out[categorical] = out[categorical].ffill().bfill()
    else:  # ffill: no look-ahead; leading missing values stay and their rows are dropped
        out = out.ffill()
    return out


# --------------------------------------------------------------------------------------------
# Splits and normalisation
# --------------------------------------------------------------------------------------------


def chronological_split(
    n: int, fractions: tuple[float, float, float] = (0.5, 0.25, 0.25)
) -> tuple[slice, slice, slice]:
    """Split ``n`` rows into consecutive train/val/test slices.

    ``train = floor(n * f0)``, ``val = floor(n * f1)``, test gets the rest. Fractions must be
    three finite numbers in [0, 1] summing to 1 with a positive train fraction.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be a non-negative integer: {n!r}")
    fractions = tuple(fractions)
    if len(fractions) != 3:
        raise ValueError(f"fractions must be (train, val, test): {fractions!r}")
    if not all(isinstance(f, (int, float, np.floating)) and math.isfinite(f) for f in fractions):
        raise ValueError(f"fractions must be finite numbers: {fractions!r}")
    if any(f < 0 or f > 1 for f in fractions):
        raise ValueError(f"fractions must lie in [0, 1]: {fractions!r}")
    if abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(f"fractions must sum to 1: {fractions!r} sums to {sum(fractions)}")
    if fractions[0] <= 0:
        raise ValueError(f"the train fraction must be positive: {fractions!r}")
    n_train = math.floor(n * fractions[0] + 1e-9)
    n_val = math.floor(n * fractions[1] + 1e-9)
    return slice(0, n_train), slice(n_train, n_train + n_val), slice(n_train + n_val, n)


def fit_stats(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column mean and std (ddof=0) of ``values``; pass the TRAIN rows only.

    A std of 0 (constant column) is replaced by 1 so normalising does not divide by zero.
    """
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.shape[0] == 0:
        raise ValueError("fit_stats needs at least one row")
    if not np.isfinite(arr).all():
        raise ValueError("fit_stats: values contain NaN or inf")
    mean = arr.mean(axis=0)
    std = arr.std(axis=0)
    std[std == 0] = 1.0
    return mean.astype(np.float32), std.astype(np.float32)


def normalize(values: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """``(values - mean) / std`` as float32."""
    return ((np.asarray(values, dtype=np.float32) - mean) / std).astype(np.float32)


# --------------------------------------------------------------------------------------------
# Windows and naive baselines
# --------------------------------------------------------------------------------------------


def window_rows(
    n: int,
    lookback: int,
    delay: int,
    sampling_rate: int = 1,
    start: int = 0,
    stop: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(first_rows, last_rows, target_rows)`` of every window inside rows ``[start, stop)``.

    Window ``i`` reads rows ``i, i + r, ..., i + (lookback - 1) * r``; its target is row
    ``i + (lookback - 1) * r + delay``. Empty arrays when no window fits.
    """
    for name, value, low in (("lookback", lookback, 1), ("delay", delay, 1)):
        if int(value) != value or value < low:
            raise ValueError(f"{name} must be an integer >= {low}: {value!r}")
    if int(sampling_rate) != sampling_rate or sampling_rate < 1:
        raise ValueError(f"sampling_rate must be an integer >= 1: {sampling_rate!r}")
    stop = n if stop is None else stop
    if not 0 <= start <= stop <= n:
        raise ValueError(f"need 0 <= start <= stop <= n: start={start}, stop={stop}, n={n}")
    offset = (lookback - 1) * sampling_rate + delay
    first = np.arange(start, max(start, stop - offset), dtype=np.int64)
    last = first + (lookback - 1) * sampling_rate
    return first, last, last + delay


def _target_column(series: np.ndarray, target_index: int | None) -> np.ndarray:
    arr = np.asarray(series)
    if arr.ndim == 1:
        if target_index not in (None, 0):
            raise ValueError(f"1-D series: target_index must be 0 or None: {target_index}")
        return arr
    if arr.ndim != 2:
        raise ValueError(f"series must be 1-D or 2-D [rows, features]: shape {arr.shape}")
    if target_index is None:
        raise ValueError("target_index is required for a 2-D series")
    return arr[:, target_index]


def window_targets(
    series: np.ndarray,
    target_index: int | None,
    lookback: int,
    delay: int,
    sampling_rate: int = 1,
    start: int = 0,
    stop: int | None = None,
) -> np.ndarray:
    """The target of every window in ``[start, stop)``: ``series[i + offset, target_index]``."""
    col = _target_column(series, target_index)
    _, _, target_rows = window_rows(len(col), lookback, delay, sampling_rate, start, stop)
    return col[target_rows]


def timeseries_dataset_kwargs(
    values: np.ndarray,
    targets: np.ndarray,
    lookback: int,
    delay: int,
    sampling_rate: int = 1,
    start: int = 0,
    stop: int | None = None,
) -> dict:
    """Arguments for ``keras.utils.timeseries_dataset_from_array`` giving exactly the windows of
    ``window_rows`` in ``[start, stop)``; ``targets`` is the per-row target array (same rows as
    ``values``, e.g. ``values[:, target_index]``). Add batch_size/shuffle yourself."""
    n = len(values)
    if len(targets) != n:
        raise ValueError(f"values and targets differ in length: {n} != {len(targets)}")
    first, _, _ = window_rows(n, lookback, delay, sampling_rate, start, stop)
    if len(first) == 0:
        raise ValueError(f"no complete window fits in rows [{start}, {stop})")
    stop = n if stop is None else stop
    offset = (lookback - 1) * sampling_rate + delay
    return {
        "data": values[: stop - delay],
        "targets": targets[offset:stop],
        "sequence_length": lookback,
        "sampling_rate": sampling_rate,
        "start_index": start if start > 0 else None,
    }


@dataclass(frozen=True)
class NaiveBaselines:
    """Naive forecasts for the windows of ``window_rows``, aligned with ``targets``."""

    targets: np.ndarray
    persistence: np.ndarray
    seasonal: np.ndarray | None
    season: int | None
    target_rows: np.ndarray

    def scores(self) -> dict[str, float]:
        """MAE and RMSE of each baseline."""
        out = {
            "persistence_mae": mae(self.targets, self.persistence),
            "persistence_rmse": rmse(self.targets, self.persistence),
        }
        if self.seasonal is not None:
            out["seasonal_mae"] = mae(self.targets, self.seasonal)
            out["seasonal_rmse"] = rmse(self.targets, self.seasonal)
        return out


def naive_baselines(
    series: np.ndarray,
    target_index: int | None,
    lookback: int,
    delay: int,
    sampling_rate: int = 1,
    season: int | None = None,
    start: int = 0,
    stop: int | None = None,
) -> NaiveBaselines:
    """Persistence and seasonal-naive forecasts on the raw (un-normalised) ``series``.

    Persistence: the target at the window's last observed row. Seasonal naive: the target at
    ``target_row - season``; needs ``season >= delay`` (known at the forecast origin) and
    ``target_row - season >= 0`` for every window (it lies inside the window's span when
    ``season <= (lookback - 1) * sampling_rate + delay``).
    """
    col = np.asarray(_target_column(series, target_index), dtype=np.float64)
    _, last, target_rows = window_rows(len(col), lookback, delay, sampling_rate, start, stop)
    if len(target_rows) == 0:
        raise ValueError(f"no complete window fits in rows [{start}, {stop}) of {len(col)}")
    seasonal = None
    if season is not None:
        if int(season) != season or season < delay:
            raise ValueError(f"season must be an integer >= delay ({delay}): {season!r}")
        if target_rows[0] - season < 0:
            raise ValueError(
                f"season {season} reaches before row 0 for the first window "
                f"(target row {target_rows[0]})"
            )
        seasonal = col[target_rows - season]
    return NaiveBaselines(
        targets=col[target_rows],
        persistence=col[last],
        seasonal=seasonal,
        season=season,
        target_rows=target_rows,
    )


def mae(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean absolute error (float64)."""
    diff = np.asarray(y_true, dtype=np.float64) - np.asarray(y_pred, dtype=np.float64)
    return float(np.mean(np.abs(diff)))


def rmse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Root mean squared error (float64)."""
    diff = np.asarray(y_true, dtype=np.float64) - np.asarray(y_pred, dtype=np.float64)
    return float(np.sqrt(np.mean(diff**2)))
