"""The columns of a CSV time series: which are used, and how their text becomes numbers and
timestamps. Every error is one line naming the file and the CSV line (see ``timeseries_csv``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from data.data_format_error import DataFormatError

if TYPE_CHECKING:
    from data.timeseries_csv import CsvSeriesSpec

_INDEX_LIKE = {"no", "no.", "index", "idx", "id", "row", "rownum", "row_id"}
_TIME_PART_NAMES = ("year", "month", "day", "hour", "minute", "second")


def require_column(path: str, columns: list[str], name: str) -> None:
    """Fails naming the file and its columns when ``name`` is not one of them."""
    if name not in columns:
        raise DataFormatError(f"{path}: column '{name}' not found (columns: {', '.join(columns)})")


def _is_index_like(name: str) -> bool:
    return name.strip().lower() in _INDEX_LIKE or name.startswith("Unnamed:") or not name.strip()


def numeric_columns(spec: CsvSeriesSpec, raw: pd.DataFrame, columns: list[str]) -> list[str]:
    """Numeric feature names: explicit ``features`` or auto-detected, plus numeric targets."""
    if spec.features:
        names = list(spec.features)
    else:
        excluded = set(spec.time_columns()) | set(spec.categorical)
        names = []
        for name in columns:
            if name in excluded or _is_index_like(name):
                continue
            present = raw[name].notna()
            parsed = pd.to_numeric(raw[name], errors="coerce").notna()
            # a mostly numeric column is numeric (its bad cells are reported by to_float);
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
            require_column(spec.path, columns, target)
    if not names:
        raise DataFormatError(f"{spec.path}: no numeric feature columns")
    return names


def to_float(path: str, col: pd.Series, lines: np.ndarray, name: str) -> np.ndarray:
    """Column ``name`` as float64 (empty cells and pandas' missing markers such as ``NA`` and
    ``NaN`` are NaN); a non-numeric or infinite cell fails naming its line and column."""
    parsed = pd.to_numeric(col, errors="coerce")
    bad = (col.notna() & parsed.isna()).to_numpy()
    if bad.any():
        first = int(np.argmax(bad))
        raise DataFormatError(
            f"{path}:{lines[first]}: non-numeric value '{col.iloc[first]}' in column '{name}'"
        )
    values = parsed.to_numpy(dtype=np.float64)
    infinite = np.isinf(values)
    if infinite.any():  # inf, -inf, Infinity, 1e999: NaN, NA and empty cells are missing values
        first = int(np.argmax(infinite))
        raise DataFormatError(
            f"{path}:{lines[first]}: infinite value '{col.iloc[first]}' in column '{name}' "
            f"(write an empty cell or NA for a missing value)"
        )
    return values


def parse_times(spec: CsvSeriesSpec, raw: pd.DataFrame, lines: np.ndarray) -> pd.DatetimeIndex:
    """The timestamp of every row (naive, UTC when the text has a zone), from ``time_column``
    in ``time_format`` or from the ``time_parts`` columns; a bad one fails naming its line."""
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
