"""The regular time grid of a series and the missing-value policies on it (see
``data.timeseries_csv`` for what each policy does)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset

from data.data_format_error import DataFormatError


@dataclass(frozen=True)
class TimeGrid:
    """A sorted, unique time index measured against its regular grid."""

    offset: pd.DateOffset | None  # the grid step; None for a single row
    points: pd.DatetimeIndex  # first to last timestamp every ``offset`` (the index if None)
    missing: pd.DatetimeIndex  # grid points without a row
    off_grid: np.ndarray  # per row: its timestamp is not a grid point
    gaps: list[tuple[np.datetime64, np.datetime64]]  # runs of ``missing`` as (first, last)


@dataclass(frozen=True)
class Filled:
    """Rows after the missing-value policy, with what it did.

    ``longest_filled``: per column with filled values, the longest run of consecutive grid
    points it filled, as ``(length, first timestamp)``. ``gaps``: runs of grid points without
    a usable row, as ``(first, last)``, and ``gap_timestamps`` their total length: under
    ``interpolate``/``ffill`` the file's (filled by the inserted rows), under ``drop`` the
    file's and those the dropped rows leave (still missing: windows may span them).
    """

    frame: pd.DataFrame
    rows_inserted: int
    rows_dropped: int
    values_filled: int
    gaps: list[tuple[np.datetime64, np.datetime64]] = field(default_factory=list)
    gap_timestamps: int = 0
    longest_filled: dict[str, tuple[int, np.datetime64]] = field(default_factory=dict)


def time_grid(path: str, frequency: str | None, index: pd.DatetimeIndex) -> TimeGrid:
    """``index`` against the grid of ``frequency`` (or of its median step)."""
    offset = _resolve_frequency(path, frequency, index)
    points = index if offset is None else pd.date_range(index[0], index[-1], freq=offset)
    missing = points.difference(index)
    return TimeGrid(offset, points, missing, ~index.isin(points), _runs(points, missing))


def drop_missing(path: str, frame: pd.DataFrame, grid: TimeGrid) -> Filled:
    """The ``drop`` policy: rows with a missing value go; the gaps in the time index, and
    those the dropped rows leave, stay and are reported (``gaps``)."""
    keep = ~frame.isna().any(axis=1)
    out = frame.loc[keep]
    if out.empty:
        raise DataFormatError(
            f"{path}: every row has a missing value in a used column, missing: drop leaves "
            f"no rows (missing per column: {frame.isna().sum().to_dict()})"
        )
    # Gaps inside the rows kept; dropped leading or trailing rows only shorten the series.
    points = grid.points[(grid.points >= out.index[0]) & (grid.points <= out.index[-1])]
    missing = points.difference(out.index)
    return Filled(
        out,
        rows_inserted=0,
        rows_dropped=int((~keep).sum()),
        values_filled=0,
        gaps=_runs(points, missing),
        gap_timestamps=len(missing),
    )


def fill_grid(
    path: str,
    frame: pd.DataFrame,
    lines: np.ndarray,
    grid: TimeGrid,
    numeric_names: list[str],
    policy: str,
    max_fill_gap: int | None = None,
) -> Filled:
    """``interpolate`` / ``ffill``: every grid point becomes a row, missing values filled;
    rows still incomplete (leading rows under ``ffill``) are dropped. A column whose
    longest filled run is over ``max_fill_gap`` grid points (None: no limit) is an error
    naming the file, the column and the run's first timestamp."""
    if grid.off_grid.any():
        first = int(np.argmax(grid.off_grid))
        raise DataFormatError(
            f"{path}:{lines[first]}: time '{frame.index[first]}' is not on the regular "
            f"'{grid.offset.freqstr}' grid from {frame.index[0]}; fix frequency or use "
            "missing='drop'"
        )
    rows = frame.index  # the file's rows (sorted, unique), in the order of ``lines``
    frame = frame.reindex(grid.points)
    was_missing = frame.isna()
    for name in frame.columns:
        if was_missing[name].all():
            raise DataFormatError(f"{path}: column '{name}' has no values")
    out = _fill(frame, numeric_names, policy)
    still = out.isna().any(axis=1)
    out = out.loc[~still]
    filled = was_missing.loc[out.index] & ~out.isna()
    longest = {name: run for name in filled.columns if (run := _longest_run(filled[name]))}
    for name, (length, start) in longest.items():
        if max_fill_gap is not None and length > max_fill_gap:
            where = rows.searchsorted(start)
            line = (
                f"line {lines[where]}"
                if where < len(rows) and rows[where] == start
                else f"after line {lines[where - 1]}"
            )
            raise DataFormatError(
                f"{path}: column '{name}' misses {length} consecutive values from "
                f"{pd.Timestamp(start)} ({line}), more than max_fill_gap = {max_fill_gap} rows "
                f"may be filled ({policy}); fix the data, raise data.max_fill_gap or use "
                f"missing: drop"
            )
    return Filled(
        out,
        rows_inserted=len(grid.missing),
        rows_dropped=int(still.sum()),  # only ffill can leave leading missing values
        values_filled=int(filled.to_numpy().sum()),
        gaps=grid.gaps,
        gap_timestamps=len(grid.missing),
        longest_filled=longest,
    )


def _longest_run(mask: pd.Series) -> tuple[int, np.datetime64] | None:
    """The longest run of True in ``mask`` (consecutive rows) as (length, first index value)."""
    flags = mask.to_numpy(dtype=bool)
    if not flags.any():
        return None
    edges = np.diff(np.concatenate([[0], flags.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    best = int(np.argmax(ends - starts))
    return int(ends[best] - starts[best]), mask.index[starts[best]].to_datetime64()


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
